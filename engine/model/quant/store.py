"""A streaming safetensors writer and a verifying reader for the quantized cache.

The files are plain safetensors (``safe_open`` reads them), but written and
read one tensor at a time: writing the 14 GiB quantized model never gathers it
in host memory (each tensor is copied off the GPU, hashed and written), and
reading hashes exactly the bytes it hands out, so a corrupt file is detected in
the same single pass that loads it — no second read of 14 GiB just to check.
(safetensors' own ``save_file`` needs every tensor on the CPU at once, and
``safe_open`` gives no access to the raw bytes to hash.)
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import torch

DTYPES: dict[torch.dtype, str] = {
    torch.bfloat16: "BF16",
    torch.float16: "F16",
    torch.float32: "F32",
    torch.float64: "F64",
    torch.uint8: "U8",
    torch.int8: "I8",
    torch.int32: "I32",
    torch.int64: "I64",
    torch.bool: "BOOL",
}
FROM_NAME = {v: k for k, v in DTYPES.items()}


class CorruptFileError(Exception):
    """The file does not match its header or its recorded hash."""


def _raw_bytes(tensor: torch.Tensor) -> memoryview:
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    return memoryview(flat.view(torch.uint8).numpy()) if flat.numel() else memoryview(b"")


def write_safetensors(
    path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> tuple[int, str]:
    """Write ``tensors`` in order to ``path`` (atomically); return (size in bytes, sha256 hex)."""
    header: dict[str, object] = {}
    offset = 0
    for name, tensor in tensors.items():
        nbytes = tensor.numel() * tensor.element_size()
        header[name] = {
            "dtype": DTYPES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    if metadata:
        header["__metadata__"] = dict(metadata)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # data starts 8-byte aligned, as safetensors writes it
    digest = hashlib.sha256()
    tmp = path.with_name(path.name + ".partial")
    with tmp.open("wb") as handle:
        for chunk in (struct.pack("<Q", len(encoded)), encoded):
            handle.write(chunk)
            digest.update(chunk)
        for tensor in tensors.values():
            data = _raw_bytes(tensor)
            handle.write(data)
            digest.update(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path.stat().st_size, digest.hexdigest()


def read_header(path: Path) -> tuple[int, dict[str, dict]]:
    """(data start offset, header) of a safetensors file; CorruptFileError if unreadable or short."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            raw = handle.read(8)
            if len(raw) < 8:
                raise CorruptFileError("shorter than a safetensors header")
            (length,) = struct.unpack("<Q", raw)
            if length > size - 8:
                raise CorruptFileError("header runs past the end of the file")
            header = json.loads(handle.read(length))
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise CorruptFileError(f"unreadable header ({error})") from None
    header.pop("__metadata__", None)
    end = max((v["data_offsets"][1] for v in header.values()), default=0)
    if size != 8 + length + end:
        raise CorruptFileError(f"{size} bytes on disk, {8 + length + end} expected")
    return 8 + length, header


def iter_tensors(path: Path, expected_sha256: str | None = None) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield ``(name, tensor)`` in file order; with ``expected_sha256``, verify the whole file.

    Each tensor is read into its own CPU buffer (one tensor in host memory at a
    time).  The hash covers every byte of the file, header included, and is
    checked after the last tensor, before the generator finishes: a consumer
    that drains it never ends up with data from a corrupt file.
    """
    start, header = read_header(path)
    digest = hashlib.sha256() if expected_sha256 else None
    ordered = sorted(header.items(), key=lambda item: item[1]["data_offsets"][0])
    with path.open("rb") as handle:
        head = handle.read(start)
        if digest is not None:
            digest.update(head)
        position = 0
        for name, info in ordered:
            begin, end = info["data_offsets"]
            dtype = FROM_NAME.get(info["dtype"])
            if begin != position or dtype is None:
                raise CorruptFileError(f"bad layout or dtype for {name}")
            buffer = torch.empty(end - begin, dtype=torch.uint8)
            if end > begin:
                if handle.readinto(memoryview(buffer.numpy())) != end - begin:
                    raise CorruptFileError(f"{name} is cut short")
                if digest is not None:
                    digest.update(memoryview(buffer.numpy()))
            position = end
            yield name, buffer.view(dtype).reshape(info["shape"])
    if digest is not None and digest.hexdigest() != expected_sha256:
        raise CorruptFileError("contents do not match the recorded sha256")

"""Stream a bf16 safetensors checkpoint straight into a 4-bit model, tensor by tensor.

The 26B checkpoint is ~52 GB of bf16; neither the host nor an 18 GiB GPU can
hold it.  The model is built on the meta device, the quantized modules are
allocated empty on the target device, and each checkpoint tensor is read with
``safe_open`` and quantized as it arrives — the fused experts one expert slice
at a time (``get_slice``), so host memory holds at most one dense expert or one
dense non-expert tensor (the 1.4 GiB embedding is the largest) at any moment.
On a GPU, slices are copied to the device and quantized by bitsandbytes'
CUDA kernels.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from engine.errors import ModelFilesError
from engine.events import LoadProgress
from engine.model.quant.apply import install_empty
from engine.model.quant.settings import QuantSettings
from engine.model.quant.skeleton import Slot, assign_dense, canonical_name, empty_model, finish, resolve

log = logging.getLogger(__name__)

_DTYPE_BYTES = {"BF16": 2, "F16": 2, "F32": 4, "F64": 8, "U8": 1, "I8": 1, "I32": 4, "I64": 8, "BOOL": 1}


def checkpoint_shards(folder: Path) -> dict[str, list[str]]:
    """``{shard file: [tensor names]}`` from the index (or the single ``model.safetensors``)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map: dict[str, str] = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        shards: dict[str, list[str]] = {}
        for name, shard in weight_map.items():
            shards.setdefault(shard, []).append(name)
        return dict(sorted(shards.items()))
    single = folder / "model.safetensors"
    if not single.is_file():
        raise ModelFilesError(
            "The folder has no safetensors weights", fix="Download the model again", path=folder
        )
    from safetensors import safe_open

    with safe_open(str(single), framework="pt") as handle:
        return {"model.safetensors": list(handle.keys())}


class Progress:
    """Bytes done of bytes total, with rate and ETA, as LoadProgress events."""

    def __init__(self, stage: str, total_bytes: int, total_tensors: int, report) -> None:
        self.stage = stage
        self.total = max(total_bytes, 1)
        self.tensors = total_tensors
        self.report = report
        self.done = 0
        self.count = 0
        self.start = time.perf_counter()

    def advance(self, nbytes: int, tensors: int = 1) -> None:
        self.done += nbytes
        self.count += tensors
        if self.report is None:
            return
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        message = (
            f"{self.count}/{self.tensors} tensors, {self.done / 2**30:.2f}/{self.total / 2**30:.2f} GiB, "
            f"{rate / 2**20:.0f} MiB/s, ETA {eta:.0f} s"
        )
        self.report(LoadProgress(self.stage, self.done, self.total, message))


def _nbytes(handle, name: str) -> int:
    sliced = handle.get_slice(name)
    count = 1
    for dim in sliced.get_shape():
        count *= dim
    return count * _DTYPE_BYTES.get(sliced.get_dtype(), 2)


def _check_shape(slot: Slot, shape: tuple[int, ...], name: str, folder: Path) -> None:
    if tuple(shape) != tuple(slot.shape):
        raise ModelFilesError(
            f"The weight {name} has shape {tuple(shape)} but the model expects {tuple(slot.shape)}",
            fix="The checkpoint does not match its config.json; download it again",
            path=folder,
        )


@torch.no_grad()
def stream_quantize(
    folder: str | Path,
    settings: QuantSettings | None = None,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
    progress: Callable[[LoadProgress], None] | None = None,
) -> nn.Module:
    """Load and quantize the checkpoint in ``folder`` onto ``device`` without ever holding it dense.

    ``dtype`` is the compute dtype of everything left unquantized (default:
    bf16 on CUDA, fp32 on the CPU); weights are rounded to it before they are
    quantized, so the result equals ``quantize_model(from_pretrained(dtype=...))``.
    """
    from safetensors import safe_open
    from transformers import AutoConfig

    folder = Path(folder)
    settings = (settings or QuantSettings()).validate()
    device = torch.device(device)
    dtype = dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
    config = AutoConfig.from_pretrained(str(folder))
    model = empty_model(config, dtype, folder)
    install_empty(model, settings, device)
    shards = checkpoint_shards(folder)

    # Sizes from the headers only, for progress and ETA.
    total_bytes = 0
    for shard, names in shards.items():
        with safe_open(str(folder / shard), framework="pt") as handle:
            total_bytes += sum(_nbytes(handle, n) for n in names)
    tracker = Progress("quantize", total_bytes, sum(len(n) for n in shards.values()), progress)

    loaded: set[str] = set()
    for shard, names in shards.items():
        with safe_open(str(folder / shard), framework="pt", device="cpu") as handle:
            for name in names:
                size = _nbytes(handle, name)
                canonical = canonical_name(name)
                slot = resolve(model, canonical)
                if canonical in loaded:
                    tracker.advance(size)
                    continue
                if slot is None:
                    log.warning("ignoring %s: the model has no such weight", name)
                    tracker.advance(size)
                    continue
                _load_one(handle, name, slot, folder, device, dtype)
                loaded.add(canonical)
                tracker.advance(size)
    return finish(model, folder)


def _load_one(handle, name: str, slot: Slot, folder: Path, device: torch.device, dtype: torch.dtype) -> None:
    if slot.kind == "experts":
        sliced = handle.get_slice(name)
        _check_shape(slot, tuple(sliced.get_shape()), name, folder)
        for expert in range(slot.shape[0]):
            dense = sliced[expert : expert + 1][0]
            slot.module.load_dense(slot.attr, expert, dense.to(device=device).to(dtype))
        return
    tensor = handle.get_tensor(name)
    _check_shape(slot, tuple(tensor.shape), name, folder)
    if slot.kind == "linear":
        slot.module.weight_q.set_row(0, tensor.to(device=device).to(dtype))
    else:
        assign_dense(slot, tensor, device)

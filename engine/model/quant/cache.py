"""The on-disk cache of quantized models: build once (minutes), load directly afterwards.

A cache folder is a self-contained checkpoint: the source's small files
(config, generation config, tokenizer, processor, chat template), one
``model.safetensors`` with the 4-bit data, quantization state and remaining
16-bit weights, and ``manifest.json`` written *last* (its presence marks a
complete cache).  The manifest records where the weights came from, the
settings, the library versions and the weights file's size and sha256.

A cache is never loaded silently when it might be wrong:

* *stale* — the source files changed (Hub blob hashes, or size and mtime of a
  local folder; config.json by content), the settings differ, or the cache
  format, bitsandbytes or transformers (major.minor) version changed;
* *corrupt* — the manifest is unreadable, the file size differs (truncated),
  the header does not describe the expected tensors, or the sha256 computed
  while loading does not match.

Either way it is rebuilt from the source (when the source is available).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from engine.errors import ModelAccessError
from engine.events import LoadProgress
from engine.identity import APP_NAME
from engine.model.checkpoint import check_checkpoint, resolve_source
from engine.model.quant.apply import install_empty, mark_quantized
from engine.model.quant.packed import QuantizedWeight
from engine.model.quant.settings import FORMAT_VERSION, QuantSettings
from engine.model.quant.skeleton import assign_dense, empty_model, finish, persistent_tensors, resolve
from engine.model.quant.store import CorruptFileError, iter_tensors, read_header, write_safetensors
from engine.model.quant.stream import Progress, checkpoint_shards, stream_quantize

log = logging.getLogger(__name__)
T = TypeVar("T")

CACHE_ENV = "DGCHAT_CACHE_DIR"
FORMAT_NAME = "diffusiongemma-chat/nf4"
MANIFEST = "manifest.json"
WEIGHTS = "model.safetensors"
_HUB_SNAPSHOT = re.compile(r"models--(?P<org>[^/]+?)--(?P<name>[^/]+)/snapshots/(?P<rev>[0-9a-f]{6,64})/?$")
_BLOB = re.compile(r"^[0-9a-f]{64}$")


class CacheCorruptError(Exception):
    """A cache that failed verification while loading (it is rebuilt, never used)."""


@dataclass(frozen=True)
class CacheStatus:
    state: str  # "ok" | "missing" | "stale" | "corrupt"
    reason: str = ""
    manifest: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.state == "ok"


# -- where ----------------------------------------------------------------------------------------


def cache_root() -> Path:
    """``$DGCHAT_CACHE_DIR`` or the platform's user cache folder for this app."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))  # the app's own cache root


def hub_identity(folder: Path) -> tuple[str | None, str | None]:
    """(repo id, revision) when ``folder`` is a Hugging Face cache snapshot."""
    match = _HUB_SNAPSHOT.search(str(folder).replace(os.sep, "/"))
    if not match:
        return None, None
    return f"{match['org']}/{match['name']}", match["rev"]


def default_cache_dir(source: str | Path, settings: QuantSettings) -> Path:
    """``<cache root>/quantized/<name>-<key>``: one folder per source and settings.

    The key names the repo (not the revision) for Hub models, so a new revision
    replaces the old cache instead of piling up 14 GiB folders.
    """
    text = str(source)
    repo, _ = hub_identity(Path(text))
    if repo is None and not Path(text).expanduser().exists() and len(text.split("/")) == 2:
        repo = text  # a repo id
    identity = repo or str(Path(text).expanduser().resolve())
    slug = re.sub(r"[^A-Za-z0-9._-]+", "--", repo or Path(identity).name).strip("-") or "model"
    key = hashlib.sha256(f"{identity}\n{settings.digest()}".encode()).hexdigest()[:12]
    return cache_root() / "quantized" / f"{slug}-{key}"


# -- fingerprints ---------------------------------------------------------------------------------


def library_versions() -> dict[str, str]:
    import bitsandbytes
    import safetensors
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "bitsandbytes": bitsandbytes.__version__,
        "safetensors": safetensors.__version__,
    }


def _major_minor(version: str) -> str:
    return ".".join(version.split("+")[0].split(".")[:2])


def source_fingerprint(folder: Path) -> dict[str, Any]:
    """What identifies the source weights, cheaply: no 52 GB hashing.

    Hub snapshots link each file to a blob named by its sha256 (LFS files), so
    the hash is free; for local folders size and mtime stand in for it.
    """
    repo, revision = hub_identity(folder)
    files: dict[str, dict[str, Any]] = {}
    names = ["config.json", *checkpoint_shards(folder)]
    if (folder / "model.safetensors.index.json").is_file():
        names.append("model.safetensors.index.json")
    for name in sorted(set(names)):
        path = folder / name
        stat = path.stat()
        entry: dict[str, Any] = {"size": stat.st_size}
        target = path.resolve().name
        if path.is_symlink() and _BLOB.match(target):
            entry["blob"] = target
        else:
            entry["mtime_ns"] = stat.st_mtime_ns
        files[name] = entry
    config_sha = hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()
    return {
        "path": str(folder),
        "repo": repo,
        "revision": revision,
        "config_sha256": config_sha,
        "files": files,
    }


def _same_source(recorded: dict[str, Any], current: dict[str, Any]) -> str:
    """'' when they match, else why not."""
    if recorded.get("config_sha256") != current["config_sha256"]:
        return "config.json changed"
    old, new = recorded.get("files", {}), current["files"]
    if set(old) != set(new):
        return "the set of weight files changed"
    for name, entry in new.items():
        if old[name] != entry:
            return f"{name} changed"
    return ""


# -- checking -------------------------------------------------------------------------------------


def read_manifest(cache_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((cache_dir / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def check_cache(cache_dir: Path, source: Path | None, settings: QuantSettings) -> CacheStatus:
    """Everything that can be checked without reading the weights (hashing happens while loading)."""
    manifest = read_manifest(cache_dir)
    if manifest is None:
        return CacheStatus("missing", "no manifest")
    if not manifest or manifest.get("format") != FORMAT_NAME:
        return CacheStatus("corrupt", "unreadable manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        return CacheStatus("stale", f"cache format {manifest.get('format_version')} != {FORMAT_VERSION}")
    if manifest.get("settings") != settings.to_dict():
        return CacheStatus("stale", "quantization settings changed")
    recorded_versions = manifest.get("versions", {})
    for library, version in library_versions().items():
        if library in ("transformers", "bitsandbytes") and _major_minor(
            recorded_versions.get(library, "")
        ) != _major_minor(version):
            return CacheStatus("stale", f"{library} {recorded_versions.get(library)} -> {version}")
    if source is not None:
        reason = _same_source(manifest.get("source", {}), source_fingerprint(source))
        if reason:
            return CacheStatus("stale", f"source {reason}")
    weights = cache_dir / WEIGHTS
    recorded = manifest.get("weights", {})
    if not weights.is_file():
        return CacheStatus("corrupt", f"{WEIGHTS} is missing")
    if weights.stat().st_size != recorded.get("size"):
        return CacheStatus(
            "corrupt", f"{WEIGHTS} is {weights.stat().st_size} bytes, {recorded.get('size')} recorded"
        )
    try:
        read_header(weights)
    except CorruptFileError as error:
        return CacheStatus("corrupt", str(error))
    for name in ("config.json",):
        if not (cache_dir / name).is_file():
            return CacheStatus("corrupt", f"{name} is missing")
    return CacheStatus("ok", manifest=manifest)


# -- writing --------------------------------------------------------------------------------------


def _small_files(folder: Path) -> list[Path]:
    """The source's non-weight files (config, tokenizer, processor, templates)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.endswith(".safetensors") and p.name != "model.safetensors.index.json"
    )


def _source_dtype(folder: Path) -> torch.dtype | None:
    """The dtype the source checkpoint declares in config.json (bf16 for the real model)."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = config.get("dtype") or config.get("torch_dtype")
    dtype = getattr(torch, name, None) if isinstance(name, str) else None
    return dtype if isinstance(dtype, torch.dtype) and dtype.is_floating_point else None


def _storage_tensors(model: nn.Module, storage: torch.dtype | None) -> dict[str, torch.Tensor]:
    """Canonical tensors, the 16-bit ones in the checkpoint's own dtype (bf16 for the real model).

    A CPU build computes in fp32; storing in the source dtype keeps the cache
    the same size wherever it was built (bf16 → fp32 → bf16 is exact).
    """
    quant_ids = {id(b) for m in model.modules() if isinstance(m, QuantizedWeight) for b in m.buffers()}
    out = {}
    for name, tensor in persistent_tensors(model).items():
        if storage is not None and tensor.is_floating_point() and id(tensor) not in quant_ids:
            tensor = tensor.to(storage)
        out[name] = tensor
    return out


def save_quantized(
    model: nn.Module, out_dir: Path, *, source: Path, settings: QuantSettings
) -> dict[str, Any]:
    """Write ``model`` as a quantized checkpoint folder; returns the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)  # the folder is incomplete until the new manifest exists
    for path in _small_files(source):
        if path.name != MANIFEST:
            shutil.copyfile(path, out_dir / path.name)
    tensors = _storage_tensors(model, _source_dtype(source))
    started = time.perf_counter()
    size, sha = write_safetensors(out_dir / WEIGHTS, tensors, {"format": FORMAT_NAME})
    quant_bytes = sum(m.nbytes() for m in model.modules() if isinstance(m, QuantizedWeight))
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source": source_fingerprint(source),
        "settings": settings.to_dict(),
        "versions": library_versions(),
        "weights": {"file": WEIGHTS, "size": size, "sha256": sha, "tensors": len(tensors)},
        "bytes": {"quantized": quant_bytes, "total": size},
    }
    tmp = out_dir / (MANIFEST + ".partial")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out_dir / MANIFEST)
    log.info("wrote %s (%.2f GiB) in %.1f s", out_dir / WEIGHTS, size / 2**30, time.perf_counter() - started)
    return manifest


# -- reading --------------------------------------------------------------------------------------


@torch.no_grad()
def load_quantized(
    cache_dir: Path,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
    progress: Callable[[LoadProgress], None] | None = None,
    verify: bool = True,
) -> nn.Module:
    """Load a quantized checkpoint folder; CacheCorruptError if anything does not add up.

    With ``verify`` (the default) the weights' sha256 is computed in the same
    pass that loads them and compared before the model is returned.
    """
    from transformers import AutoConfig

    manifest = read_manifest(cache_dir)
    if not manifest:
        raise CacheCorruptError("no readable manifest")
    device = torch.device(device)
    dtype = dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
    settings = QuantSettings.from_dict(manifest["settings"])
    model = empty_model(AutoConfig.from_pretrained(str(cache_dir)), dtype, cache_dir)
    install_empty(model, settings, "meta")
    expected = {name: (tuple(t.shape), t.dtype) for name, t in persistent_tensors(model).items()}
    weights = cache_dir / WEIGHTS
    recorded = manifest.get("weights", {})
    tracker = Progress("load", recorded.get("size", 0), len(expected), progress)
    seen: set[str] = set()
    try:
        for name, tensor in iter_tensors(weights, recorded.get("sha256") if verify else None):
            slot = resolve(model, name)
            if slot is None or slot.kind != "dense" or name not in expected:
                raise CacheCorruptError(f"unexpected tensor {name}")
            if tuple(tensor.shape) != expected[name][0]:
                raise CacheCorruptError(
                    f"{name} has shape {tuple(tensor.shape)}, {expected[name][0]} expected"
                )
            if not tensor.is_floating_point() and tensor.dtype != expected[name][1]:
                raise CacheCorruptError(f"{name} is {tensor.dtype}, {expected[name][1]} expected")
            assign_dense(slot, tensor, device)
            seen.add(name)
            tracker.advance(tensor.numel() * tensor.element_size())
    except CorruptFileError as error:
        raise CacheCorruptError(str(error)) from None
    if seen != set(expected):
        raise CacheCorruptError(f"{len(set(expected) - seen)} tensors missing")
    mark_quantized(model, settings)
    return finish(model, cache_dir)


def verify_weights(cache_dir: Path) -> None:
    """Hash the cached weights against the manifest (CacheCorruptError if they differ)."""
    manifest = read_manifest(cache_dir) or {}
    try:
        for _ in iter_tensors(cache_dir / WEIGHTS, manifest.get("weights", {}).get("sha256", "")):
            pass
    except CorruptFileError as error:
        raise CacheCorruptError(str(error)) from None


def _source_folder(source: str | Path) -> tuple[Path | None, Exception | None]:
    """The local folder of ``source``, or (None, why) for a repo id that is not downloaded."""
    try:
        return resolve_source(source), None
    except ModelAccessError as error:
        return None, error


def _build(folder: Path, settings: QuantSettings, target: Path, device, dtype, progress) -> nn.Module:
    check_checkpoint(folder)
    model = stream_quantize(folder, settings, device=device, dtype=dtype, progress=progress)
    needed = sum(m.nbytes() for m in model.modules() if isinstance(m, QuantizedWeight)) * 1.3
    target.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(target).free < needed:
        log.warning("not enough free disk space to cache the quantized model in %s", target)
        return model
    save_quantized(model, target, source=folder, settings=settings)
    return model


def quantize_to_cache(
    source: str | Path,
    settings: QuantSettings | None = None,
    *,
    cache_dir: Path | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
    progress: Callable[[LoadProgress], None] | None = None,
    rebuild: bool = False,
    verify: bool = False,
) -> tuple[Path, str]:
    """Make sure an up-to-date quantized cache exists: ``(folder, "up to date" | "built")``.

    Unlike :func:`load_or_quantize` this does not load a valid cache (the CLI
    only needs it on disk); ``verify`` hashes it instead.
    """

    def use(target: Path) -> Path:
        if verify:
            verify_weights(target)
        return target

    def build(folder: Path, settings: QuantSettings, target: Path) -> Path:
        _build(folder, settings, target, device, dtype, progress)
        return target

    target, cached = _cached_or_built(source, settings, cache_dir, rebuild, use, build)
    return target, "up to date" if cached else "built"


def load_or_quantize(
    source: str | Path,
    settings: QuantSettings | None = None,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
    progress: Callable[[LoadProgress], None] | None = None,
    cache_dir: Path | None = None,
    rebuild: bool = False,
) -> tuple[nn.Module, str]:
    """The quantized model for ``source`` (folder or repo id) and how it was obtained.

    Returns ``(model, "cache")`` after a verified load, or ``(model, "built")``
    after streaming quantization from the source (the cache is then written;
    if the disk is too full for it, the model is still returned and a warning
    logged).  A cache whose source folder is gone is still used — after its
    hash is verified — so the 52 GB bf16 download can be deleted.
    """
    model, cached = _cached_or_built(
        source,
        settings,
        cache_dir,
        rebuild,
        lambda target: load_quantized(target, device=device, dtype=dtype, progress=progress),
        lambda folder, settings, target: _build(folder, settings, target, device, dtype, progress),
    )
    return model, "cache" if cached else "built"


def _cached_or_built(
    source: str | Path,
    settings: QuantSettings | None,
    cache_dir: Path | None,
    rebuild: bool,
    use: Callable[[Path], T],
    build: Callable[[Path, QuantSettings, Path], T],
) -> tuple[T, bool]:
    """``use(cache)`` when the cache is up to date and intact, else ``build(folder, settings, cache)``.

    A stale, truncated or corrupt cache is logged and rebuilt, never used; a
    repo id that is neither cached nor downloaded raises why. The bool says
    whether the cache was used.
    """
    settings = (settings or QuantSettings()).validate()
    folder, missing = _source_folder(source)
    target = cache_dir or default_cache_dir(folder if folder is not None else source, settings)
    status = check_cache(target, folder, settings)
    if status.ok and not rebuild:
        try:
            return use(target), True
        except CacheCorruptError as error:
            log.warning("quantized cache %s is corrupt (%s): rebuilding", target, error)
    elif status.state != "missing":
        log.warning("quantized cache %s is %s (%s): rebuilding", target, status.state, status.reason)
    if folder is None:
        raise missing
    return build(folder, settings, target), False

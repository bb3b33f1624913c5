"""Can DiffusionGemma run on this computer, and if not, what to change: one check per line.

A user whose model does not load wants one place that says what is there and
what is missing: the libraries (a CPU build of torch on a machine with a GPU is
the classic), the GPU and its free memory, the model files, the 4-bit cache,
and whether the model fits with how much context.  ``python -m engine doctor``
prints these; each failed check carries the fix, in the engine's own words.
Nothing is downloaded and no weights are loaded (the fit comes from the VRAM
planner, ``engine.model.fit``).
"""

from __future__ import annotations

import importlib
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.errors import EngineError

GIB = 2**30


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True  # False: the app works without it, with less (videos, the fused kernel)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _version(module: str) -> str | None:
    try:
        return str(importlib.import_module(module).__version__)
    except Exception:  # an import that fails for any reason (a missing native library too) is "absent"
        return None


def library_checks() -> list[Check]:
    import torch

    checks = [
        Check("python", True, platform.python_version()),
        Check(
            "torch",
            True,
            f"{torch.__version__} ({'CUDA ' + torch.version.cuda if torch.version.cuda else 'CPU build'})",
        ),
    ]
    transformers = _version("transformers")
    try:
        from transformers import DiffusionGemmaForBlockDiffusion  # noqa: F401

        checks.append(Check("transformers", True, transformers or "?"))
    except ImportError:
        checks.append(
            Check(
                "transformers",
                False,
                f"{transformers or 'not installed'}: no DiffusionGemmaForBlockDiffusion",
                fix="pip install 'transformers>=5.23'",
            )
        )
    checks += [
        _library(
            "bitsandbytes",
            "bitsandbytes",
            "cannot be imported",
            "pip install bitsandbytes (the 4-bit weights the GPU needs)",
            required=torch.cuda.is_available(),
        ),
        _library(
            "triton",
            "triton",
            "not installed: the 4-bit experts run as grouped matmuls instead of the fused kernel",
            "CUDA builds of torch on Linux bring it",
        ),
        _library("PyAV", "av", "not installed: videos cannot be attached", "pip install av"),
    ]
    return checks


def _library(name: str, module: str, absent: str, fix: str, *, required: bool = False) -> Check:
    """A library found (its version) or not (what is lost, and how to install it)."""
    version = _version(module)
    if version is not None:
        return Check(name, True, version, required=required)
    return Check(name, False, absent, fix=fix, required=required)


def gpu_check() -> tuple[Check, Any]:
    """The GPU (and its memory, for the fit), or why there is none."""
    import torch

    from engine.model.fit import gpu_memory

    if not torch.cuda.is_available():
        if torch.version.cuda is None:
            fix = (
                "This torch is a CPU build: install the CUDA build (README, 'PyTorch: CPU or CUDA'); "
                "the demo model runs on the CPU"
            )
        else:
            fix = "No NVIDIA GPU is visible: check the driver (nvidia-smi); the demo model runs on the CPU"
        return Check("gpu", False, "no CUDA GPU", fix=fix), None
    device = torch.device("cuda")
    memory = gpu_memory(device)
    name = torch.cuda.get_device_name(device)
    major, minor = torch.cuda.get_device_capability(device)
    detail = (
        f"{name} (compute {major}.{minor}), {memory.free / GIB:.1f} GiB free of {memory.total / GIB:.1f} GiB"
    )
    bf16 = torch.cuda.is_bf16_supported()
    return (
        Check(
            "gpu",
            bf16,
            detail + ("" if bf16 else "; no bfloat16"),
            fix="" if bf16 else "A GPU from 2020 on (Ampere or newer) is needed for bfloat16",
        ),
        memory,
    )


def model_check(source: str) -> tuple[Check, Path | None]:
    from engine.model.loader import check_checkpoint, resolve_source

    try:
        folder = resolve_source(source)
        check_checkpoint(folder)
    except EngineError as error:
        return Check("model", False, f"{source}: {error.title}", fix=error.fix), None
    size = sum(f.stat().st_size for f in folder.glob("*.safetensors"))
    shown = f"{size / GIB:.1f} GiB" if size >= GIB // 10 else f"{size / 2**20:.1f} MiB"
    return Check("model", True, f"{source}: complete, {shown} of weights in {folder}"), folder


def cache_check(source: str, folder: Path) -> Check:
    """The 4-bit copy the first GPU load writes: there, stale (rebuilt on load), or still to make."""
    from engine.model.loader import is_quantized_checkpoint
    from engine.model.quant.cache import check_cache, default_cache_dir
    from engine.model.quant.settings import QuantSettings

    if is_quantized_checkpoint(folder):
        return Check("4-bit cache", True, "the model folder is itself a 4-bit checkpoint")
    settings = QuantSettings()
    where = default_cache_dir(source, settings)
    status = check_cache(where, folder, settings)
    if status.ok:
        return Check("4-bit cache", True, f"up to date in {where}")
    detail = {
        "missing": "not made yet: the first GPU load quantizes the model (minutes) and keeps it",
        "stale": f"out of date ({status.reason}): the next GPU load rebuilds it",
        "corrupt": f"damaged ({status.reason}): the next GPU load rebuilds it",
    }.get(status.state, status.reason)
    return Check("4-bit cache", True, detail, required=False)


def fit_check(model: str | Path, memory) -> Check:
    """Does the 4-bit model (a folder, or ``real-shape``: the published dimensions) fit ``memory``?"""
    import torch

    from engine.model.fit import context_limit

    try:  # exactly what Engine.load asks before loading on the GPU
        limit = context_limit(model, torch.device("cuda"), torch.bfloat16, quantize=True, memory=memory)
    except EngineError as error:
        return Check("fits the GPU", False, error.title, fix=error.fix)
    why = "this GPU's free memory" if limit.by_memory else "the model's maximum"
    return Check("fits the GPU", True, f"yes, with {limit.tokens:,} tokens of context ({why})")


def run_checks(source: str) -> list[Check]:
    """Every check, in the order a user would fix them."""
    checks = library_checks()
    gpu, memory = gpu_check()
    checks.append(gpu)
    if source == "real-shape":  # no files: how the published 26B shape fits this GPU
        checks.append(Check("model", True, "real-shape: the published 26B-A4B dimensions (no weights)"))
        if memory is not None:
            checks.append(fit_check(source, memory))
        return checks
    model, folder = model_check(source)
    checks.append(model)
    if folder is not None and memory is not None:
        checks.append(cache_check(source, folder))
        checks.append(fit_check(folder, memory))
    return checks


def ready(checks: list[Check]) -> bool:
    """Whether the model can run here on the GPU: every required check passed, the fit included."""
    names = {c.name for c in checks}
    return "fits the GPU" in names and all(c.ok for c in checks if c.required)


def report(checks: list[Check], is_ready: bool) -> str:
    """The checks as plain text, a line each, fixes under them (the CLI prints it, the app copies it)."""
    lines = []
    for check in checks:
        mark = "ok" if check.ok else ("FAIL" if check.required else "note")
        lines.append(f"{mark}: {check.name}: {check.detail}")
        if check.fix and not check.ok:
            lines.append(f"    fix: {check.fix}")
    lines.append(
        "Ready: the model can run on this GPU."
        if is_ready
        else "Not ready for the model on a GPU (the demo model runs anywhere: dgchat --model demo)."
    )
    return "\n".join(lines)

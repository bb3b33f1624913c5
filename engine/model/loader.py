"""Load a checked checkpoint onto a device: full precision, or 4-bit through the quantized cache.

Finding and checking the folder is ``engine.model.checkpoint``'s job; this
module picks the device and the precision and turns load failures into
messages that name the fix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import DeviceError, ModelAccessError, ModelFilesError, OutOfMemoryError
from engine.events import LoadProgress
from engine.model.checkpoint import check_checkpoint, resolve_source
from engine.model.demo import DEMO

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DEFAULT_MODEL = "google/diffusiongemma-26B-A4B-it"


@dataclass(frozen=True, slots=True)
class DeviceChoice:
    device: torch.device
    dtype: torch.dtype


def choose_device(device: str | None = None, *, require_cuda: bool = False) -> DeviceChoice:
    """CUDA in bf16 when available, else CPU in fp32 (bf16 matmuls are slow on most CPUs)."""
    import torch

    wanted = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if (require_cuda or wanted.startswith("cuda")) and not torch.cuda.is_available():
        raise DeviceError(
            "No CUDA GPU is available to this program",
            fix="Install the CUDA build of PyTorch and an NVIDIA driver (see README), or use the demo "
            "model, which runs on the CPU",
        )
    dev = torch.device(wanted)
    return DeviceChoice(dev, torch.bfloat16 if dev.type == "cuda" else torch.float32)


def is_quantized_checkpoint(folder: Path) -> bool:
    """A folder written by ``python -m engine quantize`` (or the quantized cache)."""
    from engine.model.quant.cache import MANIFEST

    return (folder / MANIFEST).is_file()


def load_model(
    folder: Path,
    choice: DeviceChoice,
    progress: Callable[[LoadProgress], None] | None = None,
    *,
    quantize: bool | None = None,
):
    """Load model and processor from a checked folder onto the chosen device.

    ``quantize=None`` means: 4-bit on CUDA (the 26B model only fits a consumer
    GPU that way; the first load streams the bf16 shards into a cached 4-bit
    copy, later loads read the cache), full precision on the CPU (the demo and
    test models are small, and bitsandbytes' CPU path is slow).  A folder that
    already is a quantized checkpoint is always loaded as one.
    """
    import torch

    report = progress or (lambda _event: None)
    report(LoadProgress("processor", 0, 2, "Reading tokenizer and image processor"))
    processor = _load_processor(folder)
    report(LoadProgress("weights", 1, 2, "Loading weights"))
    if quantize is None:
        quantize = choice.device.type == "cuda"
    four_bit = is_quantized_checkpoint(folder) or quantize
    try:
        model = _load_4bit(folder, choice, progress) if four_bit else _load_full_precision(folder, choice)
    except torch.OutOfMemoryError:
        _free_cuda()
        raise OutOfMemoryError(
            "The GPU does not have enough free memory to load this model",
            fix="Close other programs using the GPU, or use a quantized model",
        ) from None
    except (OSError, ValueError, RuntimeError) as error:
        log.exception("weights load failed")
        raise ModelFilesError(
            f"The weights could not be loaded ({str(error).splitlines()[0][:200]})",
            fix="Download the model again, or choose another folder",
            path=folder,
        ) from None
    if not four_bit:
        model.eval()
        if choice.device.type != "cuda":
            model.to(choice.device)
    report(LoadProgress("ready", 2, 2, "Model ready"))
    return model, processor


def _load_processor(folder: Path):
    from engine.inputs.processor import load_processor

    try:
        return load_processor(str(folder))
    except (OSError, ValueError, KeyError) as error:
        log.exception("processor load failed")
        raise ModelFilesError(
            f"The tokenizer or processor files could not be read ({error})",
            fix="Download the model again",
            path=folder,
        ) from None


def _load_4bit(folder: Path, choice: DeviceChoice, progress: Callable[[LoadProgress], None] | None):
    """A quantized checkpoint as it is, else the bf16 one through the 4-bit cache; kernels timed on CUDA."""
    from engine.model.quant.cache import load_or_quantize, load_quantized

    if is_quantized_checkpoint(folder):
        model = load_quantized(folder, device=choice.device, dtype=choice.dtype, progress=progress)
    else:
        model, _how = load_or_quantize(folder, device=choice.device, dtype=choice.dtype, progress=progress)
    model.eval()
    if choice.device.type == "cuda":
        from engine.model.quant.experts_path import choose_experts_path

        if progress is not None:
            progress(LoadProgress("kernels", 1, 2, "Timing the 4-bit kernels on this GPU"))
        choose_experts_path(model, choice.device, choice.dtype)
    return model


def _load_full_precision(folder: Path, choice: DeviceChoice):
    from transformers import DiffusionGemmaForBlockDiffusion

    return DiffusionGemmaForBlockDiffusion.from_pretrained(
        str(folder),
        dtype=choice.dtype,
        device_map=str(choice.device) if choice.device.type == "cuda" else None,
    )


def _free_cuda() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def preferred_model() -> str:
    """What to open when the user has not chosen a model: the real one if it can run, else the demo.

    The real model is chosen only when a CUDA GPU is visible and the checkpoint
    is completely in the Hugging Face cache (nothing is downloaded here);
    otherwise the bundled demo model, which runs on any CPU.
    """
    import torch

    if not torch.cuda.is_available():
        return DEMO
    try:
        check_checkpoint(resolve_source(DEFAULT_MODEL))
    except (ModelAccessError, ModelFilesError):
        return DEMO
    return DEFAULT_MODEL

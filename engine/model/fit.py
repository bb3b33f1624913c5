"""Will the model fit this GPU, and how long may a conversation grow there?

Asked before the weights load, from config.json and the GPU's free memory,
with the same planner as ``python -m engine plan``.  Two answers:

* the model cannot fit even with one canvas of context: refuse *before*
  spending minutes loading weights that would end in an out-of-memory error,
  and say by how much and what to do;
* it fits: the largest context the planner finds room for becomes the
  engine's context limit (``ModelInfo.context_length``).  The KV cache grows
  with the conversation, so without this limit a long chat would run the GPU
  out of memory in the middle of a prefill instead of being told, up front,
  that it has outgrown this GPU (or having its oldest messages left out, see
  ``engine.inputs.overflow``).

On the CPU the model's own maximum applies: host memory is not planned.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.errors import ModelTooLargeError
from engine.model.planner import GIB, PlanOptions, Shape, load_config, make_plan
from engine.model.quant.settings import QuantSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ContextLimit:
    """How many tokens (prompt + reply) a conversation may hold with this model on this device."""

    tokens: int
    model_tokens: int  # the model's own maximum (max_position_embeddings)
    by_memory: bool = False  # True when the GPU's memory, not the model, sets ``tokens``


@dataclass(frozen=True, slots=True)
class GpuMemory:
    free: int
    total: int


def gpu_memory(device: torch.device) -> GpuMemory:
    """Free and total bytes on ``device``, after returning the allocator's cached blocks to the driver."""
    torch.cuda.empty_cache()  # a model dropped just before this load still holds its blocks
    free, total = torch.cuda.mem_get_info(device)
    return GpuMemory(int(free), int(total))


def checkpoint_quant_settings(folder: Path | str, quantize: bool) -> QuantSettings | None:
    """What the loader quantizes with: a quantized checkpoint's own settings, else the defaults (or none)."""
    from engine.model.quant.cache import read_manifest

    manifest = read_manifest(Path(folder))
    if manifest is not None and manifest.get("settings"):
        return QuantSettings.from_dict(manifest["settings"])
    return QuantSettings() if quantize else None


def context_limit(
    folder: Path | str,
    device: torch.device,
    dtype: torch.dtype,
    *,
    quantize: bool,
    memory: GpuMemory | None = None,
) -> ContextLimit:
    """The context limit for loading ``folder`` on ``device``; raises ModelTooLargeError if it cannot fit.

    ``folder`` may also be ``"real-shape"`` (the published dimensions, for ``engine doctor``).
    """
    config = load_config(folder)
    if device.type != "cuda":
        model_tokens = Shape.from_config(config).max_positions
        return ContextLimit(model_tokens, model_tokens)
    options = PlanOptions(
        settings=checkpoint_quant_settings(folder, quantize),
        dtype_bytes=torch.empty((), dtype=dtype).element_size(),
    )
    return plan_context(config, memory or gpu_memory(device), options)


def plan_context(config, memory: GpuMemory, options: PlanOptions) -> ContextLimit:
    """The largest context that fits ``memory.free``; ModelTooLargeError naming the numbers when none does."""
    shape = Shape.from_config(config)
    smallest = make_plan(config, context=shape.canvas, vram_bytes=memory.free, options=options)
    if not smallest.max_context:
        raise _too_large(smallest.weights_total, smallest.total, memory)
    log.info(
        "context limit %d tokens (model maximum %d) with %.2f GiB free of %.2f GiB",
        smallest.max_context,
        shape.max_positions,
        memory.free / GIB,
        memory.total / GIB,
    )
    return ContextLimit(
        tokens=smallest.max_context,
        model_tokens=shape.max_positions,
        by_memory=smallest.max_context < shape.max_positions,
    )


def _too_large(weights: int, needed: int, memory: GpuMemory) -> ModelTooLargeError:
    gib = lambda n: f"{n / GIB:.1f} GiB"  # noqa: E731
    title = (
        f"This model needs about {gib(needed)} of GPU memory ({gib(weights)} of weights plus room to write "
        f"one reply), but only {gib(memory.free)} of the GPU's {gib(memory.total)} is free"
    )
    if needed <= memory.total:
        busy = memory.total - memory.free
        fix = (
            f"Close other programs that use the GPU (they hold {gib(busy)}: games, browsers, other "
            "model runners), then choose Try again; or use the demo model"
        )
    else:
        fix = (
            f"This GPU is too small for this model: it needs a GPU with at least {gib(needed)}. "
            "Use the demo model, or run on a larger GPU"
        )
    return ModelTooLargeError(title, fix=fix)

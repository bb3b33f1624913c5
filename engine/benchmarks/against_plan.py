"""A benchmark run set beside the planner's prediction for exactly that run.

The planner (engine/model/planner.py) promises what fits in 18 GiB from the
config alone.  Here the same planner is asked about the run the benchmark
just made — same layers, context, canvases, dtype, device and experts group —
phase by phase: encoding the prompt, and the denoising steps with the
commits between canvases.  On a CPU the planner adds no CUDA context or
fragmentation (neither exists there), so planned and traced count the same
thing: live tensor storage.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

GIB = 2**30


def weights_by_kind(model: nn.Module) -> dict[str, int]:
    """Bytes of the weights by storage: 4-bit experts, 4-bit linears, and dense (each tied tensor once).

    Works on a model built on the meta device too, so the planner's view and
    a real model's can be compared.
    """
    from engine.model.quant import QuantizedWeight
    from engine.model.quant.skeleton import persistent_tensors

    kind_of: dict[int, str] = {}
    for name, module in model.named_modules():
        if isinstance(module, QuantizedWeight):
            kind = "experts_4bit" if ".experts." in f"{name}." else "linears_4bit"
            kind_of.update({id(tensor): kind for tensor in module.buffers()})
    dense = f"dense_{str(next(model.parameters()).dtype).removeprefix('torch.')}"
    out = {"experts_4bit": 0, "linears_4bit": 0, dense: 0}
    for tensor in persistent_tensors(model).values():
        kind = kind_of.get(id(tensor), dense)
        out[kind] += tensor.numel() * tensor.element_size()
    return out


def dense_elements(config, dtype: torch.dtype) -> int:
    """Elements of the weights that stay dense (what a random build draws as normal values)."""
    from engine.model.quant import QuantSettings, install_empty
    from engine.model.quant.skeleton import empty_model

    model = empty_model(config, dtype)
    install_empty(model, QuantSettings(), "meta")
    return weights_by_kind(model)[f"dense_{str(dtype).removeprefix('torch.')}"] // dtype.itemsize


def planned_phases(
    config,
    *,
    context: int,
    canvases: int,
    dtype: torch.dtype,
    device: torch.device,
    experts_per_group: int,
    quantized: bool = True,
) -> dict[str, int]:
    """The planner's peak bytes for this run: "prefill", "step" and "total", weights included.

    The steps of the last canvas see the largest cache (``context`` plus the
    canvases before it); between canvases each is encoded into the cache in
    one 256-token call, planned as a prefill chunk of that size.
    """
    from engine.model.planner import PlanOptions, make_plan
    from engine.model.quant.settings import QuantSettings

    options = PlanOptions(
        settings=QuantSettings() if quantized else None,
        dtype_bytes=dtype.itemsize,
        prompt_cache_copy=False,  # the benchmark keeps no prompt state for a next turn
        device=device.type,
        experts_per_group=experts_per_group,
    )
    canvas = config.canvas_length
    prefill = make_plan(config, context=context, options=options)
    last = context + (canvases - 1) * canvas
    steps = make_plan(config, context=last, options=options).phases()["step"]
    if canvases > 1:
        commit = dataclasses.replace(options, prefill_chunk=canvas)
        steps = max(steps, make_plan(config, context=last, options=commit).phases()["prefill"])
    phases = {"prefill": prefill.phases()["prefill"], "step": steps}
    return {**phases, "total": max(phases.values()) + prefill.overhead}


def comparison(planned: dict[str, int], measured: dict[str, int], peak: int | None) -> dict:
    """Planned and measured GiB per phase, and their ratio (measured / planned)."""
    gib = lambda n: round(n / GIB, 3)  # noqa: E731
    phases = {
        name: {
            "planned_gib": gib(planned[name]),
            "traced_gib": gib(measured[name]) if name in measured else None,
            "traced_over_planned": round(measured[name] / planned[name], 3) if name in measured else None,
        }
        for name in ("prefill", "step")
    }
    return {
        "planned_total_gib": gib(planned["total"]),
        "peak_traced_gib": gib(peak) if peak is not None else None,
        "phases": phases,
    }

"""Benchmark one MoE layer's 4-bit experts alone, for each number of experts dequantized together.

The experts are ~90 % of the weights and, with a 256-token canvas routed
top-8 over 128 experts, every forward touches nearly all of them: their
forward decides the decode speed.  ``QuantExperts`` either dequantizes
``experts_per_group`` experts per bitsandbytes call and runs them with one
grouped matmul, trading launches (fewer with larger groups) for transient
memory (one group in 16-bit at a time), or runs the fused Triton kernel
(``"fused"``: 4-bit codes dequantized in registers, two launches).  This
measures those paths on the device at hand:

* median milliseconds per layer forward (device-synchronized);
* ATen/bitsandbytes ops dispatched per forward, views excluded — on CUDA each
  is a kernel launch, so this is the launch count the CPU can also show;
* the peak memory above the weights and inputs (CUDA allocator statistics,
  or live storage tracked op by op on the CPU);
* the bandwidth floor: the layer's 4-bit bytes read once at ``bandwidth_gbs``.

The layer has the real model's shape by default (hidden 2816, 128 experts of
704, top-8), with random weights drawn straight into 4-bit (engine/benchmarks/models.py).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from engine.benchmarks.memory import AllocationTracker
from engine.benchmarks.models import draw_random_rows
from engine.generation.loop import synchronize
from engine.model.quant.experts_path import median_ms

REAL_LAYER = {"hidden": 2816, "intermediate": 704, "experts": 128, "top_k": 8}


@dataclass
class ExpertsTiming:
    experts_per_group: int | str  # a group size, or "fused" for the Triton kernel
    forward_ms: float
    ops_per_forward: int
    peak_transient_bytes: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class OpCounter(TorchDispatchMode):
    """Counts dispatched ops that do work (views and metadata-only ops excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not func.is_view:
            self.count += 1
        return func(*args, **(kwargs or {}))


@torch.no_grad()
def random_experts(
    *, hidden: int, intermediate: int, experts: int, device, dtype: torch.dtype, seed: int = 0
):
    """A ``QuantExperts`` with random experts drawn straight into 4-bit (never dense whole)."""
    from engine.model.quant import QuantExperts, QuantSettings

    device = torch.device(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    module = QuantExperts(
        experts, hidden, intermediate, torch.nn.GELU(approximate="tanh"), QuantSettings(), device=device
    )
    for weight in (module.gate_up, module.down):
        draw_random_rows(weight, dtype, generator)
    return module


@torch.no_grad()
def time_group_sizes(
    module, states, index, weights, group_sizes: list[int | str], *, repeats: int = 5
) -> list[ExpertsTiming]:
    """Time ``module`` on one routed canvas for every group size or "fused" (one warm-up call each)."""
    device = states.device
    out: list[ExpertsTiming] = []
    for group in group_sizes:
        module.fused = group == "fused"
        module.experts_per_group = None if module.fused else group
        forward_ms = median_ms(lambda: module(states, index, weights), device, repeats)  # warm-up first
        with OpCounter() as counter:
            module(states, index, weights)
        out.append(
            ExpertsTiming(
                experts_per_group=group,
                forward_ms=forward_ms,
                ops_per_forward=counter.count,
                peak_transient_bytes=_peak_transient(module, states, index, weights),
            )
        )
    return out


def _peak_transient(module, states, index, weights) -> int:
    device = states.device
    if device.type == "cuda":
        synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        module(states, index, weights)
        synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - before)
    with AllocationTracker() as tracker:
        module(states, index, weights)
    return int(tracker.peak)


def fused_runs_on(device: torch.device) -> bool:
    """Whether the fused kernel can run here: Triton compiled for CUDA, or its interpreter on the CPU."""
    from engine.model.quant.modules import fused_kernel

    fused = fused_kernel()
    return fused is not None and (device.type == "cuda" or fused.interpreting())


def floor_ms(module, bandwidth_gbs: float | None) -> float | None:
    """Milliseconds to read the layer's 4-bit experts once at ``bandwidth_gbs``."""
    if not bandwidth_gbs:
        return None
    return 1000 * (module.gate_up.nbytes() + module.down.nbytes()) / (bandwidth_gbs * 1e9)


# -- agreement ------------------------------------------------------------------------------------


@torch.no_grad()
def dense_reference(module, dtype: torch.dtype):
    """transformers' experts module (its eager loop) holding ``module``'s dequantized weights in ``dtype``."""
    from transformers.models.diffusion_gemma.configuration_diffusion_gemma import DiffusionGemmaTextConfig
    from transformers.models.diffusion_gemma.modeling_diffusion_gemma import DiffusionGemmaTextExperts

    config = DiffusionGemmaTextConfig(
        hidden_size=module.hidden_dim,
        moe_intermediate_size=module.intermediate_dim,
        num_experts=module.num_experts,
    )
    config._experts_implementation = "eager"
    with torch.device("meta"):
        reference = DiffusionGemmaTextExperts(config)
    reference.gate_up_proj = torch.nn.Parameter(module.gate_up.dequantize_all(dtype), requires_grad=False)
    reference.down_proj = torch.nn.Parameter(module.down.dequantize_all(dtype), requires_grad=False)
    return reference


def _max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


@torch.no_grad()
def compare_paths(
    module, states, index, weights, *, kernel_dtypes: list[torch.dtype], group: int = 16
) -> dict:
    """The largest absolute difference of each experts path from a dense reference, on one routed canvas.

    Paths: the grouped dequantize-then-matmul path in bf16 and fp32 (``group``
    experts at a time), and the fused kernel in each of ``kernel_dtypes``
    (Triton's interpreter has no bf16: on a CPU it runs fp16 and fp32).  The
    references are transformers' eager experts loop over the same dequantized
    weights, in bf16 and in fp32, so the differences are the paths' rounding,
    not quantization error.  ``weights`` are the router's fp32 weights.
    """
    references = {}
    for dtype in (torch.bfloat16, torch.float32):
        references[dtype] = dense_reference(module, dtype)(states.to(dtype), index, weights)
    runs = [("grouped", dtype) for dtype in (torch.bfloat16, torch.float32)]
    runs += [("fused", dtype) for dtype in kernel_dtypes]
    paths = {}
    for path, dtype in runs:
        module.fused = path == "fused"
        module.experts_per_group = None if module.fused else group
        start = time.perf_counter()
        out = module(states.to(dtype), index, weights)
        seconds = time.perf_counter() - start
        name = lambda d: str(d).removeprefix("torch.")  # noqa: E731
        paths[f"{path} {name(dtype)}"] = {
            f"vs_dense_{name(ref_dtype)}": _max_abs(out, ref) for ref_dtype, ref in references.items()
        } | {"seconds": round(seconds, 2)}
    return {
        "reference_max_abs": float(references[torch.float32].abs().max()),
        "reference_bf16_vs_fp32": _max_abs(references[torch.bfloat16], references[torch.float32]),
        "paths": paths,
    }

"""Pick the faster experts path for this GPU once, right after the 4-bit model loads.

Two paths compute the same thing (tested against each other): dequantize a
group of experts and run cuBLAS grouped matmuls, or the fused Triton kernel
that reads the 4-bit codes directly.  Which is faster depends on the card,
the driver and the Triton version, so rather than guess, the loader times
one layer of the loaded model both ways on a canvas-sized routing (a few
milliseconds each, after one warm-up that also compiles the kernel) and sets
every ``QuantExperts`` to the winner.  The decision and the timings go to the
log; ``DGCHAT_EXPERTS_PATH=grouped|fused`` overrides it.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from engine.model.quant.modules import QuantExperts, fused_kernel

log = logging.getLogger(__name__)

ENV_OVERRIDE = "DGCHAT_EXPERTS_PATH"
CANVAS_TOKENS = 256


@dataclass(frozen=True)
class PathChoice:
    fused: bool
    reason: str
    grouped_ms: float | None = None
    fused_ms: float | None = None


def median_ms(run: Callable[[], object], device: torch.device, repeats: int = 3) -> float:
    """Median milliseconds of ``run`` (device-synchronized), after one warm-up call."""
    from engine.generation.loop import synchronize

    run()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        run()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def routed_canvas(tokens: int, hidden: int, experts: int, top_k: int, *, device, dtype, seed: int = 0):
    """Hidden states and a softmax top-k routing of ``tokens`` tokens (distinct experts per token)."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    states = torch.randn(tokens, hidden, generator=generator).to(device=device, dtype=dtype)
    scores = torch.randn(tokens, experts, generator=generator)
    weights, index = torch.topk(scores.softmax(-1), top_k, dim=-1)
    return states, index.to(device), weights.to(device=device, dtype=dtype)


def experts_modules(model: nn.Module) -> list[QuantExperts]:
    """Every distinct ``QuantExperts`` (the encoder's are the decoder's: tied)."""
    seen: dict[int, QuantExperts] = {}
    for module in model.modules():
        if isinstance(module, QuantExperts):
            seen.setdefault(id(module), module)
    return list(seen.values())


@torch.no_grad()
def choose_experts_path(
    model: nn.Module,
    device: torch.device,
    dtype: torch.dtype,
    *,
    timer: Callable[[Callable[[], object], torch.device], float] = median_ms,
) -> PathChoice:
    """Time one layer both ways and set every experts module of ``model`` to the faster path."""
    modules = experts_modules(model)
    if not modules:
        return PathChoice(False, "no 4-bit experts")
    top_k = model.config.get_text_config().top_k_experts
    choice = _decide(modules[0], device, dtype, top_k, timer)
    for module in modules:
        module.fused = choice.fused
    log.info(
        "experts path: %s (%s; grouped %s ms, fused %s ms per layer)",
        "fused 4-bit kernel" if choice.fused else "dequantize + grouped matmul",
        choice.reason,
        _ms(choice.grouped_ms),
        _ms(choice.fused_ms),
    )
    return choice


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _decide(sample: QuantExperts, device: torch.device, dtype: torch.dtype, top_k: int, timer) -> PathChoice:
    override = os.environ.get(ENV_OVERRIDE, "").strip().lower()
    fused = fused_kernel()
    usable = fused is not None and fused.supports(sample.gate_up) and fused.supports(sample.down)
    if override in ("grouped", "fused"):
        if override == "fused" and not usable:
            return PathChoice(False, f"{ENV_OVERRIDE}=fused, but the kernel cannot run here")
        return PathChoice(override == "fused", f"{ENV_OVERRIDE}={override}")
    if not usable or not fused.fused_available(device):
        return PathChoice(False, "the fused kernel is unavailable here (needs CUDA and Triton)")
    states, index, weights = routed_canvas(
        CANVAS_TOKENS,
        sample.hidden_dim,
        sample.num_experts,
        min(top_k, sample.num_experts),
        device=device,
        dtype=dtype,
    )
    previous = sample.fused

    def run(use_fused: bool) -> Callable[[], object]:
        def call() -> object:
            sample.fused = use_fused
            return sample(states, index, weights)

        return call

    try:
        grouped_ms = timer(run(False), device)
        try:
            fused_ms = timer(run(True), device)
        except Exception:  # a kernel that fails on the real shape costs speed, never the model
            log.warning("fused 4-bit experts kernel failed on this model's shape", exc_info=True)
            return PathChoice(False, "the fused kernel failed on this model's shape", grouped_ms)
    finally:
        sample.fused = previous
    faster = fused_ms < grouped_ms
    return PathChoice(faster, "timed on this GPU", grouped_ms, fused_ms)

"""How long a benchmark run will take on this machine, said before it starts.

A 30-layer real-shape run on a CPU takes tens of minutes, so the command
states its estimate first.  The estimate counts the run's work — bytes drawn
at random, elements dequantized, matmul FLOPs, sampler passes — from the
model's shape, and prices each from a rate measured here in a few seconds on
tensors of the real sizes.  It is a forecast, not a measurement: the result
carries it beside the elapsed time so its error shows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from engine.model.planner import Shape
from engine.settings import PREFILL_CHUNK

# Softmax-sized passes over the canvas × vocab logits in one step: the forward's self-conditioning
# softmax and soft cap, the sampler's temperature, softmax, entropy and choices.  Counted from a
# 1-layer real-shape run on a CPU (docs/benchmarks.md), where they are nearly half of a step.
LOGITS_PASSES = 36
# The whole runs took up to this much longer than the sum of single-operation rates (three 30-layer
# runs on the project's 2-core machine: 1.15x, 1.41x, 1.45x; docs/benchmarks.md): the forecast is
# said as a range up to it.
SHORTFALL = 1.45


@dataclass(frozen=True)
class Rates:
    """Throughputs measured on this device and dtype."""

    random_bytes_s: float  # uniform random bytes (the 4-bit codes)
    normal_s: float  # normal draws of dense weights, elements per second
    quantize_s: float  # elements quantized to 4-bit per second (each weight's first row)
    dequantize_s: float  # 4-bit elements dequantized per second
    matmul_flops: float  # FLOP/s of expert-sized matmuls
    large_matmul_flops: float  # FLOP/s of vocabulary-sized matmuls (LM head, attention)
    softmax_s: float  # seconds of one softmax over a canvas × vocab fp32 tensor


@dataclass(frozen=True)
class Estimate:
    build_s: float
    prefill_s: float
    steps_s: float

    @property
    def total_s(self) -> float:
        return self.build_s + self.prefill_s + self.steps_s

    @property
    def upper_s(self) -> float:
        return self.total_s * SHORTFALL

    def to_json(self) -> dict[str, float]:
        out = {k: round(v, 1) for k, v in asdict(self).items()}
        return {**out, "total_s": round(self.total_s, 1), "upper_s": round(self.upper_s, 1)}

    def describe(self) -> str:
        low, high = _duration(self.total_s), _duration(self.upper_s)
        parts = [f"build {_duration(self.build_s)}"] if self.build_s else []
        parts += [f"prompt {_duration(self.prefill_s)}", f"denoising {_duration(self.steps_s)}"]
        span = low if low == high else f"{low} to {high}"
        return f"about {span} on this machine ({', '.join(parts)}, at the rates measured)"


def _duration(seconds: float) -> str:
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def _seconds(work: Callable[[], object], device: torch.device, repeats: int = 2) -> float:
    """The fastest of ``repeats`` timed calls after one warm-up, device-synchronized."""
    from engine.generation.prefill import synchronize

    work()
    best = math.inf
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        work()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


@torch.no_grad()
def measure_rates(shape: Shape, device: torch.device, dtype: torch.dtype) -> Rates:
    """Each rate from one operation at the real sizes: an expert, a canvas, a slice of the vocabulary."""
    from engine.model.quant import QuantizedWeight, QuantSettings

    hidden, inter, canvas = shape.hidden, shape.moe_intermediate, shape.canvas
    expert = (2 * inter, hidden)
    codes = torch.empty(8 * expert[0] * expert[1] // 2, dtype=torch.uint8, device=device)
    dense = torch.empty(expert, dtype=dtype, device=device)
    weight = QuantizedWeight(8, expert, QuantSettings(), device=device)
    weight.set_row(0, dense.normal_(0, 0.02))
    for row in range(1, 8):
        weight.set_row(row, dense)
    states = torch.randn(canvas, hidden, dtype=dtype, device=device)
    vocab_slice = torch.randn(16_384, hidden, dtype=dtype, device=device)
    logits = torch.randn(canvas, shape.vocab, dtype=torch.float32, device=device)
    elements = 8 * dense.numel()
    return Rates(
        random_bytes_s=codes.numel() / _seconds(lambda: codes.random_(0, 256), device),
        normal_s=dense.numel() / _seconds(lambda: dense.normal_(0, 0.02), device),
        quantize_s=dense.numel() / _seconds(lambda: weight.set_row(1, dense), device),
        dequantize_s=elements / _seconds(lambda: weight.dequantize_rows(0, 8, dtype), device),
        matmul_flops=2 * canvas * dense.numel() / _seconds(lambda: states @ dense.T, device),
        large_matmul_flops=2
        * canvas
        * vocab_slice.numel()
        / _seconds(lambda: states @ vocab_slice.T, device),
        softmax_s=_seconds(lambda: torch.softmax(logits, -1), device),
    )


def _layer_params(shape: Shape, layer_type: str) -> tuple[int, int]:
    """(4-bit linear elements, expert elements) of one layer: attention + dense MLP, and the 128 experts."""
    kv_heads, head_dim = shape.kv_dims(layer_type)
    attention = shape.hidden * head_dim * (2 * shape.heads + 2 * kv_heads)
    dense_mlp = 3 * shape.hidden * shape.dense_intermediate
    return attention + dense_mlp, 3 * shape.hidden * shape.moe_intermediate * shape.experts


def forward_seconds(shape: Shape, rates: Rates, tokens: int, keys: int) -> float:
    """One pass of ``tokens`` tokens through every layer, attending to ``keys`` keys (LM head excluded)."""
    total = 0.0
    per_expert = 3 * shape.hidden * shape.moe_intermediate
    hit = min(shape.experts, tokens * shape.top_k)  # experts touched, and so dequantized
    for layer_type in shape.layer_types:
        linears, _ = _layer_params(shape, layer_type)
        _, head_dim = shape.kv_dims(layer_type)
        seen = keys if layer_type == "full_attention" else min(keys, shape.window + tokens)
        flops = 2 * tokens * (linears + shape.top_k * per_expert + shape.hidden * shape.experts)
        attention = 4 * tokens * seen * shape.heads * head_dim
        total += (linears + hit * per_expert) / rates.dequantize_s
        total += flops / rates.matmul_flops + attention / rates.large_matmul_flops
    return total


def build_seconds(shape: Shape, rates: Rates, dense_elements: int) -> float:
    """Drawing the random model: 4-bit codes at random, first rows quantized, dense tensors normal."""
    codes = first_rows = 0
    for layer_type in shape.layer_types:
        linears, experts = _layer_params(shape, layer_type)
        codes += (linears + experts) // 2
        first_rows += linears + 3 * shape.hidden * shape.moe_intermediate
    return codes / rates.random_bytes_s + first_rows / rates.quantize_s + dense_elements / rates.normal_s


def estimate_run(
    shape: Shape, rates: Rates, *, context: int, canvases: int, steps: int, dense_elements: int | None
) -> Estimate:
    """The whole run: build, the prompt in chunks, ``canvases`` × ``steps`` steps and the commits between.

    ``dense_elements`` are the dense weights a random build draws; None: the model
    is read from a checkpoint, whose loading is not forecast (build 0).
    """
    canvas = shape.canvas
    prefill = sum(
        forward_seconds(shape, rates, min(PREFILL_CHUNK, context - start), start + PREFILL_CHUNK)
        for start in range(0, context, PREFILL_CHUNK)
    )
    head = 2 * (2 * canvas * shape.vocab * shape.hidden) / rates.large_matmul_flops  # LM head + self-cond.
    step_extra = head + LOGITS_PASSES * rates.softmax_s
    denoising = 0.0
    for block in range(canvases):
        keys = context + block * canvas + canvas
        denoising += steps * (forward_seconds(shape, rates, canvas, keys) + step_extra)
        if block < canvases - 1:
            denoising += forward_seconds(shape, rates, canvas, keys)  # the canvas encoded into the cache
    build = build_seconds(shape, rates, dense_elements) if dense_elements is not None else 0.0
    return Estimate(build, prefill, denoising)

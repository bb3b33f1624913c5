"""Benchmark the quantized model: prefill, denoising forwards, decode speed, peak memory.

It drives the product's own loop (``engine.generation.loop.denoise``) for ``canvases``
canvases of exactly ``steps`` denoising steps each (the adaptive stop and EOS
are disabled) after a ``context``-token prompt, and times:

* the prefill (the PromptEncoded event; the loop synchronizes the device);
* every denoising forward, by device-synchronizing hooks on the model call;
* every whole step (forward + sampler + the per-step host copy), between events;
* decode tokens/s = canvases × canvas / (time from first step to the end);

and reports peak memory, over the run and per phase (encoding the prompt;
the denoising steps with the commits between canvases): CUDA's allocator
statistics on a GPU, and on the CPU the peak of live tensor storage traced
op by op (engine/benchmarks/memory.py; kernels' internal scratch is not
seen).  ``ratio_to_floor`` compares a denoising forward with the time to read
every weight it touches once at the card's memory bandwidth — the physical
floor for a canvas that hits nearly every expert (CONTEXT.md §3).

The models come from engine/benchmarks/models.py.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from engine.benchmarks.memory import PhaseMemory
from engine.generation.prefill import synchronize

# Peak memory bandwidth (GB/s) of common cards, for the floor when --bandwidth-gbs is not given.
BANDWIDTH_GBS = {
    "RTX 3090": 936,
    "RTX 3090 Ti": 1008,
    "RTX 4080": 717,
    "RTX 4090": 1008,
    "RTX 5080": 960,
    "RTX 5090": 1792,
    "A100": 1555,
    "A100-SXM4-80GB": 2039,
    "L4": 300,
    "L40S": 864,
    "H100 PCIe": 2000,
    "H100": 3350,
    "H200": 4800,
}


@dataclass
class BenchResult:
    model: str
    weights: str  # "checkpoint" | "random weights"
    device: str
    dtype: str
    context: int
    canvases: int
    steps: int
    prefill_ms: float
    forward_ms: float  # median denoising forward (the model call only)
    step_ms: float  # median whole denoising step: forward + sampler + host copy
    decode_tok_s: float  # canvas tokens per second at `steps` steps per canvas
    tokens_per_forward: float
    weight_bytes: int
    bytes_per_forward: int
    peak_allocated_bytes: int
    peak_reserved_bytes: int | None
    phase_peak_bytes: dict[str, int]  # "prefill", "step": the peak of each, weights included
    vram_cap_bytes: int | None = None
    bandwidth_gbs: float | None = None
    floor_ms: float | None = None
    ratio_to_floor: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["peak_allocated_gib"] = round(self.peak_allocated_bytes / 2**30, 3)
        if self.peak_reserved_bytes is not None:
            out["peak_reserved_gib"] = round(self.peak_reserved_bytes / 2**30, 3)
        out["phase_peak_gib"] = {k: round(v / 2**30, 3) for k, v in self.phase_peak_bytes.items()}
        return out


def experts_path_note(model: nn.Module) -> str | None:
    """Which experts path the model's 4-bit experts take on its device, for the result's notes."""
    from engine.model.quant.experts_path import experts_modules
    from engine.model.quant.modules import experts_per_group_on

    modules = experts_modules(model)
    if not modules:
        return None
    if modules[0].uses_fused_kernel(model.device):
        return "experts path: fused 4-bit Triton kernel"
    group = modules[0].experts_per_group or experts_per_group_on(model.device)
    return f"experts path: dequantize + grouped matmul, {group} expert{'s' * (group != 1)} per group"


# -- measuring ------------------------------------------------------------------------------------


def weight_bytes_of(model: nn.Module) -> int:
    from engine.model.quant.skeleton import persistent_tensors

    return sum(t.numel() * t.element_size() for t in persistent_tensors(model).values())


def bytes_per_forward(model: nn.Module) -> int:
    """Bytes a denoising forward must read at least once: every weight but the vision tower, and
    the tied embedding twice (the LM head, and the self-conditioning ``softmax @ E``)."""
    from engine.model.quant.skeleton import persistent_tensors

    total = 0
    for name, tensor in persistent_tensors(model).items():
        if "vision_tower" in name or "embed_vision" in name:
            continue
        nbytes = tensor.numel() * tensor.element_size()
        total += 2 * nbytes if name == "model.decoder.embed_tokens.weight" else nbytes
    return total


def device_bandwidth_gbs(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    matches = [key for key in BANDWIDTH_GBS if key in name]
    return float(BANDWIDTH_GBS[max(matches, key=len)]) if matches else None


class _ForwardTimer:
    """Device-synchronizing hooks around every top-level model call (the decoder forwards)."""

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        self.device = device
        self.times: list[float] = []
        self._start = 0.0
        self.handles = [
            model.register_forward_pre_hook(self._before),
            model.register_forward_hook(self._after),
        ]

    def _before(self, *_args) -> None:
        synchronize(self.device)
        self._start = time.perf_counter()

    def _after(self, *_args) -> None:
        synchronize(self.device)
        self.times.append(time.perf_counter() - self._start)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


@dataclass
class _Run:
    """What one benchmark run measured."""

    prefill_s: float = 0.0
    step_times: list[float] = field(default_factory=list)
    decode_s: float = 0.0  # from the first step's start to the end
    forward_times: list[float] = field(default_factory=list)
    memory: PhaseMemory | None = None
    done: Any = None


def bench_inputs(model: nn.Module, context: int, canvases: int, steps: int, seed: int) -> tuple:
    """A random ``context``-token prompt, a codec, and settings that run every canvas ``steps`` steps."""
    from engine.generation.codec import TokenCodec
    from engine.settings import GenerationSettings

    vocab = model.config.text_config.vocab_size
    generator = torch.Generator().manual_seed(seed)
    inputs = {"input_ids": torch.randint(0, vocab, (1, context), generator=generator)}
    # No end-of-sequence id can occur and the confidence stop is unreachable.
    codec = TokenCodec(
        decode=lambda ids: "", pieces=lambda ids: [], eos_ids=frozenset([vocab + 1]), pad_id=None
    )
    settings = GenerationSettings(
        max_new_tokens=canvases * model.config.canvas_length,
        max_denoising_steps=steps,
        stability_threshold=0,
        confidence_threshold=1e-30,
        seed=seed,
    )
    return inputs, codec, settings


def timed_run(model: nn.Module, inputs, settings, codec, *, track_cpu_memory: bool) -> _Run:
    """Drive the product's loop once, timing the prefill, every step and every forward.

    Memory is measured in two phases, "prefill" (up to PromptEncoded) and
    "step" (the denoising steps and commits after it).
    """
    from engine.events import Done, PromptEncoded, Step
    from engine.generation.loop import denoise

    torch.manual_seed(settings.seed)
    run = _Run(memory=PhaseMemory(model.device, trace_cpu=track_cpu_memory))
    timer = _ForwardTimer(model, model.device)
    first_step_at = last = 0.0
    try:
        with run.memory:
            run.memory.start("prefill")
            for event in denoise(model, inputs, settings, codec, with_pieces=False):
                now = time.perf_counter()
                if isinstance(event, PromptEncoded):
                    run.prefill_s, first_step_at, last = event.seconds, now, now
                    run.memory.start("step")
                elif isinstance(event, Step):
                    run.step_times.append(now - last)
                    last = now
                elif isinstance(event, Done):
                    run.done = event
            run.decode_s = time.perf_counter() - first_step_at
    finally:
        timer.remove()
    run.forward_times = timer.times
    return run


def _prepare_device(device: torch.device, vram_cap_bytes: int | None) -> None:
    """Cap the process's VRAM (when asked) and start the peak statistics afresh."""
    if device.type != "cuda":
        return
    if vram_cap_bytes is not None:
        total = torch.cuda.get_device_properties(device).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, vram_cap_bytes / total), device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)


def _peak_memory(run: _Run, weights: int, notes: list[str]) -> tuple[int, int | None, dict[str, int]]:
    """(peak allocated, peak reserved or None, each phase's peak), all including what was resident before.

    Resident before the run: on CUDA what the allocator held when it began
    (the weights, mostly); on a CPU the weights, which the trace cannot see.
    """
    memory = run.memory
    if memory is None or memory.peak is None:
        notes.append("CPU memory not tracked: the peak shown is the weights alone")
        return weights, None, {}
    before = memory.base if memory.device.type == "cuda" else weights
    if memory.device.type != "cuda":
        notes.append("CPU: peak = weights + traced allocations; tracing slows the timings")
    phases = {name: before + peak for name, peak in memory.peaks.items()}
    return before + memory.peak, memory.reserved, phases


def run_bench(
    model: nn.Module,
    *,
    label: str,
    weights: str,
    context: int = 1024,
    canvases: int = 2,
    steps: int = 16,
    vram_cap_bytes: int | None = None,
    bandwidth_gbs: float | None = None,
    seed: int = 0,
    track_cpu_memory: bool = True,
) -> BenchResult:
    """Prefill ``context`` random tokens, then ``canvases`` canvases of exactly ``steps`` steps.

    On the CPU, ``track_cpu_memory`` measures peak memory op by op, which slows
    the run: CPU timings are then indicative only.
    """
    device, canvas = model.device, model.config.canvas_length
    _prepare_device(device, vram_cap_bytes)
    inputs, codec, settings = bench_inputs(model, context, canvases, steps, seed)
    run = timed_run(model, inputs, settings, codec, track_cpu_memory=track_cpu_memory)
    notes: list[str] = [note] if (note := experts_path_note(model)) else []
    forwards = run.done.stats.forwards if run.done else len(run.forward_times)
    if run.done is not None and list(run.done.stats.steps_per_canvas) != [steps] * canvases:
        notes.append(f"canvases stopped early: {list(run.done.stats.steps_per_canvas)}")
    forward_ms = 1000 * statistics.median(run.forward_times) if run.forward_times else float("nan")
    weight_total, per_forward = weight_bytes_of(model), bytes_per_forward(model)
    peak_allocated, peak_reserved, phase_peaks = _peak_memory(run, weight_total, notes)
    bandwidth = bandwidth_gbs or device_bandwidth_gbs(device)
    floor_ms = 1000 * per_forward / (bandwidth * 1e9) if bandwidth else None
    return BenchResult(
        model=label,
        weights=weights,
        device=str(device) if device.type != "cuda" else f"{device} ({torch.cuda.get_device_name(device)})",
        dtype=str(model.dtype).removeprefix("torch."),
        context=context,
        canvases=canvases,
        steps=steps,
        prefill_ms=round(1000 * run.prefill_s, 3),
        forward_ms=round(forward_ms, 3),
        step_ms=round(1000 * statistics.median(run.step_times), 3) if run.step_times else float("nan"),
        decode_tok_s=round(canvases * canvas / run.decode_s, 2) if run.decode_s > 0 else float("nan"),
        tokens_per_forward=round(canvases * canvas / max(forwards, 1), 3),
        weight_bytes=weight_total,
        bytes_per_forward=per_forward,
        peak_allocated_bytes=peak_allocated,
        peak_reserved_bytes=peak_reserved,
        phase_peak_bytes=phase_peaks,
        vram_cap_bytes=vram_cap_bytes,
        bandwidth_gbs=bandwidth,
        floor_ms=round(floor_ms, 3) if floor_ms else None,
        ratio_to_floor=round(forward_ms / floor_ms, 2) if floor_ms else None,
        notes=notes,
    )

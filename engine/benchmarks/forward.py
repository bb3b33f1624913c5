"""Benchmark the quantized model: prefill, denoising forwards, decode speed, peak memory.

It drives the product's own loop (``engine.generation.loop.denoise``) for ``canvases``
canvases of exactly ``steps`` denoising steps each (the adaptive stop and EOS
are disabled) after a ``context``-token prompt, and times:

* the prefill (the PromptEncoded event; the loop synchronizes the device);
* every denoising forward, by device-synchronizing hooks on the model call;
* every whole step (forward + sampler + the per-step host copy), between events;
* decode tokens/s = canvases × canvas / (time from first step to the end);

and reports peak memory: CUDA's allocator statistics on a GPU, and on the
CPU the peak of live tensor storage allocated during the run (tracked op by
op; kernels' internal scratch is not seen).  ``ratio_to_floor`` compares a
denoising forward with the time to read every weight it touches once at the
card's memory bandwidth — the physical floor for a canvas that hits nearly
every expert (CONTEXT.md §3).

``real-shape`` builds the 26B-A4B shape with random weights generated straight
into 4-bit, one expert at a time, so the dense model never exists; results
are labelled "random weights".
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from engine.errors import DeviceError
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


class AllocationTracker(TorchDispatchMode):
    """Peak bytes of tensor storage allocated (and still alive) inside the ``with`` block.

    Every op's outputs are registered by storage; a storage leaves the count
    when it is freed.  Views and in-place results share a storage and count
    once; an output that aliases one of the op's inputs allocated nothing, so
    a view of a tensor made before the block (a weight's transpose, an
    in-place update of an input) is not counted.  Works on any device; on
    CUDA prefer the allocator's own statistics.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, tuple[StorageWeakRef, int]] = {}
        self.current = 0
        self.peak = 0

    def _sweep(self) -> None:
        for key in [k for k, (ref, _) in self.live.items() if ref.expired()]:
            self.current -= self.live.pop(key)[1]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self._sweep()
        inputs = {
            t.untyped_storage()._cdata
            for t in tree_flatten((args, kwargs))[0]
            if isinstance(t, torch.Tensor) and t.device.type != "meta"
        }
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor) and tensor.device.type != "meta":
                storage = tensor.untyped_storage()
                key = storage._cdata
                if key not in self.live and key not in inputs:
                    self.live[key] = (StorageWeakRef(storage), storage.nbytes())
                    self.current += storage.nbytes()
        self.peak = max(self.peak, self.current)
        return out


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
        return out


# -- models ---------------------------------------------------------------------------------------


def _random_value(name: str, meta: torch.Tensor, device, generator: torch.Generator) -> torch.Tensor:
    """A plausible random value for a dense tensor: N(0, 0.02) matrices, neutral scales and clamps."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf in ("input_min", "output_min"):
        return torch.full(meta.shape, -math.inf, dtype=meta.dtype, device=device)
    if leaf in ("input_max", "output_max"):
        return torch.full(meta.shape, math.inf, dtype=meta.dtype, device=device)
    if leaf in ("std_bias",):
        return torch.zeros(meta.shape, dtype=meta.dtype, device=device)
    if meta.dim() <= 1 or "position_embedding" in name:
        return torch.ones(meta.shape, dtype=meta.dtype, device=device)
    out = torch.empty(meta.shape, dtype=meta.dtype, device=device)
    return out.normal_(0.0, 0.02, generator=generator)


@torch.no_grad()
def random_quantized_model(config, *, device, dtype: torch.dtype, settings=None, seed: int = 0) -> nn.Module:
    """A quantized model of ``config``'s shape with random weights, never dense as a whole.

    Each expert (and each linear) is drawn as one dense row on ``device`` and
    quantized at once; the rest is drawn in place.
    """
    from engine.model.quant import QuantizedWeight, QuantSettings, install_empty
    from engine.model.quant.skeleton import assign_dense, empty_model, finish, persistent_tensors, resolve

    settings = settings or QuantSettings()
    device = torch.device(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    model = empty_model(config, dtype)
    install_empty(model, settings, device)
    for module in model.modules():
        if isinstance(module, QuantizedWeight):
            for row in range(module.rows):
                dense = torch.empty(module.shape, dtype=dtype, device=device).normal_(
                    0.0, 0.02, generator=generator
                )
                module.set_row(row, dense)
    for name, tensor in persistent_tensors(model).items():
        if tensor.is_meta:
            assign_dense(resolve(model, name), _random_value(name, tensor, device, generator), device)
    return finish(model, "random weights")


def load_bench_model(
    model: str, *, device, dtype, settings=None, quantize: bool = True
) -> tuple[nn.Module, str]:
    """(model, weights label) for ``model``: a folder/repo id (quantized by streaming) or "real-shape"."""
    from engine.model.planner import real_shape_config

    if model == "real-shape":
        if torch.device(device).type != "cuda":
            raise DeviceError(
                "The real-shape benchmark needs a CUDA GPU (25 B random weights take too long on a CPU)",
                fix="Run it on a machine with an NVIDIA GPU, or benchmark a tiny checkpoint with --model DIR",
            )
        model = random_quantized_model(real_shape_config(), device=device, dtype=dtype, settings=settings)
        return _with_experts_path(model, device, dtype), "random weights"
    from engine.model.loader import check_checkpoint, resolve_source

    folder = resolve_source(model)
    check_checkpoint(folder)
    if quantize:
        from engine.model.quant.stream import stream_quantize

        model = stream_quantize(folder, settings, device=device, dtype=dtype)
        return _with_experts_path(model, device, dtype), "checkpoint"
    from transformers import DiffusionGemmaForBlockDiffusion

    dense = DiffusionGemmaForBlockDiffusion.from_pretrained(str(folder), dtype=dtype).to(device).eval()
    return dense, "checkpoint (unquantized)"


def _with_experts_path(model: nn.Module, device, dtype) -> nn.Module:
    """The experts path the product would use on this device (timed on CUDA, as the loader does)."""
    if torch.device(device).type == "cuda":
        from engine.model.quant.experts_path import choose_experts_path

        choose_experts_path(model, torch.device(device), dtype)
    return model


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
    tracked_peak: int | None = None  # CPU: peak bytes of tensors allocated during the run
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
    """Drive the product's loop once, timing the prefill, every step and every forward."""
    from engine.events import Done, PromptEncoded, Step
    from engine.generation.loop import denoise

    torch.manual_seed(settings.seed)
    run = _Run()
    timer = _ForwardTimer(model, model.device)
    tracker = AllocationTracker() if model.device.type != "cuda" and track_cpu_memory else None
    first_step_at = last = 0.0
    try:
        if tracker is not None:
            tracker.__enter__()
        for event in denoise(model, inputs, settings, codec, with_pieces=False):
            now = time.perf_counter()
            if isinstance(event, PromptEncoded):
                run.prefill_s, first_step_at, last = event.seconds, now, now
            elif isinstance(event, Step):
                run.step_times.append(now - last)
                last = now
            elif isinstance(event, Done):
                run.done = event
        run.decode_s = time.perf_counter() - first_step_at
    finally:
        if tracker is not None:
            tracker.__exit__(None, None, None)
            run.tracked_peak = tracker.peak
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


def _peak_memory(model: nn.Module, run: _Run, weights: int, notes: list[str]) -> tuple[int, int | None]:
    """(peak allocated, peak reserved or None): CUDA's statistics, or weights + tracked tensors on CPU."""
    device = model.device
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), int(torch.cuda.max_memory_reserved(device))
    if run.tracked_peak is not None:
        notes.append("CPU: peak = weights + tracked allocations; tracking slows the timings")
        return weights + run.tracked_peak, None
    notes.append("CPU memory not tracked: the peak shown is the weights alone")
    return weights, None


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
    peak_allocated, peak_reserved = _peak_memory(model, run, weight_total, notes)
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
        vram_cap_bytes=vram_cap_bytes,
        bandwidth_gbs=bandwidth,
        floor_ms=round(floor_ms, 3) if floor_ms else None,
        ratio_to_floor=round(forward_ms / floor_ms, 2) if floor_ms else None,
        notes=notes,
    )

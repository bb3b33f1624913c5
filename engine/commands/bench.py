"""``python -m engine bench``: prefill + fixed-step canvases on the quantized model, timed and traced.

``--model real-shape`` builds the 26B-A4B shape (or its first ``--layers``)
with random weights drawn straight into 4-bit, on CUDA or the CPU; a folder
or repo id is streamed into 4-bit from its checkpoint.  Before it starts, the
command says how long the run will take here (on stderr); after it, the
result sets each phase's peak memory beside the planner's prediction for
exactly this run.  See docs/benchmarks.md for the commands and what the
numbers mean.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

GIB = 2**30
DTYPES = ("bfloat16", "float16", "float32")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmark prefill, denoising forwards, decode speed and memory")
    p.add_argument("--model", default="real-shape", help="model folder, Hub repo id, or 'real-shape'")
    p.add_argument("--layers", type=_positive, default=None, help="real-shape: build only the first N layers")
    p.add_argument("--context", type=_positive, default=1024, help="prompt tokens to prefill")
    p.add_argument(
        "--steps", type=_positive, default=16, help="denoising steps per canvas (adaptive stop off)"
    )
    p.add_argument("--canvases", type=_positive, default=2, help="canvases to generate")
    p.add_argument(
        "--dtype", choices=DTYPES, default=None, help="compute dtype (default: bf16 on CUDA, fp32 on CPU)"
    )
    p.add_argument(
        "--experts-per-group",
        type=_positive,
        default=None,
        help="experts dequantized together (default: the device's; 16 on a CPU traces what a GPU holds)",
    )
    p.add_argument("--vram-cap-gib", type=float, default=18.0, help="cap this process's CUDA memory")
    p.add_argument("--bandwidth-gbs", type=float, default=None, help="memory bandwidth for the floor")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
    p.add_argument("--unquantized", action="store_true", help="benchmark the bf16 checkpoint instead")
    p.add_argument("--no-track-memory", action="store_true", help="CPU: skip op-by-op memory tracking")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def run(args: argparse.Namespace) -> int:
    import torch

    from engine.benchmarks.forward import run_bench
    from engine.benchmarks.models import load_bench_model
    from engine.errors import OutOfMemoryError
    from engine.model.loader import choose_device
    from engine.model.quant.modules import experts_per_group_on

    choice = choose_device(args.device)
    device = choice.device
    dtype = getattr(torch, args.dtype) if args.dtype else choice.dtype
    group = args.experts_per_group or experts_per_group_on(device)
    config = _config(args)
    estimate = _say_estimate(args, config, device, dtype)
    cap = int(args.vram_cap_gib * GIB) if device.type == "cuda" and args.vram_cap_gib else None
    started = time.perf_counter()
    try:
        model, weights = load_bench_model(
            args.model, device=device, dtype=dtype, quantize=not args.unquantized, layers=args.layers
        )
        built = time.perf_counter()
        _set_experts_group(model, args.experts_per_group)
        result = run_bench(
            model,
            label=args.model,
            weights=weights,
            context=args.context,
            canvases=args.canvases,
            steps=args.steps,
            vram_cap_bytes=cap,
            bandwidth_gbs=args.bandwidth_gbs,
            track_cpu_memory=not args.no_track_memory,
        )
    except torch.OutOfMemoryError:
        raise OutOfMemoryError(
            f"The benchmark ran out of GPU memory (cap {args.vram_cap_gib} GiB)",
            fix="Lower --context or --canvases, or raise --vram-cap-gib",
        ) from None
    finished = time.perf_counter()
    data = {
        **result.to_json(),
        **_against_plan(model, config, result, args, device, dtype, group),
        "layers": config.text_config.num_hidden_layers,
        "experts_per_group": group,
        "estimate_s": estimate.to_json() if estimate else None,
        "elapsed_s": {"build_s": round(built - started, 1), "total_s": round(finished - started, 1)},
    }
    if args.json:
        print(json.dumps(data))
        return 0
    _print_result(result, data)
    return 0


def _config(args: argparse.Namespace):
    from engine.model.planner import REAL_LAYERS, load_config, real_shape_config

    if args.model == "real-shape":
        return real_shape_config(args.layers or REAL_LAYERS)
    if args.layers is not None:
        raise SystemExit("error: --layers applies to --model real-shape only")
    return load_config(args.model)


def _say_estimate(args: argparse.Namespace, config, device, dtype):
    """Measure this machine's rates (seconds) and say how long the run will take, on stderr."""
    from engine.benchmarks.against_plan import dense_elements
    from engine.benchmarks.estimate import estimate_run, measure_rates
    from engine.model.planner import Shape

    if args.unquantized:
        return None
    shape = Shape.from_config(config)
    rates = measure_rates(shape, device, dtype)
    estimate = estimate_run(
        shape,
        rates,
        context=args.context,
        canvases=args.canvases,
        steps=args.steps,
        dense_elements=dense_elements(config, dtype) if args.model == "real-shape" else None,
    )
    layers = config.text_config.num_hidden_layers
    print(
        f"{args.model}, {layers} layers, {args.context:,}-token prompt, "
        f"{args.canvases} × {args.steps} steps: {estimate.describe()}",
        file=sys.stderr,
        flush=True,
    )
    return estimate


def _set_experts_group(model, group: int | None) -> None:
    from engine.model.quant.experts_path import experts_modules

    if group is not None:
        for module in experts_modules(model):
            module.fused, module.experts_per_group = False, group


def _against_plan(model, config, result, args, device, dtype, group) -> dict:
    from engine.benchmarks.against_plan import GIB, comparison, planned_phases, weights_by_kind

    kinds = weights_by_kind(model)
    out = {
        "weights_gib": round(result.weight_bytes / GIB, 3),
        "weights_by_kind_gib": {k: round(v / GIB, 3) for k, v in kinds.items()},
    }
    if args.unquantized:
        return out
    planned = planned_phases(
        config,
        context=args.context,
        canvases=args.canvases,
        dtype=dtype,
        device=device,
        experts_per_group=group,
    )
    peak = result.peak_allocated_bytes if result.phase_peak_bytes else None
    return {**out, **comparison(planned, result.phase_peak_bytes, peak)}


def _print_result(result, data: dict) -> None:
    print(f"{result.model} [{result.weights}] on {result.device}, {result.dtype}")
    print(f"  prefill {result.context} tokens: {result.prefill_ms:.1f} ms")
    print(f"  denoising forward: {result.forward_ms:.2f} ms; whole step: {result.step_ms:.2f} ms")
    print(f"  decode: {result.decode_tok_s:.1f} tok/s at {result.steps} steps per canvas")
    peak = f"  peak allocated {data['peak_allocated_gib']} GiB"
    if result.peak_reserved_bytes is not None:
        peak += f", reserved {data['peak_reserved_gib']} GiB"
    print(peak)
    for name, phase in data.get("phases", {}).items():
        print(f"  {name}: planned {phase['planned_gib']} GiB, measured {phase['traced_gib']} GiB")
    if result.ratio_to_floor is not None:
        print(
            f"  bandwidth floor {result.floor_ms:.2f} ms per forward at {result.bandwidth_gbs:.0f} GB/s: "
            f"{result.ratio_to_floor:.1f}x the floor"
        )
    for note in result.notes:
        print(f"  note: {note}")

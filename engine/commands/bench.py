"""``python -m engine bench``: prefill + fixed-step canvases on the quantized model, timed.

``--model real-shape`` (CUDA only) builds the 26B-A4B shape with random
weights generated straight into 4-bit; a folder or repo id is streamed into
4-bit from its checkpoint.  See docs/benchmarks.md for the commands and what
the numbers mean.
"""

from __future__ import annotations

import argparse
import json

GIB = 2**30


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmark prefill, denoising forwards and decode speed")
    p.add_argument("--model", default="real-shape", help="model folder, Hub repo id, or 'real-shape'")
    p.add_argument("--context", type=int, default=1024, help="prompt tokens to prefill")
    p.add_argument("--steps", type=int, default=16, help="denoising steps per canvas (adaptive stop off)")
    p.add_argument("--canvases", type=int, default=2, help="canvases to generate")
    p.add_argument("--vram-cap-gib", type=float, default=18.0, help="cap this process's CUDA memory")
    p.add_argument("--bandwidth-gbs", type=float, default=None, help="memory bandwidth for the floor")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
    p.add_argument("--unquantized", action="store_true", help="benchmark the bf16 checkpoint instead")
    p.add_argument("--no-track-memory", action="store_true", help="CPU: skip op-by-op memory tracking")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from engine.benchmarks.forward import load_bench_model, run_bench
    from engine.errors import OutOfMemoryError
    from engine.model.loader import choose_device

    choice = choose_device(args.device)
    cap = int(args.vram_cap_gib * GIB) if choice.device.type == "cuda" and args.vram_cap_gib else None
    try:
        model, weights = load_bench_model(
            args.model, device=choice.device, dtype=choice.dtype, quantize=not args.unquantized
        )
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
    data = result.to_json()
    if args.json:
        print(json.dumps(data))
        return 0
    print(f"{result.model} [{result.weights}] on {result.device}, {result.dtype}")
    print(f"  prefill {result.context} tokens: {result.prefill_ms:.1f} ms")
    print(f"  denoising forward: {result.forward_ms:.2f} ms; whole step: {result.step_ms:.2f} ms")
    print(f"  decode: {result.decode_tok_s:.1f} tok/s at {result.steps} steps per canvas")
    peak = f"  peak allocated {data['peak_allocated_gib']} GiB"
    if result.peak_reserved_bytes is not None:
        peak += f", reserved {data['peak_reserved_gib']} GiB"
    print(peak)
    if result.ratio_to_floor is not None:
        print(
            f"  bandwidth floor {result.floor_ms:.2f} ms per forward at {result.bandwidth_gbs:.0f} GB/s: "
            f"{result.ratio_to_floor:.1f}x the floor"
        )
    for note in result.notes:
        print(f"  note: {note}")
    return 0

"""``python -m engine bench-experts``: one MoE layer's 4-bit experts, timed per group size.

Chooses ``EXPERTS_PER_GROUP`` by measurement: each row is a group size, with
ms per layer forward, ops (kernel launches on CUDA) and the transient memory.
See engine/benchmarks/experts.py and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os


def _sizes(text: str) -> list[int | str]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    try:
        sizes: list[int | str] = [part if part == "fused" else int(part) for part in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not sizes or 'fused', comma-separated: {text!r}") from None
    if not sizes or any(isinstance(size, int) and size < 1 for size in sizes):
        raise argparse.ArgumentTypeError("group sizes must be whole numbers of at least 1 (or 'fused')")
    return sizes


def add_parser(sub: argparse._SubParsersAction) -> None:
    from engine.benchmarks.experts import REAL_LAYER

    p = sub.add_parser("bench-experts", help="time one layer's 4-bit experts for several group sizes")
    p.add_argument(
        "--groups",
        type=_sizes,
        default=[1, 4, 8, 16, 32, "fused"],
        help="group sizes and/or 'fused' (the Triton kernel), e.g. 1,16,fused",
    )
    p.add_argument("--tokens", type=int, default=256, help="routed tokens (a canvas is 256)")
    p.add_argument("--hidden", type=int, default=REAL_LAYER["hidden"])
    p.add_argument("--intermediate", type=int, default=REAL_LAYER["intermediate"])
    p.add_argument("--experts", type=int, default=REAL_LAYER["experts"])
    p.add_argument("--top-k", type=int, default=REAL_LAYER["top_k"])
    p.add_argument("--repeats", type=int, default=5, help="timed calls per group size (median reported)")
    p.add_argument("--bandwidth-gbs", type=float, default=None, help="memory bandwidth for the floor")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
    p.add_argument(
        "--compare",
        action="store_true",
        help="instead of timing: each path's largest difference from transformers' dense experts "
        "(on a CPU the fused kernel runs in Triton's interpreter)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from engine.benchmarks.experts import floor_ms, fused_runs_on, random_experts, time_group_sizes
    from engine.benchmarks.forward import device_bandwidth_gbs
    from engine.model.loader import choose_device
    from engine.model.quant.experts_path import routed_canvas

    choice = choose_device(args.device)
    device, dtype = choice.device, choice.dtype
    if device.type == "cpu" and ("fused" in args.groups or args.compare):
        # Read when the kernel is first compiled: the interpreter runs it on the CPU.
        os.environ.setdefault("TRITON_INTERPRET", "1")
    if args.compare:
        return _compare(args, device)
    module = random_experts(
        hidden=args.hidden, intermediate=args.intermediate, experts=args.experts, device=device, dtype=dtype
    )
    states, index, weights = routed_canvas(
        args.tokens, args.hidden, args.experts, args.top_k, device=device, dtype=dtype
    )
    notes = []
    groups = list(args.groups)
    if "fused" in groups and not fused_runs_on(device):
        groups.remove("fused")
        notes.append("fused kernel skipped: it needs Triton (compiled for CUDA, or interpreted on a CPU)")
    rows = time_group_sizes(module, states, index, weights, groups, repeats=args.repeats)
    bandwidth = args.bandwidth_gbs or device_bandwidth_gbs(device)
    floor = floor_ms(module, bandwidth)
    data = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": str(dtype).removeprefix("torch."),
        "tokens": args.tokens,
        "shape": {"hidden": args.hidden, "intermediate": args.intermediate, "experts": args.experts},
        "top_k": args.top_k,
        "weights": "random weights",
        "bandwidth_gbs": bandwidth,
        "floor_ms": floor,
        "results": [row.to_json() for row in rows],
        "notes": notes,
    }
    if args.json:
        print(json.dumps(data))
    else:
        _print_timings(args, data)
    return 0


def _print_timings(args: argparse.Namespace, data: dict) -> None:
    print(
        f"{args.experts} experts of {args.hidden}×{args.intermediate}, "
        f"{args.tokens} tokens top-{args.top_k}, on {data['device']} in {data['dtype']} (random weights)"
    )
    print(f"  {'group':>5} {'ms/forward':>11} {'ops':>6} {'transient MiB':>14}")
    for row in data["results"]:
        print(
            f"  {row['experts_per_group']!s:>5} {row['forward_ms']:>11.2f} {row['ops_per_forward']:>6} "
            f"{row['peak_transient_bytes'] / 2**20:>14.1f}"
        )
    if data["floor_ms"] is not None:
        print(f"  bandwidth floor: {data['floor_ms']:.3f} ms per layer at {data['bandwidth_gbs']:.0f} GB/s")
    for note in data["notes"]:
        print(f"  note: {note}")


def _compare(args: argparse.Namespace, device) -> int:
    """Each experts path against transformers' dense experts on one routed canvas of random weights."""
    import torch

    from engine.benchmarks.experts import compare_paths, fused_runs_on, random_experts
    from engine.model.quant.experts_path import routed_canvas

    module = random_experts(
        hidden=args.hidden,
        intermediate=args.intermediate,
        experts=args.experts,
        device=device,
        dtype=torch.bfloat16,
    )
    states, index, weights = routed_canvas(
        args.tokens, args.hidden, args.experts, args.top_k, device=device, dtype=torch.float32
    )
    if not fused_runs_on(device):
        kernel_dtypes, note = (
            [],
            "fused kernel skipped: it needs Triton (compiled for CUDA, or interpreted on a CPU)",
        )
    elif device.type == "cuda":
        kernel_dtypes, note = [torch.bfloat16], None
    else:
        kernel_dtypes = [torch.float16, torch.float32]
        note = "fused kernel in Triton's interpreter, which has no bf16 (its numpy): fp16 and fp32 instead"
    data = {
        "device": str(device),
        "tokens": args.tokens,
        "shape": {"hidden": args.hidden, "intermediate": args.intermediate, "experts": args.experts},
        "top_k": args.top_k,
        "weights": "random weights",
        **compare_paths(module, states, index, weights, kernel_dtypes=kernel_dtypes),
        "notes": [note] if note else [],
    }
    if args.json:
        print(json.dumps(data))
        return 0
    print(
        f"{args.experts} experts of {args.hidden}×{args.intermediate}, {args.tokens} tokens top-{args.top_k} "
        f"on {device}; largest |output| {data['reference_max_abs']:.4g}"
    )
    print(f"  dense bf16 vs dense fp32: {data['reference_bf16_vs_fp32']:.3g}")
    for path, row in data["paths"].items():
        print(
            f"  {path:>16}: vs dense bf16 {row['vs_dense_bfloat16']:.3g}, "
            f"vs dense fp32 {row['vs_dense_float32']:.3g}  ({row['seconds']} s)"
        )
    for line in data["notes"]:
        print(f"  note: {line}")
    return 0

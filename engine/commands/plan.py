"""``python -m engine plan``: how much VRAM the model needs, and the longest context that fits.

Reads config.json only (no weights): ``--model`` is a folder, a downloaded Hub
repo id, or ``real-shape`` (the published 26B-A4B dimensions).  Without
``--vram-gib`` it uses the free memory of the CUDA device, if there is one.
"""

from __future__ import annotations

import argparse

from engine.model.loader import DEFAULT_MODEL
from engine.settings import PREFILL_CHUNK

GIB = 2**30


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="plan VRAM use: weights, KV cache, transients, largest context")
    p.add_argument("--model", default=DEFAULT_MODEL, help="model folder, Hub repo id, or 'real-shape'")
    p.add_argument(
        "--context", type=int, default=None, help="tokens in the KV cache (default: the largest that fits)"
    )
    p.add_argument("--vram-gib", type=float, default=None, help="VRAM budget (default: free VRAM of the GPU)")
    p.add_argument(
        "--prefill-chunk",
        type=int,
        default=PREFILL_CHUNK,
        help=f"prompt tokens per encoder call (default {PREFILL_CHUNK}, as the engine; 0: the whole prompt)",
    )
    p.add_argument(
        "--no-prompt-cache-copy",
        action="store_true",
        help="plan without the prompt state kept for the next turn",
    )
    p.add_argument("--unquantized", action="store_true", help="plan for the bf16 model")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.model.planner import PlanOptions, free_vram_bytes, load_config, make_plan, plan_json
    from engine.model.quant.settings import QuantSettings

    config = load_config(args.model)
    options = PlanOptions(
        settings=None if args.unquantized else QuantSettings(),
        prefill_chunk=args.prefill_chunk or None,
        prompt_cache_copy=not args.no_prompt_cache_copy,
    )
    vram = int(args.vram_gib * GIB) if args.vram_gib is not None else free_vram_bytes()
    plan = make_plan(config, context=args.context, vram_bytes=vram, options=options)
    if args.json:
        print(plan_json(plan, options))
        return 0
    data = plan.to_json()
    print(f"context {plan.context} tokens (prefill chunk {plan.prefill_chunk})")
    print(f"  weights     {data['weights_gib']:7.3f} GiB  " + _groups(data["weights_by_group_gib"]))
    copy = f"(+ {data['kv_prompt_copy_gib']} GiB kept of the prompt for the next turn)"
    print(f"  KV cache    {data['kv_cache_gib']:7.3f} GiB  {copy}")
    parts = f"step {data['step_gib']}  prefill {data['prefill_gib']}"
    print(f"  transient   {data['transient_gib']:7.3f} GiB  {parts}")
    print(f"  overhead    {data['overhead_gib']:7.3f} GiB  (CUDA context, fragmentation)")
    print(f"  total       {data['total_gib']:7.3f} GiB")
    if vram is not None:
        verdict = "fits" if plan.fits else "does NOT fit"
        print(f"{verdict} in {data['vram_gib']} GiB; largest context that fits: {plan.max_context} tokens")
    for note in plan.notes:
        print(f"note: {note}")
    return 0


def _groups(groups: dict[str, float]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(groups.items(), key=lambda kv: -kv[1]) if v >= 0.01)

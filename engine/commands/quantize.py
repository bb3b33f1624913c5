"""``python -m engine quantize``: stream a bf16 checkpoint into a 4-bit cache folder.

Run once after downloading (minutes for the 26B model, on the GPU when there
is one); the app then loads the ~14 GiB cache directly.  A cache that is
already up to date is left alone (``--verify`` re-hashes it, ``--rebuild``
forces a new one).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from engine.events import LoadProgress
from engine.model.loader import DEFAULT_MODEL


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quantize", help="quantize a checkpoint to NF4 and cache it on disk")
    p.add_argument("--model", default=DEFAULT_MODEL, help="model folder or Hub repo id (already downloaded)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: the app's cache folder)")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
    p.add_argument("--no-double-quant", action="store_true", help="fp32 block scales (+0.37 bit per weight)")
    p.add_argument("--rebuild", action="store_true", help="quantize again even if the cache is up to date")
    p.add_argument("--verify", action="store_true", help="re-hash an up-to-date cache")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


class _ProgressLine:
    """One self-overwriting stderr line, at most 4 updates a second."""

    def __init__(self) -> None:
        self.last = 0.0
        self.shown = False

    def __call__(self, event: LoadProgress) -> None:
        self.shown = True
        now = time.monotonic()
        if now - self.last < 0.25 and event.done < event.total:
            return
        self.last = now
        percent = 100 * event.done / max(event.total, 1)
        print(f"\r{event.stage}: {percent:5.1f}%  {event.message}\033[K", end="", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    import torch

    from engine.model.loader import choose_device
    from engine.model.quant.cache import MANIFEST, quantize_to_cache, read_manifest
    from engine.model.quant.settings import QuantSettings

    choice = choose_device(args.device)
    settings = QuantSettings(double_quant=not args.no_double_quant)
    progress = None if args.json else _ProgressLine()
    started = time.perf_counter()
    folder, outcome = quantize_to_cache(
        args.model,
        settings,
        cache_dir=args.out,
        device=choice.device,
        dtype=choice.dtype,
        progress=progress,
        rebuild=args.rebuild,
        verify=args.verify,
    )
    if progress is not None and progress.shown:
        print(file=sys.stderr)
    manifest = read_manifest(folder) or {}
    result = {
        "folder": str(folder),
        "outcome": outcome,
        "seconds": round(time.perf_counter() - started, 2),
        "size_gib": round(manifest.get("weights", {}).get("size", 0) / 2**30, 3),
        "device": str(choice.device),
        "manifest": str(folder / MANIFEST),
    }
    if choice.device.type == "cuda":
        result["peak_vram_gib"] = round(torch.cuda.max_memory_allocated(choice.device) / 2**30, 3)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{outcome}: {folder} ({result['size_gib']} GiB, {result['seconds']} s)")
    return 0

"""``python -m engine models``: list the DiffusionGemma models on this computer.

Cached repos come from a scan of the standard Hugging Face cache; ``--folder``
adds checkpoint folders (the GUI keeps its own list of those).  ``--json``
prints one JSON array for scripts.
"""

from __future__ import annotations

import argparse
import json

from engine.hub.models import InstalledModel, list_models
from engine.hub.names import format_bytes


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list installed DiffusionGemma models (HF cache and folders)")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.add_argument(
        "--folder",
        action="append",
        default=[],
        metavar="PATH",
        help="also list this checkpoint folder (repeatable)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    models = list_models(args.folder)
    if args.json:
        print(json.dumps([m.to_json() for m in models], indent=2))
        return 0
    if not models:
        print("No DiffusionGemma models found. Download one with `python -m engine download`.")
        return 0
    for model in models:
        print(describe(model))
    return 0


def describe(model: InstalledModel) -> str:
    status = "ready" if model.complete else "incomplete"
    if model.quantized is not None:
        status += f", quantized copy {format_bytes(model.quantized.size_bytes)}"
    lines = [
        f"{model.source}  [{model.kind}, {format_bytes(model.size_bytes)}, {status}]",
        f"    {model.path}",
    ]
    if model.missing_files:
        lines.append("    missing: " + ", ".join(model.missing_files))
    elif model.problem:
        lines.append("    " + model.problem)
    return "\n".join(lines)

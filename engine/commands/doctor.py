"""``python -m engine doctor``: can DiffusionGemma run here, and if not, what to change.

One line per check (libraries, GPU and free memory, model files, the 4-bit
cache, the fit and its context), each failed one with its fix.  Nothing is
downloaded and no weights are loaded.  Exit status 0 when the model can run
on this GPU, 1 when it cannot (the demo model still runs on the CPU).
"""

from __future__ import annotations

import argparse
import json

from engine.model.loader import DEFAULT_MODEL


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check this computer for the model: libraries, GPU, files, fit")
    p.add_argument("--model", default=DEFAULT_MODEL, help="model folder or Hub repo id (default: the 26B)")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.hub.doctor import ready, report, run_checks

    checks = run_checks(args.model)
    ok = ready(checks)
    if args.json:
        print(json.dumps({"ready": ok, "checks": [c.to_dict() for c in checks]}, indent=2))
    else:
        print(report(checks, ok))
    return 0 if ok else 1

"""``python -m engine make-tiny DIR``: write a tiny random checkpoint of the real architecture."""

from __future__ import annotations

import argparse

from engine.model.tiny import make_tiny


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("make-tiny", help="write a tiny random-weight DiffusionGemma checkpoint")
    parser.add_argument("dir", help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="weight initialisation seed")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = make_tiny(args.dir, seed=args.seed)
    print(f"wrote a tiny DiffusionGemma checkpoint to {path}")
    return 0

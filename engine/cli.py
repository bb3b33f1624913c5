"""``python -m engine``: the engine's command line, kept as a product feature for scripting.

Each subcommand lives in its own module under ``engine/commands`` and exposes
``add_parser(subparsers)``, which registers the subcommand and sets ``func``.
Every ``EngineError`` becomes one clear line on stderr and a non-zero exit;
tracebacks are never shown to the user.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from engine.errors import EngineError

# Modules under engine/commands that provide subcommands, in help order.
COMMAND_MODULES: tuple[str, ...] = (
    "make_tiny",
    "generate",
    "download",
    "models",
    "quantize",
    "plan",
    "bench",
    "bench_experts",
    "doctor",
)

log = logging.getLogger("engine.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"engine.commands.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EngineError as error:
        log.debug("command failed", exc_info=True)
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

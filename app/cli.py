"""Command-line entry for the app's non-GUI subcommands: ``export`` and ``import``.

``main(argv)`` parses and runs one subcommand and returns an exit status.
Every StoreError becomes one line on stderr (exit 2); tracebacks are never
shown.  ``app/__main__.py`` (the GUI's entry) should hand argv to this when
its first item is a known subcommand (see ``SUBCOMMANDS``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app.store.commands import add_export_parser, add_import_parser
from app.store.errors import StoreError

SUBCOMMANDS: frozenset[str] = frozenset({"export", "import"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app", description="DiffusionGemma Chat: conversation tools"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_export_parser(sub)
    add_import_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except StoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

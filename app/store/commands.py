"""The ``export`` and ``import`` subcommands of ``python -m app``: the store from a terminal.

Each ``add_*_parser`` registers one subcommand on an argparse subparsers
object and sets ``func``; ``app/cli.py`` dispatches.  Output files are
written to a temporary file and renamed, so an interrupted export never
leaves a truncated file where a good one was.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.atomic_file import write_text_atomically
from app.store.errors import ImportFormatError, StoreError, from_os_error
from app.store.store import Store


def add_export_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "export",
        help="export conversations as Markdown or JSON",
        description="Export one or all conversations. JSON is lossless (all branches, attachments "
        "embedded); Markdown shows the active branch for reading.",
    )
    parser.add_argument(
        "--format", choices=("md", "json"), default="json", help="output format (default json)"
    )
    parser.add_argument(
        "--conversation",
        type=int,
        action="append",
        metavar="ID",
        help="conversation id (repeatable; default all)",
    )
    parser.add_argument("--out", type=Path, metavar="PATH", help="output file (default: standard output)")
    parser.add_argument(
        "--no-attachments",
        action="store_true",
        help="JSON: reference attachments by sha256 instead of embedding them (re-importable only here)",
    )
    parser.add_argument(
        "--history", action="store_true", help="JSON: include canvases and refinement history"
    )
    _add_data_dir(parser)
    parser.set_defaults(func=run_export)


def add_import_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "import",
        help="import conversations from a JSON export",
        description="Add the conversations of a JSON export as new conversations (never overwrites).",
    )
    parser.add_argument(
        "path", metavar="PATH", help="a JSON file written by 'export --format json' ('-' for stdin)"
    )
    _add_data_dir(parser)
    parser.set_defaults(func=run_import)


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, metavar="FILE", help="database file (default: the app's, or $DGCHAT_DATA_DIR)"
    )


def export_text(
    store: Store,
    fmt: str,
    conversation_ids: Sequence[int] | None = None,
    *,
    embed_attachments: bool = True,
    include_history: bool = False,
) -> str:
    """The export file's content ("md" or "json"); shared by the CLI and the window's Export menu."""
    if fmt == "md":
        return store.export_markdown(conversation_ids)
    document = store.export_json(
        conversation_ids, embed_attachments=embed_attachments, include_history=include_history
    )
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def read_export(raw: str, path: str | Path) -> Any:
    """The JSON document of an export file's text; ImportFormatError (naming ``path``) when it is not JSON."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise ImportFormatError(f"The file is not valid JSON ({error})", path=path) from None
    except ValueError:  # an integer of thousands of digits (Python's int-from-text limit)
        raise ImportFormatError(
            "The file holds a value that cannot be read (a number thousands of digits long)",
            fix="Choose a .json file exported by the app",
            path=path,
        ) from None
    except RecursionError:
        raise ImportFormatError(
            "The file nests its data too deeply to be an export",
            fix="Choose a .json file exported by the app",
            path=path,
        ) from None


def read_export_file(path: str | Path) -> Any:
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise from_os_error(error, path, "read the file to import") from error
    except UnicodeDecodeError:
        raise ImportFormatError("The file is not text (UTF-8 JSON expected)", path=path) from None
    return read_export(raw, path)


def run_export(args: argparse.Namespace) -> int:
    with Store.open(args.db) as store:
        if store.recovery is not None:  # the chats were in the damaged file: an empty export would lie
            raise StoreError(f"Nothing was exported. {store.recovery.message}")
        text = export_text(
            store,
            args.format,
            args.conversation,
            embed_attachments=not args.no_attachments,
            include_history=args.history,
        )
    if args.out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomically(args.out, text)
    return 0


def run_import(args: argparse.Namespace) -> int:
    document = read_export(sys.stdin.read(), "-") if args.path == "-" else read_export_file(args.path)
    with Store.open(args.db) as store:
        say_recovery(store)
        ids = store.import_json(document)
    print(f"imported {len(ids)} conversation(s): {' '.join(map(str, ids))}".rstrip())
    return 0


def say_recovery(store: Store) -> None:
    """Tell the terminal when opening moved a damaged database aside: never a silent surprise."""
    if store.recovery is not None:
        print(f"note: {store.recovery.message}", file=sys.stderr)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file + fsync + rename; errors as StoreError."""
    try:
        write_text_atomically(path, text)
    except OSError as error:
        raise from_os_error(error, path.expanduser(), "write the export") from error

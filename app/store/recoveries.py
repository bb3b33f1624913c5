"""Damaged databases moved aside by one run, remembered until the window has told the user.

The command-line tools (``python -m app export|import``) and the window open the
same store, and either may be the one that finds the file damaged and moves it
aside.  The window is where the user looks for their chats, so each recovery is
noted in a small file beside the database and the next window start shows every
note once, then deletes the file.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

from app.store.database import Recovery

log = logging.getLogger(__name__)


def notes_path(db_path: Path) -> Path:
    return db_path.with_name(f"{db_path.name}-recovered.jsonl")


def remember(db_path: Path, recovery: Recovery) -> None:
    """Note ``recovery`` for the next window start; a note that cannot be written is only logged."""
    line = json.dumps({"moved_to": str(recovery.moved_to), "reason": recovery.reason}) + "\n"
    try:
        with notes_path(db_path).open("a", encoding="utf-8") as notes:
            notes.write(line)
    except OSError:
        log.exception("cannot note that the database was recovered")


def take_remembered(db_path: Path) -> list[Recovery]:
    """The recoveries noted since the window last showed them, oldest first; the notes are then gone."""
    path = notes_path(db_path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError):
        log.exception("cannot read the notes of earlier recoveries")
        return []
    recoveries = []
    for line in lines:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            note = json.loads(line)
            recoveries.append(Recovery(Path(str(note["moved_to"])), str(note["reason"])))
    try:
        path.unlink()
    except OSError:
        log.exception("cannot delete the notes of earlier recoveries")
    return recoveries

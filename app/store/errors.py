"""The store's one exception family, shaped like the engine's errors so the GUI shows both alike.

Every error carries a short ``title`` (what went wrong), the ``path`` it
concerns when there is one, and a ``fix`` (what the user can do);
``str(error)`` is the full sentence to show.  Low-level ``sqlite3`` and
``OSError`` exceptions never leave the package: they are translated here, so
the GUI needs exactly one ``except StoreError``.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from engine.errors import EngineError
from engine.hub.download import free_disk_bytes
from engine.hub.names import format_bytes

# SQLite primary result codes (the low byte of an extended code).
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26

# SQLite reports a write that found no space as SQLITE_FULL only for the database file itself; a full
# disk met while growing the -wal or -shm file comes back as a plain I/O error.  With less than this
# free on the disk, such an I/O error is the disk running full, and the user is told so.
LOW_SPACE_BYTES = 16 * 1024 * 1024


class StoreError(EngineError):
    """A problem saving or loading conversations that the user can understand and act on.

    It shares the engine's error base (title, fix, path, one user-facing
    sentence), so the GUI shows store and engine problems the same way.
    """


class DatabaseCorruptError(StoreError):
    """The database file is damaged (raised only when automatic recovery is switched off or fails)."""


class NewerDatabaseError(StoreError):
    """The database was written by a newer version of the app; it is left untouched."""


class DiskFullError(StoreError):
    """No space is left on the disk the store writes to; says how much is free, and where."""

    def __init__(self, doing: str, path: Path | str | None, *, all_or_nothing: bool = False) -> None:
        self.folder = _folder_of(path)
        self.free = free_disk_bytes(self.folder)
        note = "; nothing was half-saved" if all_or_nothing else ""
        super().__init__(
            f"The disk is full ({format_bytes(self.free)} free in {self.folder}): could not {doing}{note}",
            fix="Free some disk space and try again",
            path=path,
        )


class ImportFormatError(StoreError):
    """A file given to import is not a conversation export this version understands."""


def primary_code(error: sqlite3.Error) -> int | None:
    """The SQLite primary result code of ``error`` (None for errors raised by the sqlite3 module itself)."""
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def is_corruption(error: sqlite3.Error) -> bool:
    """True when SQLite says the file is damaged or not a database at all."""
    return primary_code(error) in (SQLITE_CORRUPT, SQLITE_NOTADB)


def from_sqlite(error: sqlite3.Error, path: Path | str | None, doing: str) -> StoreError:
    """Translate a sqlite3 exception into a StoreError that says what happened and what to do."""
    code = primary_code(error)
    if code == SQLITE_FULL or (code == SQLITE_IOERR and _low_on_space(path)):
        return DiskFullError(doing, path, all_or_nothing=True)
    if code in (SQLITE_READONLY, SQLITE_CANTOPEN):
        blocked = unwritable_files(path)
        fix = (
            f"Allow yourself to write to {', '.join(map(str, blocked))}"
            if blocked
            else "Check that the data folder exists and that you may write to it"
        )
        return StoreError(
            f"The conversation database is read-only or cannot be opened: could not {doing}",
            fix=f"{fix}, or set DGCHAT_DATA_DIR to a writable folder",
            path=path,
        )
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return StoreError(
            f"Another copy of the app kept the database busy: could not {doing}",
            fix="Try again; if it keeps happening, close the other window",
            path=path,
        )
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return DatabaseCorruptError(
            f"The conversation database is damaged: could not {doing}",
            fix="Restart the app: it moves the damaged file aside and starts a fresh one",
            path=path,
        )
    if code == SQLITE_IOERR:
        return StoreError(f"The disk reported an error: could not {doing}", fix="Check the disk", path=path)
    return StoreError(f"Could not {doing} ({error})", path=path)


def from_os_error(error: OSError, path: Path | str | None, doing: str) -> StoreError:
    """Translate a file-system error (blob writes, folder creation) into a StoreError."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(doing, path)
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StoreError(
            f"No permission to write: could not {doing}",
            fix="Check that you may write to the data folder, or set DGCHAT_DATA_DIR to a writable folder",
            path=path,
        )
    return StoreError(f"Could not {doing} ({error.strerror or error})", path=path)


def unwritable_files(path: Path | str | None) -> list[Path]:
    """What keeps a database at ``path`` read-only: its folder, the file and its -wal/-shm, each that
    exists and this user may not write.  All of them, so that fixing what the message names is enough.
    """
    if path is None:
        return []
    db = Path(path)
    candidates = (db.parent, db, Path(f"{db}-wal"), Path(f"{db}-shm"))
    return [p for p in candidates if p.exists() and not os.access(p, os.W_OK)]


def _folder_of(path: Path | str | None) -> Path:
    """The folder whose disk a file lives on (the current folder when no file is named)."""
    if path is None:
        return Path.cwd()
    path = Path(path)
    return path if path.is_dir() else path.parent


def _low_on_space(path: Path | str | None) -> bool:
    return free_disk_bytes(_folder_of(path)) < LOW_SPACE_BYTES

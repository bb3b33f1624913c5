"""Opening the SQLite file safely, and running every write in one short transaction.

Why these settings:

* **WAL** lets a second app instance (or the GUI reading while a reply is
  written) read without blocking, and makes every commit an append, so a
  crash or SIGKILL never leaves a half-written page behind.
* **synchronous=NORMAL** (the usual pairing with WAL): a committed
  transaction survives the app crashing or being killed; only a power cut or
  OS crash can lose the last few commits, and even that never corrupts the
  file.  FULL would add an fsync per committed canvas on the thread that
  writes it.
* **busy_timeout** makes a writer wait for another instance's transaction to
  finish instead of failing; writes use ``BEGIN IMMEDIATE`` so two instances
  never deadlock upgrading a read lock.
* **foreign_keys=ON** so deleting a conversation takes its messages,
  canvases and history with it.

A damaged file (not a database, or failing ``PRAGMA quick_check``) is moved
aside as ``NAME-corrupt-TIMESTAMP.db`` and a fresh one created; the
:class:`Recovery` returned says where it went, for the GUI to tell the user.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.store.errors import (
    SQLITE_BUSY,
    SQLITE_LOCKED,
    DatabaseCorruptError,
    StoreError,
    from_os_error,
    from_sqlite,
    is_corruption,
    primary_code,
)
from app.store.schema import migrate

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Recovery:
    """A damaged database was moved aside and replaced by an empty one."""

    moved_to: Path
    reason: str

    @property
    def message(self) -> str:
        """The sentence to show the user."""
        return (
            f"The conversation database was damaged ({self.reason}). It was moved to {self.moved_to} "
            "and a new, empty one was started. Your attachments are untouched."
        )


class _CorruptError(Exception):
    """Internal: the file at hand is damaged (reason in args[0])."""


class Database:
    """One SQLite connection shared by all threads of one app instance, behind a lock.

    The GUI thread and the generation worker may both call in; the lock makes
    each transaction atomic with respect to the other thread, and SQLite's
    own locking does the same across processes.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0

    # -- opening -----------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: Path, *, recover: bool = True, busy_timeout_s: float = BUSY_TIMEOUT_S
    ) -> tuple[Database, Recovery | None]:
        """Open (creating and migrating as needed) the database at ``path``.

        A damaged file is moved aside and replaced when ``recover`` is true
        (the Recovery says so); otherwise DatabaseCorruptError is raised.
        Any other failure (read-only folder, newer schema) raises StoreError.
        """
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise from_os_error(error, path.parent, "create the data folder") from error
        try:
            return cls(_connect(path, busy_timeout_s), path), None
        except _CorruptError as damage:
            reason = str(damage)
        if not recover:
            raise DatabaseCorruptError(
                f"The conversation database is damaged ({reason})",
                fix="Move the file aside or restore it from a backup",
                path=path,
            )
        moved_to = move_aside(path)
        try:
            return cls(_connect(path, busy_timeout_s), path), Recovery(moved_to, reason)
        except _CorruptError as damage:  # pragma: no cover - a fresh file cannot be damaged
            raise DatabaseCorruptError(f"A new database could not be created ({damage})", path=path) from None

    @classmethod
    def open_in_memory(cls, path: Path) -> Database:
        """A database that lives only as long as this process: the last resort when no disk takes a file.

        ``path`` is where it would have been; it names the folder for this session's other files.
        """
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn, path)
        return cls(conn, path)

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    # -- transactions ------------------------------------------------------------------------------

    @contextmanager
    def write(self, doing: str) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``); all or nothing.

        ``doing`` completes the sentence "could not …" in the StoreError
        raised on failure.  Nested calls on the same thread join the outer
        transaction, so helpers compose.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise from_sqlite(error, self.path, doing) from error
            self._depth = 1
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except sqlite3.Error as error:
                self._rollback()
                raise from_sqlite(error, self.path, doing) from error
            except BaseException:
                self._rollback()
                raise
            finally:
                self._depth = 0

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several SELECTs (another instance may commit in between)."""
        with self._lock:
            if self._depth or self.conn.in_transaction:
                yield self.conn
                return
            try:
                self.conn.execute("BEGIN")
                self._depth = 1
                try:
                    yield self.conn
                finally:
                    self._depth = 0
                    if self.conn.in_transaction:
                        self.conn.execute("COMMIT")
            except sqlite3.Error as error:
                self._rollback()
                raise from_sqlite(error, self.path, "read the conversation database") from error

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
                self.conn.execute("ROLLBACK")

    def data_version(self) -> int:
        """Changes whenever *another* connection commits (PRAGMA data_version)."""
        with self._lock:
            return int(self.conn.execute("PRAGMA data_version").fetchone()[0])


def _connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """Open, configure, check and migrate, retrying while another instance holds the file.

    SQLite reports some lock conflicts at once, without waiting for the busy
    timeout: two instances switching a new file to WAL, or both upgrading a
    read transaction to a write in ``migrate``.  Those are retried here until
    the busy timeout has passed, so two windows started together both open.
    """
    deadline = time.monotonic() + busy_timeout_s
    delay = 0.02
    while True:
        try:
            return _connect_once(path, busy_timeout_s)
        except StoreError as error:
            busy = isinstance(error.__cause__, sqlite3.Error) and primary_code(error.__cause__) in (
                SQLITE_BUSY,
                SQLITE_LOCKED,
            )
            if not busy or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _connect_once(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """One attempt of :func:`_connect`; raise _CorruptError for a damaged file, StoreError otherwise."""
    _check_header(path)
    repair_sidecars(path)
    try:
        conn = sqlite3.connect(
            str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as error:
        raise from_sqlite(error, path, "open the conversation database") from error
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(
                f"The conversation database cannot use write-ahead logging (journal mode {mode})",
                fix="Keep the data folder on a local disk, or set DGCHAT_DATA_DIR to one",
                path=path,
            )
        conn.execute("PRAGMA synchronous = NORMAL")
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise _CorruptError(f"integrity check: {check}")
        migrate(conn, path)
    except sqlite3.DatabaseError as error:
        conn.close()
        if is_corruption(error):
            raise _CorruptError(str(error)) from None
        raise from_sqlite(error, path, "open the conversation database") from error
    except BaseException:
        conn.close()
        raise
    return conn


def _check_header(path: Path) -> None:
    """Catch a file that is plainly not SQLite (truncated, overwritten) before SQLite trips on it."""
    try:
        with path.open("rb") as file:
            head = file.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as error:
        raise from_os_error(error, path, "read the conversation database") from error
    if head and head != SQLITE_HEADER:
        raise _CorruptError("not an SQLite database")


def repair_sidecars(path: Path) -> None:
    """Make this user's ``-wal``/``-shm`` writable again when the database itself is.

    SQLite creates them with the database's permissions: opened once while the file was
    read-only, they stay read-only after the user makes the database writable again, and
    keep the store failing.  Files of another user are left alone (the error names them).
    """
    try:
        if not os.access(path, os.W_OK):
            return
        mode = path.stat().st_mode & 0o777
        for sidecar in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            if sidecar.exists() and not os.access(sidecar, os.W_OK) and sidecar.stat().st_uid == os.getuid():
                sidecar.chmod(mode)
    except OSError:  # what cannot be repaired is named by the error that follows
        return


def move_aside(path: Path) -> Path:
    """Rename a damaged ``NAME.db`` (and its -wal) to ``NAME-corrupt-TIMESTAMP.db``; drop its -shm."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.stem}-corrupt-{stamp}{path.suffix}")
    n = 2
    while target.exists():
        target = path.with_name(f"{path.stem}-corrupt-{stamp}-{n}{path.suffix}")
        n += 1
    try:
        os.replace(path, target)
        wal = Path(f"{path}-wal")
        if wal.exists():
            os.replace(wal, Path(f"{target}-wal"))
        Path(f"{path}-shm").unlink(missing_ok=True)
    except OSError as error:
        raise from_os_error(error, path, "move the damaged database aside") from error
    return target

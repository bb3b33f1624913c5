"""Export and import of chat files off the GUI thread, for the window's Chat menu.

An export with attachments embedded (base64 in JSON) or an import of one reads
and writes whole chats: on the GUI thread a large file would freeze the
window.  Each job runs on a one-thread pool (so jobs never overlap) with a
store connection of its own (``Store.open_for_thread``: SQLite connections
belong to their thread, and it leaves the reply the window is streaming
alone).  Each job's answer comes back to its own callbacks on the GUI thread
(:mod:`app.tasks`); a failure is a ``StoreError`` (a bad file, a full disk) or
an unexpected error whose traceback is in the log.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from app.qt import QObject
from app.store import Store
from app.store.commands import export_text, read_export_file, write_atomically
from app.tasks import SHUTDOWN_WAIT_MS, Tasks
from engine.errors import EngineError


def export_file(db_path: Path, fmt: str, chat_ids: list[int] | None, path: Path) -> Path:
    """The export's text ("md" or "json") from a connection of its own, written atomically."""
    with Store.open_for_thread(db_path) as store:
        write_atomically(path, export_text(store, fmt, chat_ids))
    return path


def import_file(db_path: Path, path: Path) -> list[int]:
    """Read and check the file, then add its chats in one transaction; the new chats' ids."""
    document = read_export_file(path)
    with Store.open_for_thread(db_path) as store:
        return store.import_json(document)


class ChatFiles(QObject):
    """Runs export and import jobs one at a time; each call names its own callbacks (GUI thread)."""

    def __init__(self, db_path: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._db_path = db_path
        self._tasks = Tasks(self, threads=1)

    def export(
        self,
        chat_ids: list[int] | None,
        path: Path,
        on_done: Callable[[Path], None],
        on_failed: Callable[[EngineError], None],
    ) -> None:
        """Write chats (None: all) to ``path``: JSON if it ends in .json, else Markdown."""
        fmt = "json" if path.suffix.lower() == ".json" else "md"
        self._tasks.run(export_file, self._db_path, fmt, chat_ids, path, on_done=on_done, on_failed=on_failed)

    def import_(
        self, path: Path, on_done: Callable[[list[int]], None], on_failed: Callable[[EngineError], None]
    ) -> None:
        """Add the chats of ``path``; ``on_done`` gets the new chats' ids."""
        self._tasks.run(import_file, self._db_path, path, on_done=on_done, on_failed=on_failed)

    def shutdown(self) -> bool:
        """Wait for a job in flight (an import is one transaction: it finishes or changes nothing)."""
        return self._tasks.shutdown(SHUTDOWN_WAIT_MS)

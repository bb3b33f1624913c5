"""Export and import of chat files off the GUI thread, for the window's Chat menu.

An export with attachments embedded (base64 in JSON) or an import of one reads
and writes whole chats: on the GUI thread a large file would freeze the
window.  Each job runs on a one-thread pool (so jobs never overlap) with a
store connection of its own (``Store.open_for_thread``: SQLite connections
belong to their thread, and it leaves the reply the window is streaming
alone).  Results come back as past-tense signals on the GUI thread.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from app.background import SHUTDOWN_WAIT_MS, BackgroundCalls
from app.qt import QObject, Signal
from app.store import Store, StoreError
from app.store.commands import export_text, read_export_file, write_atomically


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
    exported = Signal(object)  # the Path written
    imported = Signal(object, list)  # the file read, the new chats' ids
    export_failed = Signal(object, object)  # the file, a StoreError to show
    import_failed = Signal(object, object)

    def __init__(self, db_path: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._db_path = db_path
        self._calls = BackgroundCalls(self, threads=1)
        self._calls.succeeded.connect(self._on_calls_succeeded)
        self._calls.failed.connect(self._on_calls_failed)
        self._files: dict[str, Path] = {}  # the file of each job in flight, by tag
        self._job_numbers = itertools.count()

    def export(self, chat_ids: list[int] | None, path: Path) -> None:
        """Write chats (None: all) to ``path``: JSON if it ends in .json, else Markdown."""
        fmt = "json" if path.suffix.lower() == ".json" else "md"
        self._start("export", path, export_file, self._db_path, fmt, chat_ids, path)

    def import_(self, path: Path) -> None:
        self._start("import", path, import_file, self._db_path, path)

    def shutdown(self) -> bool:
        """Wait for a job in flight (an import is one transaction: it finishes or changes nothing)."""
        return self._calls.shutdown(SHUTDOWN_WAIT_MS)

    def _start(self, kind: str, path: Path, fn, *args) -> None:
        tag = f"{kind}:{next(self._job_numbers)}"
        self._files[tag] = path
        self._calls.call(tag, fn, *args)

    def _on_calls_succeeded(self, tag: str, result) -> None:
        path = self._files.pop(tag)
        if tag.startswith("export"):
            self.exported.emit(path)
        else:
            self.imported.emit(path, list(result))

    def _on_calls_failed(self, tag: str, error: BaseException) -> None:
        path = self._files.pop(tag)
        if not isinstance(error, StoreError):  # a bug, not a bad file: the log has the traceback
            error = StoreError(f"an unexpected error ({type(error).__name__})", fix="See the log file")
        (self.export_failed if tag.startswith("export") else self.import_failed).emit(path, error)

"""Chat ▸ Export and Import: the file dialogs, the status bar, and the jobs of :mod:`app.chat_files`.

The window decides *which* chats to export and what to do with imported
ones; this object asks where (a save dialog offering Markdown for reading or
JSON for a lossless backup), runs the job off the GUI thread, says
"Exporting…" meanwhile, tells the user the outcome (:mod:`app.notices`) and
reports it to the window as past-tense signals.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from app import notices
from app.chat_files import ChatFiles
from app.qt import QFileDialog, QObject, QWidget, Signal
from app.store import StoreError
from app.ui.sidebar import NEW_CHAT_TITLE
from app.ui.status import StatusBar
from engine.errors import EngineError

EXPORT_MARKDOWN = "Markdown, for reading (*.md)"
EXPORT_JSON = "JSON, complete with branches and attachments (*.json)"


def safe_file_name(title: str) -> str:
    """A chat title as a file name on every desktop OS (no separators or reserved characters)."""
    cleaned = "".join("-" if c in '<>:"/\\|?*' or ord(c) < 32 else c for c in title).strip(" .")
    return cleaned[:80] or NEW_CHAT_TITLE


class ChatTransfer(QObject):
    exported = Signal(object)  # the Path written
    imported = Signal(object, list)  # the file read, the new chats' ids (empty when it failed)

    def __init__(
        self,
        db_path: Path,
        dialog_parent: QWidget,
        status: StatusBar,
        title_of: Callable[[int], str],
        parent: QObject | None = None,
    ) -> None:
        """``title_of`` names a chat for the suggested file name (it may raise StoreError)."""
        super().__init__(parent)
        self._dialog_parent = dialog_parent
        self._status = status
        self._title_of = title_of
        self.files = ChatFiles(db_path, self)  # the jobs, one at a time on a pool thread

    def export_chats(self, chat_ids: list[int] | None, path: Path | None = None) -> Path | None:
        """Write chats (None: all) to ``path``, else to a file the user picks; returns that file.

        JSON is the lossless format (every branch, attachments embedded) that
        Import reads back; Markdown is for reading and shows the active branches.
        """
        if path is None:
            path = self._ask_export_path(chat_ids)
            if path is None:
                return None
        self.files.export(chat_ids, path, on_done=self._on_exported, on_failed=self._on_export_failed)
        notices.info(f"Exporting to {path}…", timeout_ms=0)
        return path

    def import_chats(self, path: Path | None = None) -> Path | None:
        """Add the chats of a JSON export (``path``, else one the user picks); None when cancelled."""
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(
                self._dialog_parent, "Import chats", str(Path.home()), f"{EXPORT_JSON};;All files (*)"
            )
            if not chosen:
                return None
            path = Path(chosen)
        self.files.import_(
            path,
            on_done=lambda ids: self._on_imported(path, ids),
            on_failed=lambda error: self._on_import_failed(path, error),
        )
        notices.info(f"Importing {path.name}…", timeout_ms=0)
        return path

    def shutdown(self) -> bool:
        """Wait for a job in flight (an import is one transaction: let it finish)."""
        return self.files.shutdown()

    def _ask_export_path(self, chat_ids: list[int] | None) -> Path | None:
        one = chat_ids is not None and len(chat_ids) == 1
        name = "DiffusionGemma chats"
        if one:
            try:
                name = safe_file_name(self._title_of(chat_ids[0]) or NEW_CHAT_TITLE)
            except StoreError:
                name = NEW_CHAT_TITLE
        caption = "Export all chats" if chat_ids is None else f"Export {len(chat_ids)} chats"
        chosen, selected = QFileDialog.getSaveFileName(
            self._dialog_parent,
            "Export chat" if one else caption,
            str(Path.home() / f"{name}.md"),
            f"{EXPORT_MARKDOWN};;{EXPORT_JSON}",
        )
        if not chosen:
            return None
        path = Path(chosen)
        if path.suffix.lower() not in (".md", ".json"):
            path = path.with_name(path.name + (".json" if selected == EXPORT_JSON else ".md"))
        return path

    def _on_exported(self, path: Path) -> None:
        notices.info(f"Exported to {path}")
        self.exported.emit(path)

    def _on_imported(self, path: Path, ids: list[int]) -> None:
        count = len(ids)
        notices.info(f"Imported {count} chat{'s' if count != 1 else ''} from {path.name}")
        self.imported.emit(path, ids)

    def _on_export_failed(self, error: EngineError) -> None:
        self._status.clearMessage()  # "Exporting…" is over
        notices.failed("The export could not be written", error)

    def _on_import_failed(self, path: Path, error: EngineError) -> None:
        self._status.clearMessage()
        notices.failed(f"“{path.name}” could not be imported", error)
        self.imported.emit(path, [])

"""A model download that goes on after its dialog is closed, shown in the status bar.

Downloading 50 GB takes a while; the user closes the dialog and goes on chatting
with the demo model.  The tracker follows each download dialog's task: progress
goes to the status bar ("Downloading … 23% · Show"), **Show** brings the dialog
back, and a download that stops on an error brings its dialog back by itself,
because the reason and **Resume** are there.
"""

from __future__ import annotations

from app import notices
from app.qt import QObject, QWidget
from app.ui.download_dialog import DownloadDialog
from app.ui.status import StatusBar


def bring_up(dialog: QWidget) -> None:
    """Show a modeless dialog in front, hidden or behind the window as it may be."""
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()


class DownloadTracker(QObject):
    def __init__(self, status: StatusBar, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._status = status
        self._downloading: DownloadDialog | None = None  # the dialog whose download runs
        status.download_show_requested.connect(self.show_download)

    def track(self, dialog: DownloadDialog) -> None:
        """Follow ``dialog``'s download, so the dialog can be closed while it runs."""
        task = dialog.download_panel.task
        task.progressed.connect(lambda event: self._on_task_progressed(dialog, event))
        task.finished.connect(lambda *_: self._on_task_ended(dialog))
        task.cancelled.connect(lambda *_: self._on_task_ended(dialog))
        task.failed.connect(lambda *_: self._on_task_failed(dialog))
        dialog.download_hidden.connect(
            lambda: notices.info("The download goes on; Show, on the right, brings it back", timeout_ms=8000)
        )

    def show_download(self) -> None:
        """Bring back the dialog whose download runs in the background (the status bar's Show link)."""
        if self._downloading is not None:
            bring_up(self._downloading)

    def _on_task_progressed(self, dialog: DownloadDialog, event) -> None:
        self._downloading = dialog
        self._status.download_progressed(dialog.download_panel.repo, event.done_bytes, event.total_bytes)

    def _on_task_ended(self, dialog: DownloadDialog) -> None:
        if self._downloading is dialog:
            self._downloading = None
        self._status.download_ended()

    def _on_task_failed(self, dialog: DownloadDialog) -> None:
        hidden = self._downloading is dialog and not dialog.isVisible()
        self._on_task_ended(dialog)
        if hidden:
            bring_up(dialog)

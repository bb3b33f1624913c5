"""What the first-run and models dialogs share: background checks, a download panel, and closing.

Both run blocking calls (GPU probe, Hub, folder scans) on their :class:`~app.tasks.Tasks`
and a download through the :class:`DownloadPanel`.  Closing the dialog
while a download runs only hides it: the download goes on (a 52 GB download
takes hours and people close windows), the main window's status bar shows its
progress with a link that brings the dialog back.  Otherwise closing stops the
checks without waiting, so a check still importing torch cannot freeze the
window; closing the *window* (its parent) stops everything and waits, so no
thread outlives it.
"""

from __future__ import annotations

from app.qt import QDialog, QEvent, QObject, QWidget, Signal
from app.tasks import SHUTDOWN_WAIT_MS, Tasks
from app.ui.download_panel import DownloadPanel


class DownloadDialog(QDialog):
    download_hidden = Signal()  # closed while downloading: the download goes on in the background

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tasks = Tasks(self)
        self.download_panel = DownloadPanel(parent=self)
        if parent is not None:
            parent.installEventFilter(self)

    def shutdown(self, *, wait: bool = True) -> bool:
        """Stop the download (its partial files stay, for Resume) and the background calls.

        ``wait=False`` (the user closed the dialog) returns at once; the window's
        own close (see :meth:`eventFilter`) and app.main wait for them.
        """
        stopped = self.download_panel.shutdown(wait=wait)
        return self.tasks.shutdown(SHUTDOWN_WAIT_MS if wait else 0) and stopped

    @property
    def downloading(self) -> bool:
        return self.download_panel.state == "running"

    def done(self, result: int) -> None:
        if self.downloading:
            super().done(result)  # hidden, not stopped
            self.download_hidden.emit()
            return
        self.shutdown(wait=False)
        super().done(result)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parent() and event.type() == QEvent.Type.Close:
            self.shutdown()  # the window is closing: our threads stop with it
            if self.isVisible():
                self.reject()
        return False

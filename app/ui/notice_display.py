"""Shows what :mod:`app.notices` tells in the main window: info in the status bar, problems in the chat.

The window makes one :class:`NoticeDisplay` and nothing else changes there:
modules call ``notices.tell(...)`` and never hold the window.  Warnings and
errors become a :class:`~app.ui.messages.Notice` at the end of the chat shown
(they stay until dismissed, so the fix can be read and followed); with no
chat shown yet they fall back to the status bar.
"""

from __future__ import annotations

from typing import Protocol

from app import notices
from app.qt import QObject, QStatusBar, QWidget


class NoticeWindow(Protocol):
    """What the display needs from the window (app.ui.window.MainWindow has both)."""

    status: QStatusBar

    def current_page(self) -> object | None: ...

    def show_notice(self, message: str, *, kind: str = "error") -> QWidget: ...


class NoticeDisplay(QObject):
    def __init__(self, window: NoticeWindow) -> None:
        super().__init__(window)  # type: ignore[arg-type]  (the window is a QObject)
        self._window = window
        notices.bridge.told.connect(self.on_bridge_told)  # Qt drops it when this object is destroyed
        notices.bind(self)

    def on_bridge_told(self, notice: notices.Notice) -> None:
        if not notices.bound(self):  # another window took over (tests open several)
            return
        window = self._window
        if notice.level == "info" or window.current_page() is None:
            window.status.showMessage(notice.text, notice.timeout_ms)
            return
        window.show_notice(notice.text, kind=notice.level)

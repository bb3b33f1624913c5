"""Shows what :mod:`app.notices` tells in the main window: info in the status bar, problems in the chat.

The window makes one :class:`NoticeDisplay` and nothing else changes there:
modules call ``notices.tell(...)`` and never hold the window.  Warnings and
errors become a :class:`~app.ui.messages.Notice` at the end of the chat shown
(they stay until dismissed, so the fix can be read and followed); with no
chat shown yet they fall back to the status bar.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from app import notices
from app.qt import QObject, QStatusBar
from app.ui.messages import Notice

if TYPE_CHECKING:
    from app.ui.chat_pages import ChatPage, ChatPages


class NoticeWindow(Protocol):
    """What the display needs from the window (app.ui.window.MainWindow has it)."""

    status: QStatusBar
    pages: ChatPages

    def current_page(self) -> ChatPage | None: ...


class NoticeDisplay(QObject):
    def __init__(self, window: NoticeWindow) -> None:
        super().__init__(window)  # type: ignore[arg-type]  (the window is a QObject)
        self._window = window
        self.keyed: dict[str, Notice] = {}  # the notices shown with a key (notices.tell(key=...))
        notices.bridge.told.connect(self.on_bridge_told)  # Qt drops it when this object is destroyed
        notices.bridge.withdrawn.connect(self.on_bridge_withdrawn)
        notices.bind(self)

    def on_bridge_told(self, notice: notices.Notice) -> None:
        if not notices.bound(self):  # another window took over (tests open several)
            return
        window = self._window
        if notice.level == "info" or window.current_page() is None:
            window.status.showMessage(notice.text, notice.timeout_ms)
            return
        if notice.key:
            self.on_bridge_withdrawn(notice.key)
        shown = self.show_notice(notice.text, kind=notice.level, actions=notice.actions)
        if notice.key:
            self.keyed[notice.key] = shown

    def on_bridge_withdrawn(self, key: str) -> None:
        widget = self.keyed.pop(key, None)
        if widget is not None:
            self._remove(widget)

    def show_notice(
        self, message: str, *, kind: str = "error", actions: Sequence[tuple[str, Callable[[], object]]] = ()
    ) -> Notice:
        """An inline message at the end of the current chat: its actions, or Dismiss."""
        page = self._window.current_page()
        notice = Notice(message, actions=actions or [("Dismiss", lambda: self._remove(notice))], kind=kind)
        page.transcript.add(notice)
        return notice

    def _remove(self, notice: Notice) -> None:
        """Take ``notice`` out of whichever chat holds it (the chat shown may have changed since)."""
        for page in self._window.pages.all():
            if notice in page.transcript.messages():
                page.transcript.remove(notice)

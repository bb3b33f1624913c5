"""The chat list beside the conversation: the list can be made wider, narrower or hidden.

A user on a small laptop screen hides the chat list to give the conversation
the room (View ▸ Show the chat list, Ctrl+B); one with many long titles widens
it.  Either way the next launch should look the same, so the splitter reports
its layout as a :class:`~app.window_state.WindowState` and takes one back.
The width of a hidden list is remembered, so showing it again restores it.
"""

from __future__ import annotations

from dataclasses import replace

from app.qt import QSplitter, QWidget, Signal
from app.ui.sidebar import SIDEBAR_WIDTH
from app.window_state import MAX_SIDEBAR_PX, MIN_SIDEBAR_PX, WindowState


class ChatSplitter(QSplitter):
    sidebar_toggled = Signal(bool)  # the chat list was shown (True) or hidden (False)

    def __init__(self, sidebar: QWidget, conversation: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatSplitter")
        self.setChildrenCollapsible(False)
        self.setHandleWidth(1)
        self.addWidget(sidebar)
        self.addWidget(conversation)
        self.setStretchFactor(0, 0)  # a wider window gives its room to the conversation
        self.setStretchFactor(1, 1)
        sidebar.setMaximumWidth(MAX_SIDEBAR_PX)
        self.sidebar = sidebar
        self._width = SIDEBAR_WIDTH
        self._apply_width()
        self.splitterMoved.connect(self._on_splitter_moved)

    def sidebar_visible(self) -> bool:
        return not self.sidebar.isHidden()

    def sidebar_width(self) -> int:
        """The list's width, or the width it had before it was hidden."""
        return self._width

    def set_sidebar_visible(self, visible: bool) -> None:
        if visible == self.sidebar_visible():
            return
        self.sidebar.setVisible(visible)
        if visible:
            self._apply_width()
        self.sidebar_toggled.emit(visible)

    def layout_state(self, state: WindowState) -> WindowState:
        """``state`` with this splitter's part (list width, shown or hidden) filled in."""
        return replace(state, sidebar_width=self._width, sidebar_visible=self.sidebar_visible())

    def restore(self, state: WindowState) -> None:
        """Take the list width and visibility of a saved layout (a missing width keeps the default)."""
        if state.sidebar_width is not None:
            self._width = max(MIN_SIDEBAR_PX, min(MAX_SIDEBAR_PX, state.sidebar_width))
            self._apply_width()
        self.set_sidebar_visible(state.sidebar_visible)

    def _apply_width(self) -> None:
        total = max(sum(self.sizes()), self.width(), self._width + 1)
        self.setSizes([self._width, total - self._width])

    def _on_splitter_moved(self, _pos: int, _index: int) -> None:
        if self.sidebar_visible():
            self._width = max(MIN_SIDEBAR_PX, min(MAX_SIDEBAR_PX, self.sizes()[0]))

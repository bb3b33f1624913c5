"""Find in the chat shown (Ctrl+F): every match highlighted, Enter / Shift+Enter to walk them.

The sidebar's search finds chats; this finds words inside the open one, as a
browser's find bar does.  Matches are looked up in the text views' own
documents (``QTextDocument.find``, case-insensitive) and painted as extra
selections, so nothing is re-rendered and the text stays selectable.  A reply
that is re-rendered (theme change, live canvas) loses its highlights until the
next search, which is what typing or Enter does.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence

from app.palette import Colors
from app.qt import (
    QColor,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    Qt,
    QTextBrowser,
    QTextCursor,
    QTextEdit,
    QTextFormat,
    QTimer,
    QToolButton,
    QWidget,
    Signal,
)
from app.ui.buttons import tool_button

MATCH_LIGHT, CURRENT_LIGHT = "#fff3b0", "#ffc94d"
MATCH_DARK, CURRENT_DARK = "#5c4d12", "#a07a12"
PREPARE_SLICE_S = 0.008  # the messages not built yet are rendered for find in slices this long


class FindBar(QWidget):
    """The bar: a search field, "3 of 12", previous / next, close, in a rounded box.

    The space above the box belongs to the bar, so a closed bar takes none.
    """

    query_changed = Signal(str)
    opened = Signal()
    next_requested = Signal()
    previous_requested = Signal()
    closed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 8, 0, 0)
        self.box = QFrame(self)
        self.box.setObjectName("findBar")
        outer.addWidget(self.box)
        layout = QHBoxLayout(self.box)
        layout.setContentsMargins(10, 4, 6, 4)
        layout.setSpacing(4)
        self.field = QLineEdit(self.box)
        self.field.setPlaceholderText("Find in this chat")
        self.field.setAccessibleName("Find in this chat")
        self.field.setClearButtonEnabled(True)
        self.field.textChanged.connect(self.query_changed)
        self.field.returnPressed.connect(self._on_field_return_pressed)
        layout.addWidget(self.field, 1)
        self.count = QLabel("", self.box)
        self.count.setObjectName("muted")
        self.count.setAccessibleName("Matches")
        layout.addWidget(self.count)
        self.previous_button = self._button("↑", "Previous match (Shift+Enter)", self.previous_requested)
        self.next_button = self._button("↓", "Next match (Enter)", self.next_requested)
        self.close_button = self._button("×", "Close (Esc)", self.close_bar)
        for button in (self.previous_button, self.next_button, self.close_button):
            layout.addWidget(button)
        self.setVisible(False)

    def _button(self, text: str, tip: str, slot: Callable[[], object]) -> QToolButton:
        return tool_button(self.box, text, tip, clicked=slot)

    def open_bar(self) -> None:
        self.setVisible(True)
        self.field.setFocus()
        self.field.selectAll()
        self.opened.emit()
        if self.field.text():
            self.query_changed.emit(self.field.text())  # the chat may have changed since

    def close_bar(self) -> None:
        self.setVisible(False)
        self.closed.emit()

    def show_count(self, current: int, total: int) -> None:
        query = self.field.text().strip()
        self.count.setText("" if not query else "No matches" if not total else f"{current + 1} of {total}")

    def _on_field_return_pressed(self) -> None:
        from app.qt import QApplication

        if QApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.previous_requested.emit()
        else:
            self.next_requested.emit()


class ChatFind:
    """The matches of one query in a list of text views, and which one is current."""

    def __init__(self, colors: Colors) -> None:
        self.colors = colors
        self.matches: list[tuple[QTextBrowser, QTextCursor]] = []
        self.current = 0
        self._views: list[QTextBrowser] = []

    def search(self, views: Sequence[QTextBrowser], query: str, current: int = 0) -> int:
        """Find ``query`` in ``views`` (in order) and highlight every match, match ``current`` (modulo
        the count) as the current one; returns the count."""
        self.clear()
        self._views = list(views)
        query = query.strip()
        if query:
            for view in self._views:
                cursor = view.document().find(query)
                while not cursor.isNull():
                    self.matches.append((view, cursor))
                    cursor = view.document().find(query, cursor)
        self.current = current % len(self.matches) if self.matches else 0
        self._paint()
        return len(self.matches)

    def current_match(self) -> tuple[QTextBrowser, QTextCursor] | None:
        return self.matches[self.current] if self.matches else None

    def select(self, view: QTextBrowser, position: int) -> None:
        """Make the match starting at ``position`` in ``view`` the current one, if it is still there."""
        for i, (other, cursor) in enumerate(self.matches):
            if other is view and cursor.selectionStart() == position:
                self.current = i
                self._paint()
                return

    def clear(self) -> None:
        for view in self._views:
            with contextlib.suppress(RuntimeError):  # a re-rendered reply deleted this view since
                view.setExtraSelections([])
        self.matches.clear()
        self._views = []

    def _paint(self) -> None:
        dark = self.colors.name == "dark"
        match = QColor(MATCH_DARK if dark else MATCH_LIGHT)
        current = QColor(CURRENT_DARK if dark else CURRENT_LIGHT)
        by_view: dict[int, list[QTextEdit.ExtraSelection]] = {id(view): [] for view in self._views}
        for i, (view, cursor) in enumerate(self.matches):
            selection = QTextEdit.ExtraSelection()
            selection.cursor = cursor
            selection.format.setBackground(current if i == self.current else match)
            selection.format.setProperty(QTextFormat.Property.FullWidthSelection, False)
            by_view[id(view)].append(selection)
        for view in self._views:
            view.setExtraSelections(by_view[id(view)])


class FindInChat:
    """Ties the bar to the chat shown: searches its text views, shows the count, scrolls to the match.

    ``target`` gives the transcript shown and its text views in order (None: no chat); they
    are asked for at every search, because replies re-render (and replace views) as they go.
    A "view" whose ``rendered`` is False stands for a message not built yet (see
    app.ui.unbuilt_message): its text is rendered the first time it is searched, so while the
    bar is open they are rendered on the event loop, before the first query needs them.
    """

    def __init__(
        self,
        bar: FindBar,
        target: Callable[[], tuple[QScrollArea, list[QTextBrowser]] | None],
        colors: Callable[[], Colors],
    ) -> None:
        self.bar = bar
        self._target = target
        self._colors = colors
        self._find = ChatFind(colors())
        self._building = False  # a message is being built to show a match in it
        self._prepare_timer = QTimer(bar)
        self._prepare_timer.setSingleShot(True)
        self._prepare_timer.setInterval(0)
        self._prepare_timer.timeout.connect(self._on_prepare_timer_timeout)
        bar.opened.connect(self._on_bar_opened)
        bar.query_changed.connect(self.search)
        bar.next_requested.connect(lambda: self.step(1))
        bar.previous_requested.connect(lambda: self.step(-1))
        bar.closed.connect(self._find.clear)

    @property
    def matches(self) -> list[tuple[QTextBrowser, QTextCursor]]:
        return self._find.matches

    def current_match(self) -> tuple[QTextBrowser, QTextCursor] | None:
        return self._find.current_match()

    def search(
        self,
        query: str,
        current: int = 0,
        *,
        keep: tuple[QTextBrowser, int] | None = None,
        reveal: bool = True,
    ) -> int:
        """Highlight ``query`` and, with ``reveal``, bring match ``current`` into view; returns the count.

        ``keep`` (a view and a position) makes the match found there current instead, if there is one.
        """
        target = self._target()
        transcript, views = target if target is not None else (None, [])
        self._find.colors = self._colors()
        count = self._find.search(views, query, current)
        if keep is not None:
            self._find.select(*keep)
        self.bar.show_count(self._find.current, count)
        if reveal and transcript is not None:
            self._reveal(query, transcript)
        return count

    def _reveal(self, query: str, transcript: QScrollArea, *, may_build: bool = True) -> None:
        """Scroll to the current match; one in a message not built yet (it has ``build``) is built first."""
        match = self._find.current_match()
        if match is None:
            return
        build = getattr(match[0], "build", None)
        if build is not None:
            if not may_build:
                return  # (it could not be built: nothing to scroll to)
            self._building = True
            try:
                build()
            finally:
                self._building = False
            self.search(query, self._find.current, reveal=False)  # its own views hold the match now
            self._reveal(query, transcript, may_build=False)
            return
        view, cursor = match
        point = view.viewport().mapTo(transcript.widget(), view.cursorRect(cursor).center())
        transcript.ensureVisible(point.x(), point.y(), 40, 120)

    def _on_bar_opened(self) -> None:
        self._prepare_timer.start()

    def _on_prepare_timer_timeout(self) -> None:
        """Render the text of messages not built yet for up to ``PREPARE_SLICE_S``, then yield."""
        target = self._target()
        if target is None or not self.bar.isVisible():
            return
        deadline = time.perf_counter() + PREPARE_SLICE_S
        for view in target[1]:
            if getattr(view, "rendered", True) is False:
                view.document()
                if time.perf_counter() >= deadline:
                    self._prepare_timer.start()
                    return

    def step(self, step: int) -> None:
        """Enter / Shift+Enter: the next or previous match, wrapping around."""
        self.search(self.bar.field.text(), self._find.current + step)

    def refresh(self) -> None:
        """Search again, staying on the match the user is on (messages above it shift the numbering).

        The view stays where it is (messages are built as the reader scrolls: this repaints their
        highlights, it does not take the reader back to the match).
        """
        if not self.bar.isVisible() or self._building:
            return
        match = self._find.current_match()
        keep = (match[0], match[1].selectionStart()) if match is not None else None
        self.search(self.bar.field.text(), self._find.current, keep=keep, reveal=False)

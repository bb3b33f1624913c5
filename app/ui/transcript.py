"""One chat's messages in a scrolling, centred column of readable width.

The column is at most ``COLUMN_MAX_PX`` wide (long lines are hard to read) and
stays pinned to the bottom while a reply grows, unless the user scrolled up to
read something: then it stays where they are.
"""

from __future__ import annotations

from collections.abc import Callable

from app.icon import app_icon
from app.qt import (
    QCoreApplication,
    QEvent,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSize,
    QSizePolicy,
    Qt,
    QVBoxLayout,
    QWidget,
)

COLUMN_MAX_PX = 760
PIN_SLACK_PX = 48


class EmptyState(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Empty chat")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addStretch(2)
        logo = QLabel(self)
        logo.setPixmap(app_icon().pixmap(QSize(72, 72)))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        logo.setAccessibleName("DiffusionGemma Chat logo")
        layout.addWidget(logo)
        title = QLabel("DiffusionGemma Chat", self)
        title.setObjectName("emptyTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(title)
        hint = QLabel(
            "Each reply is written as 256-token canvases that refine in parallel.\n"
            "Watch them settle as you chat — press Ctrl+T for the token view.\n"
            "Drop images, videos, text files or PDFs anywhere in the window to attach them.",
            self,
        )
        hint.setObjectName("emptyHint")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setWordWrap(True)
        layout.addWidget(hint)
        layout.addStretch(3)


def _activate_bottom_up(root: QWidget) -> None:
    """Lay ``root`` out from its innermost widgets outwards, now.

    Qt lays a widget out from the outside in when it is shown: each widget is placed before
    its children have said how tall they are at the width it got (a text's height depends on
    its width, and a user's bubble takes its width in its resizeEvent).  The corrections then
    travel up one level per turn of the event loop, each one painted: the first frames of a
    chat showed its texts squeezed.  Inner layouts first settle every level in one pass.
    """
    for widget in reversed([root, *root.findChildren(QWidget)]):
        layout = widget.layout()
        if layout is not None:
            layout.activate()


class Transcript(QScrollArea):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("transcript")
        self.setAccessibleName("Conversation")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        page = QWidget(self)
        page.setObjectName("transcriptPage")
        outer = QHBoxLayout(page)
        outer.setContentsMargins(24, 20, 24, 20)
        outer.setSpacing(0)
        # Only the column expands: it takes the width up to COLUMN_MAX_PX and the two spacers share
        # the rest.  (Stretch factors made it its minimum width plus a share, and that minimum is the
        # widest user bubble, which follows the column's width: each new message moved the column.)
        outer.addWidget(QWidget(page))
        self.column = QWidget(page)
        self.column.setMaximumWidth(COLUMN_MAX_PX)
        self.column.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        outer.addWidget(self.column)
        outer.addWidget(QWidget(page))
        self._layout = QVBoxLayout(self.column)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(10)
        self.empty = EmptyState(self.column)
        self._layout.addWidget(self.empty, 1)
        self._layout.addStretch(0)
        self.setWidget(page)
        self._pinned = True
        # Set by prepend while the reader is scrolled up; held (the layout may grow the range in
        # several steps) until the reader scrolls or a message is added at the bottom.
        self._keep_from_bottom: int | None = None
        self._adjusting = False
        self._unsettled: list[QWidget] = []  # built while hidden, laid out when shown
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scroll_value_changed)
        bar.rangeChanged.connect(self._on_scroll_range_changed)

    def add(self, widget: QWidget) -> QWidget:
        self.empty.setVisible(False)
        self._pinned = True  # before the page grows for it: it is sized at once
        self._keep_from_bottom = None
        self._insert(self._layout.count() - 1, widget)
        return widget

    def prepend(self, widget: QWidget) -> QWidget:
        """Add ``widget`` above every message without moving what the reader is looking at.

        Pinned to the bottom, the view stays there; scrolled up, it keeps its
        distance from the bottom, so the text in view does not jump down.
        """
        self.empty.setVisible(False)
        if not self._pinned and self._keep_from_bottom is None:
            bar = self.verticalScrollBar()
            self._keep_from_bottom = bar.maximum() - bar.value()
        self._insert(self._layout.indexOf(self.empty) + 1, widget)
        return widget

    def _insert(self, index: int, widget: QWidget) -> None:
        """Put ``widget`` in the column, laid out and with the page sized for it, if it is shown.

        A layout shows a new child on the event loop, laid out at the width it had (640 px for a
        widget built without a parent), and the column then squeezes every message into the old
        page height until the scroll area grows the page, turns later.  Here it is shown at the
        column's width before it joins the column, and the page grows before the column is laid out.
        A hidden column's widgets are laid out when it is shown (:meth:`showEvent`).
        """
        if not self.column.isVisible():
            self._layout.insertWidget(index, widget)
            self._unsettled.append(widget)
            return
        widget.setParent(self.column)
        widget.resize(self.column.width(), widget.height())
        if not (widget.isHidden() and widget.testAttribute(Qt.WidgetAttribute.WA_WState_ExplicitShowHide)):
            widget.show()
        _activate_bottom_up(widget)
        self._layout.insertWidget(index, widget)
        self._fit_page()

    def remove(self, widget: QWidget) -> None:
        self._layout.removeWidget(widget)
        widget.hide()  # now: deleteLater only runs when the event loop is next reached
        widget.deleteLater()

    def clear(self, keep: Callable[[QWidget], bool] = lambda _widget: False) -> list[QWidget]:
        """Remove every message except those ``keep`` accepts; returns the kept ones, in order."""
        kept = []
        for widget in self.messages():
            if keep(widget):
                kept.append(widget)
            else:
                self.remove(widget)
        self.empty.setVisible(not kept)
        return kept

    def move_to_end(self, widget: QWidget) -> None:
        self._layout.removeWidget(widget)
        self._layout.insertWidget(self._layout.count() - 1, widget)

    def messages(self) -> list[QWidget]:
        items = (self._layout.itemAt(i).widget() for i in range(self._layout.count()))
        return [w for w in items if w is not None and w is not self.empty]

    def scroll_to_top(self) -> None:
        self._pinned = False
        self._keep_from_bottom = None
        self.verticalScrollBar().setValue(0)

    def scroll_to_bottom(self) -> None:
        self._pinned = True
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def showEvent(self, event) -> None:
        """Lay out the messages built while the chat was hidden before its first frame is painted.

        Opening a chat builds its widgets before showing it (and older messages may arrive while
        another chat is shown); Qt only lays out shown widgets, so they are laid out now.
        """
        super().showEvent(event)
        unsettled, self._unsettled = self._unsettled, []
        in_column = {id(w) for w in self.messages()}  # (without touching one deleted meanwhile)
        for widget in unsettled:
            if id(widget) in in_column:
                _activate_bottom_up(widget)
        self._fit_page()

    def _fit_page(self) -> None:
        """Size the page for the column's content now, then lay the column out in it.

        The scroll area would resize the page a few turns of the event loop after the column
        changed, and the column would squeeze its messages into the old height meanwhile.
        """
        self.column.updateGeometry()  # its height for the page's width is asked again
        QCoreApplication.sendEvent(self, QEvent(QEvent.Type.LayoutRequest))  # QScrollArea resizes the page
        self.widget().layout().activate()  # where the page kept its size, its layouts still run
        self._layout.activate()

    def _on_scroll_value_changed(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._pinned = value >= bar.maximum() - PIN_SLACK_PX
        if not self._adjusting:
            self._keep_from_bottom = None  # the reader moved: the next prepend measures again

    def _on_scroll_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._pinned:
            self.verticalScrollBar().setValue(maximum)
        elif self._keep_from_bottom is not None:
            self._adjusting = True
            try:
                self.verticalScrollBar().setValue(maximum - self._keep_from_bottom)
            finally:
                self._adjusting = False

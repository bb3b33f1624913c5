"""One chat's messages in a scrolling, centred column of readable width.

The column is at most ``COLUMN_MAX_PX`` wide (long lines are hard to read) and
stays pinned to the bottom while a reply grows, unless the user scrolled up to
read something: then it stays where they are.

A resize lays out at once only the messages in or near the view; the others
keep their inner layout (it is disabled) and an estimated height (their texts'
measured heights scaled by the change of width, see
:meth:`RichTextView.defer_layout`), and are laid out for the new width in slices
on the event loop, nearest first, or as soon as they scroll into view.
Meanwhile the message the reader is looking at is held in place, so nothing in
view moves while heights change above it.

A long chat's messages need not all be built: a :class:`Placeholder` stands for
one, blank, at its estimated height, and is replaced by the message (made by the
``build`` callback) when it comes into view (at once, before the frame is
painted) or near it (on the event loop, nearest first, one slice at a time).
The message the reader looks at keeps its place meanwhile, as for a resize.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from app.icon import app_icon
from app.qt import (
    QColor,
    QCoreApplication,
    QEvent,
    QFrame,
    QGraphicsDropShadowEffect,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSize,
    QSizePolicy,
    Qt,
    QTimer,
    QToolButton,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.ui.text_view import RichTextView

COLUMN_MAX_PX = 760
PAGE_MARGIN_PX = 24  # left and right of the column, where the page is narrower than the column's maximum
PIN_SLACK_PX = 48
# After a resize, texts this many viewport heights above or below the view are laid out at once
# (the view's own texts always are); the rest in slices of at most RELAYOUT_SLICE_S.
NEAR_SCREENS = 1.0
RELAYOUT_SLICE_S = 0.008
JUMP_BUTTON_PX = 36  # the round "jump to the latest message" button
JUMP_BUTTON_MARGIN_PX = 16  # from the viewport's bottom-right corner
# Placeholders this many viewport heights above or below the view are built on the event loop
# (those in view at once), one slice of at most BUILD_SLICE_S at a time.
BUILD_NEAR_SCREENS = 1.0
BUILD_SLICE_S = 0.008


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


class _Sized(QWidget):
    """The transcript's page and column: a size hint of the column's full width, at the height they have.

    A layout's own size hint asks every message its height at the hint's width (``COLUMN_MAX_PX``,
    the widest any message is), and the scroll area and the page's layout ask it at each relayout:
    every message's layouts were computed for that width and then for the width they have, two
    passes over the whole chat for each message whose height changed.  Nothing reads the height
    of these hints (the scroll area sizes the page by its height for width), only the width,
    which lets the column take up to ``COLUMN_MAX_PX`` before the spacers beside it get any.
    """

    def __init__(self, parent: QWidget, margins: int = 0) -> None:
        super().__init__(parent)
        self._margins = margins

    def sizeHint(self) -> QSize:
        return QSize(COLUMN_MAX_PX + self._margins, self.height())


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


def _text_views(message: QWidget) -> list[RichTextView]:
    """The message's shown text views: from the message when it knows them (cheaper), else found."""
    views = getattr(message, "text_views", None)
    return views() if views is not None else message.findChildren(RichTextView)


class Placeholder(QWidget):
    """Stands in the column for a message not built yet: blank, at the height it is estimated to take.

    ``payload`` is what the ``build`` callback of the transcript needs to make the message;
    ``estimate`` gives its height for a column width (it is asked again when the width changes).
    """

    def __init__(self, payload: object, estimate: Callable[[int], int], parent=None) -> None:
        super().__init__(parent)
        self.payload = payload
        self.estimate = estimate
        self.searchable: object | None = None  # what find in chat searches in its stead, once asked
        self.setFixedHeight(1)

    def fit(self, width: int) -> None:
        self.setFixedHeight(max(1, self.estimate(width)))


@dataclass
class _Anchor:
    """What the reader is looking at: a message, and where the viewport's top is on it.

    ``offset`` is the viewport's top minus the message's top (negative: the message starts
    below the top of the view), at the time the message was ``height`` px tall.
    """

    widget: QWidget
    offset: int
    height: int


class Transcript(QScrollArea):
    placeholders_built = Signal()  # placeholders were replaced by their messages (find sees new views)

    def __init__(self, parent=None, build: Callable[[Placeholder], QWidget] | None = None) -> None:
        """``build`` makes the message a :class:`Placeholder` stands for (needed only if there are some)."""
        super().__init__(parent)
        self.setObjectName("transcript")
        self.setAccessibleName("Conversation")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._build = build
        self._make_page()
        self._pinned = True
        # Set by a resize while the reader is scrolled up; held (the layout may change the
        # range in several steps) until the reader scrolls or a message is added at the bottom.
        self._anchor: _Anchor | None = None
        self._adjusting = False
        self._unsettled: list[QWidget] = []  # built while hidden, laid out when shown
        # Messages with texts laid out for an older width (estimated heights), nearest to the view first.
        self._stale: list[QWidget] = []
        self._relayout_timer = self._zero_timer(self._on_relayout_timer_timeout)
        self._build_timer = self._zero_timer(self._on_build_timer_timeout)
        self._settling = False
        self._building = False
        self._placeholder_width = 0  # the column width the placeholders' heights were estimated for
        self._make_jump_button()
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scroll_value_changed)
        bar.rangeChanged.connect(self._on_scroll_range_changed)

    def _make_page(self) -> None:
        """The page: a centred column (``self.column``) of messages, the empty state until the first."""
        page = _Sized(self, margins=2 * PAGE_MARGIN_PX)
        page.setObjectName("transcriptPage")
        outer = QHBoxLayout(page)
        outer.setContentsMargins(PAGE_MARGIN_PX, 20, PAGE_MARGIN_PX, 20)
        outer.setSpacing(0)
        # Only the column expands: it takes the width up to COLUMN_MAX_PX and the two spacers share
        # the rest.  (Stretch factors made it its minimum width plus a share, and that minimum is the
        # widest user bubble, which follows the column's width: each new message moved the column.)
        outer.addWidget(QWidget(page))
        self.column = _Sized(page)
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

    def _make_jump_button(self) -> None:
        """The round button over the viewport's bottom-right corner while the reader is scrolled up.

        Then the view no longer follows a growing reply: one click goes back to the newest text and
        follows it again.  A child of the scroll area, not of the page, so it does not scroll.
        """
        self.jump_button = QToolButton(self)
        self.jump_button.setObjectName("jumpToLatest")
        self.jump_button.setText("↓")
        self.jump_button.setToolTip("Jump to the latest message")
        self.jump_button.setAccessibleName("Jump to the latest message")
        self.jump_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.jump_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # not a tab stop that comes and goes
        self.jump_button.setFixedSize(JUMP_BUTTON_PX, JUMP_BUTTON_PX)
        shadow = QGraphicsDropShadowEffect(self.jump_button)  # it floats above the text
        shadow.setBlurRadius(14)
        shadow.setOffset(0, 2)
        shadow.setColor(QColor(0, 0, 0, 70))
        self.jump_button.setGraphicsEffect(shadow)
        self.jump_button.clicked.connect(self._on_jump_button_clicked)
        self.jump_button.hide()

    def _zero_timer(self, slot: Callable[[], None]) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(0)
        timer.timeout.connect(slot)
        return timer

    def add(self, widget: QWidget) -> QWidget:
        self.empty.setVisible(False)
        self._pinned = True  # before the page grows for it: it is sized at once
        self._anchor = None
        self._insert(self._layout.count() - 1, widget)
        return widget

    def _insert(self, index: int, widget: QWidget) -> None:
        """Put ``widget`` in the column, laid out and with the page sized for it, if it is shown.

        A layout shows a new child on the event loop, laid out at the width it had (640 px for a
        widget built without a parent), and the column then squeezes every message into the old
        page height until the scroll area grows the page, turns later.  Here it is shown at the
        column's width before it joins the column, and the page grows before the column is laid out.
        A hidden column's widgets are laid out when it is shown (:meth:`showEvent`).
        """
        if self._place(index, widget):
            self._fit_page()

    def _place(self, index: int, widget: QWidget) -> bool:
        """Put ``widget`` in the column at ``index``, laid out at the column's width if it is shown.

        Returns whether it was laid out (a hidden column's widgets are laid out in :meth:`showEvent`).
        """
        if not self.column.isVisible():
            self._layout.insertWidget(index, widget)
            self._unsettled.append(widget)
            return False
        widget.setParent(self.column)
        widget.resize(self.column.width(), widget.height())
        if not (widget.isHidden() and widget.testAttribute(Qt.WidgetAttribute.WA_WState_ExplicitShowHide)):
            widget.show()
        _activate_bottom_up(widget)
        self._layout.insertWidget(index, widget)
        return True

    def add_placeholder(self, placeholder: Placeholder) -> Placeholder:
        """Add a stand-in for a message below the others, at its estimated height (see Placeholder)."""
        self.empty.setVisible(False)
        placeholder.fit(self._placeholder_width or self._column_width())
        placeholder.setParent(self.column)
        if self.column.isVisible():
            placeholder.show()
        self._layout.insertWidget(self._layout.count() - 1, placeholder)
        return placeholder

    def placeholders(self) -> list[Placeholder]:
        """The stand-ins for messages not built yet, top to bottom."""
        return [w for w in self.items() if isinstance(w, Placeholder)]

    def build_placeholder(self, placeholder: Placeholder) -> QWidget:
        """Replace ``placeholder`` by its message now (to show it, or to find in it); returns the message."""
        return self._replace([placeholder])[0]

    def build_all(self) -> None:
        """Replace every placeholder by its message now (a test, or something that needs every widget)."""
        self._replace(self.placeholders())

    def _replace(self, due: list[Placeholder]) -> list[QWidget]:
        """Build the messages ``due`` stands for, in their places, keeping what the reader looks at in place.

        A viewport top inside a placeholder stays at the same fraction of the message that replaces it.
        """
        if not due or self._build is None:
            return []
        built = []
        adjusting, self._adjusting = self._adjusting, True  # Qt may clamp the scroll value meanwhile
        self._building = True
        try:
            with self._holding_view(frozenset(id(p) for p in due)):
                for placeholder in due:
                    widget = self._build(placeholder)
                    index = self._layout.indexOf(placeholder)
                    self._layout.removeWidget(placeholder)
                    placeholder.hide()
                    placeholder.deleteLater()
                    self._place(index, widget)
                    if self._anchor is not None and self._anchor.widget is placeholder:
                        self._anchor = _Anchor(widget, self._anchor.offset, self._anchor.height)
                    built.append(widget)
                if self.column.isVisible():
                    self._fit_page()
        finally:
            self._building = False
            self._adjusting = adjusting
        self.placeholders_built.emit()
        return built

    @property
    def build_pending(self) -> bool:
        """Placeholders near the view wait for the event loop to build their messages."""
        return self._build_timer.isActive()

    def stop_building(self) -> None:
        """Build nothing more on the event loop until the view moves (the window is closing)."""
        self._build_timer.stop()

    def _column_width(self) -> int:
        """The column's width, or the widest it gets while it was never shown (its width is not known)."""
        return self.column.width() if self.column.isVisible() else COLUMN_MAX_PX

    def _fit_placeholders(self) -> bool:
        """Estimate the placeholders' heights again for the column's width, if it changed (returns so)."""
        width = self._column_width()
        if width == self._placeholder_width:
            return False
        self._placeholder_width = width
        for placeholder in self.placeholders():
            placeholder.fit(width)
        return True

    def _placeholders_near(self, screens: float) -> list[Placeholder]:
        """The placeholders in view or within ``screens`` viewport heights of it, nearest first."""
        bar = self.verticalScrollBar()
        view_top, view_bottom = bar.value(), bar.value() + self.viewport().height()
        margin = screens * self.viewport().height()
        near: list[tuple[int, Placeholder]] = []
        for widget, top, bottom in self._messages_by_position():
            if isinstance(widget, Placeholder) and bottom > view_top - margin and top < view_bottom + margin:
                near.append((max(0, top - view_bottom, view_top - bottom), widget))
        near.sort(key=lambda item: item[0])
        return [w for _, w in near]

    def build_in_view(self) -> None:
        """Build at once the messages whose placeholders the view shows; those near it on the event loop.

        Run when the chat is shown, resized or scrolled: a placeholder is never painted.
        """
        if self._building or self._build is None or not self.column.isVisible():
            return
        for _ in range(8):  # a message shorter than its estimate may bring the next one into view
            due = self._placeholders_near(0)
            if not due:
                break
            self._replace(due)
        if self._placeholders_near(BUILD_NEAR_SCREENS):
            self._build_timer.start()

    def _on_build_timer_timeout(self) -> None:
        """Build the messages nearest the view for up to ``BUILD_SLICE_S`` (at least one)."""
        if not self.column.isVisible():
            return  # (showEvent starts again)
        deadline = time.perf_counter() + BUILD_SLICE_S
        near = self._placeholders_near(BUILD_NEAR_SCREENS)
        while near:
            self._replace(near[:1])
            if time.perf_counter() >= deadline:
                break
            near = self._placeholders_near(BUILD_NEAR_SCREENS)
        if near:
            self._build_timer.start()

    def remove(self, widget: QWidget) -> None:
        if widget in self._stale:
            self._stale.remove(widget)
        if self._anchor is not None and self._anchor.widget is widget:
            self._anchor = None
        self._layout.removeWidget(widget)
        widget.hide()  # now: deleteLater only runs when the event loop is next reached
        widget.deleteLater()

    def clear(self, keep: Callable[[QWidget], bool] = lambda _widget: False) -> list[QWidget]:
        """Remove every message except those ``keep`` accepts; returns the kept ones, in order."""
        kept = []
        for widget in self.items():
            if keep(widget) and not isinstance(widget, Placeholder):
                kept.append(widget)
            else:
                self.remove(widget)
        self.empty.setVisible(not kept)
        return kept

    def move_to_end(self, widget: QWidget) -> None:
        self._layout.removeWidget(widget)
        self._layout.insertWidget(self._layout.count() - 1, widget)

    def messages(self) -> list[QWidget]:
        """The messages and notices built, top to bottom (not the placeholders of those not built yet)."""
        return [w for w in self.items() if not isinstance(w, Placeholder)]

    def items(self) -> list[QWidget]:
        """The messages, notices and placeholders, top to bottom."""
        widgets = (self._layout.itemAt(i).widget() for i in range(self._layout.count()))
        return [w for w in widgets if w is not None and w is not self.empty]

    def scroll_to_top(self) -> None:
        self._pinned = False
        self._anchor = None
        self.verticalScrollBar().setValue(0)

    def scroll_to_bottom(self) -> None:
        self._pinned = True
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())
        self._show_jump_button()

    def _on_jump_button_clicked(self) -> None:
        self._anchor = None
        self.scroll_to_bottom()

    def _show_jump_button(self) -> None:
        """Offer the jump to the newest message while the view does not follow it (and can scroll)."""
        wanted = not self._pinned and self.verticalScrollBar().maximum() > 0
        if wanted != self.jump_button.isVisible():
            if wanted:
                self._place_jump_button()
                self.jump_button.raise_()
            self.jump_button.setVisible(wanted)

    def _place_jump_button(self) -> None:
        corner = self.viewport().geometry().bottomRight()
        offset = JUMP_BUTTON_PX + JUMP_BUTTON_MARGIN_PX - 1
        self.jump_button.move(corner.x() - offset, corner.y() - offset)

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
        self._fit_placeholders()
        self._fit_page()
        self.build_in_view()

    def _fit_page(self) -> None:
        """Size the page for the column's content now, then lay the column out in it.

        The scroll area would resize the page a few turns of the event loop after the column
        changed, and the column would squeeze its messages into the old height meanwhile.
        """
        self.column.updateGeometry()  # its height for the page's width is asked again
        QCoreApplication.sendEvent(self, QEvent(QEvent.Type.LayoutRequest))  # QScrollArea resizes the page
        self.widget().layout().activate()  # where the page kept its size, its layouts still run
        self._layout.activate()

    @property
    def relayout_pending(self) -> int:
        """How many messages still have texts laid out for an older width (0: all are right)."""
        return len(self._stale)

    def resizeEvent(self, event) -> None:
        """Lay out the texts in and near the view for the new width now, the others later.

        Before the layouts run, the messages farther than ``NEAR_SCREENS`` from the view are deferred
        (:meth:`_defer_out_of_sight`: the resize does not reach inside them, their texts estimate their
        height); afterwards the near ones are laid out from the inside out, the message the reader
        looked at is put back in place, any deferred one that ended up in view is laid out, and the
        rest are left to :meth:`_on_relayout_timer_timeout`.
        """
        first = event.oldSize().width() < 0 or bool(self._unsettled)  # (nothing laid out yet: showEvent does)
        if first or event.size().width() == event.oldSize().width() or not self.isVisible():
            super().resizeEvent(event)
            if self.column.isVisible() and self._fit_placeholders():
                self._fit_page()
        else:
            self._resize_lazily(event)
        self._place_jump_button()
        self.build_in_view()

    def _resize_lazily(self, event) -> None:
        pinned = self._pinned
        anchor = None if pinned else self._capture_anchor()
        near = self._defer_out_of_sight()
        self._adjusting = True  # Qt may clamp the scroll value on the way: not the reader scrolling
        self._anchor = None
        try:
            super().resizeEvent(event)
            for widget in near:  # (a user's bubble takes its width in its resizeEvent, after its height)
                self._settle(widget)
            self._fit_page()
            if self._fit_placeholders():
                self._fit_page()
        finally:
            self._adjusting = False
        self._pinned = pinned
        if anchor is not None:
            self._anchor = anchor  # held until the reader scrolls
            self._restore_anchor(reflowed=True)
        elif pinned:
            self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())
        self._settle_in_view()
        if self._stale:
            self._relayout_timer.start()

    def _messages_by_position(self) -> list[tuple[QWidget, int, int]]:
        """The shown messages and placeholders, top and bottom in the page's coordinates, in order."""
        top = self.column.y()
        return [(w, top + w.y(), top + w.y() + w.height()) for w in self.items() if not w.isHidden()]

    def _capture_anchor(self, moving: frozenset[int] = frozenset()) -> _Anchor | None:
        """The first message that reaches below the viewport's top, and where that top is on it.

        Messages whose ids are in ``moving`` (about to be laid out again) are passed over for the
        next one in view, which keeps its exact place; if every message in view is moving, the first.
        """
        bar = self.verticalScrollBar()
        view_top, view_bottom = bar.value(), bar.value() + self.viewport().height()
        first: _Anchor | None = None
        for widget, top, bottom in self._messages_by_position():
            if bottom <= view_top:
                continue
            if top >= view_bottom and first is not None:
                break
            anchor = _Anchor(widget, view_top - top, widget.height())
            if id(widget) not in moving:
                return anchor
            first = first or anchor
        return first

    def _restore_anchor(self, *, reflowed: bool = False) -> None:
        """Scroll so the anchored message is where it was in the view.

        ``reflowed``: its own text was laid out again (new width, or an estimate replaced), so a
        viewport top inside it stays at the same fraction of it; otherwise at the same pixel.
        """
        anchor = self._anchor
        if anchor is None or self._pinned:
            return
        widget = anchor.widget
        offset = anchor.offset
        if reflowed and offset > 0 and anchor.height > 0:
            offset = round(offset * widget.height() / anchor.height)
        self._anchor = _Anchor(widget, offset, widget.height())
        adjusting, self._adjusting = self._adjusting, True
        try:
            self.verticalScrollBar().setValue(self.column.y() + widget.y() + offset)
        finally:
            self._adjusting = adjusting

    def _defer_out_of_sight(self) -> list[QWidget]:
        """Defer the layout of the messages far from the view and list them, nearest first.

        Returns the others, which the caller settles once the resize has given them their width.
        A message is deferred whole: its layout is disabled (its children keep their geometry, so a
        resize does not reach them) and its texts estimate their height (see RichTextView).
        """
        bar = self.verticalScrollBar()
        height = self.viewport().height()
        near_top = bar.value() - NEAR_SCREENS * height
        near_bottom = bar.value() + (1 + NEAR_SCREENS) * height
        stale = {id(w) for w in self._stale}
        far: list[tuple[int, QWidget]] = []
        near: list[QWidget] = []
        top_of_column = self.column.y()
        for widget in self.messages():
            top = top_of_column + widget.y()
            bottom = top + widget.height()
            if bottom >= near_top and top <= near_bottom and not widget.isHidden():
                near.append(widget)
                continue
            if id(widget) not in stale:  # (one still deferred since an earlier resize stays so)
                for view in _text_views(widget):
                    if view.isVisible():
                        view.defer_layout()
                layout = widget.layout()
                if layout is not None:
                    layout.setEnabled(False)
            far.append((round(near_top - bottom if bottom < near_top else top - near_bottom), widget))
        far.sort(key=lambda item: item[0])
        self._stale = [w for _, w in far]
        return near

    def _settle(self, widget: QWidget) -> None:
        """Give a deferred message its layout back: its children their width, its texts their height.

        Its layouts are then activated from the inside out; on a message that was not deferred,
        only that.
        """
        layout = widget.layout()
        if layout is not None and not layout.isEnabled():
            layout.setEnabled(True)
            layout.invalidate()  # (it counts as laid out: the resizes it ignored did not change that)
            layout.activate()  # its children get its width (the deferred texts keep their layout)
        for view in _text_views(widget):
            view.settle()
        _activate_bottom_up(widget)

    def _settle_in_view(self) -> None:
        """Lay out at once the deferred messages the view shows, keeping what the reader looks at.

        Run after a resize and when the reader scrolls: a message is never painted with an estimate.
        """
        if self._settling:
            return
        self._settling = True
        try:
            for _ in range(4):  # settling one may bring the next into view (it may get shorter)
                bar = self.verticalScrollBar()
                view_top, view_bottom = bar.value(), bar.value() + self.viewport().height()
                stale = {id(w) for w in self._stale}
                due = [
                    w
                    for w, top, bottom in self._messages_by_position()
                    if id(w) in stale and bottom > view_top and top < view_bottom
                ]
                if not due:
                    break
                with self._holding_view(frozenset(id(w) for w in due)):
                    for widget in due:
                        self._stale.remove(widget)
                        self._settle(widget)
                    self._fit_page()
        finally:
            self._settling = False

    @contextmanager
    def _holding_view(self, moving: frozenset[int] = frozenset()) -> Iterator[None]:
        """Keep the message in view where it is while the page is laid out again inside the block.

        Uses the anchor held since a resize, or one taken for the block (none when
        pinned to the bottom: the range change keeps the view there).
        """
        held = self._anchor
        if held is None and not self._pinned:
            self._anchor = self._capture_anchor(moving)
        reflowed = self._anchor is not None and id(self._anchor.widget) in moving
        try:
            yield
        finally:
            self._restore_anchor(reflowed=reflowed)
            if held is None:
                self._anchor = None

    def _on_relayout_timer_timeout(self) -> None:
        """Lay out the nearest deferred messages for up to ``RELAYOUT_SLICE_S``, then the page once."""
        deadline = time.perf_counter() + RELAYOUT_SLICE_S
        with self._holding_view():
            while self._stale and time.perf_counter() < deadline:
                self._settle(self._stale.pop(0))
            self._fit_page()
        if self._stale:
            self._relayout_timer.start()

    def _on_scroll_value_changed(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._pinned = value >= bar.maximum() - PIN_SLACK_PX
        if not self._adjusting:
            self._anchor = None  # the reader moved: the next change measures again
            if self._stale:
                self._settle_in_view()
            self.build_in_view()
        self._show_jump_button()

    def _on_scroll_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._pinned:
            self.verticalScrollBar().setValue(maximum)
        else:
            self._restore_anchor()
        self._place_jump_button()  # (the scroll bar may have come or gone, narrowing the viewport)
        self._show_jump_button()

"""The words of a finished reply tinted by how unsure the model was of them, with why, and a rewrite offer.

The tints are background colours merged into the rendered document's
characters (a QTextCharFormat each), not extra selections: the find bar owns
those.  Rendering the reply again (a theme change, a replay) drops them, so
the reply applies them again after each final render.  Hovering a tinted word
tells why ("accepted at step 41 of 48, entropy 2.3"); clicking one selects it
and offers the reply's own right-click entries (Rewrite this part).
"""

from __future__ import annotations

from collections.abc import Callable

from app.palette import Colors
from app.qt import QColor, QEvent, QMenu, QObject, QPoint, QPointF, Qt, QTextCursor, QtGui, QTimer, QtWidgets
from app.ui.text_view import RichTextView
from app.uncertainty import DoubtSpan, ReplyDoubts

# Scores from which a word gets the second and the third (strongest) tint.
TINT_LEVELS = (0.55, 0.8)

# The entries a selection in the view offers (the reply's right-click extras).
SelectionActions = Callable[[RichTextView], list[tuple[str, Callable[[], object]]]]


def tint_of(span: DoubtSpan, colors: Colors) -> str:
    level = sum(span.doubt.score >= bound for bound in TINT_LEVELS)
    return colors.doubt_tints[level]


def document_text(view: RichTextView) -> str:
    """The document's characters by cursor position (block and frame marks included, as non-letters)."""
    document = view.document()
    return "".join(document.characterAt(i) for i in range(document.characterCount()))


class UncertaintyTints(QObject):
    def __init__(self, actions: SelectionActions, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._actions = actions
        self._view: RichTextView | None = None
        self.spans: list[DoubtSpan] = []
        self.menu: QMenu | None = None  # the last offer made (tests trigger it)

    def apply(self, view: RichTextView, doubts: ReplyDoubts, answer: str, colors: Colors) -> list[DoubtSpan]:
        """Tint the words of ``view`` (showing ``answer``) that ``doubts`` marks as unsure."""
        self._watch(view)
        self.spans = doubts.spans(answer, document_text(view))
        formats: dict[str, QtGui.QTextCharFormat] = {}
        for color in colors.doubt_tints:
            formats[color] = QtGui.QTextCharFormat()
            formats[color].setBackground(QColor(color))
        cursor = QTextCursor(view.document())
        cursor.beginEditBlock()  # one change for the document (its height is measured once)
        for span in self.spans:
            cursor.setPosition(span.start)
            cursor.setPosition(span.end, QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(formats[tint_of(span, colors)])
        cursor.endEditBlock()
        return self.spans

    def clear(self) -> None:
        """Forget the spans (the document they were in is being rendered again, without them)."""
        self.spans = []

    def span_at(self, view: RichTextView, point: QPoint) -> DoubtSpan | None:
        """The tinted span under ``point`` (viewport coordinates), if any."""
        if view is not self._view or not self.spans:
            return None
        layout = view.document().documentLayout()
        position = layout.hitTest(QPointF(point), Qt.HitTestAccuracy.ExactHit)
        if position < 0:
            return None
        return next((s for s in self.spans if s.start <= position < s.end), None)

    def offer_at(self, view: RichTextView, point: QPoint) -> QMenu | None:
        """Select the tinted span under ``point`` and make the menu of what can be done with it."""
        span = self.span_at(view, point)
        if span is None or view.textCursor().hasSelection():
            return None
        cursor = QTextCursor(view.document())
        cursor.setPosition(span.start)
        cursor.setPosition(span.end, QTextCursor.MoveMode.KeepAnchor)
        view.setTextCursor(cursor)
        actions = self._actions(view)
        if not actions:
            return None
        menu = QMenu(view)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        why = menu.addAction(span.doubt.reason()[0].upper() + span.doubt.reason()[1:])
        why.setEnabled(False)  # says why the word is tinted; nothing to do
        menu.addSeparator()
        for text, slot in actions:
            menu.addAction(text).triggered.connect(lambda _checked=False, run=slot: run())
        self.menu = menu
        return menu

    def _watch(self, view: RichTextView) -> None:
        if view is not self._view:
            if self._view is not None:
                self._view.viewport().removeEventFilter(self)
            self._view = view
            view.viewport().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        view = self._view
        if view is None or not self.spans:
            return False
        if event.type() == QEvent.Type.ToolTip:
            span = self.span_at(view, event.pos())
            if span is not None:
                QtWidgets.QToolTip.showText(event.globalPos(), span.doubt.reason(), view)
                return True
        elif event.type() == QEvent.Type.MouseButtonRelease and event.button() == Qt.MouseButton.LeftButton:
            point, where = event.position().toPoint(), event.globalPosition().toPoint()
            # After the view has handled the click (it places the cursor and may clear a selection).
            QTimer.singleShot(0, self, lambda: self._popup(view, point, where))
        return False

    def _popup(self, view: RichTextView, point: QPoint, where: QPoint) -> None:
        menu = self.offer_at(view, point)
        if menu is not None:
            menu.popup(where)

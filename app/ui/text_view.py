"""Read-only rich text that sizes itself to its content and never reaches the network.

Model output is untrusted.  The renderer already keeps raw HTML inert; this
view adds the second wall: :meth:`loadResource` refuses every resource, so no
``<img>`` or style sheet can make the app fetch a URL.  Links do nothing on
hover and open in the system browser only when clicked; ``dgchat-copy:`` links
copy a code block.

Its height is a *height for width*, as a word-wrapped QLabel's: a layout asks
:meth:`heightForWidth` for the width it is about to give the view and places
everything in that same pass.  The view used to set a fixed height from its
document once it had been resized, which is one layout pass late: the first frame
of an opened chat showed its replies squeezed under their headers (the layout had
placed them while their views were still 0 px tall), and since QTextDocumentLayout
lays out only what is in view at once and the rest on a timer, the first height a
long reply reported was short too.  :meth:`heightForWidth` lays the whole text out.

Laying a text out is the costly part of a resize, so a transcript can *defer* the
texts out of sight (:meth:`defer_layout`): until :meth:`settle`, such a view
answers a width it has not measured with an estimate (its measured height scaled
by the ratio of the widths) and keeps its document's layout when it is resized.
The transcript settles it when it comes into view, or later on the event loop.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from app.markdown import COPY_SCHEME, Rendered
from app.qt import (
    QDesktopServices,
    QEvent,
    QFrame,
    QGuiApplication,
    QImage,
    QMenu,
    QPoint,
    QSize,
    QSizePolicy,
    Qt,
    QTextBrowser,
    QTextDocument,
    QtGui,
    QTimer,
    QUrl,
    Signal,
)

log = logging.getLogger(__name__)

OPENABLE_SCHEMES = frozenset({"http", "https", "mailto"})
# Extra right-click entries for a view, asked when its menu opens: (label, what to do).
MenuActions = Callable[["RichTextView"], list[tuple[str, Callable[[], object]]]]


class RichTextView(QTextBrowser):
    """A QTextBrowser without scroll bars, as tall as its document at the width it is given."""

    code_copied = Signal()
    resource_blocked = Signal(str)

    def __init__(self, parent=None, *, accessible_name: str = "Message text") -> None:
        super().__init__(parent)
        self._heights: dict[int, int] = {}  # document height by text width, until the content changes
        self._deferred = False  # out of sight after a resize: estimated, laid out by settle()
        self._estimates: dict[int, int] = {}  # while deferred, by text width
        # Extra entries for the right-click menu, asked each time it opens (e.g. "Rewrite this part").
        self.menu_actions: MenuActions | None = None
        self.setAccessibleName(accessible_name)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setReadOnly(True)
        self.setAcceptDrops(False)  # drops go to the window, which attaches files
        self.setUndoRedoEnabled(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
            | Qt.TextInteractionFlag.LinksAccessibleByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByKeyboard
        )
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.viewport().setAutoFillBackground(False)
        self.setStyleSheet("QTextBrowser { background: transparent; }")
        self.document().setDocumentMargin(0)
        self.document().contentsChanged.connect(self._forget_heights)
        self.anchorClicked.connect(self._on_anchor_clicked)
        self._code: dict[str, str] = {}
        self.blocked_urls: list[str] = []
        self.renders = 0

    def set_text_color(self, color: str | None) -> None:
        extra = f" color: {color};" if color else ""
        self.setStyleSheet(f"QTextBrowser {{ background: transparent;{extra} }}")

    def set_rendered(self, rendered: Rendered) -> None:
        self._code = rendered.code
        self.renders += 1
        document = self.document()
        for name, png in rendered.images.items():  # our own images (math), in the document's cache
            document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), QImage.fromData(png))
        if not self.isVisible():
            # Parse only: heightForWidth lays the text out once, for the width a layout gives it.
            document.setPageSize(QSize(0, 0))
        self.setHtml(rendered.html)

    def context_menu(self, pos: QPoint) -> QMenu:
        """Qt's own menu (Copy, Select All…) plus the extra entries for this view, if any."""
        menu = self.createStandardContextMenu(pos)
        extras = self.menu_actions(self) if self.menu_actions is not None else []
        if extras:
            menu.addSeparator()
            for text, slot in extras:
                menu.addAction(text).triggered.connect(lambda _checked=False, run=slot: run())
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        return menu

    def contextMenuEvent(self, event) -> None:
        self.context_menu(event.pos()).popup(event.globalPos())

    def selected_text(self) -> str:
        """The selection as plain text (Qt's paragraph separators as newlines)."""
        return self.textCursor().selectedText().replace("\u2029", "\n")

    # Never fetch anything: not remote images, not local files named by model output.
    def loadResource(self, kind: int, url: QUrl):
        text = url.toString()
        self.blocked_urls.append(text)
        log.debug("refused to load resource %s", text)
        self.resource_blocked.emit(text)
        return None

    def wheelEvent(self, event) -> None:
        event.ignore()  # let the transcript scroll

    def _on_anchor_clicked(self, url: QUrl) -> None:
        scheme = url.scheme().lower()
        if scheme == COPY_SCHEME:
            code = self._code.get(url.path())
            if code is not None:
                QGuiApplication.clipboard().setText(code)
                self.code_copied.emit()
        elif scheme in OPENABLE_SCHEMES:
            QDesktopServices.openUrl(url)
        else:
            log.info("ignored link with scheme %r", scheme)

    # --- height for width --------------------------------------------------------

    def defer_layout(self) -> None:
        """Lay the text out for a new width later, when :meth:`settle` is called; estimate until then.

        Only a view whose height is known for some width is deferred (the estimate scales it).
        Showing or painting the view, or changing its text or font, ends the deferral.
        """
        self._deferred = bool(self._heights)
        self._estimates.clear()

    @property
    def layout_deferred(self) -> bool:
        """Whether the height reported may be an estimate (see :meth:`defer_layout`)."""
        return self._deferred

    def settle(self) -> bool:
        """End a deferral: lay the text out for the width it has, now; True if it was deferred.

        The caller activates the layouts above (the view only asks them to measure it again).
        """
        if not self._deferred:
            return False
        self._deferred = False
        self._fit_document()
        self.heightForWidth(self.width())  # measured now, not on the layouts' next pass
        self.updateGeometry()
        return True

    def hasHeightForWidth(self) -> bool:
        return True  # also where an owner replaced the size policy (the user's bubble)

    def heightForWidth(self, width: int) -> int:
        width = max(self.minimumWidth(), min(width, self.maximumWidth()))
        frame = 2 * self.frameWidth()
        text_width = max(0, width - frame)
        height = self._heights.get(text_width)
        if height is None and self._deferred:
            return self._estimated_height(text_width) + frame
        if height is None:
            height = self._heights[text_width] = self._document_height(text_width)
        return height + frame

    def _estimated_height(self, text_width: int) -> int:
        """The height measured at the nearest width, scaled by the widths' ratio (wrapped text's rule).

        Code blocks and short lines do not rewrap, so this errs on the long side when narrowing;
        it only has to keep the scroll bar about right until the view is laid out.
        """
        estimate = self._estimates.get(text_width)
        if estimate is None:
            measured = min(self._heights, key=lambda width: abs(width - text_width))
            scaled = math.ceil(self._heights[measured] * max(1, measured) / max(1, text_width))
            estimate = self._estimates[text_width] = max(self.fontMetrics().lineSpacing(), scaled)
        return estimate

    def sizeHint(self) -> QSize:
        """The width the view has and the height at that width, once it has its width.

        A layout asks a container for its height at the width of its size hint: hinting the
        width the view has makes that the width it is measured at anyway, not a second one.
        """
        placed = self.testAttribute(Qt.WidgetAttribute.WA_Resized)  # by a layout
        if not placed and self.minimumWidth() != self.maximumWidth():
            return QSize(super().sizeHint().width(), 0)  # no width worth laying the text out for yet
        return QSize(self.width(), self.heightForWidth(self.width()))

    def minimumSizeHint(self) -> QSize:
        # No height of its own (QAbstractScrollArea's is 70 px): a layout takes it from heightForWidth.
        return QSize(super().minimumSizeHint().width(), 0)

    def _document_height(self, text_width: int) -> int:
        """The whole document's height at ``text_width``, laid out now, in place.

        A layout asks for the width it is about to give the view, so the view's own document
        is laid out for it and :meth:`resizeEvent` keeps that layout.  (Measuring a copy laid
        every text out twice per change of width; and every message's view counts as visible,
        even far outside the transcript's viewport, so none could be told apart as unseen.)
        Some widths are only asked, never given (QScrollArea tries one a scroll bar narrower):
        the text is then laid out for its own width again before it is painted, and on the
        event loop for one out of sight (finding text in it reads its layout).
        """
        document = self.document()
        if document.textWidth() != text_width:
            document.setTextWidth(text_width)
            if self.isVisible() and text_width != self.viewport().width():
                QTimer.singleShot(0, self, self._fit_document)
        return math.ceil(document.size().height())  # size() finishes a lazy layout first

    def _forget_heights(self) -> None:
        self._heights.clear()
        self._deferred = False  # nothing measured to estimate from: laid out when asked
        self.updateGeometry()  # the layouts ask again

    def resizeEvent(self, event) -> None:
        """Keep the layout :meth:`heightForWidth` made for this width instead of making it again.

        QTextEdit lays its document out again on every change of width (all of it: the view is
        as tall as its text).  When the document is already laid out for the new width, the
        event is passed on as if only the height changed, which only adjusts the scroll bars.
        """
        width_changed = event.size().width() != event.oldSize().width()
        laid_out = self.document().textWidth() == self.viewport().width()
        if width_changed and (laid_out or self._deferred):  # (a deferred one is laid out by settle)
            event = QtGui.QResizeEvent(event.size(), QSize(event.size().width(), event.oldSize().height()))
        super().resizeEvent(event)
        if width_changed and not self._deferred:  # (a deferred one asks when it is settled)
            self.updateGeometry()  # the size hint is the view's width: containers ask it again

    def paintEvent(self, event) -> None:
        # A deferred view is settled before it comes into view; should one be painted, it is now.
        self.settle()
        # heightForWidth may have laid the text out for a width the view was then not given.
        self._fit_document()
        super().paintEvent(event)

    def showEvent(self, event) -> None:
        self._deferred = False
        super().showEvent(event)
        # Laid out while hidden for a width it was not given, or not at all: lay it out for its own.
        self._fit_document()

    def _fit_document(self) -> None:
        width = self.viewport().width()
        if self.document().textWidth() != width:
            self.document().setTextWidth(width)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._forget_heights()

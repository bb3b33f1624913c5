"""Read-only rich text that sizes itself to its content and never reaches the network.

Model output is untrusted.  The renderer already keeps raw HTML inert; this
view adds the second wall: :meth:`loadResource` refuses every resource, so no
``<img>`` or style sheet can make the app fetch a URL.  Links do nothing on
hover and open in the system browser only when clicked; ``dgchat-copy:`` links
copy a code block.
"""

from __future__ import annotations

import logging
import math

from app.markdown import COPY_SCHEME, Rendered
from app.qt import (
    QDesktopServices,
    QFrame,
    QGuiApplication,
    QImage,
    QSizePolicy,
    Qt,
    QTextBrowser,
    QTextDocument,
    QUrl,
    Signal,
)

log = logging.getLogger(__name__)

OPENABLE_SCHEMES = frozenset({"http", "https", "mailto"})


class RichTextView(QTextBrowser):
    """A QTextBrowser without scroll bars whose height follows its document."""

    code_copied = Signal()
    resource_blocked = Signal(str)

    def __init__(self, parent=None, *, accessible_name: str = "Message text") -> None:
        super().__init__(parent)
        self.setAccessibleName(accessible_name)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setReadOnly(True)
        self.setAcceptDrops(False)  # drops go to the window, which attaches files
        self.setUndoRedoEnabled(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
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
        self.document().documentLayout().documentSizeChanged.connect(self._on_document_size_changed)
        self.anchorClicked.connect(self._on_anchor_clicked)
        self._code: dict[str, str] = {}
        self.blocked_urls: list[str] = []
        self.renders = 0
        self.setFixedHeight(0)

    def set_text_color(self, color: str | None) -> None:
        extra = f" color: {color};" if color else ""
        self.setStyleSheet(f"QTextBrowser {{ background: transparent;{extra} }}")

    def set_rendered(self, rendered: Rendered) -> None:
        self._code = rendered.code
        self.renders += 1
        document = self.document()
        for name, png in rendered.images.items():  # our own images (math), in the document's cache
            document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), QImage.fromData(png))
        self.setHtml(rendered.html)

    def code_blocks(self) -> dict[str, str]:
        return dict(self._code)

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

    def _on_document_size_changed(self, size) -> None:
        height = math.ceil(size.height()) + 2 * self.frameWidth()
        if height != self.height():
            self.setFixedHeight(height)

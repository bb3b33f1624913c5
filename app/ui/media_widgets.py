"""Thumbnails of attachments: chips with a remove button in the composer, tiles in sent messages."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from app.media_probe import MediaInfo, format_duration
from app.qt import (
    QColor,
    QFont,
    QFrame,
    QHBoxLayout,
    QImage,
    QLabel,
    QPainter,
    QPixmap,
    QRectF,
    QSize,
    Qt,
    QToolButton,
    QVBoxLayout,
    QWidget,
    Signal,
)

CHIP_PX = 64
TILE_PX = 132


def pil_to_qimage(image: Image.Image, *, alpha: bool = False) -> QImage:
    """A QImage copy of a Pillow image (any thread: a QImage, unlike a QPixmap, is not tied to the GUI).

    Pillow's own ImageQt picks whichever Qt binding it finds first, which may not be ours.
    """
    mode, fmt, depth = (
        ("RGBA", QImage.Format.Format_RGBA8888, 4) if alpha else ("RGB", QImage.Format.Format_RGB888, 3)
    )
    converted = image.convert(mode)
    data = converted.tobytes("raw", mode)
    return QImage(data, converted.width, converted.height, converted.width * depth, fmt).copy()


def pil_to_pixmap(image: Image.Image) -> QPixmap:
    return QPixmap.fromImage(pil_to_qimage(image))


def released_inside(widget: QWidget, event) -> bool:
    """A left-button release over ``widget``: a click (a press dragged off it does not count)."""
    return event.button() == Qt.MouseButton.LeftButton and widget.rect().contains(event.position().toPoint())


def thumbnail(info: MediaInfo, size: int) -> QPixmap:
    """A square-ish thumbnail; videos get a play badge with their duration painted on."""
    pixmap = pil_to_pixmap(info.thumbnail).scaled(
        QSize(size, size),
        Qt.AspectRatioMode.KeepAspectRatioByExpanding,
        Qt.TransformationMode.SmoothTransformation,
    )
    # Centre-crop to a square so rows of thumbnails line up.
    x = max(0, (pixmap.width() - size) // 2)
    y = max(0, (pixmap.height() - size) // 2)
    pixmap = pixmap.copy(x, y, min(size, pixmap.width()), min(size, pixmap.height()))
    if info.kind == "video":
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        label = f"▶ {format_duration(info.duration_s)}".strip()
        font = QFont()
        font.setPixelSize(max(10, size // 7))
        font.setBold(True)
        painter.setFont(font)
        width = painter.fontMetrics().horizontalAdvance(label) + 10
        height = painter.fontMetrics().height() + 4
        rect = QRectF(4, pixmap.height() - height - 4, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 170))
        painter.drawRoundedRect(rect, 5, 5)
        painter.setPen(QColor("white"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, label)
        painter.end()
    return pixmap


def describe(info: MediaInfo | None, path: Path, name: str = "") -> str:
    name = name or path.name
    if info is None:
        return name
    if info.kind == "video":
        return f"video {name}, {format_duration(info.duration_s)}, {info.width}×{info.height}"
    if info.kind == "document":
        return f"document {name}, {info.summary}"
    return f"image {name}, {info.width}×{info.height}"


class AttachmentChip(QFrame):
    """One pending attachment in the composer: thumbnail (or a placeholder while probing) and ×."""

    remove_clicked = Signal(object)  # the path
    clicked = Signal(object)  # the path: open it to check it is the right file

    def __init__(self, path: Path, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("attachmentChip")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.path = path
        self.info: MediaInfo | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(2)
        self.image = QLabel(self)
        self.image.setFixedSize(CHIP_PX, CHIP_PX)
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setText("…")
        layout.addWidget(self.image)
        self.name = QLabel(self)
        self.name.setObjectName("chipLabel")
        self.name.setFixedWidth(CHIP_PX)
        self.name.setText(
            self.name.fontMetrics().elidedText(path.name, Qt.TextElideMode.ElideMiddle, CHIP_PX)
        )
        layout.addWidget(self.name)
        self.remove = QToolButton(self)
        self.remove.setObjectName("chipRemove")
        self.remove.setText("×")
        self.remove.setToolTip(f"Remove {path.name}")
        self.remove.setAccessibleName(f"Remove attachment {path.name}")
        self.remove.clicked.connect(lambda: self.remove_clicked.emit(self.path))
        self.remove.move(CHIP_PX - 12, 0)
        self.remove.raise_()
        self.setAccessibleName(f"Attachment {path.name}")
        self.setToolTip(str(path))

    def mouseReleaseEvent(self, event) -> None:
        """A click beside the × opens the file (the × button takes its own clicks)."""
        if released_inside(self, event):
            self.clicked.emit(self.path)
            return
        super().mouseReleaseEvent(event)

    def set_info(self, info: MediaInfo) -> None:
        self.info = info
        self.image.setText("")
        self.image.setPixmap(thumbnail(info, CHIP_PX))
        self.setAccessibleName(f"Attachment: {describe(info, self.path)}")
        self.setToolTip(f"{describe(info, self.path)}\nClick to open")


class _Tile(QLabel):
    """A thumbnail that opens its attachment on a click, or on Enter or Space when focused."""

    clicked = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def mouseReleaseEvent(self, event) -> None:
        if released_inside(self, event):
            self.clicked.emit()
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.clicked.emit()
            return
        super().keyPressEvent(event)


class AttachmentTiles(QWidget):
    """The attachments of a sent message, as a row of thumbnails.

    Each item is (path, info, name): ``info`` None shows the name until
    :meth:`on_thumbnails_probed` delivers the thumbnail (a stored chat's
    attachments are probed after it opens, off the GUI thread).
    """

    attachment_clicked = Signal(object, str)  # the file, its own name: open it

    def __init__(
        self, items: list[tuple[Path, MediaInfo | None, str]], parent=None, *, align_right: bool
    ) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        if align_right:
            layout.addStretch(1)
        self._tiles: list[tuple[Path, str, _Tile]] = []
        for path, info, name in items:
            tile = _Tile(self)
            tile.clicked.connect(lambda p=path, n=name: self.attachment_clicked.emit(p, n or p.name))
            tile.setObjectName("messageThumb")
            tile.setFixedSize(TILE_PX, TILE_PX)
            tile.setAlignment(Qt.AlignmentFlag.AlignCenter)
            tile.setWordWrap(True)
            self._tiles.append((path, name, tile))
            self._show(tile, path, info, name)
            layout.addWidget(tile)
        if not align_right:
            layout.addStretch(1)

    def _show(self, tile: _Tile, path: Path, info: MediaInfo | None, name: str) -> None:
        if info is not None:
            tile.setText("")
            tile.setPixmap(thumbnail(info, TILE_PX))
        else:
            tile.setText(
                tile.fontMetrics().elidedText(name or path.name, Qt.TextElideMode.ElideMiddle, TILE_PX * 2)
            )
        tile.setToolTip(f"{describe(info, path, name)}\nClick to open")
        tile.setAccessibleName(f"Attached {describe(info, path, name)}")
        tile.setAccessibleDescription("Press Enter to open")

    def paths_without_thumbnail(self) -> list[tuple[Path, str]]:
        return [(path, name) for path, name, tile in self._tiles if tile.pixmap().isNull()]

    def on_thumbnails_probed(self, path: Path, info: MediaInfo) -> None:
        for tile_path, name, tile in self._tiles:
            if tile_path == path:
                self._show(tile, path, info, name)

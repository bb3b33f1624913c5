"""Clicking an attachment opens it: images in a viewer window, videos and documents in their own app.

A thumbnail 132 px wide is not enough to read a screenshot that was sent; a user
clicks it and expects to see it whole, as in any chat app.  Images open in
:class:`ImageDialog`, fitted to the screen, with **Open in default app** and
**Save a copy…**; videos and documents open in the desktop's default app.

The store keeps attachments under hash names without an extension, which a
desktop cannot open by type, so a file opened outside the app is first given
its own name, in the cache folder (``opened/<hash>/<name>``: a hard link when
the disk allows, else a copy).  Decoding a large photo and copying a large video
take long enough to freeze a window, so both run on a one-thread pool
(:class:`~app.tasks.Tasks`); only the finished, screen-sized
image reaches the GUI thread.  Opening happens only on the user's click, and
only for the user's own files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from app import notices, paths
from app.qt import (
    QDesktopServices,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QImage,
    QLabel,
    QObject,
    QPixmap,
    QPushButton,
    QSize,
    Qt,
    QUrl,
    QVBoxLayout,
    QWidget,
)
from app.tasks import Tasks, UnexpectedError
from app.ui.media_widgets import pil_to_qimage
from engine.errors import EngineError
from engine.inputs.media import MAX_IMAGE_PIXELS, guess_kind

PREVIEW_MAX_SIDE = 4096  # decoded larger than this, a photo is scaled down off the GUI thread first


@dataclass(frozen=True, slots=True)
class Preview:
    """An image ready to show: the decoded picture (at most PREVIEW_MAX_SIDE) and its true size."""

    image: QImage
    width: int
    height: int
    format: str
    size_bytes: int


def format_bytes(count: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def load_preview(path: Path, max_side: int = PREVIEW_MAX_SIDE) -> Preview:
    """Decode an image for viewing, turned as its EXIF says and scaled to ``max_side`` (pool thread).

    Raises OSError with a sentence for the user when the file is gone or unreadable.
    """
    try:
        with warnings.catch_warnings():  # our own limit applies, as when the image was attached
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
        with opened:
            width, height, fmt = opened.width, opened.height, opened.format or path.suffix.lstrip(".").upper()
            if width * height > MAX_IMAGE_PIXELS:
                raise OSError(f"The image is larger than {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels")
            opened.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)  # decodes JPEGs reduced
            upright = ImageOps.exif_transpose(opened)
    except FileNotFoundError as error:
        raise OSError("The file is no longer there") from error
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as error:
        raise OSError(f"The image cannot be read ({error})") from error
    return Preview(pil_to_qimage(upright, alpha=True), width, height, fmt, path.stat().st_size)


def file_name_of(name: str, fallback: str) -> str:
    """An attachment's stored name as a plain file name, safe to offer in a dialog or write under.

    An imported chat can name its attachment anything (``/home/you/.bashrc``,
    ``..\\..\\x.png``, a control character): only the last part is kept, without the
    characters no desktop OS allows in a file name; ``fallback`` when nothing is left.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c not in '<>:"|?*' and ord(c) >= 32).strip(" .")
    return cleaned[:200] or fallback


def named_copy(path: Path, name: str, root: Path | None = None) -> Path:
    """``path`` under its own ``name``, so the desktop opens it by type (pool thread).

    A file that already has that name is used as it is.  Others get a hard link (or a
    copy) in ``root/<hash of the path>/<name>``, made once and reused while unchanged.
    """
    name = file_name_of(name, path.name)
    source = path.stat()  # FileNotFoundError when it is gone: nothing to hand to the desktop
    if path.name == name:
        return path
    root = root if root is not None else paths.cache_dir() / "opened"
    target = root / hashlib.sha256(str(path).encode()).hexdigest()[:16] / name
    if target.exists() and target.stat().st_size == source.st_size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(path, target)
    except OSError:  # another disk, or a file system without links
        shutil.copyfile(path, target)
    return target


class ImageDialog(QDialog):
    """One image, fitted to the window and refitted as it is resized; Esc closes it."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageViewer")
        self.setWindowTitle(name)
        self.setAccessibleName(f"Image {name}")
        self.name = name
        self._pixmap = QPixmap()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(10)
        self.picture = QLabel("Opening…", self)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(QSize(240, 160))
        layout.addWidget(self.picture, 1)
        row = QHBoxLayout()
        self.details = QLabel(self)
        self.details.setObjectName("faint")
        row.addWidget(self.details, 1)
        self.open_button = QPushButton("Open in default app", self)
        self.save_button = QPushButton("Save a copy…", self)
        close = QPushButton("Close", self)
        close.clicked.connect(self.close)
        for button in (self.open_button, self.save_button):
            button.setEnabled(False)
            row.addWidget(button)
        row.addWidget(close)
        layout.addLayout(row)

    def show_preview(self, preview: Preview) -> None:
        self._pixmap = QPixmap.fromImage(preview.image)
        self.details.setText(
            f"{self.name} · {preview.width} × {preview.height} · {preview.format} · "
            f"{format_bytes(preview.size_bytes)}"
        )
        self.picture.setAccessibleName(f"{self.name}, {preview.width} by {preview.height} pixels")
        for button in (self.open_button, self.save_button):
            button.setEnabled(True)
        screen = self.screen().availableGeometry().size() if self.screen() else QSize(1280, 800)
        fit = self._pixmap.size().scaled(
            QSize(int(screen.width() * 0.85), int(screen.height() * 0.8)), Qt.AspectRatioMode.KeepAspectRatio
        )
        if fit.width() > self._pixmap.width():
            fit = self._pixmap.size()  # small images are shown at their size, not blown up
        self.resize(max(fit.width() + 24, 420), fit.height() + 70)
        self._fit()

    def show_error(self, message: str) -> None:
        self.picture.setText(message)
        self.details.setText(self.name)

    def shown_size(self) -> QSize:
        pixmap = self.picture.pixmap()
        return QSize() if pixmap.isNull() else pixmap.deviceIndependentSize().toSize()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self._pixmap.isNull():
            return
        ratio = self.devicePixelRatioF()
        room = self.picture.size()
        target = self._pixmap.size().scaled(room * ratio, Qt.AspectRatioMode.KeepAspectRatio)
        if target.width() >= self._pixmap.width():
            scaled = QPixmap(self._pixmap)
        else:
            scaled = self._pixmap.scaled(
                target, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        scaled.setDevicePixelRatio(ratio)
        self.picture.setPixmap(scaled)


class AttachmentViewer(QObject):
    """Opens attachments on request (a click on a tile); one per window.

    What cannot be opened (the file is gone, no app opens it) is told to the
    user through :mod:`app.notices`, and shown in the viewer when one is open.
    """

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._window = parent
        self._tasks = Tasks(self, threads=1)

    def open(self, path: Path, name: str) -> ImageDialog | None:
        """Show an image in a viewer (returned); open anything else in the desktop's app."""
        name = name or path.name
        kind = guess_kind(name) if Path(name).suffix else guess_kind(path)
        if kind != "image":
            self.open_externally(path, name)
            return None
        dialog = ImageDialog(name, self._window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open_button.clicked.connect(lambda: self.open_externally(path, name))
        dialog.save_button.clicked.connect(lambda: self.save_copy(path, name))
        self._tasks.run(
            load_preview,
            path,
            on_done=dialog.show_preview,
            on_failed=lambda error: dialog.show_error(self._tell_failure("preview", path, name, error)),
            owner=dialog,  # closed (and deleted) before its picture arrives: nothing to show it in
        )
        dialog.show()
        return dialog

    def open_externally(self, path: Path, name: str) -> None:
        """Hand the file, under its own name, to the desktop's default app for its type."""
        self._tasks.run(
            named_copy,
            path,
            name,
            on_done=lambda copy: self._on_named_copy_done(copy, name),
            on_failed=lambda error: self._tell_failure("external", path, name, error),
        )

    def save_copy(self, path: Path, name: str, target: Path | None = None) -> None:
        """Copy the file where the user chooses (asked when ``target`` is None)."""
        if target is None:
            suggested = Path.home() / file_name_of(name, path.name)
            chosen, _ = QFileDialog.getSaveFileName(self._window, "Save a copy", str(suggested))
            if not chosen:
                return
            target = Path(chosen)
        self._tasks.run(
            shutil.copyfile,
            path,
            target,
            on_failed=lambda error: self._tell_failure("save", path, name, error),
        )

    def wait(self, timeout_ms: int = 10_000) -> bool:
        return self._tasks.wait(timeout_ms)

    def shutdown(self) -> None:
        self._tasks.shutdown()

    def _on_named_copy_done(self, copy: Path, name: str) -> None:
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(copy))):
            notices.error(f"No app on this computer opens “{name}”.", "Save a copy and open that.")

    @staticmethod
    def _tell_failure(job: str, path: Path, name: str, error: EngineError) -> str:
        """Tell the user why ``name`` could not be shown, opened or saved; returns the sentence."""
        cause = error.original if isinstance(error, UnexpectedError) else error
        if isinstance(cause, FileNotFoundError) or not path.exists():
            message = f"“{name}” is no longer there: it was moved or deleted."
        elif job == "save":
            message = f"A copy of “{name}” could not be saved: {cause}"
        else:
            message = f"“{name}” could not be opened: {cause}"
        notices.error(message)
        return message

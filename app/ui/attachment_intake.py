"""Files reaching the composer as attachments: the Attach dialog, a paste, a drop, a draft brought back.

However a file comes, it is treated the same way: a known extension is taken
at its word at once, and every file is probed off the GUI thread (thumbnail,
duration, or a refusal that names what is supported); a refused file leaves
the composer and the reason is said in the chat.  A pasted or dropped image
has no file, so it is saved as a PNG first.
"""

from __future__ import annotations

import time
from pathlib import Path

from app import paths
from app.media_probe import MediaInfo, attach_dialog_filter
from app.qt import QFileDialog, QImage, QMimeData, QObject, QWidget, Signal
from app.ui.composer import Composer, local_files
from app.ui.media_prober import MediaProber
from engine.inputs.documents import stop_reading


class AttachmentIntake(QObject):
    changed = Signal()  # the composer's attachments change (files added, one refused): the draft is saved
    refused = Signal(str)  # why a file cannot be attached, or a pasted image could not be saved

    def __init__(self, composer: Composer, dialog_parent: QWidget) -> None:
        super().__init__(dialog_parent)
        self._composer = composer
        self._dialog_parent = dialog_parent
        self.prober = MediaProber(self)
        self.prober.probed.connect(self._on_prober_probed)
        self.prober.probe_failed.connect(self._on_prober_probe_failed)
        composer.attach_clicked.connect(self._on_composer_attach_clicked)
        composer.edit.image_pasted.connect(self.add_image)
        composer.edit.files_dropped.connect(self.add_files)

    def add_files(self, files: list[Path]) -> None:
        self.changed.emit()
        for path in files:
            path = Path(path)
            # A known extension is taken at its word; any other file is recognised (or refused,
            # with what is supported) by the probe, which reads its first bytes off this thread.
            if self._composer.add_attachment(path) is not None:
                self.prober.probe(path)

    def add_image(self, image: QImage) -> None:
        """Attach a pasted or dropped image, saved as a PNG in the pasted-images folder."""
        path = (
            paths.pasted_dir() / f"pasted-{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10**6}.png"
        )
        if not image.save(str(path), "PNG"):
            self.refused.emit(
                "The pasted image could not be saved. Save it to a file and attach that instead."
            )
            return
        self.add_files([path])

    @staticmethod
    def accepts(mime: QMimeData) -> bool:
        """Whether a drag carries something to attach (local files, or an image)."""
        return bool(local_files(mime)) or mime.hasImage()

    def drop(self, mime: QMimeData) -> None:
        """Attach what was dropped: its local files, else its image."""
        files = local_files(mime)
        if files:
            self.add_files(files)
        elif mime.hasImage():
            self.add_image(mime.imageData())

    def shutdown(self) -> None:
        stop_reading()  # a hostile PDF being read must not keep the process alive after the window
        self.prober.shutdown()

    def _on_prober_probed(self, path: Path, info: MediaInfo) -> None:
        self._composer.set_attachment_info(path, info)

    def _on_prober_probe_failed(self, path: Path, message: str) -> None:
        self._composer.remove_attachment(path)
        self.changed.emit()  # a draft must not bring a file back that cannot be sent
        self.refused.emit(message)

    def _on_composer_attach_clicked(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self._dialog_parent,
            "Attach images, videos or documents",
            str(Path.home()),
            attach_dialog_filter(),
        )
        self.add_files([Path(f) for f in files])

"""Files reaching the composer as attachments: the Attach dialog, a paste, a drop, a draft brought back.

However a file comes, it is treated the same way: a known extension is taken
at its word at once, and every file is probed off the GUI thread (thumbnail,
duration, or a refusal that names what is supported); a refused file leaves
the composer and the reason is said in the chat (:mod:`app.notices`).  A pasted or dropped image
has no file, so it is saved as a PNG first.
"""

from __future__ import annotations

import time
from pathlib import Path

from app import notices, paths
from app.media_probe import attach_dialog_filter, probe
from app.qt import QFileDialog, QImage, QMimeData, QObject, QWidget, Signal
from app.tasks import Tasks, UnexpectedError
from app.ui.composer import Composer, local_files
from engine.errors import EngineError
from engine.inputs.documents import stop_reading


class AttachmentIntake(QObject):
    changed = Signal()  # the composer's attachments change (files added, one refused): the draft is saved

    def __init__(self, composer: Composer, dialog_parent: QWidget) -> None:
        super().__init__(dialog_parent)
        self._composer = composer
        self._dialog_parent = dialog_parent
        self.prober = Tasks(self, threads=1)  # one file at a time, in the order given
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
                self.prober.run(
                    probe,
                    path,
                    on_done=lambda info, path=path: self._composer.set_attachment_info(path, info),
                    on_failed=lambda error, path=path: self._refuse(path, error),
                )

    def add_image(self, image: QImage) -> None:
        """Attach a pasted or dropped image, saved as a PNG in the pasted-images folder."""
        path = (
            paths.pasted_dir() / f"pasted-{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10**6}.png"
        )
        if not image.save(str(path), "PNG"):
            notices.error(
                "The pasted image could not be saved.", "Save it to a file and attach that instead."
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
        self.prober.shutdown(10_000)

    def _refuse(self, path: Path, error: EngineError) -> None:
        """The probe refused ``path`` (an AttachmentError says why and what is supported)."""
        self._composer.remove_attachment(path)
        self.changed.emit()  # a draft must not bring a file back that cannot be sent
        if isinstance(error, UnexpectedError):
            cause = error.original
            notices.error(f"“{path.name}” could not be opened ({type(cause).__name__}: {cause}).")
        else:
            notices.error(str(error))

    def _on_composer_attach_clicked(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self._dialog_parent,
            "Attach images, videos or documents",
            str(Path.home()),
            attach_dialog_filter(),
        )
        self.add_files([Path(f) for f in files])

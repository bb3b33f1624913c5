"""Probes attachments on a pool thread and reports back on the GUI thread."""

from __future__ import annotations

import logging
from pathlib import Path

from app.media_probe import probe
from app.qt import QObject, QRunnable, QThreadPool, Signal
from engine.errors import AttachmentError

log = logging.getLogger(__name__)


class MediaProber(QObject):
    probed = Signal(object, object)  # Path, MediaInfo
    probe_failed = Signal(object, str)  # Path, user-facing message

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)

    def probe(self, path: Path) -> None:
        self._pool.start(QRunnable.create(lambda: self._run(path)))

    def wait(self, timeout_ms: int = 10_000) -> bool:
        return bool(self._pool.waitForDone(timeout_ms))

    def shutdown(self) -> None:
        self._pool.clear()
        self._pool.waitForDone(10_000)

    def _run(self, path: Path) -> None:
        # Runs on the pool thread; signals to GUI-thread receivers are queued.
        try:
            info = probe(path)
        except AttachmentError as error:
            self.probe_failed.emit(path, str(error))
        except Exception as error:
            log.exception("probing %s failed", path)
            self.probe_failed.emit(
                path, f"“{path.name}” could not be opened ({type(error).__name__}: {error})."
            )
        else:
            self.probed.emit(path, info)

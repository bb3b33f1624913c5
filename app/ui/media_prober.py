"""Probes attachments on a pool thread and reports back on the GUI thread."""

from __future__ import annotations

import logging
from pathlib import Path

from app.media_probe import probe
from app.qt import QObject, QRunnable, QThreadPool, Signal
from engine.errors import AttachmentError

log = logging.getLogger(__name__)


class _ProbeJob(QRunnable):
    """Owned by Python (auto-delete off): a pool that deletes a runnable behind the
    bindings' back leaves a stale wrapper that PySide may hand out for a later object."""

    def __init__(self, prober: MediaProber, path: Path, name: str) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self._prober = prober
        self.path = path
        self.name = name

    def run(self) -> None:
        self._prober._run(self.path, self.name)


class MediaProber(QObject):
    probed = Signal(object, object)  # Path, MediaInfo
    probe_failed = Signal(object, str)  # Path, user-facing message

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._jobs: set[_ProbeJob] = set()
        self.probed.connect(self._on_job_finished)
        self.probe_failed.connect(self._on_job_finished)

    def probe(self, path: Path, name: str = "") -> None:
        """Probe ``path`` (``name``: the file's own name when ``path`` is the store's copy)."""
        job = _ProbeJob(self, path, name)
        self._jobs.add(job)
        self._pool.start(job)

    def _on_job_finished(self, path: Path, _result) -> None:
        self._jobs = {job for job in self._jobs if job.path != path}

    def wait(self, timeout_ms: int = 10_000) -> bool:
        return bool(self._pool.waitForDone(timeout_ms))

    def shutdown(self) -> None:
        self._pool.clear()
        self._pool.waitForDone(10_000)

    def _run(self, path: Path, name: str) -> None:
        # Runs on the pool thread; signals to GUI-thread receivers are queued.
        try:
            info = probe(path, name)
        except AttachmentError as error:
            self.probe_failed.emit(path, str(error))
        except Exception as error:
            log.exception("probing %s failed", path)
            self.probe_failed.emit(
                path, f"“{path.name}” could not be opened ({type(error).__name__}: {error})."
            )
        else:
            self.probed.emit(path, info)

"""A model download on its own thread, driven from the GUI by signals.

``engine.hub.download.download`` blocks for as long as 50 GB take, so it runs on a
QThread of its own; the GUI asks with :meth:`DownloadTask.check` (plan only:
size, what is cached, free disk) or :meth:`DownloadTask.start`, and hears back
through past-tense signals.  Cancel is the engine's :class:`CancelToken`, a
thread-safe flag read for every piece received (a queued slot could only run
after the download ended).  Resuming is just starting again: the engine
continues the partial files it kept.

A token typed into the panel travels to the worker in the request, is handed
to ``engine.hub.download.save_token`` (which stores it in HF_HOME the way
huggingface_hub does) and is never logged or kept here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.model_choice import REAL_MODEL, FailureKind, failure_kind
from app.qt import QObject, QThread, Signal, Slot
from app.worker import ENGINE_THREADS
from engine.cancel import CancelToken
from engine.errors import EngineError

if TYPE_CHECKING:
    from engine.hub.download import DownloadPlan

log = logging.getLogger(__name__)

SHUTDOWN_WAIT_MS = 30_000


@dataclass(frozen=True, slots=True)
class DownloadCheck:
    """What the panel shows before anything is fetched."""

    plan: DownloadPlan
    free_bytes: int
    cache_dir: str


@dataclass(frozen=True, slots=True)
class _Request:
    repo: str
    fetch: bool  # False: plan only
    cancel: CancelToken
    token: str | None = field(default=None, repr=False)  # never in a repr, so never in a log line


class _DownloadWorker(QObject):
    """Lives on the download thread; its one slot runs a plan and, if asked, the download."""

    checked = Signal(object)  # DownloadCheck
    progressed = Signal(object)  # engine.hub.download.DownloadProgress
    finished = Signal(object)  # engine.hub.download.DownloadResult (complete)
    cancelled = Signal(object)  # engine.hub.download.DownloadResult (partial files kept)
    failed = Signal(str, str)  # user-facing message, FailureKind

    @Slot(object)
    def on_run_requested(self, request: _Request) -> None:
        # torch comes in with engine.hub.download (via engine.model.loader): imported here, on this thread.
        from engine.hub import download as dl

        try:
            if request.token is not None:
                dl.save_token(request.token)
            plan = dl.plan_download(request.repo)
            self.checked.emit(DownloadCheck(plan, dl.free_disk_bytes(), str(dl.hub_cache_dir())))
            if not request.fetch:
                return
            if request.cancel.cancelled:
                self.cancelled.emit(None)
                return
            result = dl.download(plan, progress=self.progressed.emit, cancel=request.cancel)
        except EngineError as error:
            log.warning("download of %s failed: %s", request.repo, error)
            self.failed.emit(str(error), failure_kind(error))
            return
        except Exception as error:
            log.exception("download of %s crashed", request.repo)
            self.failed.emit(
                f"The download stopped unexpectedly ({type(error).__name__}: {error}). "
                "Start it again: it resumes where it stopped.",
                "other",
            )
            return
        (self.cancelled if result.cancelled else self.finished).emit(result)


class DownloadTask(QObject):
    """The GUI's handle on one repo's download; one request runs at a time."""

    checked = Signal(object)  # DownloadCheck
    progressed = Signal(object)  # DownloadProgress
    finished = Signal(object)  # DownloadResult
    cancelled = Signal(object)  # DownloadResult or None (cancelled before the first byte)
    failed = Signal(str, str)  # message, FailureKind
    run_requested = Signal(object)

    def __init__(self, repo: str = REAL_MODEL, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.repo = repo
        self._thread: QThread | None = None
        self._worker: _DownloadWorker | None = None
        self._cancel = CancelToken()
        self._fetching = False
        self.running = False

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        self._thread = QThread()
        self._thread.setObjectName("download")
        self._worker = _DownloadWorker()
        self._worker.moveToThread(self._thread)
        self.run_requested.connect(self._worker.on_run_requested)
        self._worker.checked.connect(self._on_worker_checked)
        self._worker.progressed.connect(self.progressed)
        self._worker.finished.connect(self._on_worker_finished)
        self._worker.cancelled.connect(self._on_worker_cancelled)
        self._worker.failed.connect(self._on_worker_failed)
        self._thread.finished.connect(self._worker.deleteLater)
        ENGINE_THREADS.add(self._thread)  # the tests' leak guard watches it too
        self._thread.start()

    def check(self) -> None:
        """Plan only: size, what is cached, free disk (reported by ``checked``) or a failure."""
        self._run(fetch=False, token=None)

    def start(self, token: str | None = None) -> None:
        """Download, or resume; with ``token``, save it first (huggingface_hub's login)."""
        self._run(fetch=True, token=token)

    def _run(self, *, fetch: bool, token: str | None) -> None:
        if self.running:
            return
        self._ensure_thread()
        self.running = True
        self._fetching = fetch
        self._cancel = CancelToken()
        self.run_requested.emit(_Request(self.repo, fetch, self._cancel, token))

    def cancel(self) -> None:
        """Stop at the next piece received; the partial file stays for resume. Any thread."""
        self._cancel.cancel()

    def _on_worker_checked(self, check: DownloadCheck) -> None:
        if not self._fetching:
            self.running = False
        self.checked.emit(check)

    def _on_worker_finished(self, result) -> None:
        self.running = False
        self.finished.emit(result)

    def _on_worker_cancelled(self, result) -> None:
        self.running = False
        self.cancelled.emit(result)

    def _on_worker_failed(self, message: str, kind: FailureKind) -> None:
        self.running = False
        self.failed.emit(message, kind)

    def shutdown(self, timeout_ms: int = SHUTDOWN_WAIT_MS, *, wait: bool = True) -> bool:
        """Cancel and stop the thread's event loop; with ``wait``, wait for it. True when it stopped.

        Without ``wait`` the thread ends on its own within a piece of the download
        (or when a Hub request in flight returns); call again with ``wait`` before
        the application exits.
        """
        self._cancel.cancel()
        if self._thread is None or not self._thread.isRunning():
            return True
        self._thread.quit()
        if not wait:
            return False
        stopped = bool(self._thread.wait(timeout_ms))
        if not stopped:
            log.error("the download thread did not stop within %d ms", timeout_ms)
        return stopped

"""A model download on its own thread, driven from the GUI by signals.

``engine.hub.download.download`` blocks for as long as 50 GB take, so it runs
off the GUI thread through :mod:`app.tasks`, like every other blocking call:
the GUI asks with :meth:`DownloadTask.check` (plan only: size, what is cached,
free disk) or :meth:`DownloadTask.start`, and hears back through past-tense
signals.  The plan and every piece received come back as the call's progress;
cancel is the call's :class:`CancelToken`, a thread-safe flag read for every
piece received (a queued slot could only run after the download ended).
Resuming is just starting again: the engine continues the partial files it kept.

A token typed into the panel travels to the worker in the request, is handed
to ``engine.hub.download.save_token`` (which stores it in HF_HOME the way
huggingface_hub does) and is never logged or kept here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.model_choice import REAL_MODEL, failure_kind
from app.qt import QObject, Signal
from app.tasks import SHUTDOWN_WAIT_MS, Task, Tasks, UnexpectedError
from engine.cancel import CancelToken
from engine.errors import EngineError

if TYPE_CHECKING:
    from engine.hub.download import DownloadPlan, DownloadResult

log = logging.getLogger(__name__)


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
    token: str | None = field(default=None, repr=False)  # never in a repr, so never in a log line


def check_and_fetch(request: _Request, *, progress: Callable[[object], None], cancel: CancelToken):
    """On a pool thread: plan (reported through ``progress`` as a DownloadCheck), then, if asked, download.

    Returns the DownloadResult (``cancelled`` when stopped, partial files kept),
    or None for a plan only or a cancel before the first byte.
    """
    # torch comes in with engine.hub.download (via engine.model.loader): imported here, off the GUI thread.
    from engine.hub import download as dl

    if request.token is not None:
        dl.save_token(request.token)
    plan = dl.plan_download(request.repo)
    progress(DownloadCheck(plan, dl.free_disk_bytes(), str(dl.hub_cache_dir())))
    if not request.fetch or cancel.cancelled:
        return None
    return dl.download(plan, progress=progress, cancel=cancel)


class DownloadTask(QObject):
    """The GUI's handle on one repo's download; one request runs at a time."""

    checked = Signal(object)  # DownloadCheck
    progressed = Signal(object)  # DownloadProgress
    finished = Signal(object)  # DownloadResult
    cancelled = Signal(object)  # DownloadResult or None (cancelled before the first byte)
    failed = Signal(str, str)  # message, FailureKind

    def __init__(self, repo: str = REAL_MODEL, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.repo = repo
        self._tasks = Tasks(self, threads=1)
        self._task: Task | None = None
        self.running = False

    def check(self) -> None:
        """Plan only: size, what is cached, free disk (reported by ``checked``) or a failure."""
        self._run(fetch=False, token=None)

    def start(self, token: str | None = None) -> None:
        """Download, or resume; with ``token``, save it first (huggingface_hub's login)."""
        self._run(fetch=True, token=token)

    def _run(self, *, fetch: bool, token: str | None) -> None:
        if self.running:
            return
        self.running = True
        self._task = self._tasks.run(
            check_and_fetch,
            _Request(self.repo, fetch, token),
            on_progress=lambda event: self._on_progress(event, fetch),
            on_done=lambda result: self._on_done(result, fetch),
            on_failed=self._on_failed,
            cancellable=True,
        )

    def cancel(self) -> None:
        """Stop at the next piece received; the partial file stays for resume."""
        if self._task is not None and self._task.cancel():  # dropped before it started
            self._on_done(None, fetch=True)

    def _on_progress(self, event: object, fetch: bool) -> None:
        if isinstance(event, DownloadCheck):
            if not fetch:
                self.running = False
            self.checked.emit(event)
        else:
            self.progressed.emit(event)

    def _on_done(self, result: DownloadResult | None, fetch: bool) -> None:
        if not fetch:
            return  # the plan was reported by checked
        self.running = False
        if result is None or result.cancelled:
            self.cancelled.emit(result)
        else:
            self.finished.emit(result)

    def _on_failed(self, error: EngineError) -> None:
        self.running = False
        if isinstance(error, UnexpectedError):
            cause = error.original
            message = (
                f"The download stopped unexpectedly ({type(cause).__name__}: {cause}). "
                "Start it again: it resumes where it stopped."
            )
            self.failed.emit(message, "other")
        else:
            log.warning("download of %s failed: %s", self.repo, error)
            self.failed.emit(str(error), failure_kind(error))

    def shutdown(self, timeout_ms: int = SHUTDOWN_WAIT_MS, *, wait: bool = True) -> bool:
        """Cancel; with ``wait``, wait for the download to stop. True when it stopped.

        Without ``wait`` the call ends on its own within a piece of the download
        (or when a Hub request in flight returns); call again with ``wait`` before
        the application exits.
        """
        stopped = self._tasks.shutdown(timeout_ms if wait else 0)
        if wait and not stopped:
            log.error("the download did not stop within %d ms", timeout_ms)
        return stopped

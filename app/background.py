"""Short blocking calls (GPU detection, cache scans, folder checks) off the GUI thread.

They import torch or read many files, so they must not run on the GUI thread;
but they finish on their own within seconds, so a pool and two signals are
enough (the download, which is long and cancellable, has its own thread in
:mod:`app.download_task`).  Results come back as ``succeeded(tag, result)`` or
``failed(tag, error)`` on the GUI thread.  :meth:`BackgroundCalls.shutdown`
waits for running calls so nothing reports to a deleted dialog.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from app.qt import QObject, QRunnable, QThreadPool, Signal
from engine.errors import EngineError

log = logging.getLogger(__name__)

SHUTDOWN_WAIT_MS = 30_000  # a first torch import can take this long on a slow disk


class _Call(QRunnable):
    """Owned by Python (auto-delete off), as in app.ui.media_prober, so PySide keeps no stale wrapper."""

    def __init__(self, owner: BackgroundCalls, tag: str, fn: Callable[..., Any], args: tuple) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self._owner = owner
        self.tag = tag
        self._fn = fn
        self._args = args

    def run(self) -> None:
        try:
            result = self._fn(*self._args)
        except EngineError as error:
            log.info("%s failed: %s", self.tag, error)
            self._owner.report(self, None, error)
        except Exception as error:
            log.exception("%s failed", self.tag)
            self._owner.report(self, None, error)
        else:
            self._owner.report(self, result, None)


class BackgroundCalls(QObject):
    succeeded = Signal(str, object)  # tag, result
    failed = Signal(str, object)  # tag, exception (EngineError: its str() is for the user)

    def __init__(self, parent: QObject | None = None, threads: int = 2) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._calls: set[_Call] = set()
        self._closed = False

    def call(self, tag: str, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the pool; the answer arrives as a signal tagged ``tag``."""
        if self._closed:
            return
        job = _Call(self, tag, fn, args)
        self._calls.add(job)
        self._pool.start(job)

    def report(self, job: _Call, result: Any, error: BaseException | None) -> None:
        """Called on the pool thread; the signals are queued to GUI-thread receivers."""
        self._calls.discard(job)
        if self._closed:
            return
        if error is None:
            self.succeeded.emit(job.tag, result)
        else:
            self.failed.emit(job.tag, error)

    @property
    def busy(self) -> bool:
        return bool(self._calls)

    def wait(self, timeout_ms: int = SHUTDOWN_WAIT_MS) -> bool:
        return bool(self._pool.waitForDone(timeout_ms))

    def shutdown(self, timeout_ms: int = SHUTDOWN_WAIT_MS) -> bool:
        """Drop queued calls, wait for running ones; later results are ignored. True when all stopped."""
        self._closed = True
        self._pool.clear()
        return self.wait(timeout_ms)

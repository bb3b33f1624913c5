"""The one way to run a blocking call off the GUI thread, with its answer on the GUI thread.

A component that must not freeze the window (a GPU probe that imports torch, a
cache scan, an export, a 50 GB download) owns a :class:`Tasks` and calls
:meth:`Tasks.run` with the function, its arguments and its own callbacks::

    self._tasks = Tasks(self, threads=1)
    self._tasks.run(scan_models, folders, on_done=self._fill, on_failed=self._show_problem)

Each call carries its own callbacks, so no caller branches on a tag.  The
callbacks always run on the GUI thread, in order (every progress report before
the answer), and never after the owner was destroyed or :meth:`Tasks.shutdown`
ran: a late answer cannot reach a closed dialog.  A long call takes a
``progress`` and a ``cancel`` keyword (see :meth:`Tasks.run`): it reports with
the first and checks the second between pieces of work, as superqt's generator
workers check their quit flag (a queued "stop" could only arrive after the
call returned).

Failures reach ``on_failed`` as an :class:`~engine.errors.EngineError`, whose
``str()`` is the sentence to show: an ``EngineError`` (``StoreError`` included)
as raised, anything else as an :class:`UnexpectedError` naming the log file,
where the traceback went.

The engine's own thread (:mod:`app.worker`) is the one exception: the model
must be driven from a single thread that streams events, so it keeps a
dedicated QThread (docs/architecture.md, "Off the GUI thread").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from app.logs import log_file
from app.qt import QObject, QRunnable, Qt, QThreadPool, Signal, Slot
from engine.cancel import CancelToken
from engine.errors import EngineError

log = logging.getLogger(__name__)

SHUTDOWN_WAIT_MS = 30_000  # a first torch import can take this long on a slow disk

Callback = Callable[..., Any] | None


class UnexpectedError(EngineError):
    """A call failed with something that is not an EngineError: a bug, whose traceback is in the log."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(
            f"Something went wrong unexpectedly ({type(original).__name__})",
            fix=f"The details are in the log file, {log_file()}",
        )
        self.original = original


class _Deliveries(QObject):
    """Lives on the GUI thread; a callable emitted from any thread runs there (a queued connection)."""

    delivered = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.delivered.connect(self.on_delivered, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def on_delivered(self, deliver: Callable[[], None]) -> None:
        deliver()


_deliveries: _Deliveries | None = None


def _post_to_gui(deliver: Callable[[], None]) -> None:
    assert _deliveries is not None  # made by the first Tasks, on the GUI thread
    _deliveries.delivered.emit(deliver)


def _ensure_deliveries() -> None:
    """One application-wide bridge, made on the GUI thread by the first :class:`Tasks` and never
    deleted, so a call finishing late always has somewhere to post."""
    global _deliveries
    if _deliveries is None:
        _deliveries = _Deliveries()


class Task:
    """The handle of one call: cancel it, wait for it, ask whether it ended."""

    def __init__(self, tasks: Tasks) -> None:
        self.cancel_token = CancelToken()
        self._tasks = tasks
        self._ended = threading.Event()  # the function returned or raised (or never started)
        self._job: _Job | None = None
        self.alive = [True]  # False once the call's own owner (see Tasks.run) was destroyed

    def cancel(self) -> bool:
        """Drop the call if it has not started (True; no callback follows); else raise its ``cancel`` flag.

        A running call that checks the flag stops early and its answer (a partial
        result, or the error it raised) is still delivered: a cancelled download
        reports what it kept.
        """
        self.cancel_token.cancel()
        job = self._job
        return job is not None and self._tasks.take(job)

    @property
    def cancelled(self) -> bool:
        return self.cancel_token.cancelled

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def wait(self, timeout_ms: int = SHUTDOWN_WAIT_MS) -> bool:
        """Block until the function returned (callbacks are delivered later, by the event loop)."""
        return self._ended.wait(timeout_ms / 1000)


class _Job(QRunnable):
    """Owned by Python (auto-delete off): a pool that deletes a runnable behind the bindings' back
    leaves a stale wrapper that PySide may hand out for a later object."""

    def __init__(
        self,
        task: Task,
        call: Callable[[], Any],
        on_done: Callback,
        on_failed: Callback,
    ) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.task = task
        self._call = call
        self._on_done = on_done
        self._on_failed = on_failed

    def run(self) -> None:
        name = getattr(self._call, "__name__", "call")
        try:
            result = self._call()
        except EngineError as error:
            log.info("%s failed: %s", name, error)
            self._finish(self._on_failed, error)
        except Exception as error:
            log.exception("%s failed unexpectedly", name)
            self._finish(self._on_failed, UnexpectedError(error))
        else:
            self._finish(self._on_done, result)

    def _finish(self, callback: Callback, value: Any) -> None:
        # The job is forgotten on the GUI thread, after this run() returned: dropping the last
        # reference to a runnable here, while the pool still holds it, would free it under the pool.
        # Posted before ``ended`` is set, so whoever waited for the call finds its answer queued.
        _post_to_gui(self.task._tasks.delivery(self.task, callback, value, finished=self))
        self.task._ended.set()


class Tasks(QObject):
    """A pool of ``threads`` threads whose answers go to the owner (``parent``) on the GUI thread.

    One thread runs the calls in the order given (formulas, exports that must
    not overlap); more let quick calls pass a slow one.
    """

    def __init__(self, parent: QObject, threads: int = 2) -> None:
        super().__init__(parent)
        _ensure_deliveries()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._lock = threading.Lock()
        self._jobs: set[_Job] = set()
        self._open = [True]  # a list, so the destroyed handler needs no reference to self
        self.destroyed.connect(lambda *_, state=self._open: state.__setitem__(0, False))

    def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callback = None,
        on_failed: Callback = None,
        on_progress: Callback = None,
        cancellable: bool = False,
        owner: QObject | None = None,
    ) -> Task:
        """Run ``fn(*args)`` on the pool; ``on_done(result)`` or ``on_failed(error)`` follows on the GUI
        thread (``on_failed`` left out: the failure is only logged).

        With ``on_progress``, ``fn`` is called with a ``progress=`` keyword: each
        value it reports reaches ``on_progress`` on the GUI thread, in order.
        With ``cancellable``, ``fn`` gets ``cancel=`` (a CancelToken) to check
        between pieces of work; :meth:`Task.cancel` raises it.
        With ``owner`` (a dialog waiting for this one answer), the callbacks are
        also dropped once ``owner`` is destroyed, without waiting for the call.
        """
        task = Task(self)
        if owner is not None:
            owner.destroyed.connect(lambda *_, alive=task.alive: alive.__setitem__(0, False))
        kwargs: dict[str, Any] = {}
        if on_progress is not None:
            kwargs["progress"] = lambda value: self._report(task, on_progress, value)
        if cancellable:
            kwargs["cancel"] = task.cancel_token

        def call() -> Any:
            return fn(*args, **kwargs)

        call.__name__ = getattr(fn, "__name__", "call")
        if not self._open[0]:
            task.cancel_token.cancel()
            task._ended.set()
            return task
        job = _Job(task, call, on_done, on_failed)
        task._job = job
        with self._lock:
            self._jobs.add(job)
        self._pool.start(job)
        return task

    @property
    def busy(self) -> bool:
        """Calls are queued or running (an answer may still be on its way to the event loop)."""
        with self._lock:
            return any(not job.task.ended for job in self._jobs)

    def wait(self, timeout_ms: int = SHUTDOWN_WAIT_MS) -> bool:
        """Block until every queued and running call returned; True when they did in time."""
        return bool(self._pool.waitForDone(timeout_ms))

    def shutdown(self, timeout_ms: int = SHUTDOWN_WAIT_MS) -> bool:
        """Drop queued calls, cancel running ones and wait for them; no callback follows.

        True when every call stopped within ``timeout_ms`` (0: do not wait).
        """
        self._open[0] = False
        with self._lock:
            jobs = list(self._jobs)
        for job in jobs:
            job.task.cancel_token.cancel()
            self.take(job)
        stopped = self.wait(timeout_ms)
        if not stopped and timeout_ms > 0:
            log.error("background calls did not stop within %d ms", timeout_ms)
        return stopped

    # --- called by the jobs ------------------------------------------------------------------------

    def take(self, job: _Job) -> bool:
        """Remove ``job`` if it has not started; True when it was removed."""
        if self._pool.tryTake(job):
            self.forget(job)
            job.task._ended.set()
            return True
        return False

    def forget(self, job: _Job) -> None:
        job.task._job = None  # no task <-> job cycle left for a collection on another thread
        with self._lock:
            self._jobs.discard(job)

    def delivery(
        self, task: Task, callback: Callback, value: Any, *, finished: _Job | None = None
    ) -> Callable[[], None]:
        """What the GUI thread runs: ``callback(value)``, unless the owner is gone or shut us down.

        ``finished``: the job that ended, forgotten first.  Only Python state is
        used, as this may run after the owner (and this object) were deleted.
        """
        state, alive = self._open, task.alive

        def deliver() -> None:
            if finished is not None:
                self.forget(finished)
            if state[0] and alive[0] and callback is not None:
                callback(value)

        return deliver

    def _report(self, task: Task, on_progress: Callable[[Any], Any], value: Any) -> None:
        """On the pool thread: queue one progress report behind the earlier ones."""
        _post_to_gui(self.delivery(task, on_progress, value))

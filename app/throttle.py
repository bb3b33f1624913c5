"""Call a function at most once per interval, always with a trailing call.

Qt does not merge queued signals, so a fast producer (a denoising step every
millisecond on a small model) would otherwise cost one markdown render and one
re-layout per event.  Like qutebrowser's ``misc/throttle.py``: the first call in
a quiet period runs at once (no added latency), calls inside the interval are
collapsed into one trailing call at the end of it, so the last state is always
shown and nothing runs more often than ``interval_ms``.

With ``adaptive`` the interval also stretches to twice the callee's last run
time, so a frame that got expensive (a very long code block still being
written) can never take more than half of the GUI thread's time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from app.qt import QObject, Qt, QTimer

SCREEN_RATE_MS = 16  # ~60 Hz: no point in laying text out faster than the screen refreshes


class Throttle(QObject):
    """A throttled, argument-less callable (the callee reads the latest state itself)."""

    def __init__(
        self,
        func: Callable[[], None],
        interval_ms: int = SCREEN_RATE_MS,
        parent: QObject | None = None,
        *,
        adaptive: bool = False,
    ) -> None:
        super().__init__(parent)
        self._func = func
        self._interval_ms = interval_ms
        self._adaptive = adaptive
        self.last_duration_ms = 0.0
        self._pending = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._on_timer_timeout)

    @property
    def pending(self) -> bool:
        return self._pending

    def __call__(self) -> None:
        # After every call the timer runs for one interval: while it runs, calls only
        # mark a trailing call as pending.
        if self._timer.isActive():
            self._pending = True
        else:
            self._fire()

    def flush(self) -> None:
        """Run a pending trailing call now (e.g. before showing the final text)."""
        self._timer.stop()
        if self._pending:
            self._fire()

    def cancel(self) -> None:
        """Drop a pending call."""
        self._timer.stop()
        self._pending = False

    def _on_timer_timeout(self) -> None:
        if self._pending:
            self._fire()

    def _fire(self) -> None:
        self._pending = False
        started = time.perf_counter()
        try:
            self._func()
        finally:
            self.last_duration_ms = (time.perf_counter() - started) * 1000
            interval = self._interval_ms
            if self._adaptive:
                interval = max(interval, round(2 * self.last_duration_ms))
            # Keep the interval closed for the next caller even if no call is pending.
            self._timer.start(interval)

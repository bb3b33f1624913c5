"""Call a function at most once per interval, always with a trailing call.

Qt does not merge queued signals, so a fast producer (a denoising step every
millisecond on a small model) would otherwise cost one markdown render and one
re-layout per event.  Like qutebrowser's ``misc/throttle.py``: the first call in
a quiet period runs at once (no added latency), calls inside the interval are
collapsed into one trailing call at the end of it, so the last state is always
shown and nothing runs more often than ``interval_ms``.

With ``adaptive`` the interval also stretches to twice what the last frame
cost, so a frame that got expensive (a very long code block still being
written, the token grid) can never take more than half of the GUI thread's
time.  A frame's cost is not only the call: the layout and the paint it asks
for run after it, on the event loop (timing the call alone saw 1–3 ms while the
token grid's paint took 15–73 ms, so the throttle never backed off; issue #18).
So the cost is measured from the call's start to a zero-delay timer started
after it, which Qt runs only once the events posted meanwhile (the layout and
paint requests) were handled.
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
        self.last_duration_ms = 0.0  # the last frame: the call, its layout and paint
        self.last_call_ms = 0.0  # the call alone
        self._pending = False
        self._started = 0.0
        self._settled = QTimer(self)  # fires once the last frame's layout and paint are done
        self._settled.setSingleShot(True)
        self._settled.setInterval(0)
        self._settled.timeout.connect(self._on_settled_timeout)
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
        self._started = time.perf_counter()
        try:
            self._func()
        finally:
            self.last_call_ms = (time.perf_counter() - self._started) * 1000
            self.last_duration_ms = max(self.last_duration_ms, self.last_call_ms)
            # Keep the interval closed for the next caller even if no call is pending.
            self._timer.start(self._interval_for(self.last_duration_ms))
            self._settled.start()

    def _on_settled_timeout(self) -> None:
        """The frame is on screen: its real cost is known, and the interval after it stretches to match."""
        self.last_duration_ms = (time.perf_counter() - self._started) * 1000
        if self._adaptive and self._timer.isActive():
            spent_ms = self.last_duration_ms
            self._timer.start(max(0, self._interval_for(self.last_duration_ms) - round(spent_ms)))

    def _interval_for(self, cost_ms: float) -> int:
        if self._adaptive:
            return max(self._interval_ms, round(2 * cost_ms))
        return self._interval_ms

"""Formulas drawn on a background thread, so opening a math-heavy chat never waits for matplotlib.

The window's renderer asks through :meth:`MathPool.request` for every formula
it finds undrawn (it shows the TeX source meanwhile).  One worker thread draws
them in order (mathtext is not thread-safe, and one thread keeps the order
the reader sees); duplicates in flight are asked for once.  ``drawn`` fires
once per burst (after :data:`COALESCE_MS` of quiet or a full batch), and the
window re-renders only the views that showed a formula as source.
"""

from __future__ import annotations

from app.background import SHUTDOWN_WAIT_MS, BackgroundCalls
from app.math_images import render_math
from app.qt import QObject, QTimer, Signal

COALESCE_MS = 30


class MathPool(QObject):
    drawn = Signal()  # some requested formulas are now drawn (or known not to be drawable)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._calls = BackgroundCalls(self, threads=1)
        self._calls.succeeded.connect(self._on_calls_done)
        self._calls.failed.connect(self._on_calls_done)
        self._in_flight: set[str] = set()  # job tags: repr of the formula's arguments
        self._emit = QTimer(self)
        self._emit.setSingleShot(True)
        self._emit.setInterval(COALESCE_MS)
        self._emit.timeout.connect(self.drawn)

    def request(self, args: tuple[str, bool, str, float]) -> None:
        tag = repr(args)
        if tag in self._in_flight:
            return
        self._in_flight.add(tag)
        self._calls.call(tag, self._draw, args)

    @property
    def busy(self) -> bool:
        """Formulas are being drawn, or drawn ones are not announced yet."""
        return bool(self._in_flight) or self._emit.isActive()

    def shutdown(self) -> bool:
        self._emit.stop()
        return self._calls.shutdown(SHUTDOWN_WAIT_MS)

    @staticmethod
    def _draw(args: tuple) -> tuple:
        render_math(*args)
        return args

    def _on_calls_done(self, tag: str, _result) -> None:
        self._in_flight.discard(tag)
        if not self._emit.isActive() or not self._in_flight:
            self._emit.start()

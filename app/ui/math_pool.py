"""Formulas drawn on a background thread, so opening a math-heavy chat never waits for matplotlib.

The window's renderer asks through :meth:`MathPool.request` for every formula
it finds undrawn (it shows the TeX source meanwhile).  One worker thread draws
them in order (mathtext is not thread-safe, and one thread keeps the order
the reader sees); duplicates in flight are asked for once.  ``drawn`` fires
once per burst (after :data:`COALESCE_MS` of quiet or a full batch), and the
window re-renders only the views that showed a formula as source.
"""

from __future__ import annotations

from app.math_images import render_math
from app.qt import QObject, QTimer, Signal
from app.tasks import SHUTDOWN_WAIT_MS, Tasks

COALESCE_MS = 30


class MathPool(QObject):
    drawn = Signal()  # some requested formulas are now drawn (or known not to be drawable)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks = Tasks(self, threads=1)
        self._in_flight: set[tuple] = set()  # the arguments of the formulas being drawn
        self._emit = QTimer(self)
        self._emit.setSingleShot(True)
        self._emit.setInterval(COALESCE_MS)
        self._emit.timeout.connect(self.drawn)

    def request(self, args: tuple[str, bool, str, float]) -> None:
        if args in self._in_flight:
            return
        self._in_flight.add(args)
        # Drawn or not (render_math remembers a formula it cannot draw), the views are told.
        self._tasks.run(
            render_math,
            *args,
            on_done=lambda _image, args=args: self._on_drawn(args),
            on_failed=lambda _error, args=args: self._on_drawn(args),
        )

    @property
    def busy(self) -> bool:
        """Formulas are being drawn, or drawn ones are not announced yet."""
        return bool(self._in_flight) or self._emit.isActive()

    def shutdown(self) -> bool:
        self._emit.stop()
        return self._tasks.shutdown(SHUTDOWN_WAIT_MS)

    def _on_drawn(self, args: tuple) -> None:
        self._in_flight.discard(args)
        if not self._emit.isActive() or not self._in_flight:
            self._emit.start()

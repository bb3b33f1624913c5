"""Python's cyclic garbage collector, run on the GUI thread only.

Automatic collection runs on whichever thread happens to cross the allocation
threshold.  The engine thread allocates all the time, and so do the download
and background-call threads; when one of them collects a reference cycle that
holds a PySide wrapper (a closed dialog's lambda, a widget's slot), the Qt
object is destroyed on the wrong thread, which can crash the process (seen
here: a segfault in the first-run tests, "Garbage-collecting" on a pool thread).
qutebrowser hit the same and answers it the same way (``misc/utils.py``'s
garbage collector): turn automatic collection off and collect from a timer
on the GUI thread, by the same generation thresholds Python would use.
Reference counting still frees everything that is not in a cycle at once,
tensors included.
"""

from __future__ import annotations

import gc
import logging

from app.qt import QObject, QTimer

log = logging.getLogger(__name__)

INTERVAL_MS = 1_000


class GuiThreadGarbageCollector(QObject):
    """A GUI-thread timer; :meth:`start` turns automatic collection off, :meth:`stop` back on."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self.on_timer_timeout)
        self._was_enabled = gc.isenabled()

    def start(self) -> GuiThreadGarbageCollector:
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer.start()
        return self

    def stop(self) -> None:
        """Back to automatic collection (at exit, once the worker threads are gone, or after a test)."""
        self._timer.stop()
        if self._was_enabled:
            gc.enable()

    def on_timer_timeout(self) -> int:
        """Collect the oldest generation whose count passed its threshold; returns it (-1: none)."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        generation = -1
        for level in range(3):
            if counts[level] > thresholds[level]:
                generation = level
        if generation >= 0:
            found = gc.collect(generation)
            if found:
                log.debug("collected %d objects from generation %d", found, generation)
        return generation

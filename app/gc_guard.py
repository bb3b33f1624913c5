"""Python's cyclic garbage collector, run on the GUI thread only, a few milliseconds at a time.

Automatic collection runs on whichever thread happens to cross the allocation
threshold.  The engine thread allocates all the time, and so do the download
and background-call threads; when one of them collects a reference cycle that
holds a PySide wrapper (a closed dialog's lambda, a widget's slot), the Qt
object is destroyed on the wrong thread, which can crash the process (seen
here: a segfault in the first-run tests, "Garbage-collecting" on a pool thread).
qutebrowser hit the same and answers it the same way (``misc/utils.py``'s
garbage collector): turn automatic collection off and collect from a timer
on the GUI thread.  Reference counting still frees everything that is not in a
cycle at once, tensors included.

A collection stops the GUI thread for as long as it takes, which is about as
long as the generations it scans are large.  Once a second was too rarely: the
engine thread allocates 100 K+ objects a second while it loads or generates, so
young passes took 43–85 ms and full ones (over torch's and transformers'
modules) 95–375 ms (issue #18).  So:

* everything alive at :meth:`start` (the imported modules, the window's
  classes) is frozen (``gc.freeze``): never scanned again;
* the timer runs every :data:`INTERVAL_MS`, so a young pass finds a few
  thousand objects, not a hundred thousand;
* a generation larger than :data:`SCAN_LIMIT` objects is frozen instead of
  scanned.  That is a burst of objects that live on (an import, a model being
  built, a chat being opened); freezing them is O(1).  The price: a cycle among
  them that dies later is not freed; it is small next to what was frozen (a
  model's weights do not wait for the collector: ``Engine.close()`` moves them to
  the meta device).  :meth:`stop` unfreezes everything.
"""

from __future__ import annotations

import gc
import logging

from app.qt import QObject, QTimer

log = logging.getLogger(__name__)

INTERVAL_MS = 50
SCAN_LIMIT = 10_000  # objects a pass may scan (~1-4 ms here); a larger generation is frozen
FROZEN = 3  # on_timer_timeout's answer when a generation was frozen rather than collected


class GuiThreadGarbageCollector(QObject):
    """A GUI-thread timer; :meth:`start` turns automatic collection off, :meth:`stop` back on."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self.on_timer_timeout)
        self._was_enabled = gc.isenabled()
        self.frozen = 0  # how many times a generation was frozen rather than scanned

    def start(self) -> GuiThreadGarbageCollector:
        self._was_enabled = gc.isenabled()
        gc.disable()
        gc.freeze()  # what exists now lives as long as the app: never scan it again
        self._timer.start()
        return self

    def stop(self) -> None:
        """Back to automatic collection (at exit, once the worker threads are gone, or after a test);
        what was frozen can be collected again."""
        self._timer.stop()
        gc.unfreeze()
        if self._was_enabled:
            gc.enable()

    def on_timer_timeout(self) -> int:
        """Collect the oldest generation whose count passed its threshold; returns it (-1: none,
        :data:`FROZEN`: the generations were too large to scan and were frozen)."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        generation = -1
        for level in range(3):
            if counts[level] > thresholds[level]:
                generation = level
        if generation < 0:
            return -1
        if _objects_up_to(generation, counts[0]) > SCAN_LIMIT:
            gc.freeze()
            self.frozen += 1
            log.debug("froze the young objects rather than scan them (generation %d due)", generation)
            return FROZEN
        found = gc.collect(generation)
        if found:
            log.debug("collected %d objects from generation %d", found, generation)
        return generation


def _objects_up_to(generation: int, young: int) -> int:
    """How many objects a collection of ``generation`` scans (``young``: the youngest's count)."""
    if young > SCAN_LIMIT:  # the cheap answer is enough
        return young
    return young + sum(len(gc.get_objects(level)) for level in range(1, generation + 1))

"""Reference cycles are collected on the GUI thread, never on a worker thread (app/gc_guard.py)."""

from __future__ import annotations

import gc
import threading

from app.gc_guard import FROZEN, SCAN_LIMIT, GuiThreadGarbageCollector


class _Witness:
    """Records the thread that destroys it; kept alive only by a cycle with itself."""

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen
        self.me = self

    def __del__(self) -> None:
        self.seen.append(threading.current_thread().name)


def test_cycles_dropped_on_a_worker_are_collected_on_the_gui_thread(qtbot, gui_thread_gc):
    assert not gc.isenabled()
    seen: list[str] = []
    kept: list[object] = []

    def worker() -> None:
        _Witness(seen)  # unreachable at once, but only the cycle collector can free it
        kept.append([[i] for i in range(5_000)])  # past the youngest threshold: a collection would run here

    thread = threading.Thread(target=worker, name="worker")
    thread.start()
    thread.join()
    assert seen == []  # nothing was collected on the worker
    qtbot.waitUntil(lambda: bool(seen), timeout=5_000)  # the GUI timer's collection frees it
    assert seen == [threading.main_thread().name]


def test_start_and_stop_restore_automatic_collection(qapp):
    gc.enable()
    collector = GuiThreadGarbageCollector().start()
    assert not gc.isenabled()
    collector.stop()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0, "what start froze can be collected again"
    gc.disable()  # this test module runs under the autouse collector too
    collector.deleteLater()


def test_the_timer_collects_only_past_a_threshold(gui_thread_gc):
    gc.collect()
    assert gui_thread_gc.on_timer_timeout() == -1  # nothing new: no collection at all
    junk = [[i] for i in range(5_000)]  # 5,000 new containers, past the youngest generation's 700
    assert gui_thread_gc.on_timer_timeout() >= 0
    del junk


def test_start_freezes_what_exists_so_no_pass_scans_it_again(qapp):
    gc.unfreeze()
    collector = GuiThreadGarbageCollector().start()
    try:
        assert gc.get_freeze_count() > 0
        assert sum(gc.get_count()) == 0  # every generation starts empty
    finally:
        collector.stop()
        gc.disable()  # this test module runs under the autouse collector too
        collector.deleteLater()


def test_a_burst_too_large_to_scan_at_once_is_frozen_and_smaller_ones_collected(gui_thread_gc):
    gc.collect()
    frozen_before = gc.get_freeze_count()
    burst = [[i] for i in range(SCAN_LIMIT + 5_000)]  # a model being built, a chat being opened
    assert gui_thread_gc.on_timer_timeout() == FROZEN
    assert gc.get_freeze_count() >= frozen_before + len(burst)
    assert gc.get_count()[0] < 700  # the youngest generation is empty again
    seen: list[str] = []
    _Witness(seen)  # a cycle dropped after the burst is collected as usual
    junk = [[i] for i in range(1_000)]
    assert gui_thread_gc.on_timer_timeout() == 0
    assert seen == [threading.main_thread().name]
    del burst, junk

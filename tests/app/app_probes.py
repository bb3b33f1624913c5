"""Helpers for the live-rendering tests: which thread ran what.

How long the GUI thread stalls is measured by tools/ui_bench.py, not asserted in tests:
wall-clock limits fail on a loaded machine and pass on a fast one whatever the code does.
"""

from __future__ import annotations

import threading

from app.qt import QCoreApplication, QThread


class ThreadRecorder:
    """Wraps methods to record whether each call ran on the GUI (main) thread.

    Wrap methods that slots call, not the slots themselves: PySide6 delivers a
    signal to a ``*args`` wrapper directly on the emitting thread, which would
    hide what the real, declared slot does.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def wrap(self, monkeypatch, owner, name: str) -> None:
        original = getattr(owner, name)

        def recorded(*args, **kwargs):
            gui = QThread.currentThread() is QCoreApplication.instance().thread()
            on_main = threading.current_thread() is threading.main_thread()
            self.calls.append((name, on_main and gui))
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, recorded)

    def off_gui(self) -> list[str]:
        return [name for name, ok in self.calls if not ok]

    def names(self) -> set[str]:
        return {name for name, _ in self.calls}

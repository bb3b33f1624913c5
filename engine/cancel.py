"""A thread-safe cancel flag, checked once per denoising step.

A queued slot cannot interrupt a worker thread that is busy inside the loop, so
the GUI (or a signal handler) sets this flag and the loop notices it at the
next step boundary.
"""

from __future__ import annotations

import threading


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def reset(self) -> None:
        self._event.clear()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

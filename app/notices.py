"""The one way to tell the user something: ``tell(level, message, fix)`` from any module, any thread.

Modules that notice a problem (a chat that cannot be renamed, a file that
cannot be attached) or finish something worth saying (an export written) do
not hold a window: they call :func:`tell` (or :func:`error`, :func:`warning`,
:func:`info`, :func:`failed`), which emits on one application-wide
:class:`NoticeBridge`.  The window's display (:class:`app.ui.notice_display.NoticeDisplay`)
is bound to the bridge once and shows every level the same way everywhere:

* **info**: the status bar, for a few seconds (``timeout_ms``; 0 keeps it until the next one);
* **warning**, **error**: a notice in the chat that stays until dismissed, naming the problem
  and the fix; an error is also logged.  Its ``actions`` (ways out, such as "Try again")
  replace Dismiss; a ``key`` makes it replace the notice shown with that key, and
  :func:`withdraw` takes it back once it no longer applies (a model that failed to load,
  then loads).

This is qutebrowser's ``message.error/info`` facade: a global bridge and
signals, so no module needs a reference to the window, and a call from a
worker thread is queued to the GUI thread by the signal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from app.qt import QObject, Signal
from engine.errors import EngineError

log = logging.getLogger(__name__)

Level = Literal["error", "warning", "info"]
LEVELS: tuple[Level, ...] = ("error", "warning", "info")
INFO_MS = 6000  # how long an info line stays in the status bar unless told otherwise


@dataclass(frozen=True, slots=True)
class Notice:
    level: Level
    message: str  # what happened
    fix: str | None = None  # what the user can do about it
    timeout_ms: int = INFO_MS  # info only: how long the status bar shows it (0: until replaced)
    actions: tuple[tuple[str, Callable[[], object]], ...] = ()  # buttons in place of Dismiss
    key: str = ""  # a notice with a key replaces the one shown with it, and withdraw(key) takes it back

    @property
    def text(self) -> str:
        """The sentence shown: the message, then the fix."""
        if not self.fix:
            return self.message
        return f"{self.message.rstrip()} {self.fix.strip()}"


class NoticeBridge(QObject):
    """Carries notices to whichever display is bound (queued when told from another thread)."""

    told = Signal(object)  # a Notice
    withdrawn = Signal(str)  # the key of a notice that no longer applies

    def __init__(self) -> None:
        super().__init__()
        self.display: QObject | None = None  # the display that shows notices now (the newest window's)


bridge = NoticeBridge()  # made at import, on the GUI thread, and never deleted


def bind(display: QObject) -> None:
    """Make ``display`` the one that shows notices (the newest window's, when tests open several)."""
    bridge.display = display


def bound(display: QObject) -> bool:
    return bridge.display is display


def tell(
    level: Level,
    message: str,
    fix: str | None = None,
    *,
    timeout_ms: int = INFO_MS,
    actions: Sequence[tuple[str, Callable[[], object]]] = (),
    key: str = "",
) -> Notice:
    """Tell the user ``message`` (and ``fix``, what to do) at ``level``; safe from any thread.

    ``actions`` (label, callback) become the notice's buttons instead of Dismiss:
    ways out, such as "Try again".  A ``key`` makes the notice replace the one
    shown with the same key, and :func:`withdraw` remove it once it no longer applies.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown notice level {level!r}")
    notice = Notice(level, message, fix, timeout_ms, tuple(actions), key)
    if level == "error":
        log.warning("error shown: %s", notice.text)
    else:
        log.info("%s shown: %s", level, notice.text)
    bridge.told.emit(notice)
    return notice


def withdraw(key: str) -> None:
    """Take back the notice shown with ``key``, if any (what it said no longer applies)."""
    bridge.withdrawn.emit(key)


def shown(key: str) -> object | None:
    """The widget showing the notice with ``key`` now, or None."""
    display = bridge.display
    return display.keyed.get(key) if display is not None else None  # type: ignore[attr-defined]


def error(message: str, fix: str | None = None) -> Notice:
    return tell("error", message, fix)


def warning(message: str, fix: str | None = None) -> Notice:
    return tell("warning", message, fix)


def info(message: str, *, timeout_ms: int = INFO_MS) -> Notice:
    return tell("info", message, timeout_ms=timeout_ms)


def failed(what: str, problem: EngineError | str) -> Notice:
    """An error for something that could not be done: ``what``, then why and the fix.

    An :class:`~engine.errors.EngineError` (``StoreError`` included) already
    says both in its ``str()``; its title goes in the message, its fix in ``fix``.
    """
    if isinstance(problem, EngineError):
        reason = problem.title.rstrip(".") + "."
        if problem.path:
            reason += f" File: {problem.path}."
        return tell("error", f"{what}. {reason}", problem.fix.rstrip(".") + "." if problem.fix else None)
    return tell("error", f"{what}. {problem}")

"""Logging to a file, and an excepthook that keeps the window alive.

Users see one sentence naming the problem and the fix; tracebacks go only to
the log file (``platformdirs.user_log_dir``, or ``DGCHAT_LOG_DIR``).  An
exception escaping a slot must never take the conversation down with it, so
the hook logs it and asks the window to show a dialog instead of exiting.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from app import paths

LOG_FILE = "dgchat.log"

log = logging.getLogger("app")

ErrorReporter = Callable[[str, Path], None]


def log_file() -> Path:
    return paths.log_dir() / LOG_FILE


class LogFile(logging.handlers.RotatingFileHandler):
    """The rotating log file; a disk that refuses a record (full, gone) is said once, not per record.

    logging's default prints a traceback to stderr for every record it cannot write, which
    buries what matters on a full disk.  The file is opened at the first record, so a log
    folder that cannot be written never stops the app from starting.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8", delay=True)
        self.failed = False

    def handleError(self, record: logging.LogRecord) -> None:
        if self.failed:
            return
        self.failed = True
        error = sys.exc_info()[1]
        sys.stderr.write(f"dgchat: cannot write the log file {self.baseFilename} ({error})\n")

    def close(self) -> None:
        with contextlib.suppress(OSError):  # the last records it could not flush are lost with the disk
            super().close()


def setup_logging(level: int = logging.INFO) -> Path:
    """Send the app's and the engine's log records to a rotating file; return its path.

    A log file that cannot be written (full disk, no permission) is said once on stderr.
    """
    path = log_file()
    root = logging.getLogger()
    if not any(getattr(h, "dgchat", False) for h in root.handlers):
        handler = LogFile(path)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
        )
        handler.dgchat = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(min(root.level or level, level))
    return path


class ExceptHook:
    """Logs an unhandled exception and reports a short message through ``report``.

    Installed as both ``sys.excepthook`` and ``threading.excepthook``.  ``report``
    is called on whatever thread raised; the window's reporter queues the dialog
    onto the GUI thread.
    """

    def __init__(self, report: ErrorReporter) -> None:
        self._report = report
        self._previous = sys.excepthook
        self._previous_threading = threading.excepthook

    def install(self) -> ExceptHook:
        sys.excepthook = self
        threading.excepthook = self._thread_hook
        return self

    def uninstall(self) -> None:
        if sys.excepthook is self:
            sys.excepthook = self._previous
        threading.excepthook = self._previous_threading

    def __call__(self, kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self._previous(kind, value, tb)
            return
        log.critical("unhandled exception", exc_info=(kind, value, tb))
        path = log_file()
        message = (
            f"Something went wrong inside DiffusionGemma Chat ({kind.__name__}: {value}). "
            "Your conversation is kept. If it happens again, please report it with the log file."
        )
        try:
            self._report(message, path)
        except Exception:
            log.exception("the error reporter failed")

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        self(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)

"""Write a small file so that a crash leaves either the old file or the new one, never half of each.

Settings, drafts, the window's layout and exports are all rewritten whole;
writing in place would leave a truncated file if the app died mid-write (a
lesson from other chat apps: "lost my settings/conversations"). The text goes
to a temporary file in the same folder, is flushed to disk, then renamed over
the target, which is atomic on every desktop OS.

A process killed mid-write (kill -9, a power cut) leaves its temporary file
behind.  Its name carries the writer's process id, so the next write to the same
file removes the ones whose writer is gone (or, where that cannot be asked, that
nobody touched for an hour) instead of letting them pile up beside the user's file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

ABANDONED_AFTER_S = 3600.0  # where a writer's liveness cannot be asked: a temp file this old is left over


def write_text_atomically(path: Path, text: str, *, make_folder: bool = False) -> None:
    """Replace ``path`` with ``text`` (UTF-8, ``\\n`` line ends).  Raises OSError.

    ``make_folder`` creates a missing folder: right for the app's own files, wrong for an
    export, where a missing folder is the user's mistake to be told about.
    """
    path = path.expanduser()
    folder = path.parent if str(path.parent) else Path(".")
    if make_folder:
        folder.mkdir(parents=True, exist_ok=True)
    remove_abandoned_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f"{_temp_prefix(path)}{os.getpid()}-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_abandoned_temporaries(path: Path) -> int:
    """Delete the temporary files of earlier writes to ``path`` whose writer died; return how many."""
    folder = path.parent if str(path.parent) else Path(".")
    prefix = _temp_prefix(path)
    removed = 0
    with contextlib.suppress(OSError):
        for tmp in folder.glob(f"{_glob_escape(prefix)}*"):
            pid = tmp.name[len(prefix) :].split("-", 1)[0]
            if pid.isdigit() and _abandoned(tmp, int(pid)):
                with contextlib.suppress(OSError):
                    tmp.unlink()
                    removed += 1
    return removed


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.dgchat-"


def _glob_escape(text: str) -> str:
    """``text`` matched literally by ``Path.glob`` (file names may hold ``*``, ``?`` or ``[``)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _abandoned(tmp: Path, pid: int) -> bool:
    if pid == os.getpid():
        return False  # another thread of this process may be writing it now
    if os.name == "posix":
        try:
            os.kill(pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # it exists (another user's)
        return False
    return time.time() - tmp.stat().st_mtime > ABANDONED_AFTER_S  # Windows: os.kill would end it

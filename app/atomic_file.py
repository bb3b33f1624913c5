"""Write a small file so that a crash leaves either the old file or the new one, never half of each.

Settings, drafts, the window's layout and exports are all rewritten whole;
writing in place would leave a truncated file if the app died mid-write (a
lesson from other chat apps: "lost my settings/conversations"). The text goes
to a temporary file in the same folder, is flushed to disk, then renamed over
the target, which is atomic on every desktop OS.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_text_atomically(path: Path, text: str, *, make_folder: bool = False) -> None:
    """Replace ``path`` with ``text`` (UTF-8, ``\\n`` line ends).  Raises OSError.

    ``make_folder`` creates a missing folder: right for the app's own files, wrong for an
    export, where a missing folder is the user's mistake to be told about.
    """
    path = path.expanduser()
    folder = path.parent if str(path.parent) else Path(".")
    if make_folder:
        folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

"""What every attached file must be before anything opens it, with one clear message per cause.

``Path.exists`` reports a symbolic link loop as a missing file, and a named pipe
stats as an empty file; worse, opening a pipe blocks the reader until someone
writes to it.  So attachments are told apart here from ``os.stat`` and its errno,
and only regular files get as far as being opened.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from engine.errors import AttachmentError

_SPECIAL_FILES = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def check_attachable(path: Path, *, folder_fix: str = "Attach a file, not a folder") -> os.stat_result:
    """The file's ``os.stat``, after checking it is an existing, readable-looking, non-empty regular file.

    Raises :class:`AttachmentError` naming the cause: not found, a link to nothing, a
    symbolic link loop, a folder, not a regular file (a named pipe, a socket, a device),
    no permission, or empty.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise AttachmentError(
                "The attached file is a symbolic link to a file that does not exist",
                fix="Attach the file itself, or fix the link",
                path=path,
            ) from None
        raise AttachmentError(
            "The attached file was not found",
            fix="Check that it still exists; attach it again if it was moved or renamed",
            path=path,
        ) from None
    except PermissionError:
        raise AttachmentError(
            "The attached file cannot be read (permission denied)",
            fix="Give your user read access to it, or copy it to a folder of yours and attach the copy",
            path=path,
        ) from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise AttachmentError(
                "The attached file is a symbolic link loop (its links point back to each other)",
                fix="Attach the file the link was meant to point to, or fix the link",
                path=path,
            ) from None
        raise AttachmentError(
            f"The attached file cannot be read ({error.strerror or error})",
            fix="Check the disk or network share it is on, or copy it to a local folder and attach the copy",
            path=path,
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise AttachmentError("The attachment is a folder, not a file", fix=folder_fix, path=path)
    for is_kind, kind in _SPECIAL_FILES:
        if is_kind(info.st_mode):
            raise AttachmentError(
                f"The attachment is not a regular file ({kind})",
                fix="Attach an ordinary file: save what the pipe or device gives into a file first",
                path=path,
            )
    if info.st_size == 0:
        raise AttachmentError(
            "The attached file is empty (0 bytes)",
            fix="It may still be downloading or syncing: wait for it to finish, or save it again",
            path=path,
        )
    return info

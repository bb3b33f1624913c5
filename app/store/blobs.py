"""Attachment files copied in by content (sha256), so the user's originals can move or vanish.

A blob is written to a temporary file in the same folder, fsynced, then
``os.replace``d into ``blobs/ab/abcdef…`` (the sha256 in hex), so a reader
never sees a partial file and identical content is stored once.  Blobs have
no file extension: the attachment's kind is stored in the database, and the
media loaders (Pillow, PyAV) sniff the content.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from app.store.errors import StoreError, from_os_error

CHUNK = 1 << 20


class BlobStore:
    """Content-addressed files under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise StoreError(f"Not a sha256 digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def put_file(self, source: Path) -> tuple[str, int]:
        """Copy ``source`` in; return (sha256, size).  Hashes while copying: the file is read once."""
        try:
            with source.open("rb") as file:
                return self._put_stream(iter(lambda: file.read(CHUNK), b""))
        except FileNotFoundError as error:
            raise StoreError("The attached file does not exist", path=source) from error
        except OSError as error:
            raise from_os_error(error, source, "copy the attachment") from error

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        return self._put_stream([data])

    def read_bytes(self, sha256: str) -> bytes:
        path = self.path_for(sha256)
        try:
            return path.read_bytes()
        except OSError as error:
            raise from_os_error(error, path, "read an attachment") from error

    def _put_stream(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", dir=self.root)
        except OSError as error:
            raise from_os_error(error, self.root, "store the attachment") from error
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            target = self.path_for(sha)
            if target.is_file() and target.stat().st_size == size:
                tmp.unlink()
                os.utime(target)  # fresh again: garbage collection spares it until the row exists
                return sha, size
            target.parent.mkdir(exist_ok=True)
            os.replace(tmp, target)
            _fsync_dir(target.parent)
            return sha, size
        except OSError as error:
            tmp.unlink(missing_ok=True)
            raise from_os_error(error, self.root, "store the attachment") from error
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def collect_garbage(self, referenced: set[str], *, min_age_s: float = 3600.0) -> int:
        """Delete blobs no attachment references; return how many.

        Young blobs are kept: another app instance may have just copied one
        in and not yet committed the message that refers to it.  Stale
        temporary files from a crash mid-copy go too.
        """
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - min_age_s
        removed = 0
        for path in self.root.glob("*/*"):
            if path.name in referenced:
                continue
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:
                continue
        for tmp in self.root.glob(".incoming-*"):
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
            except OSError:
                continue
        return removed


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); Windows cannot open folders and does not need it."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

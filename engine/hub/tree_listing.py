"""A commit's file list, kept beside the Hugging Face cache's copy of a repo: ``trees/<commit>.json``.

Offline, that list is what tells a partial download from a complete one and names the
missing files.  huggingface_hub (2.x) writes and reads the same file, but through a
private module (``huggingface_hub._tree_cache``) that may change in any release; its
format is small and documented there (``format_version`` 1), so we read and write it
ourselves: a listing ``hf download`` wrote is understood here, and one we write is
understood by ``hf``.  A file of another format version is ignored, never guessed at.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class ListedFile:
    """A file of a repo commit as the listing records it."""

    name: str
    size: int
    sha256: str | None  # LFS files only
    blob_id: str | None = None  # the git blob id, when known


def listing_path(repo_folder: Path, commit: str) -> Path:
    return repo_folder / "trees" / f"{commit}.json"


def read_listing(repo_folder: Path, commit: str) -> dict[str, ListedFile] | None:
    """The commit's files, or None when no usable listing is there (missing, damaged, another format)."""
    try:
        data = json.loads(listing_path(repo_folder, commit).read_text(encoding="utf-8"))
        if data.get("format_version") != FORMAT_VERSION:
            return None
        return {
            str(name): ListedFile(
                str(name),
                int(entry["size"]),
                entry.get("lfs_sha256") or None,
                entry.get("blob_id") or None,
            )
            for name, entry in data["files"].items()
        }
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        log.warning("ignoring an unreadable file listing for %s", commit, exc_info=True)
        return None


def write_listing(repo_folder: Path, commit: str, files: list[ListedFile]) -> None:
    """Write the listing atomically (a reader never sees half of it)."""
    entries: dict[str, dict[str, object]] = {}
    for f in files:
        entry: dict[str, object] = {"size": f.size, "blob_id": f.blob_id or ""}
        if f.sha256:
            entry.update(lfs_sha256=f.sha256, lfs_size=f.size)
        entries[f.name] = entry
    path = listing_path(repo_folder, commit)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"format_version": FORMAT_VERSION, "files": entries}, indent=2, sort_keys=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{commit}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(payload)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise

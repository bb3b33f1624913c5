"""Thumbnails for the attachments of stored messages, probed off the GUI thread and cached.

A reopened chat shows its attachments' names at once; their pictures arrive
when the pool thread has decoded them (a video's first frame takes tens of
milliseconds).  The store's copies never change (they are named by their
content hash), so each is probed once per session and the result is reused
when a chat is rebuilt (a branch switch, reopening it).
"""

from __future__ import annotations

import logging
from pathlib import Path

from app.media_probe import MediaInfo, probe
from app.qt import QObject, Signal
from app.tasks import Tasks
from app.ui.media_widgets import AttachmentTiles

log = logging.getLogger(__name__)


class StoredThumbnails(QObject):
    probed = Signal(object, object)  # Path, MediaInfo

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._tasks = Tasks(self, threads=1)
        self._cache: dict[Path, MediaInfo] = {}
        self._asked: set[Path] = set()

    def request(self, tiles: AttachmentTiles) -> None:
        """Give ``tiles`` their thumbnails: now from the cache, or when the probe of each is done.

        The connection goes with ``tiles``: Qt drops it when the widget is destroyed.
        """
        self.probed.connect(tiles.on_thumbnails_probed)
        for path, name in tiles.paths_without_thumbnail():
            if path in self._cache:
                tiles.on_thumbnails_probed(path, self._cache[path])
            elif path not in self._asked:
                self._asked.add(path)
                self._tasks.run(
                    probe,
                    path,
                    name,
                    on_done=lambda info, path=path: self._on_probed(path, info),
                    on_failed=lambda error, path=path: log.info("no thumbnail for %s: %s", path, error),
                )  # a stored attachment without a thumbnail keeps showing its name

    def wait(self, timeout_ms: int = 10_000) -> bool:
        return self._tasks.wait(timeout_ms)

    def shutdown(self) -> None:
        self._tasks.shutdown(10_000)

    def _on_probed(self, path: Path, info: MediaInfo) -> None:
        self._cache[path] = info
        self.probed.emit(path, info)

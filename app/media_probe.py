"""Look at an attached file before sending it: its kind, size, a thumbnail, a video's duration,
a document's pages or lines.

Images and videos are read by the engine's own probes (engine.inputs.media), so a
file is judged here by the rules that will read it at send time: EXIF orientation,
a video's display rotation, size limits, the same messages.  Runs on a pool thread
(decoding a video frame or a large photo takes tens of milliseconds, too long for
the GUI thread).  Failures are
:class:`~engine.errors.AttachmentError` with a message naming the file and the
fix, shown inline at attach time rather than after the user pressed Send.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image

from app.document_preview import document_thumbnail
from engine.errors import AttachmentError
from engine.inputs.documents import load_document
from engine.inputs.file_checks import check_attachable
from engine.inputs.media import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    MediaKind,
    guess_kind,
    probe_image,
    probe_video,
)

THUMBNAIL_PX = 160
MAX_BYTES = 2 * 1024**3


@dataclass(frozen=True, slots=True)
class MediaInfo:
    path: Path
    kind: MediaKind
    width: int
    height: int
    duration_s: float | None
    thumbnail: Image.Image  # RGB, at most THUMBNAIL_PX on its longer side
    summary: str = ""  # a document's "12 pages" or "340 lines"


def attach_dialog_filter() -> str:
    """The Attach dialog's file types: everything that can be sent first, then each kind, then all files."""
    from engine.inputs.documents import PDF_EXTENSION, TEXT_EXTENSIONS

    def patterns(suffixes) -> str:
        return " ".join(f"*{s}" for s in sorted(suffixes))

    documents = {*TEXT_EXTENSIONS, PDF_EXTENSION}
    return ";;".join(
        (
            f"Images, videos and documents ({patterns({*IMAGE_EXTENSIONS, *VIDEO_EXTENSIONS, *documents})})",
            f"Images ({patterns(IMAGE_EXTENSIONS)})",
            f"Videos ({patterns(VIDEO_EXTENSIONS)})",
            f"Documents ({patterns(documents)})",
            "All files (*)",
        )
    )


def probe(path: str | Path, name: str = "") -> MediaInfo:
    """Open the file enough to prove it is usable; raise AttachmentError otherwise.

    A file without a known extension is recognised by its first bytes (a
    download named ``photo``, a ``README``, the store's copies, which are named
    by their hash), or refused naming what is supported.  ``name`` is the file's
    own name when ``path`` is such a copy (a document's badge comes from it).
    """
    path = Path(path)
    try:
        kind = guess_kind(path)  # the extension when it is a known one, else the first bytes
    except AttachmentError as error:
        raise AttachmentError(
            f"“{path.name}” is not a file this app can send ({error.title[0].lower()}{error.title[1:]})",
            fix=error.fix,
            path=path,
        ) from None
    size = check_attachable(path).st_size  # a pipe, a link loop, a folder, an empty file: each named
    if size > MAX_BYTES:
        raise AttachmentError(
            f"“{path.name}” is larger than 2 GB", fix="Trim or compress it first", path=path
        )
    if kind == "document":
        return _probe_document(path, name or path.name)
    return _probe_image(path) if kind == "image" else _probe_video(path)


def _probe_document(path: Path, name: str) -> MediaInfo:
    document = replace(load_document(path), name=name)  # AttachmentError names the file and the fix
    thumb = document_thumbnail(document, THUMBNAIL_PX)
    return MediaInfo(path, "document", 0, 0, None, thumb, summary=document.summary())


def _probe_image(path: Path) -> MediaInfo:
    info = probe_image(path, thumbnail_side=THUMBNAIL_PX)  # the model's own rules: EXIF orientation, limits
    return MediaInfo(path, "image", info.width, info.height, None, info.thumbnail)


def _probe_video(path: Path) -> MediaInfo:
    info = probe_video(path, thumbnail_side=THUMBNAIL_PX)  # display rotation applied: a phone's portrait
    return MediaInfo(path, "video", info.width, info.height, info.duration_s, info.thumbnail)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"

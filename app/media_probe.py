"""Look at an attached file before sending it: its kind, size, a thumbnail, a video's duration,
a document's pages or lines.

Runs on a pool thread (decoding a video frame or a large photo takes tens of
milliseconds, too long for the GUI thread).  Failures are
:class:`~engine.errors.AttachmentError` with a message naming the file and the
fix, shown inline at attach time rather than after the user pressed Send.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from app.chat import MediaKind
from app.document_preview import document_thumbnail
from engine.errors import AttachmentError
from engine.inputs.documents import load_document
from engine.inputs.file_checks import check_attachable
from engine.inputs.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, guess_kind

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
    try:
        with Image.open(path) as image:
            image.draft("RGB", (THUMBNAIL_PX * 2, THUMBNAIL_PX * 2))
            width, height = image.size
            image = ImageOps.exif_transpose(image)
            thumb = image.convert("RGB")
            thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise AttachmentError(
            f"“{path.name}” is not a readable image ({type(error).__name__})",
            fix="Open it in an image viewer to check it, or save it again as PNG or JPEG",
            path=path,
        ) from None
    return MediaInfo(path, "image", width, height, None, thumb)


def _probe_video(path: Path) -> MediaInfo:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise AttachmentError(
                    f"“{path.name}” has no video track", fix="Choose a video file", path=path
                )
            stream = container.streams.video[0]
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            frame = next(container.decode(stream), None)
            if frame is None:
                raise AttachmentError(f"“{path.name}” has no frames", fix="Choose another video", path=path)
            thumb = frame.to_image().convert("RGB")
            width, height = frame.width, frame.height
    except AttachmentError:
        raise
    except (av.error.FFmpegError, OSError, ValueError, StopIteration) as error:
        raise AttachmentError(
            f"“{path.name}” is not a readable video ({type(error).__name__})",
            fix="Convert it to MP4 (H.264), or choose another file",
            path=path,
        ) from None
    thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    return MediaInfo(path, "video", width, height, duration, thumb)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"

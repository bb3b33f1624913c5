"""Images and videos as the model sees them: decoded, upright, RGB, and of a sane size.

Everything a user can attach passes through here before it reaches the
processor, so this is where a bad file must turn into an
:class:`~engine.errors.AttachmentError` that names the file and says what to do
-- never a Pillow or FFmpeg traceback in the middle of a chat.

DiffusionGemma reads images only; a video becomes a handful of its frames, each
labelled "mm:ss" exactly as Gemma 4's own video processor labels them
(CONTEXT.md §1: up to 60 s at 1 fps, ~70 soft tokens per frame).

Plain Python (Pillow, PyAV, numpy): no Qt, no torch.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from engine.errors import AttachmentError, SettingsError
from engine.inputs.conversation import MAX_VIDEO_FRAMES
from engine.inputs.documents import is_document_name, sniff_document
from engine.inputs.file_checks import check_attachable

if TYPE_CHECKING:
    import av

MediaKind = Literal["image", "video", "document"]

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".jfif", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
)
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"})

SUPPORTED_TYPES = (
    "images (PNG, JPEG, WebP, GIF, BMP, TIFF), videos (MP4, MOV, M4V, MKV, WebM, AVI), "
    "text files (TXT, Markdown, CSV, JSON, source code …) and PDFs"
)

MAX_IMAGE_PIXELS = 128_000_000
"""Largest declared image size (width x height) we agree to decode.

Big enough for real photos -- 100 MP medium-format cameras, 108 MP phone
sensors, 12000x8000 scans -- and far below what a decompression bomb (a tiny
file declaring, say, 100000x100000 pixels) claims.  Pillow's own hard limit
(twice ``PIL.Image.MAX_IMAGE_PIXELS``, ~179 MP by default) still applies on top.
Even at this limit a non-JPEG decode costs at most ~0.5 GB for a moment; JPEGs
are decoded at reduced scale (see :data:`MAX_IMAGE_SIDE`) and cost far less.
"""

MAX_IMAGE_SIDE = 4096
"""Images are downscaled so their longer side is at most this many pixels.

Gemma 4's image processor resizes every image to fit its soft-token budget
(at most 1120 tokens = 1120 x 3x3 patches of 16 px, about 2.6 MP, e.g.
1600x1600), so detail beyond ~4K is thrown away anyway; keeping it would only
hold hundreds of MB per attachment in memory.  4096 leaves headroom for
panoramas, which the processor lets grow long on one side.
"""

MAX_FRAME_SIDE = 1280
"""Video frames are scaled (inside FFmpeg, while converting to RGB) to at most this side.

At the default 70 tokens per frame the processor uses ~0.16 MP (about 535x300
for 16:9) and at 280 tokens ~0.65 MP (about 1070x600), so 1280 loses nothing
there, while 60 frames of 4K video would otherwise hold ~1.5 GB of RGB.
"""

THUMBNAIL_SIDE = 512
"""Longer side of a probe's thumbnail unless the caller asks for another, enough for a chat-bubble preview."""

_WHITE = (255, 255, 255)

# Timestamps within a millisecond of a sampling instant count as "at" it: containers
# round pts (29.97 fps, millisecond time bases) and 0.9995 s should be the 1 s frame.
_TIME_TOLERANCE = Fraction(1, 1000)

# Consecutive packets that fail to decode before a video is given up on.  A few bad
# packets (a damaged recording) are skipped; a stream of nothing but errors is not a video.
_MAX_BAD_PACKETS = 25

_REENCODE_FIX = "Re-encode it as an H.264 MP4 (for example with HandBrake or ffmpeg) and attach it again"


# --------------------------------------------------------------------------- kinds


def guess_kind(path: str | Path) -> MediaKind:
    """Say whether ``path`` is an image, a video or a document, by its extension, else by its first bytes.

    The extension is trusted when it is a known one so that attaching a file
    costs no I/O; the loaders check the content later.  Files without a known
    extension (downloads named ``photo`` or ``clip.bin``) are sniffed.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    if is_document_name(path):
        return "document"
    head = _read_head(path, 4096)
    kind = _sniff_kind(head)
    if kind is None and sniff_document(head):
        kind = "document"
    if kind is None:
        fix = f"Attach one of the supported {SUPPORTED_TYPES}"
        if suffix in {".heic", ".heif"}:
            fix = "HEIC photos cannot be read here: export the photo as JPEG. " + fix
        raise AttachmentError("This file type is not supported", fix=fix, path=path)
    return kind


def _sniff_kind(head: bytes) -> MediaKind | None:
    """Recognise the supported formats by their magic numbers."""
    if head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")):
        return "image"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska / WebM (EBML)
        return "video"
    if head[4:8] == b"ftyp":  # ISO media: MP4, MOV, M4V -- but also HEIC/AVIF still images
        brand = head[8:12]
        if brand in {b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1", b"avif", b"avis"}:
            return None
        return "video"
    if head[4:8] in {b"moov", b"mdat", b"wide", b"free", b"skip"}:  # old QuickTime without ftyp
        return "video"
    return None


# --------------------------------------------------------------------------- files


def _read_head(path: Path, size: int = 32) -> bytes:
    """The first bytes of ``path``, after checking it is a readable, non-empty regular file.

    Doing these checks ourselves gives one clear message per cause instead of whatever
    Pillow or FFmpeg makes of a folder, a pipe, an empty file or a permission error.
    """
    check_attachable(path, folder_fix="Attach an image or a video file")
    try:
        with path.open("rb") as file:
            return file.read(size)
    except PermissionError as exc:
        raise AttachmentError(
            "The attached file cannot be read (permission denied)",
            fix="Give your user read access to it, or copy it to a folder of yours and attach the copy",
            path=path,
        ) from exc
    except OSError as exc:
        raise AttachmentError(
            f"The attached file cannot be read ({exc.strerror or exc})",
            fix="Check the disk or network share it is on, or copy it to a local folder and attach the copy",
            path=path,
        ) from exc


# --------------------------------------------------------------------------- images


def load_image(
    path: str | Path, *, max_side: int = MAX_IMAGE_SIDE, max_pixels: int = MAX_IMAGE_PIXELS
) -> Image.Image:
    """Decode an image file into an upright RGB image whose longer side is at most ``max_side``.

    Fully decoded (no lazy file handle survives), EXIF orientation applied (phone
    photos are stored sideways), transparency composited on white (the model was
    not trained on alpha, and black -- Pillow's default -- hides dark line art),
    first frame only for animations.  Raises :class:`AttachmentError` for
    anything that cannot become such an image.
    """
    image, _size = _read_image(Path(path), max_side, max_pixels)
    return image


@dataclass(frozen=True)
class ImageInfo:
    """What the GUI shows for an attached image: its upright size (EXIF orientation applied), a thumbnail."""

    width: int
    height: int
    thumbnail: Image.Image


def probe_image(path: str | Path, *, thumbnail_side: int = THUMBNAIL_SIDE) -> ImageInfo:
    """The image's upright full size and a small RGB thumbnail, by the same rules as :func:`load_image`.

    A phone photo stored sideways with an EXIF orientation is probed as the
    user sees it (portrait), and any file the model could not read fails here,
    at attach time, with the message it would get at send time.
    """
    thumbnail, (width, height) = _read_image(Path(path), thumbnail_side, MAX_IMAGE_PIXELS)
    return ImageInfo(width, height, thumbnail)


def _read_image(path: Path, max_side: int, max_pixels: int) -> tuple[Image.Image, tuple[int, int]]:
    """The decoded upright RGB image (at most ``max_side``) and the upright size of the full picture."""
    head = _read_head(path)
    try:
        with path.open("rb") as file:
            image = _open_image(file, path, max_pixels, head)
            with image:
                width, height = image.size
                _decode_image(image, path, max_side)
                decoded = image.size
                _apply_exif_orientation(image)
                if image.size != decoded:  # a quarter turn: the full picture is upright the other way
                    width, height = height, width
                rgb = _to_rgb(_shrink(_expand_palette(image), max_side), path)
                if rgb is image:
                    rgb = image.copy()  # detach from the ImageFile and its (closed) file
    except PermissionError as exc:
        raise AttachmentError(
            "The attached image cannot be read (permission denied)",
            fix="Give your user read access to it, or copy it to a folder of yours and attach the copy",
            path=path,
        ) from exc
    except MemoryError as exc:
        raise AttachmentError(
            "The attached image is too large to decode in the memory available",
            fix="Scale it down (for example to 4000 pixels on the longer side) and attach it again",
            path=path,
        ) from exc
    rgb.info.clear()  # EXIF, ICC, XMP: nothing downstream should act on the original's metadata
    return rgb, (width, height)


def _open_image(file: BinaryIO, path: Path, max_pixels: int, file_head: bytes) -> ImageFile.ImageFile:
    """``Image.open`` plus our own decompression-bomb limit; reads the header only.

    Pillow warns (``DecompressionBombWarning``) above ``Image.MAX_IMAGE_PIXELS``
    (~89 MP), which is below our own limit: the warning is silenced here, inside
    ``warnings.catch_warnings`` so no global filter changes, and ``max_pixels``
    is applied instead.  Pillow's hard error (twice its limit) is still reported.
    The global ``Image.MAX_IMAGE_PIXELS`` is left alone for other code.  (On
    Python < 3.14 ``catch_warnings`` is process-wide while it lasts; it lasts
    only for the header parse and touches only this one warning category.)
    """
    bomb = AttachmentError(
        f"The attached image is larger than {max_pixels / 1e6:.0f} megapixels, too large to decode safely "
        "(files claiming such sizes are often 'decompression bombs')",
        fix="If the image is genuine, scale it down (for example to 8000 pixels on the longer side) "
        "and attach it again",
        path=path,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(file)
    except Image.DecompressionBombError as exc:
        raise bomb from exc
    except UnidentifiedImageError as exc:
        if _sniff_kind(file_head) == "video":
            raise AttachmentError(
                "The attached file is a video, not an image",
                fix="Remove it and attach it again as a video (give it a video extension such as .mp4)",
                path=path,
            ) from exc
        raise AttachmentError(
            "The attached file is not an image that can be read",
            fix=f"Re-save it as PNG or JPEG (supported: {SUPPORTED_TYPES})",
            path=path,
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _corrupt_image(path) from exc
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise bomb
    if width <= 0 or height <= 0:
        image.close()
        raise _corrupt_image(path)
    return image


def _decode_image(image: ImageFile.ImageFile, path: Path, max_side: int) -> None:
    """Decode the first frame, at reduced scale when the format allows it (JPEG)."""
    width, height = image.size
    scale = max_side / max(width, height)
    if scale < 1:
        # JPEG can decode at 1/2, 1/4 or 1/8 scale directly, which is both faster and
        # 4-64x less memory than decoding 96 MP and shrinking afterwards.  draft() never
        # goes below the requested size, and is a no-op for other formats.
        image.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
    try:
        image.seek(0)
        image.load()
    except MemoryError:
        raise
    except Exception as exc:
        # Pillow's decoders raise a zoo of types for malformed data (OSError for
        # truncation, SyntaxError, ValueError, struct.error, IndexError...).
        raise _corrupt_image(path) from exc


def _apply_exif_orientation(image: Image.Image) -> None:
    """Rotate/flip as the EXIF orientation says (in place: no full-size copy when upright).

    A damaged EXIF block should not cost the user their photo: the picture is
    used as stored if the orientation cannot be read.
    """
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except Exception:  # malformed EXIF: Pillow raises various types
        return


def _corrupt_image(path: Path) -> AttachmentError:
    return AttachmentError(
        "The attached image is damaged or incomplete and cannot be decoded",
        fix="Open it in an image viewer and save it again as PNG or JPEG, or attach the original file",
        path=path,
    )


def _expand_palette(image: Image.Image) -> Image.Image:
    """Palette and 1-bit images to RGB(A)/L, because Pillow can only resample those nearest-neighbour."""
    if image.mode not in {"P", "PA", "1"}:
        return image
    if image.mode == "1":
        return image.convert("L")
    has_alpha = image.mode == "PA" or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _to_rgb(image: Image.Image, path: Path) -> Image.Image:
    """Any Pillow mode to 8-bit RGB, compositing transparency on white."""
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        image = _to_8bit_grey(image)
        mode = image.mode
    if mode in {"RGBA", "LA", "PA", "RGBa", "La"} or (
        mode in {"P", "L", "RGB"} and "transparency" in image.info
    ):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if mode == "RGB":
        return image
    try:
        return image.convert("RGB")  # 1, L, P, CMYK, YCbCr, LAB, HSV, RGBX
    except ValueError as exc:
        raise AttachmentError(
            f"The attached image uses a colour format ({mode}) that cannot be converted",
            fix="Re-save it as an 8-bit RGB PNG or JPEG and attach it again",
            path=path,
        ) from exc


def _to_8bit_grey(image: Image.Image) -> Image.Image:
    """16-bit/32-bit integer or float greyscale to 8-bit "L", keeping the full tonal range.

    Pillow's own ``convert("L")`` clips 16-bit values at 255, which turns most
    16-bit PNGs (scans, medical and astronomy images) plain white.
    """
    values = np.asarray(image)
    if image.mode == "F":
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        scaled = (np.nan_to_num(values, nan=low) - low) * (255.0 / (high - low or 1.0))
    else:
        scaled = values.astype(np.float32) / 257.0  # 0..65535 -> 0..255
    return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), mode="L")


def _shrink(image: Image.Image, max_side: int) -> Image.Image:
    """Downscale so the longer side is at most ``max_side``; never upscale.

    Done before the conversion to RGB so a huge greyscale or 16-bit image is
    resampled with one channel, not three.  Pillow resamples RGBA/LA with
    premultiplied alpha, so shrinking before compositing on white is exact.
    """
    width, height = image.size
    if max(width, height) <= max_side:
        return image
    scale = max_side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # reducing_gap: a fast integer box-reduce first, then Lanczos for the last step.
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


# --------------------------------------------------------------------------- videos


@dataclass(frozen=True)
class VideoFrame:
    """One sampled frame: an RGB image (upright, no metadata) and its time from the start, in seconds."""

    image: Image.Image
    timestamp: float


@dataclass(frozen=True)
class VideoInfo:
    """What the GUI shows for an attached video before any model work.

    ``width``/``height`` are the display size (rotation and non-square pixels
    applied); ``duration_s`` and ``fps`` are ``None`` when the file does not say.
    """

    duration_s: float | None
    width: int
    height: int
    fps: float | None
    thumbnail: Image.Image


def format_timestamp(seconds: float) -> str:
    """ "mm:ss" as Gemma 4's video processor writes frame labels (minutes may exceed 59)."""
    seconds = max(0.0, float(seconds))
    return f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"


def load_video_frames(
    path: str | Path, fps: float = 1.0, max_frames: int = 60, *, max_side: int = MAX_FRAME_SIDE
) -> list[VideoFrame]:
    """Sample frames at ``fps`` from the start: the first decoded frame at or after each k/fps.

    At most ``max_frames`` frames (the model card's recipe is 60 s at 1 fps).  A
    decoded frame is used at most once, so asking for more fps than the video has
    gives every frame once rather than duplicates.  Frames are RGB, upright
    (display-matrix rotation applied) and scaled to at most ``max_side``.
    """
    if not (math.isfinite(fps) and fps > 0):
        raise SettingsError(
            f"Video sampling rate {fps} fps is not valid", fix="Use a rate above 0, e.g. 1 fps"
        )
    if not 1 <= max_frames <= MAX_VIDEO_FRAMES:
        raise SettingsError(
            f"Video frame cap {max_frames} is not valid",
            fix=f"Use 1 to {MAX_VIDEO_FRAMES} frames (60 covers a minute at 1 fps)",
        )
    path = Path(path)
    step = 1 / Fraction(fps)
    frames: list[VideoFrame] = []
    with _open_video(path) as (container, stream):
        stream.thread_type = "AUTO"  # frame threads: sequential decoding is the whole cost here
        next_index = 0  # the k of the next sampling instant k * step
        for time, frame in _timed_frames(container, stream):
            if time + _TIME_TOLERANCE < next_index * step:
                continue
            frames.append(VideoFrame(_frame_image(frame, stream, max_side), float(time)))
            if len(frames) >= max_frames:
                break
            next_index = math.floor((time + _TIME_TOLERANCE) / step) + 1
    if not frames:
        raise _no_frames(path)
    return frames


def probe_video(path: str | Path, *, thumbnail_side: int = THUMBNAIL_SIDE) -> VideoInfo:
    """Duration, display size, frame rate and a thumbnail (the first decodable frame), all as a player shows
    them: a phone's portrait video (stored landscape with a display rotation) is probed as portrait."""
    path = Path(path)
    with _open_video(path) as (container, stream):
        first = next((frame for _, frame in _timed_frames(container, stream)), None)
        if first is None:
            raise _no_frames(path)
        width, height = _display_size(first, stream)
        thumbnail = _frame_image(first, stream, thumbnail_side)
        duration: float | None = None
        if container.duration is not None and container.duration > 0:
            duration = container.duration / _av().time_base
        elif stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        rate = stream.guessed_rate or stream.average_rate
        return VideoInfo(
            duration_s=duration,
            width=width,
            height=height,
            fps=float(rate) if rate else None,
            thumbnail=thumbnail,
        )


def _av():
    """PyAV, imported on the first video: text and image chats never load FFmpeg."""
    import av
    import av.error

    return av


@contextmanager
def _open_video(path: Path) -> Iterator[tuple[av.container.InputContainer, av.video.stream.VideoStream]]:
    """Open ``path`` and pick its (first) video stream, with a clear error for each failure."""
    av = _av()
    head = _read_head(path)
    try:
        container = av.open(str(path), mode="r")
    except (av.error.PermissionError, PermissionError) as exc:
        raise AttachmentError(
            "The attached video cannot be read (permission denied)",
            fix="Give your user read access to it, or copy it to a folder of yours and attach the copy",
            path=path,
        ) from exc
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        if _sniff_kind(head) == "image":
            raise AttachmentError(
                "The attached file is an image, not a video",
                fix="Remove it and attach it again as an image (give it an image extension such as .png)",
                path=path,
            ) from exc
        raise AttachmentError(
            "The attached file is not a video that can be read (damaged, incomplete or an unknown format)",
            fix=_REENCODE_FIX,
            path=path,
        ) from exc
    with container:
        if not container.streams.video:
            what = "only audio" if container.streams.audio else "no video"
            raise AttachmentError(
                f"The attached file contains {what}, no video stream",
                fix="Attach a video file; to use a still from it, attach the image instead",
                path=path,
            )
        yield container, container.streams.video[0]


def _timed_frames(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> Iterator[tuple[Fraction, av.VideoFrame]]:
    """Decoded frames with their exact time in seconds since the start of the stream.

    Times come from each frame's pts in the stream's time base, measured from the
    stream's start time (MPEG-TS and cut files do not start at 0).  Frames
    without a pts (raw H.264 streams) are spaced by the frame rate instead.
    Packets that fail to decode are skipped, so one damaged spot does not lose
    the whole video.
    """
    av = _av()
    rate = stream.guessed_rate or stream.average_rate or Fraction(25)  # 25: FFmpeg's own default
    origin: Fraction | None = None
    if stream.start_time is not None and stream.time_base is not None:
        origin = stream.start_time * stream.time_base
    previous: Fraction | None = None
    bad_packets = 0
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError:
            return  # the container itself is damaged from here on: keep what we have
        try:
            decoded = packet.decode()
        except av.error.FFmpegError:
            bad_packets += 1
            if bad_packets > _MAX_BAD_PACKETS:
                return
            continue
        bad_packets = 0
        for frame in decoded:
            time_base = frame.time_base or stream.time_base
            if frame.pts is not None and time_base is not None:
                pts = frame.pts * time_base
                if origin is None:
                    origin = pts
                time = max(Fraction(0), pts - origin)
            else:
                time = Fraction(0) if previous is None else previous + 1 / rate
            previous = time
            yield time, frame


def _rotation_steps(frame: av.VideoFrame) -> int:
    """Quarter turns counter-clockwise from the display matrix (phones record sideways)."""
    return round((frame.rotation or 0) / 90) % 4


def _display_size(frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> tuple[int, int]:
    """Width and height as a player shows the frame: non-square pixels and rotation applied."""
    aspect = stream.sample_aspect_ratio
    width = max(1, round(frame.width * float(aspect))) if aspect else frame.width
    return (frame.height, width) if _rotation_steps(frame) % 2 else (width, frame.height)


def _frame_image(frame: av.VideoFrame, stream: av.video.stream.VideoStream, max_side: int) -> Image.Image:
    """The frame as an upright RGB image at display aspect ratio, at most ``max_side``.

    Scaling happens inside FFmpeg's RGB conversion, so a 4K frame never exists as
    a full-size RGB image in Python.
    """
    steps = _rotation_steps(frame)
    width, height = _display_size(frame, stream)
    scale = min(1.0, max_side / max(width, height))
    width, height = max(1, round(width * scale)), max(1, round(height * scale))
    if steps % 2:
        width, height = height, width  # size before the quarter turn
    image = frame.to_image(width=width, height=height, interpolation="AREA")
    if steps:
        transpose = (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)
        image = image.transpose(transpose[steps - 1])
    return image


def _no_frames(path: Path) -> AttachmentError:
    return AttachmentError(
        "No frame of the attached video could be decoded (damaged, empty or an unsupported codec)",
        fix=_REENCODE_FIX,
        path=path,
    )

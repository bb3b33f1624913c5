"""engine.inputs.media: every image/video a user can attach, good or bad, on real files made in tmp_path."""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from engine.errors import AttachmentError, SettingsError
from engine.inputs import media
from engine.inputs.media import (
    VideoFrame,
    format_timestamp,
    guess_kind,
    load_image,
    load_video_frames,
    probe_video,
)

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def _assert_clear(error: pytest.ExceptionInfo[AttachmentError], path: Path) -> None:
    """A user-facing error names the file and says what to do."""
    message = str(error.value)
    assert path.name in message, message
    assert error.value.path == str(path)
    assert error.value.fix and error.value.fix.rstrip(".") in message


def _close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


# --------------------------------------------------------------------------- guess_kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.png", "image"),
        ("a.JPG", "image"),
        ("a.jpeg", "image"),
        ("a.webp", "image"),
        ("a.gif", "image"),
        ("a.bmp", "image"),
        ("a.tiff", "image"),
        ("a.mp4", "video"),
        ("a.MOV", "video"),
        ("a.mkv", "video"),
        ("a.webm", "video"),
        ("a.avi", "video"),
        ("a.m4v", "video"),
    ],
)
def test_guess_kind_by_extension_needs_no_file(name: str, kind: str, tmp_path: Path):
    assert guess_kind(tmp_path / name) == kind


def test_guess_kind_sniffs_files_without_a_known_extension(tmp_path: Path):
    png = tmp_path / "download"
    Image.new("RGB", (4, 4)).save(png, format="PNG")
    clip = _write_video(tmp_path / "clip.mp4", seconds=0.3)
    renamed = clip.rename(tmp_path / "clip.bin")
    assert guess_kind(png) == "image"
    assert guess_kind(renamed) == "video"


def test_guess_kind_rejects_other_files_naming_the_supported_types(tmp_path: Path):
    program = tmp_path / "tool.exe"
    program.write_bytes(b"MZ\x90\x00\x03\x00\x00\x00" + bytes(64))
    with pytest.raises(AttachmentError) as error:
        guess_kind(program)
    _assert_clear(error, program)
    assert "PNG" in error.value.fix and "MP4" in error.value.fix and "PDF" in error.value.fix

    heic = tmp_path / "IMG_0001.HEIC"
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 32)
    with pytest.raises(AttachmentError, match="JPEG") as error:
        guess_kind(heic)
    _assert_clear(error, heic)


def test_guess_kind_of_a_missing_file_with_unknown_extension(tmp_path: Path):
    with pytest.raises(AttachmentError, match="not found") as error:
        guess_kind(tmp_path / "gone.xyz")
    _assert_clear(error, tmp_path / "gone.xyz")


# --------------------------------------------------------------------------- images


def test_png_rgba_is_composited_on_white(tmp_path: Path):
    path = tmp_path / "logo.png"
    image = Image.new("RGBA", (20, 10), (0, 0, 0, 0))  # transparent black: must not come out black
    image.paste((*RED, 255), (10, 0, 20, 10))
    image.save(path)
    result = load_image(path)
    assert result.mode == "RGB" and result.size == (20, 10)
    assert result.getpixel((2, 5)) == WHITE
    assert result.getpixel((15, 5)) == RED


def test_jpeg_exif_orientation_is_applied(tmp_path: Path):
    path = tmp_path / "phone.jpg"
    image = Image.new("RGB", (40, 20), BLUE)
    image.paste(RED, (0, 0, 10, 10))  # red top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    image.save(path, exif=exif.tobytes(), quality=95)
    result = load_image(path)
    assert result.size == (20, 40)
    assert _close(result.getpixel((19, 0)), RED)  # stored top-left is now top-right
    assert _close(result.getpixel((0, 0)), BLUE)
    assert "exif" not in result.info and result.getexif().get(0x0112) is None


def test_animated_gif_gives_its_first_frame(tmp_path: Path):
    path = tmp_path / "anim.gif"
    frames = [Image.new("P", (16, 16), 0) for _ in range(3)]
    for index, frame in enumerate(frames):
        frame.putpalette([*RED, *BLUE, 0, 255, 0] + [0] * 759)
        frame.paste(index, (0, 0, 16, 16))
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(path).n_frames == 3
    result = load_image(path)
    assert result.mode == "RGB" and result.getpixel((8, 8)) == RED


def test_animated_webp_gives_its_first_frame(tmp_path: Path):
    path = tmp_path / "anim.webp"
    frames = [Image.new("RGB", (16, 16), color) for color in (RED, BLUE)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, lossless=True)
    assert load_image(path).getpixel((8, 8)) == RED


def test_greyscale_16bit_png_keeps_its_tonal_range(tmp_path: Path):
    path = tmp_path / "scan.png"
    ramp = np.tile(np.linspace(0, 65535, 64), (8, 1)).astype(np.uint16)
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    result = load_image(path)
    assert result.mode == "RGB"
    row = [result.getpixel((x, 4))[0] for x in range(64)]
    assert row[0] <= 1 and row[-1] >= 254 and row == sorted(row)
    assert 100 < row[32] < 160  # mid-grey, not clipped to white as Pillow's convert("L") would


@pytest.mark.parametrize(
    ("mode", "save_kwargs", "expected"),
    [
        ("CMYK", {"format": "JPEG", "quality": 95}, (255, 0, 0)),
        ("L", {"format": "PNG"}, (76, 76, 76)),
        ("1", {"format": "BMP"}, (255, 255, 255)),
        ("LA", {"format": "PNG"}, (255, 255, 255)),  # fully transparent: white
    ],
)
def test_other_colour_modes_become_rgb(tmp_path: Path, mode: str, save_kwargs: dict, expected):
    path = tmp_path / f"image.{save_kwargs['format'].lower()}"
    colour = {"CMYK": (0, 255, 255, 0), "L": 76, "1": 1, "LA": (0, 0)}[mode]
    Image.new(mode, (8, 8), colour).save(path, **save_kwargs)
    result = load_image(path)
    assert result.mode == "RGB" and _close(result.getpixel((4, 4)), expected)


def test_palette_png_with_transparency(tmp_path: Path):
    path = tmp_path / "icon.png"
    image = Image.new("P", (8, 8), 0)
    image.putpalette([*RED, *BLUE] + [0] * 762)
    image.paste(1, (4, 0, 8, 8))
    image.save(path, transparency=0)
    result = load_image(path)
    assert result.getpixel((1, 1)) == WHITE and result.getpixel((6, 1)) == BLUE


def test_huge_jpeg_is_decoded_at_reduced_scale_and_downscaled(tmp_path: Path, monkeypatch):
    path = tmp_path / "huge.jpg"
    Image.new("L", (12000, 8000), 90).save(path, quality=20)
    decoded_sizes = []
    original_load = JpegImagePlugin.JpegImageFile.load

    def spy_load(self):
        result = original_load(self)
        decoded_sizes.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", spy_load)
    filters_before = list(warnings.filters)
    limit_before = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 96 MP trips Pillow's bomb warning; none may escape
        result = load_image(path)
    assert result.size == (media.MAX_IMAGE_SIDE, round(8000 * media.MAX_IMAGE_SIDE / 12000))
    assert result.mode == "RGB" and _close(result.getpixel((100, 100)), (90, 90, 90), 3)
    assert decoded_sizes and max(decoded_sizes[0]) <= 6000  # JPEG draft: never 96 MP in memory
    assert warnings.filters == filters_before and limit_before == Image.MAX_IMAGE_PIXELS


def test_large_png_is_downscaled_keeping_aspect(tmp_path: Path):
    path = tmp_path / "wide.png"
    image = Image.new("RGBA", (3000, 1000), (*BLUE, 255))
    image.paste((0, 0, 0, 0), (0, 0, 1500, 1000))
    image.save(path, compress_level=1)
    result = load_image(path, max_side=600)
    assert result.size == (600, 200)
    assert result.getpixel((10, 100)) == WHITE and _close(result.getpixel((590, 100)), BLUE, 2)


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose IHDR claims ``width`` x ``height`` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.mark.parametrize(
    ("width", "height", "pillow_refused"),
    [
        (100_000, 100_000, True),  # beyond Pillow's own hard limit: its DecompressionBombError
        (12_000, 12_000, False),  # 144 MP: only Pillow's warning, our own limit rejects it
    ],
)
def test_decompression_bomb_is_rejected_without_decoding(
    tmp_path: Path, width: int, height: int, pillow_refused: bool
):
    path = _png_header_only(tmp_path / "bomb.png", width, height)
    filters_before = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttachmentError, match="megapixels") as error:
            load_image(path)
    _assert_clear(error, path)
    assert isinstance(error.value.__cause__, Image.DecompressionBombError) == pillow_refused
    assert warnings.filters == filters_before


def test_pixel_limit_is_a_parameter(tmp_path: Path):
    path = tmp_path / "small.png"
    Image.new("RGB", (100, 100)).save(path)
    with pytest.raises(AttachmentError, match="megapixels"):
        load_image(path, max_pixels=5_000)
    assert load_image(path).size == (100, 100)


def test_zero_byte_image(tmp_path: Path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(AttachmentError, match="empty") as error:
        load_image(path)
    _assert_clear(error, path)


def test_truncated_jpeg(tmp_path: Path):
    path = tmp_path / "cut.jpg"
    noise = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(AttachmentError, match="damaged") as error:
        load_image(path)
    _assert_clear(error, path)


def test_random_bytes_named_png(tmp_path: Path):
    path = tmp_path / "fake.png"
    path.write_bytes(np.random.default_rng(1).bytes(2048))
    with pytest.raises(AttachmentError) as error:
        load_image(path)
    _assert_clear(error, path)


def test_text_file_as_image(tmp_path: Path):
    path = tmp_path / "readme.txt"
    path.write_text("not an image\n" * 20)
    with pytest.raises(AttachmentError, match="not an image") as error:
        load_image(path)
    _assert_clear(error, path)


def test_video_attached_as_image_says_so(tmp_path: Path):
    clip = _write_video(tmp_path / "clip.mp4", seconds=0.3)
    with pytest.raises(AttachmentError, match="is a video") as error:
        load_image(clip)
    _assert_clear(error, clip)


def test_missing_image(tmp_path: Path):
    path = tmp_path / "gone.jpg"
    with pytest.raises(AttachmentError, match="not found") as error:
        load_image(path)
    _assert_clear(error, path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX named pipes and symbolic links")
@pytest.mark.parametrize(
    ("load", "suffix"), [(load_image, ".png"), (guess_kind, "")], ids=["image", "sniffed"]
)
def test_a_pipe_and_a_link_loop_are_named_as_such(tmp_path: Path, load, suffix: str):
    pipe = tmp_path / f"stream{suffix}"
    os.mkfifo(pipe)  # opening it would block until someone writes: it must never be opened
    with pytest.raises(AttachmentError, match=r"not a regular file \(a named pipe\)") as error:
        load(pipe)
    _assert_clear(error, pipe)
    loop, back = tmp_path / f"loop{suffix}", tmp_path / f"back{suffix}"
    loop.symlink_to(back)
    back.symlink_to(loop)
    with pytest.raises(AttachmentError, match="symbolic link loop") as error:
        load(loop)
    _assert_clear(error, loop)
    dangling = tmp_path / f"moved{suffix}"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(AttachmentError, match="symbolic link to a file that does not exist"):
        load(dangling)


def test_directory_as_image(tmp_path: Path):
    path = tmp_path / "photos.png"
    path.mkdir()
    with pytest.raises(AttachmentError, match="folder") as error:
        load_image(path)
    _assert_clear(error, path)


def test_unreadable_image(tmp_path: Path, monkeypatch):
    path = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(path)
    # chmod 000 does not stop root (CI containers), so simulate the OS refusing.
    real_open = Path.open

    def refusing_open(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refusing_open)
    with pytest.raises(AttachmentError, match="permission") as error:
        load_image(path)
    _assert_clear(error, path)


# --------------------------------------------------------------------------- videos


def _level(index: int) -> int:
    """Grey level of frame ``index``: 6 apart, so compression noise cannot confuse neighbours."""
    return 10 + 6 * index


def _frame_index(frame: VideoFrame) -> int:
    mean = float(np.asarray(frame.image, dtype=np.float32).mean())
    return round((mean - 10) / 6)


def _encoder(preferred: str | None = None) -> str:
    for name in [preferred] if preferred else ["libx264", "h264", "mpeg4"]:
        try:
            av.codec.Codec(name, "w")
        except Exception:
            continue
        return name
    pytest.skip(f"no usable video encoder ({preferred or 'h264/mpeg4'}) in this PyAV build")


def _write_video(
    path: Path,
    seconds: float = 3.5,
    fps: int = 10,
    size: tuple[int, int] = (64, 48),
    *,
    codec: str | None = None,
    container_format: str | None = None,
    rotation: int | None = None,
    pixel_aspect: Fraction | None = None,
    left_colour: tuple[int, int, int] | None = None,
) -> Path:
    """A real video whose frame i is flat grey ``_level(i)`` (optionally with a coloured left half)."""
    codec = _encoder(codec)
    width, height = size
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if pixel_aspect is not None:
            stream.codec_context.sample_aspect_ratio = pixel_aspect
        for index in range(round(seconds * fps)):
            array = np.full((height, width, 3), _level(index), dtype=np.uint8)
            if left_colour is not None:
                array[:, : width // 2] = left_colour
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3.5 s at 10 fps (frames 0..34 at t = 0.0..3.4), 64x48."""
    return _write_video(tmp_path_factory.mktemp("video") / "clip.mp4")


@pytest.mark.parametrize(
    ("fps", "max_frames", "indices"),
    [
        (1.0, 60, [0, 10, 20, 30]),
        (2.0, 60, [0, 5, 10, 15, 20, 25, 30]),
        (2.0, 3, [0, 5, 10]),
        (0.5, 60, [0, 20]),
    ],
)
def test_frames_are_sampled_at_the_requested_rate(clip: Path, fps: float, max_frames: int, indices):
    frames = load_video_frames(clip, fps=fps, max_frames=max_frames)
    assert [_frame_index(frame) for frame in frames] == indices
    assert [frame.timestamp for frame in frames] == pytest.approx([i / 10 for i in indices])
    for frame in frames:
        assert frame.image.mode == "RGB" and frame.image.size == (64, 48) and not frame.image.info


def test_rate_above_the_video_rate_uses_each_frame_once(clip: Path):
    frames = load_video_frames(clip, fps=25.0, max_frames=100)
    assert [_frame_index(frame) for frame in frames] == list(range(35))


@pytest.mark.parametrize("codec", ["libx264", "mpeg4"])
def test_each_available_codec(tmp_path: Path, codec: str):
    path = _write_video(tmp_path / f"{codec}.mp4", seconds=2.5, codec=codec)
    assert [_frame_index(frame) for frame in load_video_frames(path)] == [0, 10, 20]


def test_stream_without_timestamps_or_duration(tmp_path: Path):
    # A raw H.264 elementary stream: no container, no pts, no duration -- time comes from the frame rate.
    path = _write_video(tmp_path / "raw.h264", codec="libx264", container_format="h264")
    frames = load_video_frames(path, fps=1.0)
    assert [_frame_index(frame) for frame in frames] == [0, 10, 20, 30]
    assert [frame.timestamp for frame in frames] == pytest.approx([0, 1, 2, 3])
    assert probe_video(path).duration_s is None


def test_matroska_has_duration_only_on_the_container(tmp_path: Path):
    path = _write_video(tmp_path / "clip.mkv", seconds=2.0)
    info = probe_video(path)
    assert info.duration_s == pytest.approx(2.0, abs=0.1)
    assert [_frame_index(frame) for frame in load_video_frames(path)] == [0, 10]


def test_display_rotation_is_applied(tmp_path: Path):
    # Rotation is counter-clockwise: the stored left half (red) ends up at the bottom.
    path = _write_video(tmp_path / "portrait.mp4", seconds=1.0, rotation=90, left_colour=RED)
    (frame,) = load_video_frames(path)
    assert frame.image.size == (48, 64)
    assert _close(frame.image.getpixel((24, 60)), RED, 20)
    assert not _close(frame.image.getpixel((24, 3)), RED, 60)
    info = probe_video(path)
    assert (info.width, info.height) == (48, 64) and info.thumbnail.size == (48, 64)


def test_non_square_pixels_are_shown_at_display_aspect(tmp_path: Path):
    path = _write_video(tmp_path / "anamorphic.mp4", seconds=0.5, pixel_aspect=Fraction(2, 1))
    assert load_video_frames(path)[0].image.size == (128, 48)
    assert (probe_video(path).width, probe_video(path).height) == (128, 48)


def test_frames_are_scaled_to_the_side_cap(clip: Path):
    frames = load_video_frames(clip, max_frames=1, max_side=32)
    assert frames[0].image.size == (32, 24)


def test_probe_video(clip: Path):
    info = probe_video(clip)
    assert info.duration_s == pytest.approx(3.5, abs=0.05)
    assert (info.width, info.height) == (64, 48)
    assert info.fps == pytest.approx(10.0)
    assert info.thumbnail.mode == "RGB" and info.thumbnail.size == (64, 48)
    assert _close(info.thumbnail.getpixel((32, 24)), (_level(0),) * 3, 4)
    assert probe_video(clip, thumbnail_side=32).thumbnail.size == (32, 24)


def test_invalid_sampling_settings(clip: Path):
    with pytest.raises(SettingsError):
        load_video_frames(clip, fps=0)
    with pytest.raises(SettingsError):
        load_video_frames(clip, fps=float("nan"))
    with pytest.raises(SettingsError):
        load_video_frames(clip, max_frames=0)


def test_corrupt_video(tmp_path: Path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(np.random.default_rng(2).bytes(4096))
    for load in (load_video_frames, probe_video):
        with pytest.raises(AttachmentError, match="not a video") as error:
            load(path)
        _assert_clear(error, path)
        assert "H.264" in error.value.fix


def test_truncated_mp4_without_index(tmp_path: Path, clip: Path):
    path = tmp_path / "cut.mp4"
    data = clip.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the moov index is at the end: gone
    with pytest.raises(AttachmentError) as error:
        load_video_frames(path)
    _assert_clear(error, path)


def test_audio_only_file(tmp_path: Path):
    path = tmp_path / "song.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        stream.layout = "mono"
        for index in range(4):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 8000, index * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    for load in (load_video_frames, probe_video):
        with pytest.raises(AttachmentError, match="only audio") as error:
            load(path)
        _assert_clear(error, path)


def test_video_stream_with_no_decodable_frame(tmp_path: Path):
    path = tmp_path / "garbled.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        noise = np.random.default_rng(3)
        for index in range(5):
            packet = av.Packet(noise.bytes(500))
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, index, index, Fraction(1, 10)
            container.mux(packet)
    for load in (load_video_frames, probe_video):
        with pytest.raises(AttachmentError, match="No frame") as error:
            load(path)
        _assert_clear(error, path)


@pytest.mark.parametrize(("name", "match"), [("empty.mp4", "empty"), ("gone.mp4", "not found")])
def test_empty_or_missing_video(tmp_path: Path, name: str, match: str):
    path = tmp_path / name
    if name == "empty.mp4":
        path.write_bytes(b"")
    with pytest.raises(AttachmentError, match=match) as error:
        load_video_frames(path)
    _assert_clear(error, path)


@pytest.mark.parametrize(
    ("seconds", "label"),
    [
        (0, "00:00"),
        (0.999, "00:00"),
        (1.0, "00:01"),
        (59.9, "00:59"),
        (61, "01:01"),
        (3600, "60:00"),
        (-1, "00:00"),
    ],
)
def test_format_timestamp_matches_gemma4(seconds: float, label: str):
    assert format_timestamp(seconds) == label

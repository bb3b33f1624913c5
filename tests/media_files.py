"""Real image and video files generated for tests (nothing binary is checked in)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image


def write_png(
    path: Path, size: tuple[int, int] = (96, 64), color: tuple[int, int, int] = (200, 40, 40)
) -> Path:
    image = Image.new("RGB", size, color)
    image.paste((20, 20, 220), (0, 0, size[0] // 2, size[1] // 2))
    image.save(path)
    return path


def write_mp4(
    path: Path,
    seconds: float = 3.0,
    fps: int = 10,
    size: tuple[int, int] = (64, 48),
    *,
    rotation: int | None = None,
) -> Path:
    """An H.264 MP4 whose frame i is a flat grey level proportional to i (so frames are identifiable).

    ``rotation`` (degrees counter-clockwise) is written as the stream's display matrix, the way a
    phone stores a portrait video: landscape pixels plus "turn me by 90° to show".
    """
    frames = int(seconds * fps)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(frames):
            level = int(255 * i / max(1, frames - 1))
            array = np.full((size[1], size[0], 3), level, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_pdf(path: Path, pages: list[str], *, password: str | None = None) -> Path:
    """A real PDF whose pages show ``pages`` in Helvetica (text a PDF reader can extract).

    Written by hand (objects, cross-reference table, trailer) so no PDF writer is needed;
    an empty string gives a page with no text at all, like a scanned page.  With
    ``password`` pypdf encrypts it (AES) afterwards.
    """
    objects: list[bytes] = []
    kids = []
    font_id = 3
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(b"")  # the page tree, filled in below
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for text in pages:
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 14 Tf 72 720 Td ({escaped}) Tj ET".encode() if text else b""
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        content_id = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (content_id, font_id)
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    path.write_bytes(pdf_bytes(objects))
    if password is not None:
        from pypdf import PdfWriter

        writer = PdfWriter(clone_from=path)
        writer.encrypt(password, algorithm="AES-128")
        with path.open("wb") as file:
            writer.write(file)
    return path


def pdf_bytes(objects: list[bytes]) -> bytes:
    """A PDF file of numbered ``objects`` (object 1 the catalog), with its cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)

"""PDFs built to be hard on a reader: megabytes of content in a small file (Flate), many text lines."""

from __future__ import annotations

import zlib
from pathlib import Path

from media_files import pdf_bytes


def write_pdf_content(path: Path, pages: list[bytes], *, flate: bool = True) -> Path:
    """A PDF whose pages carry the given content streams, Flate-compressed (small files, big content).

    ``flate=False``: the streams are Flate data already (a bomb too big to build uncompressed).
    """
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    kids = []
    for content in pages:
        data = zlib.compress(content, 9) if flate else content
        objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(data), data))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 3 0 R >> >> >>" % len(objects)
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    path.write_bytes(pdf_bytes(objects))
    return path


def lines(count: int, words: bytes = b"line of text") -> bytes:
    return b"BT /F1 10 Tf 12 TL 72 720 Td " + b"(%s) ' " % words * count + b"ET"

"""A thumbnail for a document attachment: a small page showing its first lines and its type.

Images and videos get a picture of themselves; a text file or a PDF gets a
picture of a page with its opening lines in a monospace font and a badge
("PY", "PDF", "MD"), so a row of attachments reads at a glance.  Drawn with
Pillow (Qt-free, on the probe's pool thread), square so tiles line up.
"""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from engine.inputs.documents import Document

PAGE = (255, 255, 255)
EDGE = (208, 213, 221)
INK = (96, 104, 117)
BADGE_COLOURS = {
    "PDF": (200, 55, 55),
    "MD": (60, 110, 200),
    "TXT": (110, 118, 130),
}
BADGE_DEFAULT = (40, 140, 110)  # source code and data files
PAGE_MARKER = re.compile(r"--- Page \d+ ---")  # engine.inputs.documents puts one before each PDF page


@lru_cache(maxsize=4)
def _font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans Mono from matplotlib's fonts (found without importing matplotlib), else Pillow's."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.submodule_search_locations:
        name = "DejaVuSansMono-Bold.ttf" if bold else "DejaVuSansMono.ttf"
        path = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf" / name
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def badge_text(document: Document) -> str:
    if document.pages is not None:
        return "PDF"
    suffix = Path(document.name).suffix.lstrip(".").upper()
    return suffix[:4] if suffix else "TXT"


def document_thumbnail(document: Document, side: int) -> Image.Image:
    """A ``side`` × ``side`` RGB picture of the document's first page."""
    scale = 2  # draw at twice the size, then shrink: smooth small text
    size = side * scale
    image = Image.new("RGB", (size, size), (238, 241, 245))
    draw = ImageDraw.Draw(image)
    margin = 10 * scale
    draw.rounded_rectangle(
        (margin, margin // 2, size - margin, size + 8 * scale),
        6 * scale,
        fill=PAGE,
        outline=EDGE,
        width=scale,
    )
    font = _font(10 * scale)
    line_height = 13 * scale
    top = margin // 2 + 8 * scale
    left = margin + 7 * scale
    width = size - 2 * margin - 12 * scale
    lines = [line.expandtabs(4) for line in document.text.splitlines() if _shown(line, document)]
    lines = lines[: (size - top) // line_height]
    for i, line in enumerate(lines):
        draw.text((left, top + i * line_height), _fit(draw, line, font, width), font=font, fill=INK)
    label = badge_text(document)
    badge_font = _font(14 * scale, bold=True)
    box = draw.textbbox((0, 0), label, font=badge_font)
    badge_w, badge_h = box[2] - box[0] + 12 * scale, box[3] - box[1] + 8 * scale
    x0, y0 = margin - 4 * scale, size - badge_h - 8 * scale
    draw.rounded_rectangle(
        (x0, y0, x0 + badge_w, y0 + badge_h), 4 * scale, fill=BADGE_COLOURS.get(label, BADGE_DEFAULT)
    )
    draw.text(
        (x0 + 6 * scale - box[0], y0 + 4 * scale - box[1]), label, font=badge_font, fill=(255, 255, 255)
    )
    return image.resize((side, side), Image.Resampling.LANCZOS)


def _shown(line: str, document: Document) -> bool:
    """Lines worth a place on the little page: not blank, and not a PDF's own page markers."""
    return bool(line.strip()) and not (document.pages is not None and PAGE_MARKER.fullmatch(line))


def _fit(draw: ImageDraw.ImageDraw, line: str, font, width: int) -> str:
    """``line`` cut to ``width`` pixels."""
    if draw.textlength(line, font=font) <= width:
        return line
    low, high = 0, len(line)
    while low < high:  # the longest prefix that fits
        mid = (low + high + 1) // 2
        if draw.textlength(line[:mid], font=font) <= width:
            low = mid
        else:
            high = mid - 1
    return line[:low]

"""TeX math from model output as PNG images, drawn by matplotlib's mathtext.

QTextDocument has no math layout (no MathML, no fonts for it), so formulas
become images the renderer names in its HTML and the view hands to the
document itself (``addResource``): nothing is fetched, nothing runs but a TeX
*parser*.  mathtext covers the TeX a chat answer uses (fractions, roots,
sums and integrals with limits, Greek, accents, most symbols) without a LaTeX
installation; what it cannot parse (``\\begin{aligned}`` environments, say)
returns None and is shown as its source.  Formulas longer than
:data:`MAX_TEX_CHARS` are shown as source too, so a pathological one cannot
hold the GUI thread.

matplotlib's first import and font loading take about a second, and each
new formula ~12 ms; in the window every formula is drawn on a background
thread (:mod:`app.ui.math_pool`) and the GUI thread only looks finished ones up
(:func:`cached_math`); matplotlib is imported by the first formula, on that
thread, so an app that never shows math never loads it.  One lock
keeps renders apart (mathtext is not thread-safe); the cache has its own, so a
lookup never waits for a render.
"""

from __future__ import annotations

import hashlib
import io
import logging
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass

log = logging.getLogger(__name__)

MAX_TEX_CHARS = 1_000
SCALE = 2  # rendered at twice the logical size: sharp on HiDPI screens, scaled down elsewhere
PX_PER_PT = 96 / 72
DISPLAY_GROWTH = 1.15  # display formulas a little larger than the text, as LaTeX sets them

CACHE_SIZE = 512

_render_lock = threading.Lock()
_cache_lock = threading.Lock()
_cache: OrderedDict[tuple, MathImage | None] = OrderedDict()
NOT_DRAWN = object()  # cached_math's answer for a formula nobody has drawn yet


@dataclass(frozen=True, slots=True)
class MathImage:
    key: str
    png: bytes
    width: int  # logical pixels
    height: int


def math_key(tex: str, display: bool, color: str, pt: float) -> str:
    digest = hashlib.sha1(f"{display}|{color}|{pt}|{tex}".encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:16]


def cached_math(tex: str, display: bool, color: str, pt: float):
    """The drawn image (or None: cannot be drawn) if this formula was drawn before, else NOT_DRAWN."""
    with _cache_lock:
        key = (tex, display, color, pt)
        if key not in _cache:
            return NOT_DRAWN
        _cache.move_to_end(key)
        return _cache[key]


def render_math(tex: str, display: bool, color: str, pt: float) -> MathImage | None:
    """``tex`` (without delimiters) as a PNG in ``color`` at ``pt`` points; None when it cannot be drawn.

    Blocking (~12 ms a formula): the window calls it on a background thread.
    """
    found = cached_math(tex, display, color, pt)
    if found is not NOT_DRAWN:
        return found
    image = _draw(tex, display, color, pt)
    with _cache_lock:
        _cache[(tex, display, color, pt)] = image
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return image


def _draw(tex: str, display: bool, color: str, pt: float) -> MathImage | None:
    source = tex
    tex = tex.strip()
    if not tex or len(tex) > MAX_TEX_CHARS or "\n\n" in tex:
        return None
    size = pt * (DISPLAY_GROWTH if display else 1.0)
    with _render_lock:
        try:
            from matplotlib import mathtext, rc_context
            from matplotlib.font_manager import FontProperties

            buffer = io.BytesIO()
            with rc_context({"savefig.transparent": True}):  # the reply's background shows through
                mathtext.math_to_image(
                    f"${' '.join(tex.split())}$",
                    buffer,
                    prop=FontProperties(size=size),
                    dpi=72 * PX_PER_PT * SCALE,
                    format="png",
                    color=color,
                )
        except Exception as error:  # mathtext raises ValueError (and pyparsing's errors) for TeX it lacks
            log.debug("math not drawn (%s): %.80s", type(error).__name__, tex)
            return None
    png = buffer.getvalue()
    width, height = struct.unpack(">II", png[16:24])  # the PNG header's IHDR chunk
    return MathImage(
        math_key(source, display, color, pt), png, max(1, round(width / SCALE)), max(1, round(height / SCALE))
    )

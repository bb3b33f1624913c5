r"""Model output (markdown) to the HTML subset QTextDocument renders, safely.

* markdown-it-py, CommonMark + tables + strikethrough + task lists; raw HTML
  is **disabled**, so ``<script>`` or ``<img>`` in model output is shown as text.
* Images in model output are never loaded: they become a link to click.
  Links keep only http, https and mailto targets.
* Code blocks are one-cell tables (QTextDocument draws padding and borders only
  on tables) with a header row holding the language and a ``Copy`` link whose
  target (``dgchat-copy:<key>``) the view resolves through :attr:`Rendered.code`.
* Pygments highlights with inline colours (``noclasses=True``), the only kind
  QTextDocument keeps.
* TeX math — ``$…$``, ``$$…$$``, ``\(…\)``, ``\[…\]`` — becomes an image drawn
  by :mod:`app.math_images`, named ``dgmath:<key>`` in the HTML and carried in
  :attr:`Rendered.images` for the view to hand to its document (nothing is
  loaded from anywhere).  ``$5 and $10`` stays text (no digits right after a
  ``$``, no spaces inside it).  With ``math=False`` (the live draft, which
  changes every step) and for TeX that mathtext cannot draw, the source is
  shown in a code font instead.  Given ``request_math`` (the window's
  background pool), a formula not drawn yet is shown as source too, asked for,
  and :attr:`Rendered.pending_math` tells the view to render again once it is
  drawn: the GUI thread never draws.

Qt-free: the renderer turns text into HTML; the view decides when to call it.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.tasklists import tasklists_plugin
from mdit_py_plugins.texmath import texmath_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.lexers.special import TextLexer
from pygments.util import ClassNotFound

from app.math_images import NOT_DRAWN, cached_math, render_math
from app.palette import Colors

COPY_SCHEME = "dgchat-copy"
MATH_SCHEME = "dgmath"
WARM_LANGUAGES = ("python", "bash", "javascript", "json", "text")
SAFE_LINK_SCHEMES = ("http://", "https://", "mailto:")
# Quote and list levels shown nested; deeper ones are flattened (see flatten_deep_nesting).
MAX_NESTING = 6
_CONTAINER_OPEN = frozenset({"blockquote_open", "bullet_list_open", "ordered_list_open"})
_CONTAINER_CLOSE = frozenset({"blockquote_close", "bullet_list_close", "ordered_list_close"})
MONO_FAMILIES = "'JetBrains Mono', 'Cascadia Mono', 'SF Mono', Menlo, Consolas, 'DejaVu Sans Mono', monospace"


@dataclass(slots=True)
class Rendered:
    """One piece of HTML, the code blocks its Copy links refer to, and the math images it shows."""

    html: str
    code: dict[str, str] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)  # "dgmath:<key>" -> PNG
    pending_math: bool = False  # some formulas are still being drawn: render again when they are


@lru_cache(maxsize=64)
def _lexer(language: str):
    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return TextLexer(stripnl=False, ensurenl=False)


@lru_cache(maxsize=8)
def _formatter(style: str) -> HtmlFormatter:
    return HtmlFormatter(noclasses=True, nowrap=True, style=style)


def flatten_deep_nesting(tokens: list[Token], limit: int = MAX_NESTING) -> list[Token]:
    """``tokens`` with quotes and lists deeper than ``limit`` flattened into their parent.

    Qt lays out nested tables (a quote is one, a code block or table inside it more) in
    time that doubles per level: 20 quote levels froze the window for over a minute.  So
    the containers past ``limit`` are left out and their content shown at that level: the
    text stays, list items keep their marker as text and their own paragraph.
    """
    out: list[Token] = []
    kept: list[bool] = []  # one per open container: rendered, or flattened
    for token in tokens:
        if token.type in _CONTAINER_OPEN:
            keep = kept.count(True) < limit and False not in kept
            kept.append(keep)
            if keep:
                out.append(token)
            continue
        if token.type in _CONTAINER_CLOSE:
            if kept.pop():
                out.append(token)
            continue
        if False in kept:
            if token.type in ("list_item_open", "list_item_close"):
                if token.type == "list_item_open":
                    out.append(_item_marker(token))
                continue
            if token.type in ("paragraph_open", "paragraph_close"):
                token.hidden = False  # a tight list's items would otherwise run together
        out.append(token)
    return _join_markers(out)


def _item_marker(token: Token) -> Token:
    marker = Token("dg_item_marker", "", 0)
    marker.content = f"{token.info}{token.markup} " if token.info else "• "
    return marker


def _join_markers(tokens: list[Token]) -> list[Token]:
    """Put each flattened list item's marker at the start of its first paragraph's text."""
    out: list[Token] = []
    pending: Token | None = None
    for token in tokens:
        if token.type == "dg_item_marker":
            pending = token
            continue
        if pending is not None and token.type == "inline":
            text = Token("text", "", 0)
            text.content = pending.content
            token.children = [text, *(token.children or [])]
            pending = None
        out.append(token)
    return out


def code_key(code: str) -> str:
    return hashlib.sha1(code.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class MarkdownRenderer:
    """Renders markdown for one colour scheme and base font size (points)."""

    def __init__(
        self,
        colors: Colors,
        base_pt: float = 11.0,
        *,
        request_math: Callable[[tuple[str, bool, str, float]], None] | None = None,
    ) -> None:
        self.colors = colors
        self.base_pt = base_pt
        self._request_math = request_math
        md = MarkdownIt("commonmark", {"html": False, "typographer": False})
        md.enable(["table", "strikethrough"])
        md.use(tasklists_plugin)
        md.use(
            dollarmath_plugin, allow_labels=False, allow_space=False, allow_digits=False, double_inline=True
        )
        md.use(texmath_plugin, delimiters="brackets")
        rules = {
            "fence": self._fence,
            "code_block": self._fence,
            "code_inline": self._code_inline,
            "image": self._image,
            "link_open": self._link_open,
            "link_close": self._link_close,
            "table_open": self._table_open,
            "table_close": lambda *_: "</table>\n",
            "th_open": self._cell_open,
            "td_open": self._cell_open,
            "blockquote_open": self._blockquote_open,
            "blockquote_close": lambda *_: "</td></tr></table>\n",
            "paragraph_open": self._paragraph_open,
            "heading_open": self._heading_open,
            "html_inline": self._escaped,
            "html_block": self._escaped,
            "math_inline": self._math_inline,
            "math_inline_double": self._math_block,
            "math_block": self._math_block,
            "math_block_eqno": self._math_block,
        }
        # Straight into the rules table: add_render_rule would re-bind our bound methods.
        md.renderer.rules.update(rules)
        self._md = md

    def render(self, text: str, *, math: bool = True) -> Rendered:
        """``math=False`` shows formulas as their TeX source (cheap: for text that changes every frame)."""
        env: dict[str, Any] = {"code": {}, "images": {}, "math": math}
        tokens = flatten_deep_nesting(self._md.parse(text, env))
        html_text = self._md.renderer.render(tokens, self._md.options, env)
        return Rendered(html_text, env["code"], env["images"], pending_math=bool(env.get("pending")))

    def warm_up(self) -> None:
        """Pay the one-time costs (Pygments' plugin scan, common lexers) before the first reply.

        Otherwise the first code block of the first reply stalls the live view for tens of ms.
        """
        self.render(
            "`x`\n\n| a |\n|---|\n| 1 |\n\n" + "".join(f"```{lang}\nx\n```\n" for lang in WARM_LANGUAGES)
        )

    def render_plain(self, text: str) -> Rendered:
        """Text shown exactly as typed (user messages): escaped, line breaks kept."""
        escaped = html.escape(text).replace("\n", "<br>")
        return Rendered(html=f'<p style="margin:0; white-space:pre-wrap">{escaped}</p>')

    # --- rules ---------------------------------------------------------------

    def _escaped(self, tokens, idx, _options, _env) -> str:
        content = tokens[idx].content
        # With html=False the only HTML tokens are the task-list plugin's checkboxes, which
        # QTextDocument cannot draw; anything else stays inert text.
        if content.startswith('<input class="task-list-item-checkbox"'):
            return "☑" if 'checked="checked"' in content else "☐"
        return html.escape(content)

    def _paragraph_open(self, tokens, idx, _options, _env) -> str:
        if tokens[idx].hidden:
            return ""
        return '<p style="margin-top:0; margin-bottom:10px">'

    def _heading_open(self, tokens, idx, _options, _env) -> str:
        level = int(tokens[idx].tag[1])
        scale = {1: 1.45, 2: 1.28, 3: 1.14}.get(level, 1.0)
        size = round(self.base_pt * scale, 1)
        return (
            f'<{tokens[idx].tag} style="font-size:{size}pt; font-weight:600; margin-top:14px; '
            f'margin-bottom:8px">'
        )

    def _code_inline(self, tokens, idx, _options, _env) -> str:
        padded = f"&#8202;{html.escape(tokens[idx].content)}&#8202;"
        return self._mono(padded, f"background-color:{self.colors.inline_code_bg}")

    def _mono(self, escaped: str, style: str) -> str:
        """Inline text in the code font, a little smaller than the text around it."""
        return (
            f'<code style="font-family:{MONO_FAMILIES}; {style}; '
            f'font-size:{round(self.base_pt * 0.92, 1)}pt">{escaped}</code>'
        )

    def _fence(self, tokens, idx, _options, env) -> str:
        token = tokens[idx]
        c = self.colors
        language = token.info.strip().split()[0] if token.info.strip() else ""
        code = token.content
        key = code_key(code)
        env.setdefault("code", {})[key] = code
        body = highlight(code, _lexer(language or "text"), _formatter(c.pygments_style)).rstrip("\n")
        label = html.escape(language) if language else "code"
        small = round(self.base_pt * 0.85, 1)
        return (
            f'<table width="100%" cellspacing="0" cellpadding="0" border="0" '
            f'style="margin-top:4px; margin-bottom:12px; border-collapse:collapse; '
            f'border: 1px solid {c.code_border}; background-color:{c.code_bg}">'
            f'<tr><td style="background-color:{c.code_header}; padding:5px 10px 5px 12px; '
            f'border-bottom: 1px solid {c.code_border}">'
            f'<table width="100%" cellspacing="0" cellpadding="0" border="0"><tr>'
            f'<td style="color:{c.muted}; font-size:{small}pt; font-family:{MONO_FAMILIES}">{label}</td>'
            f'<td align="right" style="font-size:{small}pt">'
            f'<a href="{COPY_SCHEME}:{key}" style="color:{c.muted}; text-decoration:none">Copy</a>'
            f"</td></tr></table></td></tr>"
            f'<tr><td style="padding:10px 12px 10px 12px">'
            f'<pre style="margin:0; white-space:pre-wrap; font-family:{MONO_FAMILIES}; '
            f'font-size:{round(self.base_pt * 0.92, 1)}pt; color:{c.text}">{body}</pre>'
            f"</td></tr></table>\n"
        )

    def _math_inline(self, tokens, idx, _options, env) -> str:
        return self._math(tokens[idx].content, False, env) or self._tex_source(tokens[idx].content, "$")

    def _math_block(self, tokens, idx, _options, env) -> str:
        content = tokens[idx].content
        image = self._math(content, True, env)
        if image is None:
            image = f'<span style="white-space:pre-wrap">{self._tex_source(content.strip(), "$$")}</span>'
        return f'<p align="center" style="margin-top:4px; margin-bottom:12px">{image}</p>\n'

    def _math(self, tex: str, display: bool, env) -> str | None:
        if not env.get("math", True):
            return None
        args = (tex, display, self.colors.text, self.base_pt)
        if self._request_math is None:
            image = render_math(*args)
        else:
            image = cached_math(*args)
            if image is NOT_DRAWN:
                self._request_math(args)
                env["pending"] = True
                return None
        if image is None:
            return None
        name = f"{MATH_SCHEME}:{image.key}"
        env.setdefault("images", {})[name] = image.png
        return (
            f'<img src="{name}" width="{image.width}" height="{image.height}" '
            f'style="vertical-align:middle" alt="{html.escape(tex.strip(), quote=True)}">'
        )

    def _tex_source(self, tex: str, delimiter: str) -> str:
        return self._mono(html.escape(delimiter + tex + delimiter), f"color:{self.colors.muted}")

    def _image(self, tokens, idx, options, env) -> str:
        renderer = self._md.renderer
        token = tokens[idx]
        src = str(token.attrGet("src") or "")
        alt = renderer.renderInlineAsText(token.children or [], options, env) or "image"
        label = f"🖼\u00a0{html.escape(alt)}"
        if src.startswith(SAFE_LINK_SCHEMES):
            # Never loaded: a link the user may click to open it in the browser.
            return f'<a href="{html.escape(src, quote=True)}" style="color:{self.colors.link}">{label}</a>'
        return f'<span style="color:{self.colors.muted}">{label}</span>'

    def _link_open(self, tokens, idx, _options, env) -> str:
        href = str(tokens[idx].attrGet("href") or "")
        safe = href.startswith(SAFE_LINK_SCHEMES)
        env.setdefault("links", []).append(safe)
        if not safe:
            return ""
        return f'<a href="{html.escape(href, quote=True)}" style="color:{self.colors.link}">'

    def _link_close(self, _tokens, _idx, _options, env) -> str:
        links = env.get("links") or [False]
        return "</a>" if links.pop() else ""

    def _table_open(self, *_args) -> str:
        return (
            f'<table cellspacing="0" cellpadding="6" border="1" '
            f'style="border-collapse:collapse; border-color:{self.colors.border}; margin-top:4px; '
            f'margin-bottom:12px">\n'
        )

    def _cell_open(self, tokens, idx, _options, _env) -> str:
        token = tokens[idx]
        style = str(token.attrGet("style") or "")
        align = style.removeprefix("text-align:") if style.startswith("text-align:") else ""
        align_attr = f' align="{align}"' if align in ("left", "right", "center") else ""
        if token.tag == "th":
            return f'<th{align_attr} style="background-color:{self.colors.code_header}; padding:6px 10px">'
        return f'<td{align_attr} style="padding:6px 10px">'

    def _blockquote_open(self, *_args) -> str:
        c = self.colors
        return (
            f'<table width="100%" cellspacing="0" cellpadding="0" border="0" '
            f'style="margin-bottom:10px; background-color:{c.quote_bg}">'
            f'<tr><td width="3" style="background-color:{c.border}"></td>'
            f'<td style="padding:8px 12px 0px 12px; color:{c.muted}">'
        )

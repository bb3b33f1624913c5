"""Where streamed markdown can be cut so the part before the cut never re-renders.

Committed canvases never change, but a markdown construct (a code fence, a
list, a table) can span canvases, so "render each canvas on its own" would
mis-render.  The cut goes after the last blank line that ends a top-level
block: outside any fenced code block, and not in front of an indented line or
a list item (cutting a list would restart its numbering).  Everything before
the cut renders the same alone as in the whole text.
"""

from __future__ import annotations

import itertools
import re

_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_ITEM_RE = re.compile(r"^(?:[*+-]|\d{1,9}[.)])(?:\s|$)")
_CONTINUES_RE = re.compile(r"^(?:\s|>|\|)")  # indented, quote or table continuation


def stable_prefix_length(text: str) -> int:
    """Length of the longest prefix of ``text`` that ends at a safe block boundary (0 if none)."""
    cuts = safe_cuts(text)
    return cuts[-1] if cuts else 0


def split_blocks(text: str) -> list[str]:
    """``text`` cut at every safe block boundary: each piece renders alone as it does in the whole.

    The live tail of a reply changes every frame, but mostly in a few places: rendered piece by
    piece, the pieces that did not change need not be parsed again (MarkdownStack).
    """
    cuts = [0, *safe_cuts(text), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(cuts) if b > a]


def safe_cuts(text: str) -> list[int]:
    """Every position in ``text`` after which a cut is safe (see the module's docstring), in order."""
    cuts: list[int] = []
    fence: str | None = None
    position = 0
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        stripped = line.rstrip("\r\n")
        match = _FENCE_RE.match(stripped)
        if fence is None:
            if match:
                fence = match.group(1)
            elif not stripped.strip() and line.endswith("\n"):
                following = lines[index + 1] if index + 1 < len(lines) else ""
                if (
                    following
                    and following.strip()
                    and not _CONTINUES_RE.match(following)
                    and not _LIST_ITEM_RE.match(following)
                ):
                    cuts.append(position + len(line))
        elif (
            match
            and match.group(1)[0] == fence[0]
            and len(match.group(1)) >= len(fence)
            and not stripped.strip()[len(match.group(1)) :].strip()
        ):
            fence = None
        position += len(line)
    return cuts

"""Automatic conversation titles from the first user message."""

from __future__ import annotations

from collections.abc import Sequence

TITLE_LENGTH = 60
ELLIPSIS = "…"


def auto_title(text: str, attachment_names: Sequence[str] = (), *, limit: int = TITLE_LENGTH) -> str:
    """The first non-empty line, whitespace collapsed, cut to ``limit`` characters on a word boundary.

    A message with only attachments is titled by the first file name; an
    empty one gets "New chat".  A single word longer than the limit is cut
    mid-word (there is no boundary to use).
    """
    line = next((" ".join(part.split()) for part in text.splitlines() if part.strip()), "")
    if not line:
        return attachment_names[0] if attachment_names else "New chat"
    if len(line) <= limit:
        return line
    head = line[: limit + 1]
    cut = head.rsplit(" ", 1)[0] if " " in head else line[:limit]
    return (cut.rstrip(" ,.;:-–—") or line[:limit]) + ELLIPSIS

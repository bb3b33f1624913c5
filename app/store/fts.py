"""Turning what the user typed into a safe FTS5 query, and snippets into plain text + ranges.

FTS5 has its own query language (``AND``/``OR``/``NOT``/``NEAR``, quotes,
``*``, ``^``, column filters, parentheses); passing user input straight to
``MATCH`` makes ``"`` or ``foo AND`` a syntax error and ``title:x`` a column
filter.  So every word becomes a quoted string: operators, quotes and stars
lose their meaning and words are matched literally, all of them (AND).  The
last word also matches as a prefix so results appear while typing.
"""

from __future__ import annotations

import re

MAX_TERMS = 16
MARK_START = "\x02"
MARK_END = "\x03"
_WORD = re.compile(r"\w+", re.UNICODE)


def match_expression(query: str) -> str | None:
    """An FTS5 MATCH expression for ``query``, or None when it contains no searchable word."""
    terms = _WORD.findall(query)[:MAX_TERMS]
    if not terms:
        return None
    quoted = [f'"{term}"' for term in terms]
    if not query[-1:].isspace():
        quoted[-1] += "*"
    return " ".join(quoted)


def split_highlights(marked: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Remove the snippet markers and return (plain text, highlighted ranges)."""
    plain: list[str] = []
    ranges: list[tuple[int, int]] = []
    length = 0
    start: int | None = None
    for piece in re.split(f"([{MARK_START}{MARK_END}])", marked):
        if piece == MARK_START:
            start = length
        elif piece == MARK_END:
            if start is not None and length > start:
                ranges.append((start, length))
            start = None
        else:
            plain.append(piece)
            length += len(piece)
    return "".join(plain), tuple(ranges)

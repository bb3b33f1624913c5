"""Mark the parts of a reply that filled the gaps of the user's draft (a subtle background).

A filled reply is the draft's own text with each gap's filling in its place
(:mod:`engine.generation.gaps`), so the fillings are found again from the draft
(the user message the reply answers) and the reply's text: nothing is stored
beside the reply, and a stored, exported or imported reply is marked the same.

The reply is shown rendered (markdown markup gone), so each filling is found in
the rendered text by its letters and digits, in order, as Rewrite this part
finds a selection; a filling with no letters (only spaces or punctuation) is
not marked.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.qt import QColor, QTextCharFormat, QTextCursor, QTextDocument
from engine.generation.gaps import filled_spans, has_gaps

FILL_ALPHA = 48  # of 255: the accent colour, light enough for text in either theme to stay readable


def pieces(draft: str, reply: str) -> list[tuple[str, bool]]:
    """``reply`` as the draft's texts and the gaps' fillings in order, each with True for a filling;
    empty when the reply is not a filling of ``draft``."""
    if not draft or not has_gaps(draft):
        return []
    spans = filled_spans(draft, reply)
    if spans is None:
        return []
    out: list[tuple[str, bool]] = []
    position = 0
    for start, end in spans:
        out += [(reply[position:start], False), (reply[start:end], True)]
        position = end
    return [*out, (reply[position:], False)]


def document_text(document: QTextDocument) -> str:
    """The document's characters by position (``toPlainText`` drops table and frame markers)."""
    return "".join(document.characterAt(i) for i in range(document.characterCount()))


def letters(text: str) -> tuple[str, list[int]]:
    """The letters and digits of ``text`` (lower case) and, for each, its index in ``text``."""
    where = [i for i, ch in enumerate(text) if ch.isalnum()]
    return "".join(text[i] for i in where).lower(), where


def mark(documents: Sequence[QTextDocument], parts: Sequence[tuple[str, bool]], accent: str) -> int:
    """Give each filling of ``parts`` (see :func:`pieces`) a background; returns how many were found.

    The parts are found in order by their letters and digits (markup and line breaks differ between
    the markdown and the rendered text), the draft's own texts included, so a filling is looked for
    only after the text that precedes it; a part without letters is skipped.
    """
    color = QColor(accent)
    color.setAlpha(FILL_ALPHA)
    style = QTextCharFormat()
    style.setBackground(color)
    style.setToolTip("Filled in by the model")
    queue = [(letters(text)[0], filled) for text, filled in parts]
    queue = [(wanted, filled) for wanted, filled in queue if wanted]
    found = 0
    for document in documents:
        text, where = letters(document_text(document))
        position = 0
        while queue:
            wanted, filled = queue[0]
            start = text.find(wanted, position)
            if start < 0:
                break  # not in this document: the next one
            queue.pop(0)
            position = start + len(wanted)
            if filled:
                cursor = QTextCursor(document)
                cursor.setPosition(where[start])
                cursor.setPosition(where[position - 1] + 1, QTextCursor.MoveMode.KeepAnchor)
                cursor.mergeCharFormat(style)
                found += 1
    return found

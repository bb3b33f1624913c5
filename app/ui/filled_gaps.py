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
from engine.errors import EngineError
from engine.generation.gaps import filled_spans, has_gaps
from engine.generation.rewrite import selected_range

FILL_ALPHA = 48  # of 255: the accent colour, light enough for text in either theme to stay readable


def fillings(draft: str, reply: str) -> list[str]:
    """The text of each gap of ``draft`` in ``reply``; empty when the reply is not a filling of it."""
    if not draft or not has_gaps(draft):
        return []
    spans = filled_spans(draft, reply)
    return [reply[start:end] for start, end in spans or []]


def document_text(document: QTextDocument) -> str:
    """The document's characters by position (``toPlainText`` drops table and frame markers)."""
    return "".join(document.characterAt(i) for i in range(document.characterCount()))


def mark(documents: Sequence[QTextDocument], parts: Sequence[str], accent: str) -> int:
    """Give each of ``parts`` (in order, across ``documents``) a background; returns how many were found."""
    color = QColor(accent)
    color.setAlpha(FILL_ALPHA)
    style = QTextCharFormat()
    style.setBackground(color)
    style.setToolTip("Filled in by the model")
    found = 0
    queue = list(parts)
    for document in documents:
        text = document_text(document)
        position = 0
        while queue:
            try:
                start, end = selected_range(text[position:], queue[0])
            except EngineError:  # not in this document (or nothing to mark): try the next one
                if not any(ch.isalnum() for ch in queue[0]):
                    queue.pop(0)
                    continue
                break
            cursor = QTextCursor(document)
            cursor.setPosition(position + start)
            cursor.setPosition(position + end, QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(style)
            position += end
            queue.pop(0)
            found += 1
    return found

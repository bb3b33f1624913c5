"""A stored message whose widget is not built yet: its estimated height, and its text for find in chat.

A long chat builds only the messages in or near the view (app.ui.transcript's
Placeholder stands for the others).  The placeholder needs a height close to
the message's, so the scroll bar is right and little moves when it is built;
find in chat must see the message's text as its view would show it, without
building it, and build it when a match in it is to be shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from app.markdown import Rendered
from app.qt import QFontMetrics, QTextDocument

# What a message takes besides its lines of text (measured on the default theme, rounded):
USER_CHROME_PX = 59  # the bubble's padding, the time and the Edit / Copy row
REPLY_CHROME_PX = 44  # the reply's action row and stats line
BLOCK_GAP_LINES = 1.0  # a paragraph, list or code block's margins, in lines
USER_BUBBLE_SHARE = 0.8  # a user's bubble is at most this share of the column


def estimate(text: str, *, reply: bool, metrics: QFontMetrics) -> Callable[[int], int]:
    """The message's height for a column width: its lines wrapped at the font's average width, plus chrome.

    Cheap (no layout): only the scroll bar's precision rests on it, and the reader's place is kept
    when the message is built at its real height.
    """
    lines = text.splitlines() or [""]
    lengths = [len(line) for line in lines]
    blocks = sum(1 for line in lines if not line.strip())  # blank lines separate blocks
    char_px = max(1.0, metrics.averageCharWidth())
    line_px = metrics.lineSpacing()
    chrome = REPLY_CHROME_PX if reply else USER_CHROME_PX

    def height(width: int) -> int:
        text_width = width * (1.0 if reply else USER_BUBBLE_SHARE) - 24
        per_line = max(10, int(text_width / char_px))
        wrapped = sum(max(1, math.ceil(length / per_line)) for length in lengths)
        return round((wrapped - blocks + blocks * BLOCK_GAP_LINES) * line_px + chrome)

    return height


class UnbuiltText:
    """A message not built yet, as find in chat sees a text view: a document, and no highlights to paint.

    The document is rendered the first time it is searched (``render``) and kept; ``build`` builds
    the message, whose own views then hold the same text, to show a match in it.
    """

    def __init__(self, render: Callable[[], Rendered], build: Callable[[], None]) -> None:
        self._render = render
        self.build = build
        self._document: QTextDocument | None = None

    @property
    def rendered(self) -> bool:
        return self._document is not None

    def document(self) -> QTextDocument:
        if self._document is None:
            self._document = QTextDocument()
            self._document.setHtml(self._render().html)
        return self._document

    def setExtraSelections(self, _selections: list) -> None:
        """Nothing is shown to highlight (the name is QTextEdit's, which find in chat calls)."""

"""The conversation side of the window: the find bar, the chat shown and the composer, in one column.

On a wide screen a line the width of the window is hard to read, so the find
bar and the composer are at most :data:`COLUMN_MAX_PX` wide and centred, as the
transcript centres its messages; on a narrow one they take the width there is,
less a margin.  The area's object name gives it the transcript's background in
the style sheet (app/theme.py).
"""

from __future__ import annotations

from app.qt import QHBoxLayout, Qt, QVBoxLayout, QWidget
from app.ui.chat_pages import ChatPages
from app.ui.composer import Composer
from app.ui.find_bar import FindBar
from app.ui.transcript import COLUMN_MAX_PX


class ConversationArea(QWidget):
    def __init__(self, pages: ChatPages, composer: Composer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composerArea")
        # Qt paints a style sheet background on a plain QWidget only; a subclass must ask for it.
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.find_bar = FindBar(self)
        self.find_bar.setMaximumWidth(COLUMN_MAX_PX)
        find_row = QHBoxLayout()
        find_row.setContentsMargins(24, 0, 24, 0)
        find_row.addStretch(1)
        find_row.addWidget(self.find_bar, 100)
        find_row.addStretch(1)
        layout.addLayout(find_row)
        layout.addWidget(pages, 1)
        row = QHBoxLayout()
        row.setContentsMargins(24, 6, 24, 16)
        row.addStretch(1)
        composer.setMaximumWidth(COLUMN_MAX_PX)
        row.addWidget(composer, 100)
        row.addStretch(1)
        layout.addLayout(row)

"""The token-state view: the canvas's positions as a painted grid, one cell per token.

Painted by hand (no child widgets) because it changes up to 60 times a second
and has 256 cells.  The fill is the position's entropy (cool = certain, warm =
unsure); the state is drawn on top: faint italic for random noise, plain for a
draft, a bold accent outline for "accepted this step", a solid underline for
stable.  A draft cell whose token changed since the previous frame gets a small
corner mark (the model changed its mind), so refinement is visible frame to
frame; noise changes every frame by nature.

Drawing all 256 cells in Python took 15–73 ms a frame (issue #18), most of it
laying out the same few pieces again.  So the grid is kept in a pixmap: a step
redraws into it only the cells whose look changed (:class:`Cell` compares
equal when a cell would be drawn the same), each piece's elided text is laid
out once (:class:`QStaticText`, cached per piece, font and width), and
``paintEvent`` only copies the exposed part of the pixmap.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from app.palette import Colors
from app.qt import (
    QColor,
    QEvent,
    QFont,
    QFontMetrics,
    QPainter,
    QPen,
    QPixmap,
    QPointF,
    QRect,
    QRectF,
    QSize,
    QSizePolicy,
    QStaticText,
    Qt,
    QWidget,
)
from app.token_states import STATE_LABELS, TokenState, classify, entropy_level
from engine.events import Step

COLUMNS = 16
CELL_HEIGHT = 24
GAP = 2
ENTROPY_SHADES = 32  # fills are drawn from this many shades: close entropies look the same anyway
TEXT_CACHE_LIMIT = 4096  # laid-out pieces kept (a canvas has 256; noise pieces come and go)


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


def entropy_color(colors: Colors, level: float) -> QColor:
    """Certain (0) → teal, middle → amber, unsure (1) → rose; pale on light, deep on dark."""
    return entropy_color_named(colors.name, level)


def entropy_color_named(name: str, level: float) -> QColor:
    """:func:`entropy_color` for a theme by name (all the fill depends on)."""
    if name == "dark":
        stops = [QColor("#1d4d4a"), QColor("#5a4a1c"), QColor("#5b2430")]
    else:
        stops = [QColor("#d3f0ea"), QColor("#fbeac2"), QColor("#f8d3d8")]
    if level <= 0.5:
        return _mix(stops[0], stops[1], level * 2)
    return _mix(stops[1], stops[2], (level - 0.5) * 2)


PAD_PIECES = frozenset({"<pad>", ""})


@lru_cache(maxsize=TEXT_CACHE_LIMIT)
def display_piece(piece: str) -> str:
    if piece in PAD_PIECES or piece is None:
        return "·"
    shown = piece.replace("\n", "⏎").replace("\t", "⇥")
    if not shown.strip():
        return "␣" * min(len(shown), 3)
    return shown


class Cell(NamedTuple):
    """What one cell shows; two equal cells are drawn identically (so an unchanged one is not redrawn)."""

    text: str
    state: TokenState | None  # None: a position past the step's canvas (an empty cell)
    shade: int  # the entropy fill, 0 … ENTROPY_SHADES - 1
    marked: bool  # a draft whose token changed since the previous frame
    faint: bool  # noise or padding: drawn in the faint colour


EMPTY_CELL = Cell("", None, 0, False, False)


def cells_of(step: Step | None, states: list[TokenState], changed: set[int], positions: int) -> list[Cell]:
    """The look of every cell for ``step`` (its ``states``, the positions whose draft ``changed``)."""
    if step is None:
        return [EMPTY_CELL] * positions
    cells = []
    pieces, draft, entropy = step.pieces, step.draft, step.entropy
    top = ENTROPY_SHADES - 1
    for index in range(positions):
        if index >= len(draft):
            cells.append(EMPTY_CELL)
            continue
        state = states[index]
        has_piece = index < len(pieces)
        text = display_piece(pieces[index]) if has_piece else str(draft[index])
        faint = state == TokenState.NOISE or (has_piece and pieces[index] in PAD_PIECES)
        shade = round(entropy_level(entropy[index]) * top)
        cells.append(Cell(text, state, shade, index in changed and state == TokenState.DRAFT, faint))
    return cells


class TokenGrid(QWidget):
    """Shows one Step: pieces, states and entropy of every canvas position."""

    def __init__(self, colors: Colors, parent=None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Token-state view of the canvas")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._colors = colors
        self._step: Step | None = None
        self._previous: Step | None = None  # the step before, for states
        self._shown_draft: tuple[int, ...] = ()  # the draft drawn in the previous frame
        self._states: list[TokenState] = []
        self._changed: set[int] = set()
        self.frames = 0
        self.cells_drawn = 0  # cells drawn into the pixmap so far (an unchanged cell is not)
        self._positions = 256
        self._cells: list[Cell] = [EMPTY_CELL] * self._positions
        self._pixmap: QPixmap | None = None  # the grid as drawn; None: to draw whole at the next paint
        self._dirty: set[int] = set()  # cells whose look changed since the pixmap was drawn
        self._texts: dict[tuple[str, int, int], QStaticText] = {}
        self._fonts: tuple[QFont, QFont, QFont] | None = None  # plain, bold, italic
        self.setMinimumHeight(self._height_for(self._positions))

    def set_colors(self, colors: Colors) -> None:
        self._colors = colors
        self._invalidate()

    def clear(self) -> None:
        self._step = self._previous = None
        self._shown_draft = ()
        self._states = []
        self._changed = set()
        self._show_cells(cells_of(None, [], set(), self._positions))

    def show_step(self, step: Step, previous: Step | None) -> None:
        """Draw ``step`` (``previous`` is the step before it, if the caller kept it)."""
        if self._step is step:
            return
        if self._step is not None and self._step.block == step.block and previous is None:
            previous = self._step
        self._previous = previous
        last = self._shown_draft
        self._changed = {i for i, t in enumerate(step.draft) if i >= len(last) or last[i] != t}
        self._shown_draft = step.draft
        self._step = step
        self._states = classify(step, previous)
        self.accessible_summary()
        if len(step.draft) != self._positions:
            self._positions = len(step.draft)
            self.setMinimumHeight(self._height_for(self._positions))
            self.updateGeometry()
            self._pixmap = None
        self.frames += 1
        self._show_cells(cells_of(step, self._states, self._changed, self._positions))

    def states(self) -> list[TokenState]:
        return list(self._states)

    def accessible_summary(self) -> str:
        counts = {state: self._states.count(state) for state in TokenState}
        summary = ", ".join(f"{counts[s]} {STATE_LABELS[s]}" for s in TokenState)
        self.setAccessibleDescription(summary)
        return summary

    def _height_for(self, positions: int) -> int:
        rows = -(-positions // COLUMNS)
        return rows * (CELL_HEIGHT + GAP)

    def sizeHint(self) -> QSize:
        return QSize(COLUMNS * 46, self._height_for(self._positions))

    # --- drawing -------------------------------------------------------------------

    def _show_cells(self, cells: list[Cell]) -> None:
        """Mark the cells whose look changed and ask Qt to repaint just those."""
        old = self._cells
        changed = [i for i, cell in enumerate(cells) if i >= len(old) or old[i] != cell]
        self._cells = cells
        if self._pixmap is None or len(changed) > len(cells) // 2:
            self._dirty.update(changed)
            self.update()
            return
        self._dirty.update(changed)
        for index in changed:
            self.update(self._cell_rect(index))

    def _invalidate(self) -> None:
        """Colours, font or size changed: everything is drawn again at the next paint."""
        self._pixmap = None
        self._fonts = None
        self._texts.clear()
        self.update()

    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange, QEvent.Type.PaletteChange):
            self._invalidate()
        super().changeEvent(event)

    def resizeEvent(self, event) -> None:
        self._pixmap = None
        super().resizeEvent(event)

    def _cell_rect(self, index: int) -> QRect:
        """Whole pixels, so a cell is cleared and redrawn without touching its neighbours."""
        row, col = divmod(index, COLUMNS)
        step = (self.width() + GAP) / COLUMNS
        left = round(col * step)
        right = round((col + 1) * step) - GAP
        return QRect(left, row * (CELL_HEIGHT + GAP), max(1, right - left), CELL_HEIGHT)

    def paintEvent(self, event) -> None:
        ratio = self.devicePixelRatioF()
        pixmap = self._pixmap
        if pixmap is None or pixmap.size() != self.size() * ratio:
            pixmap = QPixmap(self.size() * ratio)
            pixmap.setDevicePixelRatio(ratio)
            pixmap.fill(Qt.GlobalColor.transparent)
            self._pixmap = pixmap
            self._dirty = set(range(len(self._cells)))
        if self._dirty:
            self._draw_cells(pixmap, sorted(self._dirty))
            self._dirty.clear()
        painter = QPainter(self)
        exposed = event.rect()
        source = QRectF(
            exposed.x() * ratio, exposed.y() * ratio, exposed.width() * ratio, exposed.height() * ratio
        )
        painter.drawPixmap(QRectF(exposed), pixmap, source)
        painter.end()

    def _draw_cells(self, pixmap: QPixmap, indexes: list[int]) -> None:
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        c = self._colors
        fonts = self._fonts_now()
        pens = (QColor(c.text), QColor(c.faint))
        accent = QColor(c.accent)
        empty = QColor(c.code_bg)
        shades = _shades(c.name)
        for index in indexes:
            cell = self._cells[index]
            rect = self._cell_rect(index)
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
            painter.fillRect(rect, Qt.GlobalColor.transparent)
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
            area = QRectF(rect)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(empty if cell.state is None else shades[cell.shade])
            painter.drawRoundedRect(area, 4, 4)
            if cell.state is None:
                continue
            if cell.state == TokenState.ACCEPTED:
                painter.setPen(QPen(accent, 2))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRoundedRect(area.adjusted(1, 1, -1, -1), 4, 4)
            elif cell.state == TokenState.STABLE:
                painter.setPen(QPen(QColor(c.muted), 2))
                painter.drawLine(area.bottomLeft() + _offset(3, -1.5), area.bottomRight() + _offset(-3, -1.5))
            if cell.marked:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(accent)
                painter.drawEllipse(area.topRight() + _offset(-4, 4), 2, 2)
            kind = {TokenState.NOISE: 2, TokenState.ACCEPTED: 1}.get(cell.state, 0)
            text = self._laid_out(cell.text, kind, rect.width() - 6, fonts)
            size = text.size()
            painter.setFont(fonts[kind])
            painter.setPen(pens[cell.faint])
            painter.drawStaticText(
                QPointF(area.center().x() - size.width() / 2, area.center().y() - size.height() / 2), text
            )
        painter.end()
        self.cells_drawn += len(indexes)

    def _fonts_now(self) -> tuple[QFont, QFont, QFont]:
        if self._fonts is None:
            font = QFont(self.font())
            font.setFamilies(["JetBrains Mono", "DejaVu Sans Mono", "Noto Sans Mono", "monospace"])
            font.setPointSizeF(max(7.0, self.font().pointSizeF() * 0.72))
            bold = QFont(font)
            bold.setBold(True)
            italic = QFont(font)
            italic.setItalic(True)
            self._fonts = (font, bold, italic)
        return self._fonts

    def _laid_out(self, text: str, kind: int, width: int, fonts: tuple[QFont, QFont, QFont]) -> QStaticText:
        """``text`` elided to ``width`` in font ``kind``, laid out once and kept."""
        key = (text, kind, width)
        laid = self._texts.get(key)
        if laid is None:
            if len(self._texts) >= TEXT_CACHE_LIMIT:
                self._texts.clear()
            elided = QFontMetrics(fonts[0]).elidedText(text, Qt.TextElideMode.ElideRight, width)
            laid = QStaticText(elided)
            laid.setTextFormat(Qt.TextFormat.PlainText)
            laid.prepare(font=fonts[kind])
            self._texts[key] = laid
        return laid


@lru_cache(maxsize=4)
def _shades(theme: str) -> tuple[QColor, ...]:
    """The fills of a theme, one per entropy shade."""
    return tuple(entropy_color_named(theme, i / (ENTROPY_SHADES - 1)) for i in range(ENTROPY_SHADES))


def _offset(x: float, y: float) -> QPointF:
    return QPointF(x, y)


class TokenLegend(QWidget):
    """The key under the grid: the four states and the entropy ramp."""

    def __init__(self, colors: Colors, parent=None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Legend of the token-state view")
        self.setAccessibleDescription(
            "Fill colour is entropy, from certain (teal) to unsure (rose). "
            + "; ".join(STATE_LABELS[s] for s in TokenState)
        )
        self._colors = colors
        self.setFixedHeight(26)

    def set_colors(self, colors: Colors) -> None:
        self._colors = colors
        self.update()

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        c = self._colors
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, self.font().pointSizeF() * 0.8))
        painter.setFont(font)
        metrics = QFontMetrics(font)
        x = 0.0
        y = 5.0
        box = 16.0
        for state in TokenState:
            rect = QRectF(x, y, box * 1.6, box)
            painter.setPen(Qt.PenStyle.NoPen)
            level = {TokenState.NOISE: 1.0, TokenState.DRAFT: 0.55, TokenState.ACCEPTED: 0.1}.get(state, 0.0)
            painter.setBrush(entropy_color(c, level))
            painter.drawRoundedRect(rect, 3, 3)
            if state == TokenState.ACCEPTED:
                painter.setPen(QPen(QColor(c.accent), 2))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 3, 3)
            elif state == TokenState.STABLE:
                painter.setPen(QPen(QColor(c.muted), 2))
                painter.drawLine(rect.bottomLeft() + _offset(3, -1.5), rect.bottomRight() + _offset(-3, -1.5))
            label = STATE_LABELS[state]
            painter.setPen(QColor(c.muted))
            painter.drawText(QRectF(x + box * 1.6 + 5, 0, 400, 26), Qt.AlignmentFlag.AlignVCenter, label)
            x += box * 1.6 + 5 + metrics.horizontalAdvance(label) + 16
        # Entropy ramp.
        label = "entropy"
        ramp_w = 90.0
        if x + ramp_w + 120 < self.width():
            x = (
                self.width()
                - ramp_w
                - metrics.horizontalAdvance("low  high")
                - 10
                - metrics.horizontalAdvance(label)
            )
            painter.setPen(QColor(c.muted))
            painter.drawText(QRectF(x, 0, 200, 26), Qt.AlignmentFlag.AlignVCenter, label + "  low")
            x += metrics.horizontalAdvance(label + "  low") + 5
            steps = 24
            for i in range(steps):
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(entropy_color(c, i / (steps - 1)))
                painter.drawRect(QRectF(x + i * ramp_w / steps, y + 3, ramp_w / steps + 0.5, box - 6))
            painter.setPen(QColor(c.muted))
            painter.drawText(QRectF(x + ramp_w + 5, 0, 60, 26), Qt.AlignmentFlag.AlignVCenter, "high")
        painter.end()

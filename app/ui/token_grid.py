"""The token-state view: the canvas's positions as a painted grid, one cell per token.

Painted by hand (one ``paintEvent``, no child widgets) because it changes up to
60 times a second and has 256 cells.  The fill is the position's entropy
(cool = certain, warm = unsure); the state is drawn on top: faint italic for
random noise, plain for a draft, a bold accent outline for "accepted this
step", a solid underline for stable.  A draft cell whose token changed since
the previous frame gets a small corner mark (the model changed its mind), so
refinement is visible frame to frame; noise changes every frame by nature.
"""

from __future__ import annotations

from app.palette import Colors
from app.qt import (
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPen,
    QPointF,
    QRectF,
    QSize,
    QSizePolicy,
    Qt,
    QWidget,
)
from app.token_states import STATE_LABELS, TokenState, classify, entropy_level
from engine.events import Step

COLUMNS = 16
CELL_HEIGHT = 24
GAP = 2


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


def entropy_color(colors: Colors, level: float) -> QColor:
    """Certain (0) → teal, middle → amber, unsure (1) → rose; pale on light, deep on dark."""
    if colors.name == "dark":
        stops = [QColor("#1d4d4a"), QColor("#5a4a1c"), QColor("#5b2430")]
    else:
        stops = [QColor("#d3f0ea"), QColor("#fbeac2"), QColor("#f8d3d8")]
    if level <= 0.5:
        return _mix(stops[0], stops[1], level * 2)
    return _mix(stops[1], stops[2], (level - 0.5) * 2)


PAD_PIECES = frozenset({"<pad>", ""})


def display_piece(piece: str) -> str:
    if piece in PAD_PIECES or piece is None:
        return "·"
    shown = piece.replace("\n", "⏎").replace("\t", "⇥")
    if not shown.strip():
        return "␣" * min(len(shown), 3)
    return shown


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
        self._positions = 256
        self.setMinimumHeight(self._height_for(self._positions))

    def set_colors(self, colors: Colors) -> None:
        self._colors = colors
        self.update()

    def clear(self) -> None:
        self._step = self._previous = None
        self._shown_draft = ()
        self._states = []
        self._changed = set()
        self.update()

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
        self.frames += 1
        self.update()

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

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        c = self._colors
        cell_w = (self.width() - GAP * (COLUMNS - 1)) / COLUMNS
        font = QFont(self.font())
        font.setFamilies(["JetBrains Mono", "DejaVu Sans Mono", "Noto Sans Mono", "monospace"])
        font.setPointSizeF(max(7.0, self.font().pointSizeF() * 0.72))
        bold = QFont(font)
        bold.setBold(True)
        italic = QFont(font)
        italic.setItalic(True)
        metrics = QFontMetrics(font)
        step = self._step
        text_color = QColor(c.text)
        faint = QColor(c.faint)
        accent = QColor(c.accent)
        for index in range(self._positions):
            row, col = divmod(index, COLUMNS)
            rect = QRectF(col * (cell_w + GAP), row * (CELL_HEIGHT + GAP), cell_w, CELL_HEIGHT)
            if step is None or index >= len(step.draft):
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(QColor(c.code_bg))
                painter.drawRoundedRect(rect, 4, 4)
                continue
            state = self._states[index]
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(entropy_color(c, entropy_level(step.entropy[index])))
            painter.drawRoundedRect(rect, 4, 4)
            if state == TokenState.ACCEPTED:
                painter.setPen(QPen(accent, 2))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 4, 4)
            elif state == TokenState.STABLE:
                painter.setPen(QPen(QColor(c.muted), 2))
                painter.drawLine(rect.bottomLeft() + _offset(3, -1.5), rect.bottomRight() + _offset(-3, -1.5))
            if index in self._changed and state == TokenState.DRAFT:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(accent)
                painter.drawEllipse(rect.topRight() + _offset(-4, 4), 2, 2)
            piece = display_piece(step.pieces[index]) if index < len(step.pieces) else str(step.draft[index])
            painter.setFont({TokenState.NOISE: italic, TokenState.ACCEPTED: bold}.get(state, font))
            is_pad = index < len(step.pieces) and step.pieces[index] in PAD_PIECES
            painter.setPen(faint if state == TokenState.NOISE or is_pad else text_color)
            elided = metrics.elidedText(piece, Qt.TextElideMode.ElideRight, int(rect.width()) - 6)
            painter.drawText(rect.adjusted(3, 0, -3, 0), Qt.AlignmentFlag.AlignCenter, elided)
        painter.end()


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

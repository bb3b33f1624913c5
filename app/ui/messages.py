"""The widgets of one message: the user's bubble, the assistant's reply, an inline notice.

The assistant reply is the live part of the window.  ``render_frame`` is called
at most once per screen frame by the window's throttle and draws the reply's
current :class:`~app.reply_state.ReplyState`: the step indicator, the thought
and answer (re-rendering only their tails, see :class:`MarkdownStack`) or, with
the token view on, the canvas grid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from app.markdown import MarkdownRenderer
from app.media_probe import MediaInfo
from app.palette import Colors
from app.qt import (
    QFrame,
    QGuiApplication,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    Qt,
    QToolButton,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.reply_state import ReplyState, format_stats
from app.ui.markdown_stack import MarkdownStack
from app.ui.media_widgets import AttachmentTiles
from app.ui.text_view import RichTextView
from app.ui.token_grid import TokenGrid, TokenLegend

USER_BUBBLE_FRACTION = 0.82


class UserMessage(QWidget):
    def __init__(
        self,
        text: str,
        attachments: Sequence[tuple[Path, MediaInfo | None]],
        renderer: Callable[[], MarkdownRenderer],
        parent=None,
    ) -> None:
        super().__init__(parent)
        self.text = text
        self._renderer = renderer
        self.setAccessibleName("Your message")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 6)
        layout.setSpacing(6)
        if attachments:
            layout.addWidget(AttachmentTiles(list(attachments), self, align_right=True))
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addStretch(1)
        self.bubble = QFrame(self)
        self.bubble.setObjectName("userBubble")
        bubble_layout = QVBoxLayout(self.bubble)
        bubble_layout.setContentsMargins(16, 10, 16, 10)
        self.view = RichTextView(self.bubble, accessible_name="Your message text")
        self.view.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        bubble_layout.addWidget(self.view)
        row.addWidget(self.bubble)
        self.bubble.setVisible(bool(text.strip()))
        layout.addLayout(row)
        self.rerender()

    def rerender(self) -> None:
        self.view.set_rendered(self._renderer().render_plain(self.text))
        self._fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        """Hug short messages, wrap long ones at a fraction of the column."""
        limit = max(120, int(self.width() * USER_BUBBLE_FRACTION) - 32)
        metrics = self.view.fontMetrics()
        ideal = (
            max((metrics.horizontalAdvance(line) for line in self.text.splitlines() or [""]), default=0) + 8
        )
        width = max(24, min(ideal, limit))
        if self.view.width() != width:
            self.view.setFixedWidth(width)


class Notice(QFrame):
    """An inline message in the conversation: what went wrong and what to do, with optional actions."""

    def __init__(
        self,
        message: str,
        parent=None,
        *,
        actions: Sequence[tuple[str, Callable[[], None]]] = (),
        kind: str = "error",
    ) -> None:
        super().__init__(parent)
        self.setObjectName("notice" if kind == "error" else "infoNotice")
        self.setAccessibleName("Error" if kind == "error" else "Notice")
        self.setAccessibleDescription(message)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(8)
        self.label = QLabel(message, self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.label)
        self.buttons: list[QPushButton] = []
        if actions:
            row = QHBoxLayout()
            row.setSpacing(8)
            for index, (label, callback) in enumerate(actions):
                button = QPushButton(label, self)
                button.setAccessibleName(label)
                if index == 0:
                    button.setObjectName("primary")
                button.clicked.connect(callback)
                row.addWidget(button)
                self.buttons.append(button)
            row.addStretch(1)
            layout.addLayout(row)

    @property
    def message(self) -> str:
        return self.label.text()


class AssistantMessage(QWidget):
    """A reply: live while generated, then final with its statistics."""

    token_view_toggled = Signal(bool)
    code_copied = Signal()

    def __init__(self, renderer: Callable[[], MarkdownRenderer], colors: Colors, parent=None) -> None:
        super().__init__(parent)
        self._renderer = renderer
        self.setAccessibleName("Assistant reply")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 8, 0, 10)
        layout.setSpacing(6)

        header = QHBoxLayout()
        header.setSpacing(8)
        self.name = QLabel("DiffusionGemma", self)
        self.name.setObjectName("assistantName")
        header.addWidget(self.name)
        self.indicator = QLabel("", self)
        self.indicator.setObjectName("stepIndicator")
        self.indicator.setAccessibleName("Generation progress")
        header.addWidget(self.indicator)
        header.addStretch(1)
        self.token_button = QToolButton(self)
        self.token_button.setText("Tokens")
        self.token_button.setCheckable(True)
        self.token_button.setToolTip("Show the canvas as tokens (Ctrl+T)")
        self.token_button.setAccessibleName("Token-state view")
        self.token_button.toggled.connect(self._on_token_button_toggled)
        header.addWidget(self.token_button)
        self.copy_button = QToolButton(self)
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Copy the reply as markdown")
        self.copy_button.setAccessibleName("Copy reply")
        self.copy_button.clicked.connect(self._on_copy_clicked)
        self.copy_button.setVisible(False)
        header.addWidget(self.copy_button)
        layout.addLayout(header)

        self.thought_toggle = QToolButton(self)
        self.thought_toggle.setObjectName("thoughtToggle")
        self.thought_toggle.setCheckable(True)
        self.thought_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.thought_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.thought_toggle.setAccessibleName("Show or hide the model's reasoning")
        self.thought_toggle.toggled.connect(self._on_thought_toggle_toggled)
        self.thought_toggle.setVisible(False)
        layout.addWidget(self.thought_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        self.thought_box = QFrame(self)
        self.thought_box.setObjectName("thoughtBox")
        thought_layout = QVBoxLayout(self.thought_box)
        thought_layout.setContentsMargins(12, 0, 0, 8)
        self.thought = MarkdownStack(renderer, self.thought_box, accessible_name="Reasoning")
        self.thought.set_text_color(colors.muted)
        thought_layout.addWidget(self.thought)
        self.thought_box.setVisible(False)
        layout.addWidget(self.thought_box)

        self.answer = MarkdownStack(renderer, self, accessible_name="Reply text")
        self.answer.code_copied.connect(self.code_copied)
        self.thought.code_copied.connect(self.code_copied)
        layout.addWidget(self.answer)

        self.token_panel = QWidget(self)
        panel_layout = QVBoxLayout(self.token_panel)
        panel_layout.setContentsMargins(0, 4, 0, 0)
        panel_layout.setSpacing(6)
        self.grid = TokenGrid(colors, self.token_panel)
        self.legend = TokenLegend(colors, self.token_panel)
        panel_layout.addWidget(self.grid)
        panel_layout.addWidget(self.legend)
        self.token_panel.setVisible(False)
        layout.addWidget(self.token_panel)

        self.notice: Notice | None = None
        self.stats = QLabel("", self)
        self.stats.setObjectName("replyStats")
        self.stats.setAccessibleName("Reply statistics")
        self.stats.setWordWrap(True)
        self.stats.setVisible(False)
        layout.addWidget(self.stats)
        self._user_opened_thought = False
        self._thought_seconds: float | None = None
        self.frames = 0
        self.state: ReplyState | None = None

    # --- live ----------------------------------------------------------------

    def render_frame(self, state: ReplyState) -> None:
        """Draw the reply as it is now (called at most at screen rate)."""
        self.state = state
        self.frames += 1
        self.indicator.setText(state.indicator())
        display = state.display()
        self._show_thought(display.thought, display.thinking, state.thought_seconds)
        self.answer.set_text(display.answer, display.answer_committed)
        if display.thought:
            self.thought.set_text(display.thought, display.thought_committed)
        if self.token_panel.isVisible() and state.step is not None:
            self.grid.show_step(state.step, state.previous_step)

    def finish(self, state: ReplyState) -> None:
        """The reply ended: exact final text, statistics, no indicator."""
        self.state = state
        done = state.done
        assert done is not None
        self.indicator.setText("stopped" if done.incomplete else "")
        self._show_thought(done.thought, False, state.thought_seconds)
        if done.thought:
            self.thought.set_final(done.thought)
        self.answer.set_final(done.answer)
        if state.step is not None:
            self.grid.show_step(state.step, state.previous_step)
        self.stats.setText(format_stats(done) + (" · stopped" if done.incomplete else ""))
        self.stats.setVisible(True)
        self.copy_button.setVisible(bool(done.answer))
        if not done.answer and not done.thought:
            self.answer.set_final("*No text: the reply was stopped before the first canvas.*")

    def fail(
        self, message: str, state: ReplyState | None = None, *, retry: Callable[[], object] | None = None
    ) -> None:
        self.indicator.setText("")
        if state is not None:
            display = state.display()
            self.answer.set_final(display.answer)
            if display.thought:
                self._show_thought(display.thought, False, state.thought_seconds)
                self.thought.set_final(display.thought)
        self.notice = Notice(message, self, actions=[("Try again", retry)] if retry else ())
        self.layout().insertWidget(self.layout().indexOf(self.stats), self.notice)

    def show_final(self, answer: str, thought: str, thought_seconds: float | None, stats: str) -> None:
        """A finished reply (used when re-creating a chat's widgets)."""
        self._show_thought(thought, False, thought_seconds)
        if thought:
            self.thought.set_final(thought)
        self.answer.set_final(answer)
        self.stats.setText(stats)
        self.stats.setVisible(bool(stats))
        self.copy_button.setVisible(bool(answer))

    def set_token_view(self, on: bool) -> None:
        if self.token_button.isChecked() != on:
            self.token_button.setChecked(on)
        else:
            self._apply_token_view(on)

    def set_colors(self, colors: Colors) -> None:
        self.thought.set_text_color(colors.muted)
        self.grid.set_colors(colors)
        self.legend.set_colors(colors)
        self.answer.rerender()
        self.thought.rerender()

    # --- internals -----------------------------------------------------------

    def _show_thought(self, thought: str, thinking: bool, seconds: float | None) -> None:
        if not thought:
            return
        self.thought_toggle.setVisible(True)
        if thinking:
            self.thought_toggle.setText("Thinking…")
            if not self._user_opened_thought and not self.thought_toggle.isChecked():
                self.thought_toggle.setChecked(True)
        else:
            label = f"Thought for {max(1, round(seconds))} s" if seconds is not None else "Thoughts"
            if self.thought_toggle.text() != label:
                self.thought_toggle.setText(label)
                if not self._user_opened_thought and self.thought_toggle.isChecked():
                    self.thought_toggle.setChecked(False)

    def _on_thought_toggle_toggled(self, open_: bool) -> None:
        if self.thought_toggle.text() not in ("", "Thinking…"):
            self._user_opened_thought = open_
        self.thought_toggle.setArrowType(Qt.ArrowType.DownArrow if open_ else Qt.ArrowType.RightArrow)
        self.thought_box.setVisible(open_)

    def _on_token_button_toggled(self, on: bool) -> None:
        self._apply_token_view(on)
        self.token_view_toggled.emit(on)

    def _apply_token_view(self, on: bool) -> None:
        self.token_panel.setVisible(on)
        self.answer.setVisible(not on)
        if on and self.state is not None and self.state.step is not None:
            self.grid.show_step(self.state.step, self.state.previous_step)

    def _on_copy_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.answer.text)
        self.code_copied.emit()

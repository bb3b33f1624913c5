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
    QEvent,
    QFont,
    QFrame,
    QGuiApplication,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSize,
    QSizePolicy,
    Qt,
    QToolButton,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.replay import NOTE_TOOLTIPS, Replay
from app.reply_state import ReplyState, format_stats, stats_tooltip
from app.store.dates import format_moment
from app.ui import filled_gaps
from app.ui.buttons import tool_button
from app.ui.markdown_stack import MarkdownStack
from app.ui.media_widgets import AttachmentTiles
from app.ui.replay_bar import ReplayBar
from app.ui.text_view import RichTextView
from app.ui.token_grid import TokenGrid, TokenLegend
from app.ui.uncertainty_tints import UncertaintyTints
from app.ui.version_switcher import VersionSwitcher
from app.uncertainty import ReplyDoubts
from engine.generation.plan import ALL_PLANS

USER_BUBBLE_FRACTION = 0.82
BUBBLE_MIN_TEXT_PX = 120  # a long message wraps at no less than this, however narrow the column
BUBBLE_PADDING_PX = 32  # the bubble's left and right margins together
NO_TEXT = "*No text: the reply was stopped before the first canvas.*"
# A user's message longer than this shows its first lines, with "Show all N lines".
COLLAPSE_OVER_LINES, COLLAPSE_OVER_CHARS = 24, 3_000
COLLAPSED_LINES, COLLAPSED_CHARS = 12, 1_200


def _action_button(parent: QWidget, text: str, tip: str) -> QToolButton:
    return tool_button(parent, text, tip, name=tip, object_name="messageAction")


class _EditBox(QPlainTextEdit):
    """The editor of a sent message: Ctrl+Enter sends, Esc cancels (before the window's Esc = Stop)."""

    submitted = Signal()
    cancelled = Signal()

    def _is_ours(self, event) -> bool:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        return (enter and ctrl) or event.key() == Qt.Key.Key_Escape

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and self._is_ours(event):
            event.accept()  # the key comes to keyPressEvent instead of triggering a window shortcut
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        if self._is_ours(event):
            (self.cancelled if event.key() == Qt.Key.Key_Escape else self.submitted).emit()
            event.accept()
            return
        super().keyPressEvent(event)


class UserMessage(QWidget):
    """The user's bubble; Edit turns it into an editor whose Send adds a new version of the message."""

    edit_submitted = Signal(str)  # the edited text
    copied = Signal()

    def __init__(
        self,
        text: str,
        attachments: Sequence[tuple[Path, MediaInfo | None, str]],  # path, thumbnail info, file name
        renderer: Callable[[], MarkdownRenderer],
        parent=None,
        *,
        store_id: int | None = None,
    ) -> None:
        super().__init__(parent)
        self.text = text
        self.store_id = store_id
        self._has_attachments = bool(attachments)  # an edit keeps them, so its text may be empty
        self._ideal_width: tuple[QFont, int] | None = None  # the text's unwrapped width in a font (_fit)
        self._renderer = renderer
        self.setAccessibleName("Your message")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 6)
        layout.setSpacing(6)
        self.tiles: AttachmentTiles | None = None
        if attachments:
            self.tiles = AttachmentTiles(list(attachments), self, align_right=True)
            layout.addWidget(self.tiles)
        layout.addLayout(self._build_bubble(text))
        lines = text.splitlines()
        self._collapsible = len(lines) > COLLAPSE_OVER_LINES or len(text) > COLLAPSE_OVER_CHARS
        self._expanded = False
        layout.addWidget(self._build_editor())
        layout.addLayout(self._build_actions(text, store_id))
        self.rerender()

    def _build_bubble(self, text: str) -> QHBoxLayout:
        """The message's text, in a bubble on the right (hidden for a message of attachments only)."""
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addStretch(1)
        self.bubble = QFrame(self)
        self.bubble.setObjectName("userBubble")
        bubble_layout = QVBoxLayout(self.bubble)
        bubble_layout.setContentsMargins(BUBBLE_PADDING_PX // 2, 10, BUBBLE_PADDING_PX // 2, 10)
        self.view = RichTextView(self.bubble, accessible_name="Your message text")
        self.view.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        bubble_layout.addWidget(self.view)
        row.addWidget(self.bubble)
        self.bubble.setVisible(bool(text.strip()))
        return row

    def _build_editor(self) -> QFrame:
        """Edit's editor, hidden until Edit is clicked: its Send adds a new version of the message."""
        self.editor = QFrame(self)
        self.editor.setObjectName("messageEditor")
        editor_layout = QVBoxLayout(self.editor)
        editor_layout.setContentsMargins(12, 10, 12, 10)
        editor_layout.setSpacing(8)
        self.edit_box = _EditBox(self.editor)
        self.edit_box.submitted.connect(self.submit_edit)
        self.edit_box.cancelled.connect(self.cancel_edit)
        self.edit_box.setObjectName("messageEditBox")
        self.edit_box.setAccessibleName("Edit your message")
        self.edit_box.setTabChangesFocus(True)
        self.edit_box.textChanged.connect(self._fit_editor)
        editor_layout.addWidget(self.edit_box)
        editor_buttons = QHBoxLayout()
        editor_buttons.addStretch(1)
        self.cancel_edit_button = QPushButton("Cancel", self.editor)
        self.cancel_edit_button.clicked.connect(self.cancel_edit)
        self.send_edit_button = QPushButton("Send", self.editor)
        self.send_edit_button.setObjectName("primary")
        self.send_edit_button.setToolTip(
            "Send the edited message (Ctrl+Enter); the original is kept as a version"
        )
        self.send_edit_button.clicked.connect(self.submit_edit)
        editor_buttons.addWidget(self.cancel_edit_button)
        editor_buttons.addWidget(self.send_edit_button)
        editor_layout.addLayout(editor_buttons)
        self.editor.setVisible(False)
        return self.editor

    def _build_actions(self, text: str, store_id: int | None) -> QHBoxLayout:
        """The row under the bubble: versions, Show all, Copy, Edit."""
        actions = QHBoxLayout()
        actions.setContentsMargins(0, 0, 0, 0)
        actions.setSpacing(2)
        actions.addStretch(1)
        self.versions = VersionSwitcher(self)
        actions.addWidget(self.versions)
        self.expand_button = _action_button(self, "Show all", "Show the whole message")
        self.expand_button.clicked.connect(lambda: self.set_expanded(not self._expanded))
        actions.addWidget(self.expand_button)
        self.copy_button = _action_button(self, "Copy", "Copy this message's text")
        self.copy_button.setAccessibleName("Copy your message")
        self.copy_button.clicked.connect(self._on_copy_button_clicked)
        self.copy_button.setVisible(bool(text.strip()))
        actions.addWidget(self.copy_button)
        self.edit_button = _action_button(self, "Edit", "Edit this message and send it again")
        self.edit_button.clicked.connect(self.start_edit)
        self.edit_button.setVisible(store_id is not None)
        actions.addWidget(self.edit_button)
        return actions

    def start_edit(self) -> None:
        self.edit_box.setPlainText(self.text)
        self._fit_editor()
        self.bubble.setVisible(False)
        self.expand_button.setVisible(False)
        self.edit_button.setVisible(False)
        self.copy_button.setVisible(False)
        self.editor.setVisible(True)
        self.edit_box.setFocus(Qt.FocusReason.OtherFocusReason)
        self.edit_box.selectAll()

    def _fit_editor(self) -> None:
        """As tall as its text (3 to 12 lines), like the composer."""
        lines = max(1, int(self.edit_box.document().size().height()))
        line_px = self.edit_box.fontMetrics().lineSpacing()
        visible = min(12, max(3, lines))
        self.edit_box.setFixedHeight(visible * line_px + 16)

    def cancel_edit(self) -> None:
        self.editor.setVisible(False)
        self.bubble.setVisible(bool(self.text.strip()))
        self.expand_button.setVisible(self._collapsible)
        self.edit_button.setVisible(self.store_id is not None)
        self.copy_button.setVisible(bool(self.text.strip()))

    def _on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.text)  # as typed, to reuse in another chat
        self.copied.emit()

    @property
    def editing(self) -> bool:
        return not self.editor.isHidden()

    def submit_edit(self) -> None:
        text = self.edit_box.toPlainText().strip()
        if not text and not self._has_attachments:
            self.edit_box.setPlaceholderText("Type the new version of your message (Esc cancels)")
            return  # an empty message would ask the model nothing
        if text == self.text.strip():
            self.cancel_edit()  # unchanged: nothing to send
            return
        self.edit_submitted.emit(text)

    def set_actions_enabled(self, on: bool) -> None:
        """Off while a reply is being written (the branch cannot change under it)."""
        self.edit_button.setEnabled(on)
        self.send_edit_button.setEnabled(on)
        self.versions.setEnabled(on)

    def text_views(self) -> list[RichTextView]:
        """The views holding this message's text, top to bottom (for find in chat)."""
        return [self.view]

    @property
    def collapsed(self) -> bool:
        """A long message shows its first lines only, until "Show all" (a pasted log, a long draft)."""
        return self._collapsible and not self._expanded

    def set_expanded(self, expanded: bool) -> None:
        if expanded != self._expanded:
            self._expanded = expanded
            self.rerender()

    def rerender(self) -> None:
        text = self.text
        if self.collapsed:
            text = "\n".join(self.text.splitlines()[:COLLAPSED_LINES])[:COLLAPSED_CHARS].rstrip() + " …"
        self.view.set_rendered(self._renderer().render_plain(text))
        self.expand_button.setVisible(self._collapsible)
        lines = len(self.text.splitlines())
        self.expand_button.setText("Show less" if self._expanded else f"Show all {lines:,} lines")
        self._ideal_width = None
        self._fit()

    def set_sent_at(self, when: float) -> None:
        """Say when the message was sent, on hovering it (as messaging apps do)."""
        self.bubble.setToolTip(f"Sent {format_moment(when)}")

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def minimumSizeHint(self) -> QSize:
        """As narrow as the bubble can get, not as wide as it is now.

        The bubble's width follows the message's (:meth:`_fit`, on each resize), so a minimum taken
        from the bubble as it is held the transcript's column at the widest bubble's old width when
        the window narrowed, until each message had been resized, one step per turn of the event
        loop (and a resize that left the messages out of sight for later held it until then).
        """
        hint = super().minimumSizeHint()
        narrowest = BUBBLE_MIN_TEXT_PX + BUBBLE_PADDING_PX
        if self.tiles is not None:
            narrowest = max(narrowest, self.tiles.minimumSizeHint().width())
        return QSize(min(hint.width(), narrowest), hint.height())

    def _fit(self) -> None:
        """Hug short messages, wrap long ones at a fraction of the column.

        The text's own width is measured once per font (each resize of a long chat runs this for
        every user message in it; the view's font may come later, from the style sheet).
        """
        limit = max(BUBBLE_MIN_TEXT_PX, int(self.width() * USER_BUBBLE_FRACTION) - BUBBLE_PADDING_PX)
        font = self.view.font()
        if self._ideal_width is None or self._ideal_width[0] != font:
            metrics = self.view.fontMetrics()
            widest = max(
                (metrics.horizontalAdvance(line) for line in self.text.splitlines() or [""]), default=0
            )
            self._ideal_width = (font, widest + 8)
        width = max(24, min(self._ideal_width[1], limit))
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
    regenerate_clicked = Signal()
    replay_clicked = Signal()
    continue_clicked = Signal()
    revise_clicked = Signal()
    branch_clicked = Signal()
    replay_save_requested = Signal()  # the replay's Save GIF…
    rewrite_requested = Signal(str)  # the text selected in the reply, to write again in place
    revise_part_requested = Signal(str)  # the text selected in the last reply, to change as told
    final_shown = Signal(bool)  # the finished text is shown (True: it was just written live)
    fork_requested = Signal(object)  # the replayed Step to go on from, in a new version of the reply

    def __init__(
        self,
        renderer: Callable[[], MarkdownRenderer],
        colors: Colors,
        parent=None,
        *,
        store_id: int | None = None,
        plans: Callable[[], frozenset[str]] = lambda: ALL_PLANS,
    ) -> None:
        super().__init__(parent)
        self._renderer = renderer
        self._plans = plans  # the reply modes the loaded model carries out, asked when offered
        self.store_id = store_id
        self.setAccessibleName("Assistant reply")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 8, 0, 10)
        layout.setSpacing(6)
        layout.addLayout(self._build_header())
        layout.addWidget(self._build_context_note())
        self._build_thought(layout, renderer, colors)
        self.answer = MarkdownStack(renderer, self, accessible_name="Reply text")
        self.answer.set_menu_actions(self._answer_menu_actions)
        self._colors = colors
        self.doubts: ReplyDoubts | None = None  # View ▸ Show uncertainty: tint the words it marks
        self.tints = UncertaintyTints(self._answer_menu_actions, self)
        self.answer.code_copied.connect(self.code_copied)
        self.thought.code_copied.connect(self.code_copied)
        layout.addWidget(self.answer)
        layout.addWidget(self._build_token_panel(colors))

        self.notice: Notice | None = None
        self.stats = QLabel("", self)
        self.stats.setObjectName("replyStats")
        self.stats.setAccessibleName("Reply statistics")
        self.stats.setWordWrap(True)
        self.stats.setVisible(False)
        layout.addWidget(self.stats)

        self.replay_bar: ReplayBar | None = None
        self.replay: Replay | None = None
        self._final: tuple[str, str, float | None, str] | None = None
        self._final_state: ReplyState | None = None
        self.fill_draft = ""  # the draft this reply fills the gaps of: its filled parts are marked
        self._accent = colors.accent
        layout.addWidget(self._build_actions())
        self._user_opened_thought = False
        self.frames = 0
        self.state: ReplyState | None = None

    def _build_header(self) -> QHBoxLayout:
        """The name, the live step indicator and the Tokens switch."""
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
        return header

    def _build_context_note(self) -> QLabel:
        # Said on the reply itself: the answer may miss facts from messages the model never saw.
        self.context_note = QLabel("", self)
        self.context_note.setObjectName("contextNote")
        self.context_note.setWordWrap(True)
        self.context_note.setAccessibleName("Messages the model did not see")
        self.context_note.setToolTip(
            "The chat is longer than the model can read at once. Settings ▸ Prompt ▸ "
            "'Chat longer than the context' chooses what happens then."
        )
        self.context_note.setVisible(False)
        return self.context_note

    def _build_thought(
        self, layout: QVBoxLayout, renderer: Callable[[], MarkdownRenderer], colors: Colors
    ) -> None:
        """The model's reasoning, folded behind a toggle (shown while it is being written)."""
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

    def _build_token_panel(self, colors: Colors) -> QWidget:
        """The token view: the canvas as a grid of tokens and its legend (hidden until asked for)."""
        self.token_panel = QWidget(self)
        panel_layout = QVBoxLayout(self.token_panel)
        panel_layout.setContentsMargins(0, 4, 0, 0)
        panel_layout.setSpacing(6)
        self.grid = TokenGrid(colors, self.token_panel)
        self.legend = TokenLegend(colors, self.token_panel)
        panel_layout.addWidget(self.grid)
        panel_layout.addWidget(self.legend)
        self.token_panel.setVisible(False)
        return self.token_panel

    def _build_actions(self) -> QWidget:
        """The row under a finished reply: versions, Copy, Continue, Regenerate, Replay, Revise, Branch."""
        actions = QHBoxLayout()
        actions.setContentsMargins(0, 0, 0, 0)
        actions.setSpacing(2)
        self.versions = VersionSwitcher(self)
        actions.addWidget(self.versions)
        self.copy_button = _action_button(self, "Copy", "Copy the reply as markdown")
        self.copy_button.setAccessibleName("Copy reply")
        self.copy_button.clicked.connect(self._on_copy_clicked)
        actions.addWidget(self.copy_button)
        self.continue_button = _action_button(
            self, "Continue", "Go on writing this reply from where it stopped"
        )
        self.continue_button.clicked.connect(self.continue_clicked)
        self.continue_button.setVisible(False)
        actions.addWidget(self.continue_button)
        self.regenerate_button = _action_button(self, "Regenerate", "Write a new version of this reply")
        self.regenerate_button.clicked.connect(self.regenerate_clicked)
        actions.addWidget(self.regenerate_button)
        self.replay_button = _action_button(self, "Replay", "Replay how this reply was refined, step by step")
        self.replay_button.clicked.connect(self.replay_clicked)
        actions.addWidget(self.replay_button)
        self.revise_button = _action_button(
            self, "Revise", "Say what to change: the next reply rewrites this one in place (Ctrl+R)"
        )
        self.revise_button.clicked.connect(self.revise_clicked)
        self.revise_button.setVisible(False)
        actions.addWidget(self.revise_button)
        self.branch_button = _action_button(
            self, "Branch", "Go on from this reply in a new chat; this chat stays as it is"
        )
        self.branch_button.clicked.connect(self.branch_clicked)
        actions.addWidget(self.branch_button)
        actions.addStretch(1)
        self.actions = QWidget(self)
        self.actions.setLayout(actions)
        self.actions.setVisible(False)
        return self.actions

    # --- live ----------------------------------------------------------------

    def render_frame(self, state: ReplyState) -> None:
        """Draw the reply as it is now (called at most at screen rate)."""
        self.state = state
        self.frames += 1
        self.indicator.setText(state.indicator())
        if state.prompt is not None:
            self.show_omitted(state.prompt.omitted_turns)
        display = state.display()
        self._show_thought(display.thought, display.thinking, state.thought_seconds)
        self.answer.set_text(display.answer, display.answer_committed)
        if display.thought:
            self.thought.set_text(display.thought, display.thought_committed)
        shown = state.grid_step() if self.token_panel.isVisible() else None
        if shown is not None:
            self.grid.show_step(*shown)

    def _show_grid(self) -> None:
        shown = self.state.grid_step() if self.state is not None else None
        if shown is not None:
            self.grid.show_step(*shown)
        else:
            self.grid.clear()

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
        shown = state.grid_step()
        if shown is not None:
            self.grid.show_step(*shown)
        self.show_omitted(done.stats.omitted_turns)
        self._set_stats(format_stats(done) + (" · stopped" if done.incomplete else ""))
        self.stats.setVisible(True)
        self._final = (done.answer, done.thought, state.thought_seconds, self.stats.text())
        self._final_state = state
        if not done.answer and not done.thought:
            self.answer.set_final(NO_TEXT)
        self._show_actions(bool(done.answer))
        self._mark_filled()
        self.final_shown.emit(True)

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
        if self._final is None and state is not None:
            display = state.display()
            self._final = (display.answer, display.thought, state.thought_seconds, "")
        self._final_state = state
        self._show_actions(bool(self.answer.text))
        # A reply that failed before its first step has nothing to replay or to branch from.
        self.replay_button.setVisible(self.replay_button.isVisible() and bool(self.answer.text))
        self.branch_button.setVisible(self.branch_button.isVisible() and bool(self.answer.text))

    def show_omitted(self, turns: int) -> None:
        """Say that the model did not see the chat's first ``turns`` messages (none: say nothing)."""
        if turns:
            self.context_note.setText(
                f"ⓘ The model did not see the first {turns} messages of this chat: "
                "they no longer fit in its context."
            )
        self.context_note.setVisible(turns > 0)

    def show_final(self, answer: str, thought: str, thought_seconds: float | None, stats: str) -> None:
        """A finished reply (used when re-creating a chat's widgets)."""
        self._show_thought(thought, False, thought_seconds)
        if thought:
            self.thought.set_final(thought)
        self.answer.set_final(answer)
        self._set_stats(stats)
        self.stats.setVisible(bool(stats))
        self._final = (answer, thought, thought_seconds, stats)
        self._show_actions(bool(answer))
        self._mark_filled()
        self._apply_doubts()
        self.final_shown.emit(False)

    def mark_filled(self, draft: str) -> None:
        """Mark the parts of this reply that fill the gaps of ``draft`` (the message it answers)."""
        self.fill_draft = draft
        self._mark_filled()

    def _mark_filled(self) -> None:
        if self.fill_draft and self._final is not None:
            parts = filled_gaps.pieces(self.fill_draft, self._final[0])
            filled_gaps.mark([view.document() for view in self.answer.views()], parts, self._accent)

    # --- versions, regeneration, replay ------------------------------------------

    def _show_actions(self, has_answer: bool) -> None:
        self.copy_button.setVisible(has_answer)
        self.regenerate_button.setVisible(self.store_id is not None)
        self.replay_button.setVisible(self.store_id is not None)
        self.branch_button.setVisible(self.store_id is not None)
        self.actions.setVisible(True)

    def _answer_menu_actions(self, view: RichTextView) -> list[tuple[str, Callable[[], object]]]:
        """Right-click on text selected in a finished reply: Rewrite this part (not while one is written)."""
        selection = view.selected_text()
        finished = self.store_id is not None and self.replay is None and self.actions.isVisible()
        if not selection.strip() or not finished or not self.regenerate_button.isEnabled():
            return []
        actions = []
        if "rewrite" in self._plans():
            actions.append(("Rewrite this part", lambda: self.rewrite_requested.emit(selection)))
        if self.revise_button.isVisible():  # the last reply: a message can say how to change it
            actions.append(("Revise this part…", lambda: self.revise_part_requested.emit(selection)))
        return actions

    def set_revisable(self, on: bool) -> None:
        """Offer Revise (the last reply of the chat shown, with text, while no reply is written)."""
        self.revise_button.setVisible(on and self.store_id is not None)

    def set_written_at(self, when: float) -> None:
        """Say when the reply was written, on hovering its header."""
        self.name.setToolTip(f"Written {format_moment(when)}")

    def set_continuable(self, on: bool) -> None:
        """Offer Continue (a stopped or interrupted reply that is the last of its branch)."""
        self.continue_button.setVisible(on and self.store_id is not None)

    def set_actions_enabled(self, on: bool) -> None:
        """Off while another reply is being written (the branch cannot change under it)."""
        self.continue_button.setEnabled(on)
        self.regenerate_button.setEnabled(on)
        self.versions.setEnabled(on)

    def replay_requested(self) -> ReplayBar:
        """Open the scrubber in its "preparing" state (the window decodes the history off the GUI thread)."""
        if self.replay_bar is None:
            self.replay_bar = ReplayBar(self)
            self.replay_bar.frame_changed.connect(self._on_replay_bar_frame_changed)
            self.replay_bar.closed.connect(self.end_replay)
            self.replay_bar.save_requested.connect(self.replay_save_requested)
            self.replay_bar.fork_requested.connect(self._on_replay_bar_fork_requested)
            self.layout().insertWidget(self.layout().indexOf(self.actions), self.replay_bar)
        self.replay_bar.show_message("Preparing the replay…")
        self.replay_bar.setVisible(True)
        self.replay_button.setEnabled(False)
        return self.replay_bar

    def start_replay(self, replay: Replay) -> None:
        """Show the first frame of ``replay`` and let the scrubber drive it (paused until Play)."""
        bar = self.replay_bar or self.replay_requested()
        self.replay = replay
        self.tints.clear()  # the replay draws its frames over the tinted text
        self.replay_button.setEnabled(False)
        bar.set_frames([replay.label(i) for i in range(len(replay))], replay.step_seconds)
        bar.position.setToolTip(NOTE_TOOLTIPS.get(replay.note, ""))
        # Whole canvases have no step to go on from; a model on a server cannot start from one.
        bar.fork_button.setVisible(not replay.by_canvas and "fork" in self._plans())

    def replay_failed(self, message: str) -> None:
        bar = self.replay_bar or self.replay_requested()
        bar.show_message(message)
        self.replay_button.setEnabled(True)

    def end_replay(self) -> None:
        """Close the scrubber and show the finished reply again."""
        self.replay = None
        if self.replay_bar is not None:
            self.replay_bar.stop()
            self.replay_bar.setVisible(False)
        self.replay_button.setEnabled(True)
        self.indicator.setText("")
        if self._final is not None:
            answer, thought, seconds, stats = self._final
            self.show_final(answer, thought, seconds, stats)
        self.state = self._final_state
        if self.token_panel.isVisible():
            self._show_grid()

    def _on_replay_bar_fork_requested(self, frame: int) -> None:
        if self.replay is not None and not self.replay.by_canvas and self.regenerate_button.isEnabled():
            self.fork_requested.emit(self.replay.steps[max(0, min(frame, len(self.replay) - 1))])

    def _on_replay_bar_frame_changed(self, frame: int) -> None:
        if self.replay is None:
            return
        state = self.replay.state_at(frame)
        self.render_frame(state)
        self.indicator.setText(f"replay · {self.replay.position(frame)}")

    def set_token_view(self, on: bool) -> None:
        if self.token_button.isChecked() != on:
            self.token_button.setChecked(on)
        else:
            self._apply_token_view(on)

    def refresh_math(self) -> None:
        """Show formulas drawn since this reply was rendered (see app.ui.math_pool)."""
        if self.answer.refresh_math():
            self._apply_doubts()  # drawn again: without its tints
        self.thought.refresh_math()

    def text_views(self) -> list[RichTextView]:
        """The views holding this reply's text, top to bottom: the reasoning when it is open, the answer."""
        thought = self.thought.views() if self.thought_box.isVisibleTo(self) else []
        return [*thought, *self.answer.views()]

    def set_colors(self, colors: Colors) -> None:
        self._colors = colors
        self.thought.set_text_color(colors.muted)
        self.grid.set_colors(colors)
        self.legend.set_colors(colors)
        self.answer.rerender()
        self.thought.rerender()
        self._accent = colors.accent
        self._mark_filled()
        self._apply_doubts()

    # --- where the model was unsure ------------------------------------------------

    @property
    def final_answer(self) -> str:
        """The finished answer shown ("" while it is written, or when it failed before any text)."""
        return self._final[0] if self._final is not None else ""

    def show_doubts(self, doubts: ReplyDoubts | None) -> None:
        """Tint the finished answer's words by ``doubts`` (None: no tints)."""
        had_tints = bool(self.tints.spans)
        if doubts is not None and doubts is self.doubts and had_tints:
            return  # already drawn (the reply was shown again after a replay)
        self.doubts = doubts
        if doubts is None:
            self.tints.clear()
            if had_tints:
                self.answer.rerender()  # the tints are in the rendered document: draw it again without
        else:
            self._apply_doubts()

    def _apply_doubts(self) -> None:
        """Tint the finished answer (never a live or replayed frame) by the doubts it was given."""
        if self.doubts is None or self.replay is not None or not self.final_answer:
            return
        self.tints.apply(self.answer.views()[-1], self.doubts, self.final_answer, self._colors)

    # --- internals -----------------------------------------------------------

    def _set_stats(self, line: str) -> None:
        """The stats line; a server's reply says in its tooltip why it has no steps."""
        self.stats.setText(line)
        self.stats.setToolTip(stats_tooltip(line))

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
        if on:
            self._show_grid()

    def _on_copy_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.answer.text)
        self.code_copied.emit()

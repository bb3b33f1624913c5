"""Makes the message widgets of every chat, wired once: their clicks come out as this object's signals.

A chat holds hundreds of messages, each with buttons (Edit, Regenerate, Replay,
Continue, Branch, the version switcher…), and they are made in three places: a
page built from the store, a message just sent, a reply starting.  Whatever
made it, a click means the same request to the window, so each widget's
signals are forwarded here with its stored id added, and the window connects
each request once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from app.markdown import MarkdownRenderer, Rendered
from app.media_probe import MediaInfo
from app.palette import Colors
from app.qt import QObject, Signal
from app.ui.messages import AssistantMessage, UserMessage


class MessageFactory(QObject):
    edit_submitted = Signal(int, str)  # the user message's id, its edited text
    version_selected = Signal(int)  # the message id of the version to show
    copied = Signal()  # a message or a code block was copied to the clipboard
    attachment_clicked = Signal(object, str)  # the file, its own name: open it
    revise_clicked = Signal()
    branch_clicked = Signal(int)  # the reply's id
    regenerate_clicked = Signal(int)  # the reply's id
    continue_clicked = Signal(int)  # the reply's id
    replay_clicked = Signal(object)  # the AssistantMessage to replay in
    replay_save_clicked = Signal(object)  # the AssistantMessage whose replay to save as a GIF
    rewrite_requested = Signal(int, str)  # the reply's id, the text of it to write again
    revise_part_requested = Signal(int, str)  # the reply's id, the text a message says how to change
    fork_requested = Signal(int, object)  # the reply's id, the replayed Step to go on from
    token_view_toggled = Signal(bool)
    reply_shown = Signal(object, bool)  # a reply's finished text is shown; True: it was just written

    def __init__(
        self,
        renderer: Callable[[], MarkdownRenderer],
        colors: Callable[[], Colors],
        token_view: Callable[[], bool],
        plans: Callable[[], frozenset[str]],
        parent: QObject | None = None,
    ) -> None:
        """``renderer`` is asked at every render (it changes with the theme); ``colors`` and
        ``token_view`` are what a new reply starts with; ``plans``, asked when a reply offers
        Rewrite this part or Go on from here, are the reply modes the loaded model carries out."""
        super().__init__(parent)
        self._renderer = renderer
        self._colors = colors
        self._token_view = token_view
        self._plans = plans

    def user_message(
        self, text: str, attachments: Sequence[tuple[Path, MediaInfo | None, str]], store_id: int
    ) -> UserMessage:
        """A sent message; its attachments are (path, probe info or None, the file's own name)."""
        widget = UserMessage(text, attachments, self._renderer, store_id=store_id)
        if widget.tiles is not None:
            widget.tiles.attachment_clicked.connect(self.attachment_clicked)
        widget.edit_submitted.connect(lambda new_text: self.edit_submitted.emit(store_id, new_text))
        widget.copied.connect(self.copied)
        widget.versions.version_selected.connect(self.version_selected)
        return widget

    def render_user(self, text: str) -> Rendered:
        """A user's message as its view shows it (find in chat searches a message not built yet so)."""
        return self._renderer().render_plain(text)

    def render_reply(self, text: str) -> Rendered:
        """A finished reply's text as its view shows it."""
        return self._renderer().render(text)

    def reply(self, store_id: int) -> AssistantMessage:
        """A reply, empty until it is shown finished or rendered live."""
        widget = AssistantMessage(self._renderer, self._colors(), store_id=store_id, plans=self._plans)
        widget.revise_clicked.connect(self.revise_clicked)
        widget.branch_clicked.connect(lambda: self.branch_clicked.emit(store_id))
        widget.token_view_toggled.connect(self.token_view_toggled)
        widget.code_copied.connect(self.copied)
        widget.regenerate_clicked.connect(lambda: self.regenerate_clicked.emit(store_id))
        widget.replay_clicked.connect(lambda: self.replay_clicked.emit(widget))
        widget.replay_save_requested.connect(lambda: self.replay_save_clicked.emit(widget))
        widget.rewrite_requested.connect(lambda text: self.rewrite_requested.emit(store_id, text))
        widget.revise_part_requested.connect(lambda text: self.revise_part_requested.emit(store_id, text))
        widget.continue_clicked.connect(lambda: self.continue_clicked.emit(store_id))
        widget.fork_requested.connect(lambda step: self.fork_requested.emit(store_id, step))
        widget.versions.version_selected.connect(self.version_selected)
        widget.final_shown.connect(lambda live: self.reply_shown.emit(widget, live))
        widget.set_token_view(self._token_view())
        return widget

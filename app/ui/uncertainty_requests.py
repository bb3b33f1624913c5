"""View ▸ Show uncertainty: each finished reply's doubts, read from its stored history off the GUI thread.

A reply's doubts need its refinement history (every step's accepted mask and
entropy: read and reduced on the engine thread) and its final tokens as text
(the loaded tokenizer: only the last step of each canvas is decoded, through the
replay's own request, so a history written by another model is refused the
same way).  No model call is made.  Results are kept per reply, so showing a
chat again costs nothing; a reply continued or rewritten is read again.

A reply without history (imported, or from a backend that keeps none), or
with no model loaded, gets no tints; why is told once in the status bar and
stays in the action's tooltip.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from app import notices
from app.config import AppConfig
from app.qt import QObject, Signal, Slot
from app.replay import NO_HISTORY_MESSAGE, Replay
from app.store import Store
from app.ui.chat_pages import ChatPages
from app.ui.message_factory import MessageFactory
from app.ui.messages import AssistantMessage
from app.uncertainty import ReplyDoubts, TokenDoubt, last_frames, reply_doubts
from app.worker import EngineHost

ABOUT = "Tint the words of finished replies by how late and how unsure the model was to accept them"


class UncertaintyRequests(QObject):
    reason_changed = Signal(str)  # what the action's tooltip says now (why some replies have no tints)

    def __init__(
        self,
        host: EngineHost,
        store: Store,
        pages: ChatPages,
        messages: MessageFactory,
        config: Callable[[], AppConfig],
        save: Callable[[AppConfig], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._config = config
        self._save = save
        self._host = host
        self._store = store
        self._pages = pages
        self.enabled = False
        self.reason = ABOUT
        self._told = ""  # the last reason told in the status bar (told once, not per reply)
        self._known: dict[int, ReplyDoubts] = {}  # message id -> its doubts
        # request id -> (its reply widget, the doubts read from the history on the engine thread)
        self._waiting: dict[int, tuple[AssistantMessage, list[list[TokenDoubt]]]] = {}
        self._tinted: weakref.WeakSet[AssistantMessage] = weakref.WeakSet()
        messages.reply_shown.connect(self.on_reply_shown)
        host.worker.replay_ready.connect(self.on_replay_ready)
        host.worker.replay_failed.connect(self.on_replay_failed)
        host.worker.model_loaded.connect(self.on_model_loaded)

    def set_shown(self, on: bool) -> None:
        """The View menu's check box: remembered in the settings, applied at once."""
        if on != self._config().show_uncertainty:
            self._save(self._config().with_changes(show_uncertainty=on))
        self.set_enabled(on)

    def set_enabled(self, on: bool) -> None:
        """Tint the replies of the chat shown now (and of every chat shown later), or take the tints off."""
        self.enabled = on
        if not on:
            for widget in list(self._tinted):
                widget.show_doubts(None)
            self._tinted.clear()
            self._told = ""
            self._set_reason(ABOUT)
            return
        page = self._pages.current()
        if page is not None:
            for widget in page.transcript.messages():
                if isinstance(widget, AssistantMessage) and widget.final_answer:
                    self.request(widget)

    @Slot(object, object)
    def on_model_loaded(self, _info: object, _defaults: object) -> None:
        """Replies refused for want of a model can be read now."""
        if self.enabled:
            self._told = ""
            self.set_enabled(True)

    @Slot(object, bool)
    def on_reply_shown(self, widget: AssistantMessage, live: bool) -> None:
        if widget.store_id is not None and live:
            self._known.pop(widget.store_id, None)  # continued: its canvases changed
        if self.enabled:
            self.request(widget)

    def request(self, widget: AssistantMessage) -> None:
        """Give ``widget`` its doubts: known ones at once, else read from the store and decoded."""
        message_id = widget.store_id
        if message_id is None:
            return
        known = self._known.get(message_id)
        if known is not None:
            self._show(widget, known)
            return
        if any(w is widget for w, _ in self._waiting.values()):
            return
        store = self._store
        doubts: list[list[TokenDoubt]] = []  # filled on the engine thread, read after replay_ready

        def load() -> tuple[list, list[str], object]:
            frames = store.replay(message_id)
            doubts.append(reply_doubts(frames))
            return last_frames(frames), [c.text for c in store.canvases(message_id)], None

        request_id = self._host.replay(load)
        self._waiting[request_id] = (widget, doubts)

    @Slot(int, object)
    def on_replay_ready(self, request_id: int, replay: Replay) -> None:
        if replay.by_canvas and request_id in self._waiting:  # whole canvases, no steps: no doubts
            self.on_replay_failed(request_id, NO_HISTORY_MESSAGE)
            return
        waiting = self._waiting.pop(request_id, None)
        if waiting is None:
            return  # a replay the user asked for
        widget, doubts = waiting
        pieces = tuple(piece for step in replay.steps for piece in step.pieces)
        if not doubts or len(doubts[0]) != len(pieces) or widget.store_id is None:
            return
        known = self._known[widget.store_id] = ReplyDoubts(pieces, tuple(doubts[0]))
        if self.enabled and self._pages.page_of(widget) is not None:
            self._show(widget, known)

    @Slot(int, str)
    def on_replay_failed(self, request_id: int, message: str) -> None:
        if self._waiting.pop(request_id, None) is None or not self.enabled:
            return
        reason = message.replace("to replay it", "to see where it was unsure").replace(
            "nothing to replay", "nothing to tint"
        )
        if reason != self._told:
            self._told = reason
            notices.info(f"No uncertainty shown for a reply: {reason}")
        self._set_reason(f"{ABOUT}. Not shown for a reply: {reason}")

    def _show(self, widget: AssistantMessage, doubts: ReplyDoubts) -> None:
        widget.show_doubts(doubts)
        self._tinted.add(widget)

    def _set_reason(self, reason: str) -> None:
        self.reason = reason
        self.reason_changed.emit(reason)

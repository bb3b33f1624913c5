"""The reply being written: started here, fed by the engine host's events, ended here.

Worker events arrive as queued signals on the GUI thread; each one only
updates the reply's :class:`ReplyState` (O(1)) and pokes a :class:`Throttle`,
which redraws the live message at most at screen rate with a trailing call, so
a thousand steps a second cost sixty renders, and the last state is always
drawn.  The reply is written to the store by a ``ReplyWriter`` that the engine
thread feeds (see :mod:`app.worker`: saving there keeps every SQLite write off
the GUI thread).  The engine gets the stored history
(``store.engine_conversation``: answers only, thoughts stripped), minus failed
exchanges.

The window does not run replies: it reacts to ``reply_started`` and
``reply_ended`` (the composer's Stop button, the chat list's marks, a model
waiting for the reply to end) and to ``reply_finished`` (speed, context use).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app import notices
from app.chat import ChatSession, Message, usable_turns
from app.config import AppConfig
from app.qt import QApplication, QObject, QWidget, Signal, Slot
from app.reply_state import ReplyState
from app.store import ReplyWriter, Store, StoredCanvas, StoreError
from app.throttle import Throttle
from app.ui.chat_pages import ChatPage, ChatPages
from app.ui.message_factory import MessageFactory
from app.ui.messages import AssistantMessage
from app.worker import FRESH, EngineHost
from engine.events import Canvas, Done, PromptEncoded, PromptProgress, Step
from engine.generation.plan import ReplyPlan
from engine.inputs.conversation import Conversation

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ActiveReply:
    reply_id: int
    session: ChatSession
    message: Message
    widget: AssistantMessage
    state: ReplyState
    writer: ReplyWriter | None = None


class LiveReply(QObject):
    """Owns the one reply being written (``active``; None while none is) and its redraw throttle."""

    reply_started = Signal(object)  # the ActiveReply now being written
    prompt_measured = Signal(int)  # the prompt's tokens, for the context use of the chat shown
    reply_finished = Signal(object)  # the Done of a reply that was written to its end (or stopped)
    reply_ended = Signal(object)  # the ActiveReply that ended: finished, stopped or failed

    def __init__(
        self,
        host: EngineHost,
        store: Store,
        pages: ChatPages,
        messages: MessageFactory,
        config: Callable[[], AppConfig],
        retry: Callable[[ChatPage, AssistantMessage], object],
        parent: QWidget,
    ) -> None:
        """``retry`` answers a failed reply's question again (its Retry button); ``parent`` is the
        window, which asks for attention when a reply finishes while it is in the background."""
        super().__init__(parent)
        self.host = host
        self.store = store
        self.pages = pages
        self.messages = messages
        self._config = config
        self.retry = retry
        self._window = parent
        self.active: ActiveReply | None = None
        self._frame = Throttle(self._render_frame, parent=self, adaptive=True)
        worker = host.worker
        worker.prompt_progressed.connect(self.on_prompt_progressed)
        worker.prompt_encoded.connect(self.on_prompt_encoded)
        worker.step_ready.connect(self.on_step_ready)
        worker.canvas_committed.connect(self.on_canvas_committed)
        worker.reply_finished.connect(self.on_reply_finished)
        worker.reply_failed.connect(self.on_reply_failed)
        worker.save_failed.connect(self.on_save_failed)

    @property
    def config(self) -> AppConfig:
        return self._config()

    def current_page(self) -> ChatPage | None:
        return self.pages.current()

    def engine_conversation(self, user_message_id: int) -> Conversation:
        """The history the engine gets to answer a stored user message: the stored path, minus failures."""
        stored = self.store.engine_conversation(user_message_id)
        return Conversation(
            turns=usable_turns(stored.turns), system=stored.system or self.config.system_prompt
        )

    def start(
        self,
        page: ChatPage,
        user_message_id: int,
        writer: ReplyWriter | None = None,
        saved: Sequence[StoredCanvas] = (),
        plan: ReplyPlan = FRESH,
    ) -> int | None:
        """Ask the engine to answer a stored user message; the reply widget goes live.

        ``writer`` is the reply's row when it already exists (a regeneration or
        a continuation); ``saved`` are the canvases a continued reply goes on from (shown
        while it goes on); ``plan`` says what kind of reply the engine writes.
        """
        try:
            conversation = self.engine_conversation(user_message_id)
            if writer is None:
                writer = self.store.begin_reply(user_message_id)
        except StoreError as error:
            notices.failed("The reply could not be started", error)
            return None
        for earlier in page.transcript.messages():
            if isinstance(earlier, AssistantMessage):
                earlier.set_continuable(False)  # no longer the end of the branch
        widget = self.messages.reply(writer.message_id)
        # A reply that fills the gaps of the message it answers (a fill, its regeneration, a rewrite of one
        # gap) gets its filled parts marked; any other reply does not match the message and is not.
        widget.fill_draft = plan.text if plan.kind == "fill" else conversation.turns[-1].text
        page.transcript.add(widget)
        page.set_actions_enabled(False)
        message = page.session.add(Message("assistant", store_id=writer.message_id))
        state = ReplyState.continuing([c.text for c in saved])
        reply_id = self.host.generate(
            conversation,
            self.config.generation,
            self.config.prompt_options(),
            sink=writer,
            plan=plan,
        )
        self.active = ActiveReply(reply_id, page.session, message, widget, state, writer)
        self.reply_started.emit(self.active)  # the chat list shows "writing"; the composer, Stop
        widget.render_frame(state)
        page.transcript.scroll_to_bottom()
        return reply_id

    def stop(self) -> None:
        """Stop the reply: the engine ends with an incomplete Done, which its writer saves as stopped."""
        if self.active is not None:
            self.host.stop()
            self.active.widget.indicator.setText("stopping…")

    def flush(self) -> None:
        """Draw the reply's latest state now, not at the next frame (docs/screenshots)."""
        self._frame.flush()

    def shutdown(self) -> None:
        self._frame.cancel()

    # --- the engine host's events ----------------------------------------------

    @Slot(int, str)
    def on_save_failed(self, reply_id: int, message: str) -> None:
        log.warning("reply %d is not being saved: %s", reply_id, message)
        notices.error("This reply is not being saved.", message)

    def _is_active(self, reply_id: int) -> bool:
        return self.active is not None and self.active.reply_id == reply_id

    @Slot(int, object)
    def on_prompt_progressed(self, reply_id: int, event: PromptProgress) -> None:
        if self._is_active(reply_id):
            self.active.state.on_prompt_progressed(event)  # the indicator: tokens read, time left
            self._frame()

    @Slot(int, object)
    def on_prompt_encoded(self, reply_id: int, event: PromptEncoded) -> None:
        if self._is_active(reply_id):
            self.active.state.on_prompt_encoded(event)
            if self.pages.page_of_session(self.active.session) is self.current_page():
                self.prompt_measured.emit(event.prompt_tokens)  # the prompt, before the reply adds to it
            self._frame()

    @Slot(int, object)
    def on_step_ready(self, reply_id: int, step: Step) -> None:
        if self._is_active(reply_id):
            self.active.state.on_step(step)
            self._frame()

    @Slot(int, object)
    def on_canvas_committed(self, reply_id: int, canvas: Canvas) -> None:
        if self._is_active(reply_id):
            self.active.state.on_canvas(canvas)
            self._frame()

    @Slot(int, object)
    def on_reply_finished(self, reply_id: int, done: Done) -> None:
        if not self._is_active(reply_id):
            return
        active = self.active
        self._frame.cancel()
        active.state.on_done(done)
        done = active.state.done  # a continuation's covers the whole reply
        active.widget.finish(active.state)
        active.widget.set_written_at(time.time())
        message = active.message
        message.text = done.answer
        message.thought = done.thought
        message.thought_seconds = active.state.thought_seconds
        message.stats = done.stats
        message.incomplete = done.incomplete
        active.widget.set_continuable(done.incomplete and bool(active.state.canvases))
        self.reply_finished.emit(done)  # the status bar's speed and context use
        if not self._window.isActiveWindow():
            QApplication.alert(self._window)  # the taskbar entry asks for attention: a long reply is ready
        self._end_reply(reply_id)

    @Slot(int, str)
    def on_reply_failed(self, reply_id: int, error: str) -> None:
        if not self._is_active(reply_id):
            return
        active = self.active
        self._frame.cancel()
        active.state.on_error(error)
        page = self.pages.page_of_session(active.session)
        widget = active.widget
        active.widget.fail(error, active.state, retry=lambda: self.retry(page, widget))
        active.message.error = error
        self._end_reply(reply_id)

    def _end_reply(self, reply_id: int) -> None:
        self.host.reply_ended(reply_id)
        active, self.active = self.active, None
        page = self.pages.page_of_session(active.session)
        if page is not None:
            page.set_actions_enabled(True)
            self._show_versions(active.widget)
        self.reply_ended.emit(active)  # a waiting model loads; the chat list marks the chat unread

    def _show_versions(self, widget: AssistantMessage) -> None:
        """A finished reply's switcher: a regeneration is now one of several versions."""
        try:
            versions = self.store.siblings(widget.store_id)
        except StoreError:
            log.exception("cannot read the reply's versions")
            return
        widget.versions.set_versions(versions.ids, versions.index)

    def _render_frame(self) -> None:
        if self.active is not None:
            self.active.widget.render_frame(self.active.state)

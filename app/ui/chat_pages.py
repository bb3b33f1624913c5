"""The open chats, one page each, built from the store the first time a chat is shown.

Opening a chat must not freeze the window, however long the chat is: a page
gets every message of the chat's active path at once (follow-ups need the whole
history) but builds the widgets of only the newest :data:`EAGER_MESSAGES` (about a
screenful); the older ones are built on the event loop, newest first, in slices
of at most :data:`BACKFILL_SLICE_S`, above what is shown, so a 200-exchange chat
opens in ~30 ms instead of ~1.7 s (docs/benchmarks.md).

The :data:`KEEP_PAGES` chats shown last stay built, so switching between them
is instant; an older page is released (a 200-message page holds ~145 MiB of
widgets and documents, and twenty opened in a row took 2.6 GiB; issue #18) and
built again from the store if it is shown again.  A page whose reply is being
written is never released: the reply goes on while the user reads other chats,
and showing the chat again shows the same page, still live.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from app.chat import ChatSession, Message, session_message
from app.qt import QStackedWidget, QTextBrowser, QTimer, QWidget, Signal
from app.reply_state import format_stats
from app.store import Message as StoredMessage
from app.store import Store
from app.ui.message_factory import MessageFactory
from app.ui.messages import NO_TEXT, AssistantMessage, Notice, UserMessage
from app.ui.sidebar import NEW_CHAT_TITLE
from app.ui.thumbnails import StoredThumbnails
from app.ui.transcript import Transcript
from engine.events import Done
from engine.generation.gaps import has_gaps

EAGER_MESSAGES = 6
BACKFILL_SLICE_S = 0.008
KEEP_PAGES = 3  # the chats shown last (the one shown among them) whose pages stay built


@dataclass(slots=True)
class ChatPage:
    session: ChatSession
    transcript: Transcript
    # Stored messages (with their session Message) whose widgets are still to be built, oldest
    # first: a long chat shows its newest messages at once and the rest arrive above them.
    backlog: list[tuple[StoredMessage, Message]] = field(default_factory=list)
    actions_enabled: bool = True  # Edit/Regenerate/… are off while this chat's reply is written
    drafts: dict[int, str] = field(default_factory=dict)  # user messages with gaps: replies mark fillings

    @property
    def writing(self) -> bool:
        """A reply is being written in this chat (its actions are off until it ends)."""
        return not self.actions_enabled

    def set_actions_enabled(self, on: bool) -> None:
        """Edit, Regenerate, … on or off, for the messages built and those still to be built."""
        self.actions_enabled = on
        for widget in self.transcript.messages():
            if isinstance(widget, (UserMessage, AssistantMessage)):
                widget.set_actions_enabled(on)

    def text_views(self) -> list[QTextBrowser]:
        """Its messages' text views, top to bottom, for find in chat; a folded long message unfolds,
        to be searched (and shown) whole.  Older messages still being built are found when they are."""
        views = []
        for widget in self.transcript.messages():
            if isinstance(widget, UserMessage) and widget.collapsed:
                widget.set_expanded(True)
            if isinstance(widget, (UserMessage, AssistantMessage)):
                views += widget.text_views()
        return views

    def notices(self) -> list[Notice]:
        return [w for w in self.transcript.messages() if isinstance(w, Notice)]


class ChatPages(QStackedWidget):
    older_built = Signal()  # a slice of older messages was built, and the chat shown has all of its own

    def __init__(
        self,
        store: Store,
        messages: MessageFactory,
        thumbnails: StoredThumbnails,
        retry: Callable[[ChatPage, AssistantMessage], object],
        parent: QWidget | None = None,
    ) -> None:
        """``retry`` answers again in place of a stored reply that failed (its Try again button)."""
        super().__init__(parent)
        self._store = store
        self._messages = messages
        self._thumbnails = thumbnails
        self._retry = retry
        self._pages: dict[int, ChatPage] = {}  # least recently shown first
        self.released = 0  # pages released so far
        self.currentChanged.connect(self._on_current_changed)
        self._backfill_timer = QTimer(self)
        self._backfill_timer.setSingleShot(True)
        self._backfill_timer.setInterval(0)
        self._backfill_timer.timeout.connect(self.build_slice)

    def get(self, chat_id: int) -> ChatPage | None:
        """The page of ``chat_id`` if it was built."""
        return self._pages.get(chat_id)

    def page(self, chat_id: int) -> ChatPage:
        """The page of ``chat_id``, built from the store the first time (it may raise StoreError)."""
        page = self._pages.get(chat_id)
        if page is None:
            page = self._build_page(chat_id)
            self._pages[chat_id] = page
            self.addWidget(page.transcript)
        return page

    def all(self) -> list[ChatPage]:
        return list(self._pages.values())

    def _on_current_changed(self, _index: int) -> None:
        page = self.current()
        if page is not None:  # the most recently shown from now on
            self._pages[page.session.id] = self._pages.pop(page.session.id)
        self.release_unused()

    def release_unused(self) -> list[int]:
        """Release the pages shown longest ago, beyond the :data:`KEEP_PAGES` last; returns their chats.

        Never the page shown, nor one whose reply is being written.
        """
        shown = self.currentWidget()
        kept = 0
        released = []
        for chat_id, page in reversed(list(self._pages.items())):
            if page.writing:
                continue
            kept += 1
            if kept > KEEP_PAGES and page.transcript is not shown:
                released.append(chat_id)
        for chat_id in released:
            page = self._pages.pop(chat_id)
            page.backlog.clear()
            self.removeWidget(page.transcript)
            page.transcript.deleteLater()
        self.released += len(released)
        return released

    def message_widgets(self) -> Iterator[QWidget]:
        """Every message and notice built, on every page."""
        for page in self._pages.values():
            yield from page.transcript.messages()

    def current(self) -> ChatPage | None:
        widget = self.currentWidget()
        return next((p for p in self._pages.values() if p.transcript is widget), None)

    def page_of(self, widget: QWidget) -> ChatPage | None:
        """The page showing ``widget``; None once a rebuilt branch or a deleted chat dropped it."""
        return next((p for p in self._pages.values() if widget in p.transcript.messages()), None)

    def page_of_session(self, session: ChatSession) -> ChatPage | None:
        return next((p for p in self._pages.values() if p.session is session), None)

    def fill(self, page: ChatPage, stored: list[StoredMessage], skip: tuple[int, ...] = ()) -> None:
        """Show ``stored`` (an active path) on the page, replacing its messages; notices stay, at the end.

        The session gets every message at once (follow-ups need the whole
        history); only the newest :data:`EAGER_MESSAGES` widgets are built now,
        the rest a slice at a time.
        """
        session, transcript = page.session, page.transcript
        notices = transcript.clear(keep=lambda w: isinstance(w, Notice))
        shown = [m for m in stored if m.id not in skip]
        session.messages.clear()
        session.messages.extend(session_message(m) for m in shown)
        items = list(zip(shown, session.messages, strict=True))
        page.drafts = {m.id: m.text for m in shown if m.role == "user" and has_gaps(m.text)}
        last = stored[-1] if stored else None
        page.backlog = items[:-EAGER_MESSAGES] if len(items) > EAGER_MESSAGES else []
        for m, message in items[len(page.backlog) :]:
            transcript.add(self._message_widget(page, m, message, is_last=m is last))
        for notice in notices:
            transcript.move_to_end(notice)
        if page.backlog:
            self._backfill_timer.start()

    def build_slice(self) -> None:
        """Build older messages above the shown ones, newest first, for one slice (current chat first)."""
        deadline = time.perf_counter() + BACKFILL_SLICE_S
        current = self.current()
        pages = sorted(self._pages.values(), key=lambda p: p is not current)
        for page in pages:
            while page.backlog and time.perf_counter() < deadline:
                self.build_one_older(page)
        if any(page.backlog for page in self._pages.values()):
            self._backfill_timer.start()
        if current is not None and not current.backlog:
            self.older_built.emit()

    def build_one_older(self, page: ChatPage) -> None:
        """Build the newest message still missing on ``page``, above those shown."""
        m, message = page.backlog.pop()
        page.transcript.prepend(self._message_widget(page, m, message, is_last=False))

    def finish_backfill(self, page: ChatPage) -> None:
        """Build every widget still missing on ``page`` now (before looking one up)."""
        while page.backlog:
            self.build_one_older(page)

    def stop_backfill(self) -> None:
        """Build nothing more (the window is closing, or a test builds the slices by hand)."""
        self._backfill_timer.stop()

    def _build_page(self, chat_id: int) -> ChatPage:
        """A chat's widgets from the store: the active path, finished replies, interrupted ones marked."""
        info = self._store.conversation(chat_id)
        session = ChatSession(id=chat_id, title=info.title or NEW_CHAT_TITLE)
        page = ChatPage(session, Transcript(self))
        self.fill(page, self._store.active_path(chat_id))
        return page

    def _message_widget(
        self, page: ChatPage, m: StoredMessage, message: Message, *, is_last: bool
    ) -> UserMessage | AssistantMessage:
        """The widget of one stored message, as it was left (versions, stats, error, Continue)."""
        versions = m.siblings
        if m.role == "user":
            widget = self._messages.user_message(
                m.text, [(a.path, None, a.name) for a in m.attachments], m.id
            )
            if widget.tiles is not None:
                self._thumbnails.request(widget.tiles)
            if versions is not None:
                widget.versions.set_versions(versions.ids, versions.index)
            widget.set_actions_enabled(page.actions_enabled)
            widget.set_sent_at(m.created_at)
            return widget
        widget = self._messages.reply(m.id)
        widget.set_written_at(m.updated_at)
        if versions is not None:
            widget.versions.set_versions(versions.ids, versions.index)
        stats = format_stats(Done((), (), "", m.thought, m.text, m.stats)) if m.stats else ""
        if stats and m.status == "incomplete":
            stats += " · stopped"
        widget.show_final(m.text, m.thought, None, stats)
        if m.parent_id in page.drafts:
            widget.mark_filled(page.drafts[m.parent_id])
        widget.show_omitted(m.stats.omitted_turns if m.stats else 0)
        if message.error:
            widget.fail(message.error, retry=lambda *_, w=widget: self._retry(page, w))
        elif not m.text and not m.thought:
            widget.answer.set_final(NO_TEXT)
        widget.set_continuable(is_last and m.status == "incomplete" and bool(m.text or m.thought))
        widget.set_actions_enabled(page.actions_enabled)
        return widget

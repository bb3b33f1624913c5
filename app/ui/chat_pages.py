"""The open chats, one page each, built from the store the first time a chat is shown.

Opening a chat must not freeze the window, however long the chat is: a page
gets every message of the chat's active path at once (follow-ups need the whole
history) but builds the widgets of only the newest :data:`EAGER_MESSAGES` (about a
screenful); each older one gets a placeholder of its estimated height
(app.ui.unbuilt_message), built when it scrolls into or near the view
(app.ui.transcript), so a 200-exchange chat is usable as soon as it is shown
instead of after every message was built (docs/benchmarks.md).  Find in chat
searches the messages not built yet too, and builds the one whose match it shows.

The :data:`KEEP_PAGES` chats shown last stay built, so switching between them
is instant; an older page is released (a 200-message page holds ~145 MiB of
widgets and documents, and twenty opened in a row took 2.6 GiB; issue #18) and
built again from the store if it is shown again.  A page whose reply is being
written is never released: the reply goes on while the user reads other chats,
and showing the chat again shows the same page, still live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from app.chat import ChatSession, Message, session_message
from app.qt import QFontMetrics, QStackedWidget, QTextBrowser, QWidget, Signal
from app.reply_state import format_stats
from app.store import Message as StoredMessage
from app.store import Store
from app.ui.message_factory import MessageFactory
from app.ui.messages import NO_TEXT, AssistantMessage, Notice, UserMessage
from app.ui.sidebar import NEW_CHAT_TITLE
from app.ui.thumbnails import StoredThumbnails
from app.ui.transcript import Placeholder, Transcript
from app.ui.unbuilt_message import UnbuiltText, estimate
from engine.events import Done
from engine.generation.gaps import has_gaps

EAGER_MESSAGES = 6
KEEP_PAGES = 3  # the chats shown last (the one shown among them) whose pages stay built


@dataclass(slots=True)
class ChatPage:
    session: ChatSession
    transcript: Transcript
    # What find in chat searches in a message not built yet (kept: its document is rendered once).
    unbuilt_text: Callable[[Placeholder], UnbuiltText]
    actions_enabled: bool = True  # Edit/Regenerate/… are off while this chat's reply is written
    drafts: dict[int, str] = field(default_factory=dict)  # user messages with gaps: replies mark fillings

    @property
    def backlog(self) -> list[tuple[StoredMessage, Message]]:
        """The stored messages (with their session Message) whose widgets are not built yet, oldest first."""
        return [placeholder.payload for placeholder in self.transcript.placeholders()]

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

    def text_views(self) -> list[QTextBrowser | UnbuiltText]:
        """Its messages' text views, top to bottom, for find in chat; a folded long message unfolds,
        to be searched (and shown) whole.  A message not built yet is searched as an UnbuiltText."""
        views: list[QTextBrowser | UnbuiltText] = []
        for widget in self.transcript.items():
            if isinstance(widget, Placeholder):
                views.append(self.unbuilt_text(widget))
            if isinstance(widget, UserMessage) and widget.collapsed:
                widget.set_expanded(True)
            if isinstance(widget, (UserMessage, AssistantMessage)):
                views += widget.text_views()
        return views

    def notices(self) -> list[Notice]:
        return [w for w in self.transcript.messages() if isinstance(w, Notice)]


class ChatPages(QStackedWidget):
    older_built = Signal()  # messages of the chat shown were built in place of their placeholders

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
        the rest when they come near the view (placeholders stand for them).
        """
        session, transcript = page.session, page.transcript
        notices = transcript.clear(keep=lambda w: isinstance(w, Notice))
        shown = [m for m in stored if m.id not in skip]
        session.messages.clear()
        session.messages.extend(session_message(m) for m in shown)
        items = list(zip(shown, session.messages, strict=True))
        page.drafts = {m.id: m.text for m in shown if m.role == "user" and has_gaps(m.text)}
        last = stored[-1] if stored else None
        eager = max(0, len(items) - EAGER_MESSAGES)
        metrics = QFontMetrics(transcript.font())
        for m, message in items[:eager]:
            height = estimate(m.text or NO_TEXT, reply=m.role != "user", metrics=metrics)
            transcript.add_placeholder(Placeholder((m, message), height))
        for m, message in items[eager:]:
            transcript.add(self._message_widget(page, m, message, is_last=m is last))
        for notice in notices:
            transcript.move_to_end(notice)
        transcript.build_in_view()  # (a version switched in a chat shown: no placeholder is painted)

    def build_one_older(self, page: ChatPage) -> None:
        """Build the newest message not built yet on ``page`` (its placeholder is the lowest)."""
        placeholders = page.transcript.placeholders()
        if placeholders:
            page.transcript.build_placeholder(placeholders[-1])

    def finish_backfill(self, page: ChatPage) -> None:
        """Build every widget still missing on ``page`` now (something needs every one)."""
        page.transcript.build_all()

    def build_message(self, page: ChatPage, store_id: int) -> None:
        """Build the message stored as ``store_id`` now if it is not built yet (to show it)."""
        for placeholder in page.transcript.placeholders():
            if placeholder.payload[0].id == store_id:
                page.transcript.build_placeholder(placeholder)
                return

    def stop_backfill(self) -> None:
        """Build nothing more on the event loop (the window is closing, or a test builds by hand)."""
        for page in self._pages.values():
            page.transcript.stop_building()

    def _build_page(self, chat_id: int) -> ChatPage:
        """A chat's widgets from the store: the active path, finished replies, interrupted ones marked."""
        info = self._store.conversation(chat_id)
        session = ChatSession(id=chat_id, title=info.title or NEW_CHAT_TITLE)
        transcript = Transcript(self, build=lambda placeholder: self._build_placeholder(page, placeholder))
        page = ChatPage(session, transcript, lambda placeholder: self._unbuilt_text(page, placeholder))
        transcript.placeholders_built.connect(lambda: self._on_placeholders_built(page))
        self.fill(page, self._store.active_path(chat_id))
        return page

    def _build_placeholder(self, page: ChatPage, placeholder: Placeholder) -> UserMessage | AssistantMessage:
        m, message = placeholder.payload
        return self._message_widget(page, m, message, is_last=False)

    def _unbuilt_text(self, page: ChatPage, placeholder: Placeholder) -> UnbuiltText:
        """Find in chat's view of a message not built yet, made once per placeholder."""
        text = placeholder.searchable
        if not isinstance(text, UnbuiltText):
            m, _message = placeholder.payload
            render = self._messages.render_user if m.role == "user" else self._messages.render_reply
            text = UnbuiltText(
                lambda: render(m.text or ("" if m.role == "user" or m.thought else NO_TEXT)),
                lambda: self._build_if_unbuilt(page, placeholder),
            )
            placeholder.searchable = text
        return text

    def _build_if_unbuilt(self, page: ChatPage, placeholder: Placeholder) -> None:
        if placeholder in page.transcript.placeholders():
            page.transcript.build_placeholder(placeholder)

    def _on_placeholders_built(self, page: ChatPage) -> None:
        if page is self.current():
            self.older_built.emit()

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

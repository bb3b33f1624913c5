"""The chat list kept in step with the store: dates or search results, row marks, rename, pin, delete, Undo.

The sidebar only shows rows and asks; this object answers its requests against
the store and fills the list again after each change, so what is listed is
always what is stored.  While the search box has text the list holds search
results instead of dates, and remembers which message matched in each chat so
a click can bring it into view.  Rows are marked for a chat with an unsent
draft, a reply being written, or a reply that ended while another chat was
shown ("unread"); the chat shown gets no mark, since all of that is on screen.
Deleting moves chats to the trash, and Undo (offered for a while) brings the
last ones back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from app import notices
from app.chat import ChatSession
from app.qt import QObject, Signal
from app.store import Store, StoreError
from app.store.dates import group_label
from app.ui.chat_pages import ChatPages
from app.ui.draft_keeper import DraftKeeper
from app.ui.sidebar import NEW_CHAT_TITLE, RowMark, Sidebar

log = logging.getLogger(__name__)


class ChatList(QObject):
    refreshed = Signal()  # the list was filled again from the store (titles may have changed)

    def __init__(
        self,
        sidebar: Sidebar,
        store: Store,
        pages: ChatPages,
        drafts: DraftKeeper,
        writing: Callable[[], ChatSession | None],
        stop_reply: Callable[[], None],
        open_chat: Callable[[int], object],
        new_chat: Callable[[], object],
        parent: QObject | None = None,
    ) -> None:
        """``writing`` gives the chat whose reply is being written (None: none), ``stop_reply``
        stops that reply; ``open_chat`` and ``new_chat`` show another chat when the one shown
        is deleted."""
        super().__init__(parent)
        self._sidebar = sidebar
        self._store = store
        self._pages = pages
        self._drafts = drafts
        self._writing = writing
        self._stop_reply = stop_reply
        self._open_chat = open_chat
        self._new_chat = new_chat
        self._undo_chats: list[int] = []  # the chats deleted last, for Undo
        self._unread: set[int] = set()  # chats whose reply ended while another chat was shown
        self._hit_messages: dict[int, int | None] = {}  # search results: chat id -> matching message
        sidebar.rename_requested.connect(self.rename)
        sidebar.pin_requested.connect(self.pin)
        sidebar.delete_requested.connect(self.delete)
        sidebar.undo_clicked.connect(self.undo_delete)
        sidebar.search_changed.connect(self._on_sidebar_search_changed)
        drafts.drafts_changed.connect(self.mark_rows)

    def refresh(self) -> None:
        """List the stored chats (grouped by date), or the search results while the search box has text."""
        page = self._pages.current()
        current = page.session.id if page is not None else None
        query = self._sidebar.search.text().strip()
        try:
            if query:
                hits = self._store.search(query)
                self._hit_messages = {h.conversation_id: h.message_id for h in hits}
                self._sidebar.set_results([(h.conversation_id, h.title, h.snippet) for h in hits], current)
            else:
                groups = self._store.grouped_conversations()
                self._sidebar.set_groups(
                    [(g.label, [(c.id, c.title) for c in g.conversations]) for g in groups], current
                )
        except StoreError as error:
            notices.failed("The chat list could not be read", error)
        self.refreshed.emit()

    def show_chat(self, chat_id: int) -> None:
        """The chat shown is now ``chat_id``: its row becomes the current one.

        The list is filled again only when it may be out of date (a chat not listed yet, another
        window's changes) or holds search results; with 100 K chats a refill takes seconds.
        """
        external = self._store.has_external_changes()
        if external or self._sidebar.search.text().strip() or not self._sidebar.show_current(chat_id):
            self.refresh()
        else:
            self.refreshed.emit()

    def chat_touched(self, chat_id: int) -> None:
        """``chat_id`` got a message: its row goes first under its date heading, with its title.

        Only that row changes (filling the list again from the store took seconds with 100 K
        chats); search results are listed again, since the new message may match the search.
        """
        if self._sidebar.search.text().strip():
            self.refresh()
            return
        try:
            info = self._store.conversation(chat_id)
        except StoreError as error:
            log.warning("cannot read the chat's title: %s", error)
            return
        if info.pinned_at is not None:  # pinned chats keep their place: only the title can change
            self._sidebar.set_title(chat_id, info.title or NEW_CHAT_TITLE)
        else:
            page = self._pages.current()
            shown = page is not None and page.session.id == chat_id
            self._sidebar.put_first(
                chat_id, info.title, group_label(info.updated_at, time.time()), current=shown
            )
        self.refreshed.emit()

    def hit_message(self, chat_id: int) -> int | None:
        """The message of ``chat_id`` that matched the search in the search box (None: no search)."""
        return self._hit_messages.get(chat_id) if self._sidebar.search.text().strip() else None

    def search(self, query: str) -> list[int]:
        """Type ``query`` into the search box; returns the ids listed."""
        self._sidebar.search.setText(query)
        return self._sidebar.chat_ids()

    def mark_rows(self) -> None:
        """Mark the listed chats holding an unsent draft, a reply being written or a reply not seen yet.

        The chat shown gets no mark: its draft is in the composer and its reply on screen.
        """
        page = self._pages.current()
        shown = page.session.id if page is not None else None
        self._unread.discard(shown)
        marks: dict[int, RowMark] = dict.fromkeys(self._drafts.chats_with_drafts(), "draft")
        marks.update(dict.fromkeys(self._unread, "unread"))
        writing = self._writing()
        if writing is not None:
            marks[writing.id] = "writing"
        marks.pop(shown, None)
        self._sidebar.set_marks(marks)

    def add_unread(self, chat_id: int) -> None:
        """A reply ended in ``chat_id`` while another chat was shown: marked until it is opened."""
        self._unread.add(chat_id)

    def rename(self, chat_id: int, title: str) -> None:
        try:
            self._store.rename_conversation(chat_id, title)
        except StoreError as error:
            notices.failed("The chat could not be renamed", error)
        else:
            page = self._pages.get(chat_id)
            if page is not None:
                page.session.title = title
        self.refresh()

    def pin(self, chat_id: int, pinned: bool) -> None:
        """Pin a chat to the top of the sidebar (its "Pinned" group) or put it back among the dates."""
        try:
            self._store.set_pinned(chat_id, pinned)
        except StoreError as error:
            what = "The chat could not be pinned" if pinned else "The chat could not be unpinned"
            notices.failed(what, error)
        self.refresh()

    def delete(self, chat_ids: Sequence[int]) -> None:
        """Move chats to the trash; the sidebar offers Undo (of them all) for a while."""
        deleted: list[int] = []
        title = NEW_CHAT_TITLE
        for chat_id in chat_ids:
            page = self._pages.get(chat_id)
            writing = self._writing()
            if writing is not None and page is not None and writing is page.session:
                self._stop_reply()
            try:
                title = self._store.conversation(chat_id).title or NEW_CHAT_TITLE
                self._store.delete_conversation(chat_id)
            except StoreError as error:
                notices.failed("The chat could not be deleted", error)
                break
            deleted.append(chat_id)
        if not deleted:
            return
        self._undo_chats = deleted
        self._sidebar.show_undo(
            f"Deleted “{title}”" if len(deleted) == 1 else f"Deleted {len(deleted)} chats"
        )
        current = self._pages.current()
        if current is not None and current.session.id in deleted:
            remaining = [c for c in self._store.list_conversations() if c.id not in deleted]
            if remaining:
                self._open_chat(remaining[0].id)
            else:
                self._new_chat()
        self.refresh()

    def undo_delete(self) -> int | None:
        """Bring back the chats deleted last and show the first of them."""
        chat_ids, self._undo_chats = self._undo_chats, []
        self._sidebar.hide_undo()
        try:
            for chat_id in chat_ids:
                self._store.restore_conversation(chat_id)
        except StoreError as error:
            notices.failed("The chat could not be restored", error)
            self.refresh()
            return None
        if not chat_ids:
            return None
        self._open_chat(chat_ids[0])
        return chat_ids[0]

    def _on_sidebar_search_changed(self, _text: str) -> None:
        self.refresh()

"""Which chat is shown: a new one, a stored one, the next one up or down, a message a search found.

Opening a chat builds its page from the store's active path the first time,
puts the composer's content aside for the chat left (its draft) and marks the
chat list; ``chat_shown`` tells the window, which updates what depends on the
chat shown (the context use, the instructions button, the Revise offer).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from app import notices
from app.chat import ChatSession
from app.qt import QObject, QTimer, Signal
from app.store import Store, StoreError
from app.ui.chat_list import ChatList
from app.ui.chat_pages import ChatPage, ChatPages
from app.ui.draft_keeper import DraftKeeper
from app.ui.messages import UserMessage
from app.ui.sidebar import Sidebar
from app.worker import EngineHost

log = logging.getLogger(__name__)


class ChatNavigation(QObject):
    chat_shown = Signal()  # another chat is shown now

    def __init__(
        self,
        store: Store,
        pages: ChatPages,
        sidebar: Sidebar,
        drafts: DraftKeeper,
        chat_list: ChatList,
        host: EngineHost,
        writing: Callable[[], ChatSession | None],
        focus_composer: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        """``writing`` gives the chat whose reply is being written (None: none): its branch stays."""
        super().__init__(parent)
        self.store = store
        self.pages = pages
        self.sidebar = sidebar
        self.drafts = drafts
        self.chat_list = chat_list
        self.host = host
        self._writing = writing
        self.focus_composer = focus_composer
        sidebar.chat_selected.connect(self.on_chat_selected)

    def current_page(self) -> ChatPage | None:
        return self.pages.current()

    def new_chat(self) -> ChatSession:
        """Open an empty chat: the current one if it is still empty, else a new stored conversation."""
        current = self.current_page()
        if current is not None and not current.session.messages and self._writing() is None:
            self.focus_composer()
            return current.session  # the current chat is still empty: reuse it
        cid = None
        try:
            newest = self.store.list_conversations()
            if newest and self.pages.get(newest[0].id) is None and not self.store.active_path(newest[0].id):
                cid = newest[0].id  # an empty chat left from an earlier session
            if cid is None:
                cid = self.store.create_conversation()
        except StoreError as error:
            log.exception("cannot create a conversation")
            if current is not None:
                notices.failed("A new chat could not be started", error)
                return current.session
            raise
        page = self._open_page(cid)
        self.host.forget_prompt_cache()
        self.focus_composer()
        return page.session

    def open_chat(self, chat_id: int) -> ChatPage | None:
        """Show a stored conversation (built from its active path the first time)."""
        try:
            page = self._open_page(chat_id)
        except StoreError as error:
            notices.failed("This chat could not be opened", error)
            return None
        self.focus_composer()
        return page

    def _open_page(self, chat_id: int) -> ChatPage:
        page = self.pages.page(chat_id)
        self.drafts.switch_to(chat_id)
        self.pages.setCurrentWidget(page.transcript)
        self.chat_list.mark_rows()
        self.chat_list.show_chat(chat_id)  # selects its row; the list is not rebuilt
        self.chat_shown.emit()  # the context use, the instructions and Revise follow the chat shown
        return page

    def step_chat(self, step: int) -> int | None:
        """Alt+Up / Alt+Down: open the chat above or below the current one in the sidebar's list."""
        ids = self.sidebar.chat_ids()
        page = self.current_page()
        if not ids:
            return None
        here = ids.index(page.session.id) if page is not None and page.session.id in ids else -1
        target = ids[max(0, min(len(ids) - 1, here + step))] if here >= 0 else ids[0]
        if page is None or target != page.session.id:
            self.sidebar.select(target)
            self.open_chat(target)
        return target

    def on_chat_selected(self, chat_id: int) -> None:
        page = self.current_page()
        if page is None or page.session.id != chat_id:
            page = self.open_chat(chat_id)
        message_id = self.chat_list.hit_message(chat_id)
        if page is not None and message_id is not None:
            self.show_message(page, message_id)

    def show_message(self, page: ChatPage, message_id: int) -> None:
        """Bring a stored message into view, switching to its branch if another is shown (a search hit)."""
        shown = {m.store_id for m in page.session.messages}
        if message_id not in shown:
            if self._writing() is page.session:
                return  # the branch cannot change under the reply being written
            try:
                self.pages.fill(page, self.store.select_message(message_id))
            except StoreError as error:
                notices.failed("That message could not be shown", error)
                return
        self.pages.build_message(page, message_id)
        widget = next(
            (w for w in page.transcript.messages() if getattr(w, "store_id", None) == message_id), None
        )
        if widget is not None:
            QTimer.singleShot(0, lambda: page.transcript.ensureWidgetVisible(widget, 0, 40))

    def edit_last_message(self) -> UserMessage | None:
        """Open the editor of the last message you sent in the chat shown (Up in an empty message box).

        Nothing happens while a reply is being written: the branch cannot change under it.
        """
        page = self.current_page()
        if page is None or not page.actions_enabled:
            return None
        widget = next((w for w in reversed(page.transcript.messages()) if isinstance(w, UserMessage)), None)
        if widget is None or widget.store_id is None or not widget.edit_button.isEnabled():
            return None
        widget.start_edit()
        QTimer.singleShot(0, lambda: page.transcript.ensureWidgetVisible(widget, 0, 40))
        return widget

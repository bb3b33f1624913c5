"""A chat's instructions (its own system prompt): the dialog that edits them, and the composer's sign.

Instructions are asked for from three places (the chat list's menu, the
composer's Instructions button, Chat ▸ Instructions…) and saved in the store
per chat; empty means the default from Settings.  The composer's button is
checked while the chat shown has instructions of its own, so a user who
wonders why the model answers in French sees it at once.
"""

from __future__ import annotations

from collections.abc import Callable

from app import notices
from app.qt import QObject, Qt, QWidget
from app.store import Store, StoreError
from app.ui.chat_pages import ChatPages
from app.ui.composer import Composer
from app.ui.instructions_dialog import InstructionsDialog
from app.ui.sidebar import NEW_CHAT_TITLE


class ChatInstructions(QObject):
    def __init__(
        self,
        store: Store,
        pages: ChatPages,
        composer: Composer,
        default: Callable[[], str],
        dialog_parent: QWidget,
    ) -> None:
        """``default`` gives the instructions from Settings, which a chat without its own follows."""
        super().__init__(dialog_parent)
        self._store = store
        self._pages = pages
        self._composer = composer
        self._default = default
        self._dialog_parent = dialog_parent

    def edit(self, chat_id: int | None = None) -> InstructionsDialog | None:
        """Open the instructions (system prompt) of ``chat_id``, else of the chat shown, for editing."""
        if chat_id is None:
            page = self._pages.current()
            if page is None:
                return None
            chat_id = page.session.id
        try:
            info = self._store.conversation(chat_id)
        except StoreError as error:
            notices.failed("This chat's instructions could not be read", error)
            return None
        dialog = InstructionsDialog(
            info.title or NEW_CHAT_TITLE, info.system, self._default(), self._dialog_parent
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._save(chat_id, dialog.instructions()))
        dialog.open()
        return dialog

    def show_state(self) -> None:
        """The composer's Instructions button is checked while the chat shown has instructions of its own."""
        page = self._pages.current()
        try:
            own = bool(page is not None and self._store.conversation(page.session.id).system)
        except StoreError:
            own = False
        self._composer.set_has_instructions(own)

    def _save(self, chat_id: int, text: str) -> None:
        try:
            self._store.set_system_prompt(chat_id, text)
        except StoreError as error:
            notices.failed("The instructions could not be saved", error)
            return
        self.show_state()
        notices.info(
            "Instructions saved: the next reply follows them"
            if text
            else "This chat uses the default instructions",
            timeout_ms=5000,
        )

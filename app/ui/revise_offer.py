"""When Revise is offered: while the chat shown ends with a reply that has text and none is being written.

Revise writes the last reply again over its own text, following an
instruction typed in the composer.  It is offered in two places that must
agree, the composer's Revise toggle and the Revise link under the last
reply, and the offer changes whenever the chat shown, its branch or the reply
being written does; this class says it the same way in both places.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from app import notices
from app.qt import QObject
from app.store import Store, StoreError
from app.ui.chat_pages import ChatPage, ChatPages
from app.ui.composer import Composer
from app.ui.messages import AssistantMessage
from engine.errors import EngineError
from engine.generation.rewrite import selected_range

log = logging.getLogger(__name__)


def revisable_answer(page: ChatPage | None) -> str:
    """The answer a Revise would start from: the chat's last message, if it is a reply with text."""
    messages = page.session.messages if page is not None else []
    last = messages[-1] if messages else None
    return last.text if last is not None and last.role == "assistant" and last.text.strip() else ""


class ReviseOffer(QObject):
    def __init__(
        self,
        composer: Composer,
        pages: ChatPages,
        reply_running: Callable[[], bool],
        focus_composer: Callable[[], None],
        store: Store,
        plans: Callable[[], frozenset[str]],
        parent: QObject | None = None,
    ) -> None:
        """``plans`` are the reply modes the loaded model carries out: no Revise where it is missing."""
        super().__init__(parent)
        self._store = store
        self._plans = plans
        self._composer = composer
        self._pages = pages
        self._reply_running = reply_running
        self._focus_composer = focus_composer

    def show(self) -> None:
        """Offer Revise while the chat shown ends with a reply that has text and none is being written.

        The composer's toggle and the Revise link under that reply say the same.
        """
        page = self._pages.current()
        available = not self._reply_running() and bool(revisable_answer(page)) and "revise" in self._plans()
        self._composer.set_revisable(available)
        if page is not None:
            replies = [w for w in page.transcript.messages() if isinstance(w, AssistantMessage)]
            for widget in replies:
                widget.set_revisable(available and widget is replies[-1])

    def start(self) -> None:
        """Revise under the last reply: the composer takes the instruction for it."""
        if self._composer.revise_button.isEnabled():
            self._composer.revise_button.setChecked(True)
            self._focus_composer()

    def toggle(self) -> None:
        """Chat ▸ Revise the last reply (Ctrl+R): the composer's toggle, when Revise is offered."""
        if self._composer.revise_button.isEnabled():
            self._composer.revise_button.toggle()

    def start_part(self, assistant_message_id: int, selection: str) -> None:
        """Right-click ▸ Revise this part…: the next message says how that part of the last reply changes."""
        page = self._pages.current()
        last = page.session.messages[-1] if page is not None and page.session.messages else None
        if last is None or last.store_id != assistant_message_id:
            return
        try:
            selected_range(last.text, selection)
        except EngineError as error:
            notices.warning(str(error))
            return
        self._composer.revise_part(selection)

    def part_to_rewrite(self, page: ChatPage) -> tuple[list[int], str] | None:
        """The last reply's token ids and the part a "Revise this part" frees (None: the whole reply)."""
        last = page.session.messages[-1] if page.session.messages else None
        if not self._composer.revised_part or last is None or last.store_id is None:
            return None
        try:
            ids = [t for canvas in self._store.canvases(last.store_id) for t in canvas.tokens]
        except StoreError:
            log.exception("cannot read the canvases of the reply being revised")
            return None
        return (ids, self._composer.revised_part) if ids else None

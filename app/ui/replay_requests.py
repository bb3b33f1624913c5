"""Replay: re-running how a stored reply was refined, its history read and decoded off the GUI thread.

The stored history holds every step's token ids, never text; decoding it needs
the loaded tokenizer, so the reading and decoding run on the engine thread
(``EngineHost.replay``, after any reply in progress) while the window stays
responsive.  Each answer goes back to the reply widget that asked, unless that
widget left the screen meanwhile (another branch shown, the chat deleted).
"""

from __future__ import annotations

from app.qt import QObject, Slot
from app.replay import Replay
from app.store import Store
from app.ui.chat_pages import ChatPages
from app.ui.messages import AssistantMessage
from app.worker import EngineHost


class ReplayRequests(QObject):
    def __init__(
        self, host: EngineHost, store: Store, pages: ChatPages, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._host = host
        self._store = store
        self._pages = pages
        self._waiting: dict[int, AssistantMessage] = {}  # replay request id -> its reply widget
        host.worker.replay_ready.connect(self.on_replay_ready)
        host.worker.replay_failed.connect(self.on_replay_failed)

    def request(self, widget: AssistantMessage) -> None:
        """Re-run how the reply shown in ``widget`` was refined."""
        message_id = widget.store_id
        if message_id is None:
            return
        widget.replay_requested()
        store = self._store

        def load() -> tuple[list, list[str], object]:
            canvases = [c.text for c in store.canvases(message_id)]
            return store.replay(message_id), canvases, store.message(message_id).stats

        request_id = self._host.replay(load)
        self._waiting[request_id] = widget

    @Slot(int, object)
    def on_replay_ready(self, request_id: int, replay: Replay) -> None:
        widget = self._waiting.pop(request_id, None)
        if widget is not None and self._pages.page_of(widget) is not None:
            widget.start_replay(replay)

    @Slot(int, str)
    def on_replay_failed(self, request_id: int, message: str) -> None:
        widget = self._waiting.pop(request_id, None)
        if widget is not None and self._pages.page_of(widget) is not None:
            widget.replay_failed(message)

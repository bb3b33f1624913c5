"""Opening the conversation store at launch, and what the user must be told about it.

A window without its conversations must still be usable: when the store
cannot be opened the session runs on a temporary one, and the user is told
that this session's chats will not be saved.  Opening is also when the store
reports what happened last time (a database recovered from a backup, replies
that were being written when the app closed) and when the trash (chats deleted
last session, past Undo) is emptied.  Qt-free: the window shows the messages
as notices in its first chat.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from app.store import Store, StoreError

log = logging.getLogger(__name__)


def open_store() -> tuple[Store, list[str]]:
    """The conversation store (a temporary one if it cannot be opened) and the notices for the user."""
    notices: list[str] = []
    try:
        store = Store.open()
    except StoreError as error:
        log.exception("cannot open the conversation store")
        folder = tempfile.mkdtemp(prefix="dgchat-unsaved-")
        notices.append(
            f"Your conversations could not be opened, so this session's chats will not be saved. {error}"
        )
        return Store.open(Path(folder) / "conversations.db"), notices
    if store.recovery is not None:
        notices.append(store.recovery.message)
    if store.interrupted:
        count = len(store.interrupted)
        notices.append(
            f"{count} repl{'ies were' if count != 1 else 'y was'} being written "
            "when the app last closed. "
            "What was saved is kept and marked as interrupted in its chat; you can try again there."
        )
    try:
        store.purge_deleted()
    except StoreError:
        log.exception("cannot empty the trash")
    return store, notices

"""Opening the conversation store at launch, and what the user must be told about it.

A window without its conversations must still be usable: when the store
cannot be opened the session runs on a temporary one, and the user is told
that this session's chats will not be saved.  Opening is also when the store
reports what happened last time (a damaged database moved aside, now or
earlier by the command-line tools; replies that were being written when the
app closed) and when the trash (chats deleted last session, past Undo) is
emptied.  Qt-free: the window shows the messages
as notices in its first chat.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from app.store import DiskFullError, Store, StoreError, default_db_path
from app.store.recoveries import take_remembered
from engine.hub.names import format_bytes

log = logging.getLogger(__name__)


def open_store() -> tuple[Store, list[str]]:
    """The conversation store (a temporary one if it cannot be opened) and the notices for the user.

    Never raises: a window must open even when no disk can take a database (then this
    session's chats are kept in memory), and the notice says why and what to do.
    """
    notices: list[str] = []
    try:
        store = Store.open()
    except StoreError as error:
        log.exception("cannot open the conversation store")
        notices.append(unsaved_notice(error))
        return unsaved_store(), notices
    recovered = take_remembered(store.path)  # also those the command-line tools made
    if store.recovery is not None and store.recovery not in recovered:
        recovered.append(store.recovery)  # (its note could not be written)
    notices.extend(recovery.message for recovery in recovered)
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


def unsaved_notice(error: StoreError) -> str:
    """What the user is told when their conversations cannot be opened: the cause first, then the fix."""
    if isinstance(error, DiskFullError):
        return (
            f"The disk is full ({format_bytes(error.free)} free in {error.folder}): free some space "
            "and restart the app. Until then this session's chats will not be saved."
        )
    return f"Your conversations could not be opened, so this session's chats will not be saved. {error}"


def unsaved_store() -> Store:
    """A store for this session only: in a temporary folder, else in memory when no disk takes one."""
    folder: str | None = None
    try:
        folder = tempfile.mkdtemp(prefix="dgchat-unsaved-")
        return Store.open(Path(folder) / default_db_path().name)
    except (OSError, StoreError):
        log.exception("cannot open a temporary store either; this session's chats stay in memory")
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return Store.in_memory(default_db_path().parent / f"unsaved-{os.getpid()}")

"""Conversation rows: create, list, rename, pin, soft delete with undo, purge, automatic titles."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection

from app.store.errors import StoreError
from app.store.models import ConversationInfo
from app.store.titles import auto_title

COLUMNS = "id, title, system, created_at, updated_at, deleted_at, pinned_at"


def _info(row: tuple) -> ConversationInfo:
    return ConversationInfo(
        id=row[0],
        title=row[1],
        system=row[2],
        created_at=row[3],
        updated_at=row[4],
        deleted_at=row[5],
        pinned_at=row[6],
    )


def create(conn: sqlite3.Connection, now: float, title: str = "", system: str = "") -> int:
    cursor = conn.execute(
        "INSERT INTO conversations (title, system, created_at, updated_at, title_auto)"
        " VALUES (?, ?, ?, ?, ?)",
        (title, system, now, now, 0 if title else 1),
    )
    return int(cursor.lastrowid)


def get(conn: sqlite3.Connection, conversation_id: int) -> ConversationInfo:
    row = conn.execute(f"SELECT {COLUMNS} FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
    if row is None:
        raise StoreError(f"Conversation {conversation_id} does not exist")
    return _info(row)


def list_all(conn: sqlite3.Connection, *, deleted: bool = False) -> list[ConversationInfo]:
    """Live conversations (or, with ``deleted``, the ones waiting in the trash), newest activity first."""
    where = "deleted_at IS NOT NULL" if deleted else "deleted_at IS NULL"
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM conversations WHERE {where} ORDER BY updated_at DESC, id DESC"
    )
    return [_info(row) for row in rows]


def touch(conn: sqlite3.Connection, conversation_id: int, now: float) -> None:
    conn.execute(
        "UPDATE conversations SET updated_at = MAX(updated_at, ?) WHERE id = ?", (now, conversation_id)
    )


def rename(conn: sqlite3.Connection, conversation_id: int, title: str) -> None:
    """A user-chosen title: automatic titles never replace it."""
    get(conn, conversation_id)
    conn.execute(
        "UPDATE conversations SET title = ?, title_auto = 0 WHERE id = ?", (title.strip(), conversation_id)
    )


def set_system(conn: sqlite3.Connection, conversation_id: int, system: str) -> None:
    get(conn, conversation_id)
    conn.execute("UPDATE conversations SET system = ? WHERE id = ?", (system, conversation_id))


def set_pinned(conn: sqlite3.Connection, conversation_id: int, pinned_at: float | None) -> None:
    """Pin (at ``pinned_at``) or unpin (None).

    ``updated_at`` is left alone: pinning is not activity, so the chat keeps its
    place among the date groups when it is unpinned again.  Pinning a chat that
    is already pinned keeps its first pin time, so a repeated request (two
    windows, a double click) does not reorder the pinned group.
    """
    get(conn, conversation_id)
    if pinned_at is None:
        conn.execute("UPDATE conversations SET pinned_at = NULL WHERE id = ?", (conversation_id,))
    else:
        conn.execute(
            "UPDATE conversations SET pinned_at = COALESCE(pinned_at, ?) WHERE id = ?",
            (pinned_at, conversation_id),
        )


def apply_auto_title(conn: sqlite3.Connection, conversation_id: int, text: str, names: list[str]) -> None:
    """Title the conversation from its first user message unless the user named it."""
    conn.execute(
        "UPDATE conversations SET title = ?, title_auto = 1 WHERE id = ? AND (title_auto = 1 OR title = '')",
        (auto_title(text, names), conversation_id),
    )


def soft_delete(conn: sqlite3.Connection, conversation_id: int, now: float) -> None:
    get(conn, conversation_id)
    conn.execute(
        "UPDATE conversations SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL", (now, conversation_id)
    )


def restore(conn: sqlite3.Connection, conversation_id: int) -> None:
    get(conn, conversation_id)
    conn.execute("UPDATE conversations SET deleted_at = NULL WHERE id = ?", (conversation_id,))


def purge(conn: sqlite3.Connection, deleted_before: float, only: Collection[int] | None = None) -> list[int]:
    """Really delete conversations soft-deleted before the given time (messages etc. cascade).

    ``only`` limits it to those conversations (the trash dialog's "Delete now").
    """
    ids = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM conversations WHERE deleted_at IS NOT NULL AND deleted_at <= ?", (deleted_before,)
        )
        if only is None or row[0] in only
    ]
    conn.executemany("DELETE FROM conversations WHERE id = ?", [(i,) for i in ids])
    return ids


def referenced_blobs(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT DISTINCT sha256 FROM attachments")}

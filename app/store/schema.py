"""The database schema as a list of forward migrations, one per version.

``PRAGMA user_version`` records how many steps a file has had.  Opening runs
the missing steps in one ``BEGIN IMMEDIATE`` transaction, so a crash or a
second app instance mid-upgrade leaves the file at the old version, never
half-migrated.  A shipped step is never edited (a test pins version 1's text);
changes go into a new step appended at the end.  A file from a *newer* app is
refused untouched rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.store.errors import NewerDatabaseError

# Version 1: conversations, a tree of messages (parent ids), and attachments by content hash.
V1: tuple[str, ...] = (
    """CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        system TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
    """CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        text TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    )""",
    "CREATE INDEX messages_by_parent ON messages (conversation_id, parent_id)",
    """CREATE TABLE attachments (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('image', 'video')),
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        UNIQUE (message_id, position)
    )""",
    "CREATE INDEX attachments_by_blob ON attachments (sha256)",
)

# Version 2: streaming state and stats, the active branch, soft delete, automatic titles,
# committed canvases, refinement history, and full-text search.
V2: tuple[str, ...] = (
    "ALTER TABLE conversations ADD COLUMN title_auto INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE conversations ADD COLUMN deleted_at REAL",
    "CREATE INDEX conversations_by_update ON conversations (deleted_at, updated_at)",
    "ALTER TABLE messages ADD COLUMN thought TEXT NOT NULL DEFAULT ''",
    """ALTER TABLE messages ADD COLUMN status TEXT NOT NULL DEFAULT 'complete'
        CHECK (status IN ('streaming', 'complete', 'incomplete'))""",
    "ALTER TABLE messages ADD COLUMN stop_reason TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE messages ADD COLUMN stats TEXT",
    "ALTER TABLE messages ADD COLUMN selected_seq INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE messages ADD COLUMN updated_at REAL",
    # Version 1 had branches but no notion of the active one: the newest sibling wins.
    "UPDATE messages SET selected_seq = id, updated_at = created_at",
    "CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming'",
    """CREATE TABLE canvases (
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        block INTEGER NOT NULL,
        tokens BLOB NOT NULL,
        text TEXT NOT NULL,
        steps INTEGER NOT NULL,
        ended INTEGER NOT NULL,
        PRIMARY KEY (message_id, block)
    )""",
    """CREATE TABLE refinements (
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        block INTEGER NOT NULL,
        frames INTEGER NOT NULL,
        committed INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (message_id, block)
    )""",
    """CREATE VIRTUAL TABLE message_fts USING fts5(
        text, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER message_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO message_fts (rowid, text) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER message_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO message_fts (message_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END""",
    """CREATE TRIGGER message_fts_update AFTER UPDATE OF text ON messages BEGIN
        INSERT INTO message_fts (message_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO message_fts (rowid, text) VALUES (new.id, new.text);
    END""",
    "INSERT INTO message_fts (message_fts) VALUES ('rebuild')",
    """CREATE VIRTUAL TABLE conversation_fts USING fts5(
        title, content='conversations', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER conversation_fts_insert AFTER INSERT ON conversations BEGIN
        INSERT INTO conversation_fts (rowid, title) VALUES (new.id, new.title);
    END""",
    """CREATE TRIGGER conversation_fts_delete AFTER DELETE ON conversations BEGIN
        INSERT INTO conversation_fts (conversation_fts, rowid, title) VALUES ('delete', old.id, old.title);
    END""",
    """CREATE TRIGGER conversation_fts_update AFTER UPDATE OF title ON conversations BEGIN
        INSERT INTO conversation_fts (conversation_fts, rowid, title) VALUES ('delete', old.id, old.title);
        INSERT INTO conversation_fts (rowid, title) VALUES (new.id, new.title);
    END""",
    "INSERT INTO conversation_fts (conversation_fts) VALUES ('rebuild')",
)

# Version 3: documents (text files and PDFs) as attachments. SQLite cannot change a CHECK
# constraint in place, so the table is rebuilt with the same rows and ids.
V3: tuple[str, ...] = (
    """CREATE TABLE attachments_v3 (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('image', 'video', 'document')),
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        UNIQUE (message_id, position)
    )""",
    """INSERT INTO attachments_v3 (id, message_id, position, sha256, kind, name, size)
        SELECT id, message_id, position, sha256, kind, name, size FROM attachments""",
    "DROP TABLE attachments",
    "ALTER TABLE attachments_v3 RENAME TO attachments",
    "CREATE INDEX attachments_by_blob ON attachments (sha256)",
)

# Version 4: chats pinned to the top of the sidebar. NULL = not pinned; the time orders the
# pinned chats (most recently pinned first) without touching updated_at, so a pin never
# moves a chat between date groups.
V4: tuple[str, ...] = ("ALTER TABLE conversations ADD COLUMN pinned_at REAL",)

MIGRATIONS: tuple[tuple[str, ...], ...] = (V1, V2, V3, V4)
LATEST_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, path: Path | str) -> tuple[int, int]:
    """Bring the database to LATEST_VERSION; return (version before, version after).

    ``conn`` must be in autocommit mode (``isolation_level=None``) so the
    explicit transaction below is the only one.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = schema_version(conn)
        if before > LATEST_VERSION:
            raise NewerDatabaseError(
                f"The conversation database was written by a newer version of the app "
                f"(schema {before}; this version knows up to {LATEST_VERSION}); it was left untouched",
                fix="Update the app, or set DGCHAT_DATA_DIR to another folder",
                path=path,
            )
        for steps in MIGRATIONS[before:]:
            for statement in steps:
                conn.execute(statement)
        if before != LATEST_VERSION:
            conn.execute(f"PRAGMA user_version = {LATEST_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return before, LATEST_VERSION

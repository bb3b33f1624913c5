"""Migrations: a version-1 file opened by the current code keeps its data and gains the new features."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from history_samples import fake_reply

from app.store import NewerDatabaseError, Store
from app.store.schema import LATEST_VERSION, MIGRATIONS, V1

# Version 1 exactly as it shipped. A shipped migration must never change: files in the wild
# were created by it, and the steps after it assume its result.
SHIPPED_V1 = (
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


def test_shipped_version_1_is_unchanged():
    assert V1 == SHIPPED_V1
    assert MIGRATIONS[0] is V1
    assert LATEST_VERSION >= 2


def make_v1_file(data_dir):
    """A database as version 1 of the app left it: a branched conversation with an attachment."""
    data_dir.mkdir(parents=True)
    blob = b"\x89PNG fake image bytes"
    sha = hashlib.sha256(blob).hexdigest()
    (data_dir / "blobs" / sha[:2]).mkdir(parents=True)
    (data_dir / "blobs" / sha[:2] / sha).write_bytes(blob)
    conn = sqlite3.connect(data_dir / "conversations.db")
    for statement in SHIPPED_V1:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO conversations VALUES (1, 'Old chat about whales', '', 100.0, 200.0)")
    rows = [
        (1, 1, None, "user", "How big is a blue whale?", 100.0),
        (2, 1, 1, "assistant", "About 30 metres.", 101.0),
        (3, 1, 1, "assistant", "Up to 30 m and 180 tonnes.", 102.0),  # a regeneration: newest sibling
        (4, 1, 3, "user", "And a krill?", 103.0),
    ]
    conn.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.execute("INSERT INTO attachments VALUES (1, 1, 0, ?, 'image', 'whale.png', ?)", (sha, len(blob)))
    conn.commit()
    conn.close()
    return sha


def test_version_1_file_is_migrated_with_data_intact_and_new_features_working(data_dir, clock):
    sha = make_v1_file(data_dir)
    with Store.open(clock=clock) as store:
        conn = sqlite3.connect(store.path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()

        [info] = store.list_conversations()
        assert (info.id, info.title, info.created_at, info.updated_at) == (
            1,
            "Old chat about whales",
            100.0,
            200.0,
        )
        path = store.active_path(1)
        assert [m.id for m in path] == [1, 3, 4]  # the newest sibling is the active one after the upgrade
        assert all(m.status == "complete" and m.thought == "" and m.stats is None for m in path)
        assert path[0].attachments[0].sha256 == sha
        assert path[0].attachments[0].path.read_bytes() == b"\x89PNG fake image bytes"
        assert store.siblings(2).ids == (2, 3)

        # Full-text search indexed the old rows during the upgrade.
        assert [h.message_id for h in store.search("tonnes")] == [3]
        assert [h.conversation_id for h in store.search("whales")] == [1]

        # New in version 2: streaming replies with canvases and history, branch switching, trash.
        with store.begin_reply(4) as writer:
            for event in fake_reply(1, words="Krill are tiny"):
                writer.on_event(event)
        assert store.message(writer.message_id).status == "complete"
        assert len(store.replay(writer.message_id)) == 6
        assert [m.id for m in store.select_message(2)] == [1, 2]
        store.delete_conversation(1)
        assert store.list_conversations() == []
        store.restore_conversation(1)
        assert [c.id for c in store.list_conversations()] == [1]


def test_a_file_from_a_newer_app_is_refused_and_left_untouched(data_dir, clock):
    with Store.open(clock=clock) as store:
        store.create_conversation("keep me")
        path = store.path
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(NewerDatabaseError, match="newer version"):
        Store.open(clock=clock)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if "corrupt" in p.name] == []


def test_new_database_uses_wal_foreign_keys_and_latest_version(store):
    conn = store._db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION


def test_reopening_does_not_migrate_again(data_dir, clock):
    with Store.open(clock=clock) as store:
        cid = store.create_conversation("twice")
    with Store.open(clock=clock) as store:
        assert [c.id for c in store.list_conversations()] == [cid]


def test_version_2_file_gains_document_attachments_with_its_rows_intact(data_dir, clock, tmp_path):
    """Version 3 rebuilds the attachments table (a CHECK constraint cannot be altered in place)."""
    from app.store.schema import V2

    sha = make_v1_file(data_dir)
    conn = sqlite3.connect(data_dir / "conversations.db")
    for statement in V2:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()

    notes = tmp_path / "notes.md"
    notes.write_text("# Whale notes\n")
    with Store.open(clock=clock) as store:
        conn = sqlite3.connect(store.path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT id, message_id, sha256, kind, name FROM attachments").fetchall() == [
            (1, 1, sha, "image", "whale.png")
        ]
        conn.close()
        user = store.send_user_message(1, "Read my notes", [notes])
        assert [(a.kind, a.name) for a in user.attachments] == [("document", "notes.md")]
        assert user.attachments[0].to_engine().display_name == "notes.md"
        # The rebuilt table still cascades: deleting the chat for good removes its attachment rows.
        store.delete_conversation(1)
        store.purge_deleted(older_than_s=0)
        conn = sqlite3.connect(store.path)
        assert conn.execute("SELECT COUNT(*) FROM attachments").fetchone()[0] == 0
        conn.close()


def test_version_3_file_gains_pinning_with_its_rows_intact(data_dir, clock):
    """Version 4 adds ``pinned_at``; every chat of an older file starts unpinned, nothing else moves."""
    from app.store.schema import V2, V3

    make_v1_file(data_dir)
    conn = sqlite3.connect(data_dir / "conversations.db")
    for statement in (*V2, *V3):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    conn.execute("INSERT INTO conversations (id, title, created_at, updated_at) VALUES (2, 'Second', 50, 60)")
    conn.commit()
    before = conn.execute("SELECT * FROM conversations ORDER BY id").fetchall()
    messages = conn.execute("SELECT * FROM messages ORDER BY id").fetchall()
    conn.close()

    with Store.open(clock=clock) as store:
        conn = sqlite3.connect(store.path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        after = conn.execute("SELECT * FROM conversations ORDER BY id").fetchall()
        assert [row[:-1] for row in after] == before  # the new column comes last, everything else kept
        assert [row[-1] for row in after] == [None, None]
        assert conn.execute("SELECT * FROM messages ORDER BY id").fetchall() == messages
        conn.close()
        assert [(c.id, c.pinned_at) for c in store.list_conversations()] == [(1, None), (2, None)]
        assert [g.label for g in store.grouped_conversations()] == ["Older"]

        store.set_pinned(2, True)
        assert store.conversation(2).pinned_at == clock.now
        assert [(g.label, [c.id for c in g.conversations]) for g in store.grouped_conversations()] == [
            ("Pinned", [2]),
            ("Older", [1]),
        ]

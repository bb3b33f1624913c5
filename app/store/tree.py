"""The message tree: every edit and regeneration is a new sibling, and nothing is ever overwritten.

Each message points at its parent (the first user message has none).  The
*active branch* is remembered per level by ``selected_seq``: a counter that
grows each time a message is created or chosen, so at every fork the child
with the highest value is the one shown, and switching back to an older
sibling brings back the branch below it as it was last seen.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields

from app.store.blobs import BlobStore
from app.store.errors import StoreError
from app.store.models import Message, Siblings, StoredAttachment
from engine.events import Stats

MESSAGE_COLUMNS = (
    "id, conversation_id, parent_id, role, text, thought, status, stop_reason, stats, created_at, updated_at"
)


@dataclass
class Skeleton:
    """Ids, parents and selection marks of one conversation: enough to walk branches in Python."""

    parent: dict[int, int | None] = field(default_factory=dict)
    children: dict[int | None, list[int]] = field(default_factory=dict)
    seq: dict[int, int] = field(default_factory=dict)

    def active_child(self, node: int | None) -> int | None:
        kids = self.children.get(node)
        if not kids:
            return None
        return max(kids, key=lambda k: (self.seq[k], k))

    def descend(self, start: int | None) -> list[int]:
        """From ``start`` (None = the conversation's root level) down the active children to a leaf."""
        path = [] if start is None else [start]
        node = self.active_child(start)
        while node is not None:
            path.append(node)
            node = self.active_child(node)
        return path

    def path_to(self, message_id: int) -> list[int]:
        path = [message_id]
        node = self.parent[message_id]
        while node is not None:
            path.append(node)
            node = self.parent[node]
        return path[::-1]

    def siblings(self, message_id: int) -> Siblings:
        ids = tuple(self.children[self.parent[message_id]])
        return Siblings(ids=ids, index=ids.index(message_id))


def load_skeleton(conn: sqlite3.Connection, conversation_id: int) -> Skeleton:
    skeleton = Skeleton()
    rows = conn.execute(
        "SELECT id, parent_id, selected_seq FROM messages WHERE conversation_id = ? ORDER BY id",
        (conversation_id,),
    )
    for mid, parent, seq in rows:
        skeleton.parent[mid] = parent
        skeleton.children.setdefault(parent, []).append(mid)
        skeleton.seq[mid] = seq
    return skeleton


def conversation_of(conn: sqlite3.Connection, message_id: int) -> int:
    row = conn.execute("SELECT conversation_id FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None:
        raise StoreError(f"Message {message_id} does not exist")
    return int(row[0])


def _next_seq(conn: sqlite3.Connection, conversation_id: int) -> int:
    row = conn.execute(
        "SELECT COALESCE(MAX(selected_seq), 0) + 1 FROM messages WHERE conversation_id = ?",
        (conversation_id,),
    ).fetchone()
    return int(row[0])


def select(conn: sqlite3.Connection, message_id: int) -> None:
    """Make ``message_id`` (and so every ancestor) part of the active branch."""
    conversation_id = conversation_of(conn, message_id)
    skeleton = load_skeleton(conn, conversation_id)
    seq = _next_seq(conn, conversation_id)
    conn.executemany(
        "UPDATE messages SET selected_seq = ? WHERE id = ?",
        [(seq, mid) for mid in skeleton.path_to(message_id)],
    )


def insert_message(
    conn: sqlite3.Connection,
    conversation_id: int,
    parent_id: int | None,
    role: str,
    text: str,
    now: float,
    *,
    status: str = "complete",
) -> int:
    """Add a message under ``parent_id`` and make it the active branch."""
    if parent_id is not None and conversation_of(conn, parent_id) != conversation_id:
        raise StoreError(f"Message {parent_id} belongs to another conversation")
    cursor = conn.execute(
        "INSERT INTO messages (conversation_id, parent_id, role, text, status, created_at, updated_at,"
        " selected_seq) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
        (conversation_id, parent_id, role, text, status, now, now),
    )
    message_id = int(cursor.lastrowid)
    select(conn, message_id)
    return message_id


def insert_attachments(
    conn: sqlite3.Connection, message_id: int, items: Sequence[tuple[str, str, str, int]]
) -> None:
    """Rows for (sha256, kind, name, size) in order; the blobs must already be in the BlobStore."""
    conn.executemany(
        "INSERT INTO attachments (message_id, position, sha256, kind, name, size) VALUES (?, ?, ?, ?, ?, ?)",
        [(message_id, i, sha, kind, name, size) for i, (sha, kind, name, size) in enumerate(items)],
    )


def attachment_rows(conn: sqlite3.Connection, message_id: int) -> list[tuple[str, str, str, int]]:
    return [
        (sha, kind, name, size)
        for sha, kind, name, size in conn.execute(
            "SELECT sha256, kind, name, size FROM attachments WHERE message_id = ? ORDER BY position",
            (message_id,),
        )
    ]


def stats_to_json(stats: Stats | None) -> str | None:
    return None if stats is None else json.dumps(asdict(stats))


def stats_from_json(text: str | None) -> Stats | None:
    """Tolerant of fields added or removed since the row was written."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None  # a string or list stored by an import that checked nothing
    known = {f.name for f in fields(Stats)}
    values = {k: v for k, v in data.items() if k in known}
    steps = values.get("steps_per_canvas", ())
    if not isinstance(steps, list | tuple) or not all(_is_number(v) for v in (*steps, *_numbers(values))):
        return None
    values["steps_per_canvas"] = tuple(steps)
    try:
        return Stats(**values)
    except TypeError:
        return None


def _numbers(values: dict) -> list:
    return [
        v for k, v in values.items() if k != "steps_per_canvas" and not (k == "peak_vram_bytes" and v is None)
    ]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def load_messages(conn: sqlite3.Connection, ids: Iterable[int], blobs: BlobStore) -> list[Message]:
    """Full messages for ``ids`` (in that order), with attachments and sibling positions."""
    ids = list(ids)
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = {
        row[0]: row
        for row in conn.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id IN ({marks})", ids)
    }
    missing = [i for i in ids if i not in rows]
    if missing:
        raise StoreError(f"Message {missing[0]} does not exist")
    attachments: dict[int, list[StoredAttachment]] = {}
    for mid, sha, kind, name, size in conn.execute(
        f"SELECT message_id, sha256, kind, name, size FROM attachments WHERE message_id IN ({marks})"
        " ORDER BY message_id, position",
        ids,
    ):
        attachments.setdefault(mid, []).append(
            StoredAttachment(sha256=sha, kind=kind, name=name, size=size, path=blobs.path_for(sha))
        )
    trees: dict[int, Skeleton] = {}
    out = []
    for mid in ids:
        row = rows[mid]
        cid = row[1]
        if cid not in trees:
            trees[cid] = load_skeleton(conn, cid)
        siblings = trees[cid].siblings(mid)
        out.append(
            Message(
                id=mid,
                conversation_id=cid,
                parent_id=row[2],
                role=row[3],
                text=row[4],
                thought=row[5],
                status=row[6],
                stop_reason=row[7],
                stats=stats_from_json(row[8]),
                attachments=tuple(attachments.get(mid, ())),
                created_at=row[9],
                updated_at=row[10] if row[10] is not None else row[9],
                siblings=siblings,
            )
        )
    return out

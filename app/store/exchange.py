"""Export conversations to JSON (lossless) or Markdown (readable), and import JSON back.

JSON keeps everything that makes a conversation: every branch (parent ids
and the active-branch marks), thoughts, statuses, stats and attachments.
Attachments are embedded once each, base64, in a top-level ``blobs`` map
keyed by sha256, so the file is self-contained; ``embed_attachments=False``
writes references only (``"attachments": "referenced"``), which import
accepts only where those blobs already exist (the same machine).  Canvases
and refinement history are optional (``include_history``) because they are
replay data, not conversation, and can be large.

Keys added after version 1 shipped are optional (``pinned``): an older export
without them imports with their defaults, and an older app ignores them, so
they need no new format version.

Markdown shows the active branch of each conversation, for reading and
sharing; it is not meant to be imported.

Import always adds new conversations (fresh ids); it never merges into or
overwrites existing ones, and it is one transaction: all or nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import sqlite3
from collections.abc import Collection, Sequence
from typing import Any

import app.store.conversations as conversations
import app.store.history as history
import app.store.import_fields as check
from app.store.blobs import BlobStore
from app.store.dates import local_datetime
from app.store.errors import ImportFormatError
from app.store.history_codec import encode_tokens
from app.store.tree import load_messages, load_skeleton

FORMAT = "diffusiongemma-chat"
VERSION = 1

_MESSAGE_COLUMNS = (
    "id, parent_id, role, text, thought, status, stop_reason, stats, created_at, updated_at, selected_seq"
)


def export_data(
    conn: sqlite3.Connection,
    blobs: BlobStore,
    conversation_ids: Sequence[int] | None,
    now: float,
    *,
    embed_attachments: bool = True,
    include_history: bool = False,
    only_messages: Collection[int] | None = None,
) -> dict[str, Any]:
    """The JSON document (as Python data) for the given conversations, or all live ones.

    ``only_messages`` keeps just those messages (a fork: one path of the tree), and reads
    nothing else of the others, such as their refinement history.
    """
    if conversation_ids is None:
        conversation_ids = [c.id for c in reversed(conversations.list_all(conn))]
    out = [_export_conversation(conn, cid, include_history, only_messages) for cid in conversation_ids]
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": now,
        "attachments": "embedded" if embed_attachments else "referenced",
        "conversations": out,
    }
    if embed_attachments:
        shas = {a["sha256"] for conv in out for m in conv["messages"] for a in m["attachments"]}
        document["blobs"] = {
            sha: base64.b64encode(blobs.read_bytes(sha)).decode("ascii") for sha in sorted(shas)
        }
    return document


def _export_conversation(
    conn: sqlite3.Connection, cid: int, include_history: bool, only_messages: Collection[int] | None
) -> dict[str, Any]:
    info = conversations.get(conn, cid)
    title_auto = conn.execute("SELECT title_auto FROM conversations WHERE id = ?", (cid,)).fetchone()[0]
    rows = conn.execute(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id", (cid,)
    ).fetchall()
    messages = [
        _export_message(conn, row, include_history)
        for row in rows
        if only_messages is None or row[0] in only_messages
    ]
    return {
        "id": cid,
        "title": info.title,
        "title_auto": bool(title_auto),
        "system": info.system,
        "created_at": info.created_at,
        "updated_at": info.updated_at,
        "pinned": info.pinned,
        "messages": messages,
    }


def _export_message(conn: sqlite3.Connection, row: tuple, include_history: bool) -> dict[str, Any]:
    mid = row[0]
    message: dict[str, Any] = {
        "id": mid,
        "parent_id": row[1],
        "role": row[2],
        "text": row[3],
        "thought": row[4],
        "status": row[5],
        "stop_reason": row[6],
        "stats": _stored_stats(row[7]),
        "created_at": row[8],
        "updated_at": row[9],
        "selected_seq": row[10],
        "attachments": [
            {"sha256": sha, "kind": kind, "name": name, "size": size}
            for sha, kind, name, size in conn.execute(
                "SELECT sha256, kind, name, size FROM attachments WHERE message_id = ? ORDER BY position",
                (mid,),
            )
        ],
    }
    if include_history:
        message["canvases"] = _export_canvases(conn, mid)
        message["refinements"] = _export_refinements(conn, mid)
    return message


def _stored_stats(raw: str | None) -> Any:
    """The stats column as data; None when it is not JSON (a database written by hand or damaged)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def _export_canvases(conn: sqlite3.Connection, mid: int) -> list[dict[str, Any]]:
    return [
        {"block": c.block, "tokens": list(c.tokens), "text": c.text, "steps": c.steps, "ended": c.ended}
        for c in history.canvases(conn, mid)
    ]


def _export_refinements(conn: sqlite3.Connection, mid: int) -> list[dict[str, Any]]:
    return [
        {"block": b, "frames": n, "committed": bool(k), "data": base64.b64encode(d).decode("ascii")}
        for b, n, k, d in conn.execute(
            "SELECT block, frames, committed, data FROM refinements WHERE message_id = ? ORDER BY block",
            (mid,),
        )
    ]


def import_data(conn: sqlite3.Connection, blobs: BlobStore, document: Any, now: float) -> list[int]:
    """Add the document's conversations; return their new ids.  Blobs are written by the caller first.

    Every field is checked (``import_fields``) before it is stored: a value the app never
    writes would otherwise break the window at every start.  A missing key or a wrong
    container is reported as a malformed conversation.
    """
    _check_header(document)
    new_ids = []
    for index, conv in enumerate(document["conversations"]):
        field = f"conversations[{index}]"
        try:
            new_ids.append(_import_conversation(conn, blobs, check.record(conv, field), now, field))
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise ImportFormatError(
                f"The file has a malformed conversation ({type(error).__name__}: {error})"
            ) from None
    return new_ids


def _check_header(document: Any) -> None:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ImportFormatError(
            "The file is not a DiffusionGemma Chat export", fix="Choose a .json file exported by the app"
        )
    version = document.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise ImportFormatError(
            f"The export has format version {version!r}; this app reads up to {VERSION}", fix="Update the app"
        )
    if not isinstance(document.get("conversations"), list):
        raise ImportFormatError("The export has no conversation list")


def store_embedded_blobs(blobs: BlobStore, document: Any) -> None:
    """Write the document's embedded attachments (checking their hashes) before the import transaction."""
    _check_header(document)
    embedded = document.get("blobs") or {}
    if not isinstance(embedded, dict):
        raise ImportFormatError("The export's attachment map is malformed")
    for sha, encoded in embedded.items():
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise ImportFormatError(f"Attachment {sha} is not valid base64") from None
        if hashlib.sha256(data).hexdigest() != sha:
            raise ImportFormatError(f"Attachment {sha} does not match its checksum (damaged export)")
        blobs.put_bytes(data)


def _import_conversation(
    conn: sqlite3.Connection, blobs: BlobStore, conv: dict[str, Any], now: float, field: str
) -> int:
    # A pin is kept as a flag, not a time: an imported pinned chat counts as pinned now.
    cursor = conn.execute(
        "INSERT INTO conversations (title, system, created_at, updated_at, title_auto, pinned_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            _optional_text(conv, "title", field),
            _optional_text(conv, "system", field),
            check.timestamp(conv["created_at"], f"{field}.created_at"),
            check.timestamp(conv["updated_at"], f"{field}.updated_at"),
            int(bool(conv.get("title_auto", False))),
            now if conv.get("pinned", False) is True else None,
        ),
    )
    cid = int(cursor.lastrowid)
    pending = list(enumerate(check.items(conv["messages"], f"{field}.messages")))
    mapped: dict[int, int] = {}
    while pending:
        later = []
        for index, msg in pending:
            where = f"{field}.messages[{index}]"
            msg = check.record(msg, where)
            parent = msg.get("parent_id")
            if parent is not None and parent not in mapped:
                later.append((index, msg))
                continue
            mid = check.count(msg["id"], f"{where}.id")
            mapped[mid] = _import_message(conn, blobs, cid, mapped.get(parent), msg, where)
        if len(later) == len(pending):
            raise ImportFormatError("The export has messages whose parent is missing")
        pending = later
    return cid


def _optional_text(data: dict[str, Any], key: str, field: str) -> str:
    """A text field that older exports may leave out or hold as null."""
    value = data.get(key)
    return "" if value is None else check.text(value, f"{field}.{key}")


def _import_message(
    conn: sqlite3.Connection, blobs: BlobStore, cid: int, parent: int | None, msg: dict, field: str
) -> int:
    created = check.timestamp(msg["created_at"], f"{field}.created_at")
    updated = msg.get("updated_at")
    cursor = conn.execute(
        "INSERT INTO messages (conversation_id, parent_id, role, text, thought, status, stop_reason, stats,"
        " created_at, updated_at, selected_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            cid,
            parent,
            _role(msg.get("role"), f"{field}.role"),
            _optional_text(msg, "text", field),
            _optional_text(msg, "thought", field),
            _status(msg.get("status", "complete"), f"{field}.status"),
            _optional_text(msg, "stop_reason", field),
            check.stats_json(msg.get("stats"), f"{field}.stats"),
            created,
            created if not updated else check.timestamp(updated, f"{field}.updated_at"),
            check.count(msg.get("selected_seq", 0), f"{field}.selected_seq"),
        ),
    )
    mid = int(cursor.lastrowid)
    for position, (where, att) in enumerate(_records(msg, "attachments", field)):
        _import_attachment(conn, blobs, mid, position, att, where)
    for where, canvas in _records(msg, "canvases", field):
        _import_canvas(conn, mid, canvas, where)
    for where, record in _records(msg, "refinements", field):
        _import_refinement(conn, mid, record, where)
    return mid


def _records(msg: dict[str, Any], key: str, field: str) -> list[tuple[str, dict[str, Any]]]:
    """The objects listed under ``msg[key]`` (none when absent), each with its field name."""
    listed = check.items(msg.get(key, []), f"{field}.{key}")
    return [
        (f"{field}.{key}[{i}]", check.record(item, f"{field}.{key}[{i}]")) for i, item in enumerate(listed)
    ]


def _role(value: Any, field: str) -> str:
    if value not in ("user", "assistant"):
        raise check.refuse(field, value, "'user' or 'assistant'")
    return value


def _status(value: Any, field: str) -> str:
    if value == "streaming":
        return "incomplete"  # the export was taken while a reply was being written
    if value not in ("complete", "incomplete"):
        raise check.refuse(field, value, "'complete' or 'incomplete'")
    return value


def _import_attachment(
    conn: sqlite3.Connection, blobs: BlobStore, mid: int, position: int, att: dict[str, Any], field: str
) -> None:
    """One attachment row; its blob must be here already and its claimed size must be its real size."""
    sha = check.text(att.get("sha256"), f"{field}.sha256")
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise check.refuse(f"{field}.sha256", sha, "a sha256 digest")
    if not blobs.has(sha):
        raise ImportFormatError(
            f"Attachment {att.get('name', sha)!r} is not in the export and not on this computer",
            fix="Export again with attachments embedded",
        )
    kind = att.get("kind")
    if kind not in ("image", "video", "document"):
        raise check.refuse(f"{field}.kind", kind, "'image', 'video' or 'document'")
    size = check.count(att.get("size"), f"{field}.size")
    actual = blobs.path_for(sha).stat().st_size
    if size != actual:
        raise check.refuse(f"{field}.size", size, f"{actual}, the size of its bytes")
    conn.execute(
        "INSERT INTO attachments (message_id, position, sha256, kind, name, size) VALUES (?, ?, ?, ?, ?, ?)",
        (mid, position, sha, kind, _optional_text(att, "name", field), size),
    )


def _import_canvas(conn: sqlite3.Connection, mid: int, canvas: dict[str, Any], field: str) -> None:
    tokens = [
        check.count(t, f"{field}.tokens", check.MAX_TOKEN_ID)
        for t in check.items(canvas["tokens"], f"{field}.tokens")
    ]
    conn.execute(
        "INSERT INTO canvases (message_id, block, tokens, text, steps, ended) VALUES (?, ?, ?, ?, ?, ?)",
        (
            mid,
            check.count(canvas["block"], f"{field}.block"),
            encode_tokens(tokens),
            check.text(canvas["text"], f"{field}.text"),
            check.count(canvas["steps"], f"{field}.steps"),
            int(bool(canvas["ended"])),
        ),
    )


def _import_refinement(conn: sqlite3.Connection, mid: int, record: dict[str, Any], field: str) -> None:
    try:
        data = base64.b64decode(check.text(record["data"], f"{field}.data"), validate=True)
    except (binascii.Error, ValueError):
        raise check.refuse(f"{field}.data", record["data"], "base64 data") from None
    conn.execute(
        "INSERT INTO refinements (message_id, block, frames, committed, data) VALUES (?, ?, ?, ?, ?)",
        (
            mid,
            check.count(record["block"], f"{field}.block"),
            check.count(record["frames"], f"{field}.frames"),
            int(bool(record["committed"])),
            data,
        ),
    )


# -- Markdown --------------------------------------------------------------------------------------


def export_markdown(
    conn: sqlite3.Connection, blobs: BlobStore, conversation_ids: Sequence[int] | None
) -> str:
    """The active branch of each conversation as Markdown, oldest conversation first."""
    if conversation_ids is None:
        conversation_ids = [c.id for c in reversed(conversations.list_all(conn))]
    parts = [_conversation_markdown(conn, blobs, cid) for cid in conversation_ids]
    return "\n\n---\n\n".join(parts) + "\n"


def _when(timestamp: float) -> str:
    return local_datetime(timestamp).strftime("%Y-%m-%d %H:%M")


def _code_span(text: str) -> str:
    """``text`` as one inline code span, whatever it holds (names come from other people's files).

    Line breaks and other control characters become spaces (a blank line would end the
    list item), and the fence is one backtick longer than the longest run inside, so a
    name cannot close the span early and inject Markdown of its own.
    """
    flat = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text)
    if "`" not in flat:
        return f"`{flat}`"
    longest = max(len(run) for run in re.findall("`+", flat))
    fence = "`" * (longest + 1)
    return f"{fence} {flat} {fence}"


def _conversation_markdown(conn: sqlite3.Connection, blobs: BlobStore, cid: int) -> str:
    info = conversations.get(conn, cid)
    skeleton = load_skeleton(conn, cid)
    messages = load_messages(conn, skeleton.descend(None), blobs)
    lines = [f"# {info.title or 'Untitled chat'}", "", f"*Started {_when(info.created_at)}*", ""]
    if any(m.sibling_count > 1 for m in messages):
        lines += ["*Shows the active branch; other versions are kept in the app and in JSON exports.*", ""]
    if info.system:
        lines += ["**System:**", "", info.system, ""]
    for m in messages:
        heading = "You" if m.role == "user" else "DiffusionGemma"
        version = f" (version {m.sibling_index + 1} of {m.sibling_count})" if m.sibling_count > 1 else ""
        lines += [f"## {heading}{version}", ""]
        for a in m.attachments:
            lines.append(
                f"- Attachment: {_code_span(a.name)} ({a.kind}, {a.size:,} bytes, sha256 {a.sha256[:12]}…)"
            )
        if m.attachments:
            lines.append("")
        if m.thought:
            lines += ["<details><summary>Thought</summary>", "", m.thought, "", "</details>", ""]
        lines += [m.text, ""]
        if m.status != "complete":
            lines += [f"*(reply {m.status}{': ' + m.stop_reason if m.stop_reason else ''})*", ""]
    return "\n".join(lines).rstrip()

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
import sqlite3
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import app.store.conversations as conversations
import app.store.history as history
from app.store.blobs import BlobStore
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
    shas: set[str] = set()
    out = []
    for cid in conversation_ids:
        info = conversations.get(conn, cid)
        title_auto = conn.execute("SELECT title_auto FROM conversations WHERE id = ?", (cid,)).fetchone()[0]
        messages = []
        for row in conn.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id", (cid,)
        ):
            mid = row[0]
            if only_messages is not None and mid not in only_messages:
                continue
            attachments = [
                {"sha256": sha, "kind": kind, "name": name, "size": size}
                for sha, kind, name, size in conn.execute(
                    "SELECT sha256, kind, name, size FROM attachments WHERE message_id = ? ORDER BY position",
                    (mid,),
                )
            ]
            shas.update(a["sha256"] for a in attachments)
            message: dict[str, Any] = {
                "id": mid,
                "parent_id": row[1],
                "role": row[2],
                "text": row[3],
                "thought": row[4],
                "status": row[5],
                "stop_reason": row[6],
                "stats": json.loads(row[7]) if row[7] else None,
                "created_at": row[8],
                "updated_at": row[9],
                "selected_seq": row[10],
                "attachments": attachments,
            }
            if include_history:
                message["canvases"] = [
                    {
                        "block": c.block,
                        "tokens": list(c.tokens),
                        "text": c.text,
                        "steps": c.steps,
                        "ended": c.ended,
                    }
                    for c in history.canvases(conn, mid)
                ]
                message["refinements"] = [
                    {
                        "block": b,
                        "frames": n,
                        "committed": bool(k),
                        "data": base64.b64encode(d).decode("ascii"),
                    }
                    for b, n, k, d in conn.execute(
                        "SELECT block, frames, committed, data FROM refinements"
                        " WHERE message_id = ? ORDER BY block",
                        (mid,),
                    )
                ]
            messages.append(message)
        out.append(
            {
                "id": cid,
                "title": info.title,
                "title_auto": bool(title_auto),
                "system": info.system,
                "created_at": info.created_at,
                "updated_at": info.updated_at,
                "pinned": info.pinned,
                "messages": messages,
            }
        )
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": now,
        "attachments": "embedded" if embed_attachments else "referenced",
        "conversations": out,
    }
    if embed_attachments:
        document["blobs"] = {
            sha: base64.b64encode(blobs.read_bytes(sha)).decode("ascii") for sha in sorted(shas)
        }
    return document


def import_data(conn: sqlite3.Connection, blobs: BlobStore, document: Any, now: float) -> list[int]:
    """Add the document's conversations; return their new ids.  Blobs are written by the caller first."""
    _check_header(document)
    new_ids = []
    for conv in document["conversations"]:
        try:
            new_ids.append(_import_conversation(conn, blobs, conv, now))
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


def _import_conversation(conn: sqlite3.Connection, blobs: BlobStore, conv: dict[str, Any], now: float) -> int:
    # A pin is kept as a flag, not a time: an imported pinned chat counts as pinned now.
    cursor = conn.execute(
        "INSERT INTO conversations (title, system, created_at, updated_at, title_auto, pinned_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            str(conv.get("title", "")),
            str(conv.get("system", "")),
            float(conv["created_at"]),
            float(conv["updated_at"]),
            int(bool(conv.get("title_auto", False))),
            now if conv.get("pinned", False) is True else None,
        ),
    )
    cid = int(cursor.lastrowid)
    pending = list(conv["messages"])
    mapped: dict[int, int] = {}
    while pending:
        progressed = False
        later = []
        for msg in pending:
            parent = msg.get("parent_id")
            if parent is not None and parent not in mapped:
                later.append(msg)
                continue
            mapped[int(msg["id"])] = _import_message(conn, blobs, cid, mapped.get(parent), msg)
            progressed = True
        if not progressed:
            raise ImportFormatError("The export has messages whose parent is missing")
        pending = later
    return cid


def _import_message(
    conn: sqlite3.Connection, blobs: BlobStore, cid: int, parent: int | None, msg: dict
) -> int:
    status = msg.get("status", "complete")
    if status == "streaming":
        status = "incomplete"
    role = msg["role"]
    if role not in ("user", "assistant") or status not in ("complete", "incomplete"):
        raise ValueError(f"role {role!r} / status {status!r}")
    stats = msg.get("stats")
    cursor = conn.execute(
        "INSERT INTO messages (conversation_id, parent_id, role, text, thought, status, stop_reason, stats,"
        " created_at, updated_at, selected_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            cid,
            parent,
            role,
            str(msg.get("text", "")),
            str(msg.get("thought", "")),
            status,
            str(msg.get("stop_reason", "")),
            None if stats is None else json.dumps(stats),
            float(msg["created_at"]),
            float(msg.get("updated_at") or msg["created_at"]),
            int(msg.get("selected_seq", 0)),
        ),
    )
    mid = int(cursor.lastrowid)
    for position, att in enumerate(msg.get("attachments", [])):
        sha = str(att["sha256"])
        if not blobs.has(sha):
            raise ImportFormatError(
                f"Attachment {att.get('name', sha)!r} is not in the export and not on this computer",
                fix="Export again with attachments embedded",
            )
        conn.execute(
            "INSERT INTO attachments (message_id, position, sha256, kind, name, size)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (mid, position, sha, att["kind"], str(att.get("name", "")), int(att["size"])),
        )
    for canvas in msg.get("canvases", []):
        conn.execute(
            "INSERT INTO canvases (message_id, block, tokens, text, steps, ended) VALUES (?, ?, ?, ?, ?, ?)",
            (
                mid,
                int(canvas["block"]),
                encode_tokens([int(t) for t in canvas["tokens"]]),
                str(canvas["text"]),
                int(canvas["steps"]),
                int(bool(canvas["ended"])),
            ),
        )
    for record in msg.get("refinements", []):
        conn.execute(
            "INSERT INTO refinements (message_id, block, frames, committed, data) VALUES (?, ?, ?, ?, ?)",
            (
                mid,
                int(record["block"]),
                int(record["frames"]),
                int(bool(record["committed"])),
                base64.b64decode(record["data"]),
            ),
        )
    return mid


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
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


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
            lines.append(f"- Attachment: `{a.name}` ({a.kind}, {a.size:,} bytes, sha256 {a.sha256[:12]}…)")
        if m.attachments:
            lines.append("")
        if m.thought:
            lines += ["<details><summary>Thought</summary>", "", m.thought, "", "</details>", ""]
        lines += [m.text, ""]
        if m.status != "complete":
            lines += [f"*(reply {m.status}{': ' + m.stop_reason if m.stop_reason else ''})*", ""]
    return "\n".join(lines).rstrip()

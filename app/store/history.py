"""Committed canvases and refinement history rows (one of each per block of a reply)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from app.store.history_codec import (
    HistoryFormatError,
    decode_block,
    decode_tokens,
    encode_block,
    encode_tokens,
)
from app.store.models import StoredCanvas
from engine.events import Canvas, Step


def save_canvas(conn: sqlite3.Connection, message_id: int, block: int, canvas: Canvas) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO canvases (message_id, block, tokens, text, steps, ended)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (message_id, block, encode_tokens(canvas.tokens), canvas.text, canvas.steps, int(canvas.ended)),
    )


def save_refinement(
    conn: sqlite3.Connection, message_id: int, block: int, frames: Sequence[Step], *, committed: bool
) -> int:
    """Store one canvas's steps as the reply's ``block``; return the record's size in bytes."""
    data = encode_block(frames)
    conn.execute(
        "INSERT OR REPLACE INTO refinements (message_id, block, frames, committed, data)"
        " VALUES (?, ?, ?, ?, ?)",
        (message_id, block, len(frames), int(committed), data),
    )
    return len(data)


def canvases(conn: sqlite3.Connection, message_id: int) -> list[StoredCanvas]:
    rows = conn.execute(
        "SELECT block, tokens, text, steps, ended FROM canvases WHERE message_id = ? ORDER BY block",
        (message_id,),
    )
    return [
        StoredCanvas(block=b, tokens=decode_tokens(t), text=text, steps=steps, ended=bool(ended))
        for b, t, text, steps, ended in rows
    ]


def replay(conn: sqlite3.Connection, message_id: int, block: int | None = None) -> list[Step]:
    """Every stored step of a reply (or of one block), in order, without text (see ``decode_block``).

    A record that cannot be decoded (damaged, or from a newer format) is
    skipped rather than failing the whole replay.
    """
    query = "SELECT block, data FROM refinements WHERE message_id = ?"
    params: tuple[int, ...] = (message_id,)
    if block is not None:
        query += " AND block = ?"
        params = (message_id, block)
    frames: list[Step] = []
    for b, data in conn.execute(query + " ORDER BY block", params):
        try:
            frames.extend(decode_block(data, b))
        except HistoryFormatError:
            continue
    return frames


def history_bytes(conn: sqlite3.Connection, message_id: int) -> int:
    row = conn.execute(
        "SELECT COALESCE(SUM(LENGTH(data)), 0) FROM refinements WHERE message_id = ?", (message_id,)
    ).fetchone()
    return int(row[0])


def copy_blocks(conn: sqlite3.Connection, source: int, target: int, blocks: int) -> None:
    """Copy message ``source``'s first ``blocks`` committed canvases, with their history, to ``target``."""
    conn.execute(
        "INSERT INTO canvases (message_id, block, tokens, text, steps, ended)"
        " SELECT ?, block, tokens, text, steps, ended FROM canvases WHERE message_id = ? AND block < ?",
        (target, source, blocks),
    )
    conn.execute(
        "INSERT INTO refinements (message_id, block, frames, committed, data)"
        " SELECT ?, block, frames, committed, data FROM refinements WHERE message_id = ? AND block < ?",
        (target, source, blocks),
    )

"""Full-text search over titles and message text (FTS5), one hit per conversation."""

from __future__ import annotations

import sqlite3

from app.store.fts import MARK_END, MARK_START, match_expression, split_highlights
from app.store.models import SearchHit

SNIPPET_TOKENS = 12


def search(conn: sqlite3.Connection, query: str, limit: int = 50) -> list[SearchHit]:
    """Conversations whose title or any message (any branch) matches every word of ``query``.

    Title matches come first, then by the best message's relevance (bm25).
    Deleted conversations are left out.  Any query string is safe: it is
    never interpreted as FTS syntax.
    """
    expression = match_expression(query)
    if expression is None:
        return []
    titles: dict[int, str] = {
        cid: marked
        for cid, marked in conn.execute(
            "SELECT rowid, highlight(conversation_fts, 0, ?, ?) FROM conversation_fts"
            " WHERE conversation_fts MATCH ?",
            (MARK_START, MARK_END, expression),
        )
    }
    best: dict[int, tuple[float, int, str]] = {}
    rows = conn.execute(
        "SELECT m.conversation_id, m.id, snippet(message_fts, 0, ?, ?, '…', ?), bm25(message_fts)"
        " FROM message_fts JOIN messages m ON m.id = message_fts.rowid"
        " WHERE message_fts MATCH ? ORDER BY bm25(message_fts)",
        (MARK_START, MARK_END, SNIPPET_TOKENS, expression),
    )
    for cid, mid, snippet, rank in rows:
        if cid not in best:
            best[cid] = (rank, mid, snippet)
    ids = set(titles) | set(best)
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    info = {
        cid: (title, updated)
        for cid, title, updated in conn.execute(
            f"SELECT id, title, updated_at FROM conversations WHERE id IN ({marks}) AND deleted_at IS NULL",
            list(ids),
        )
    }
    hits: list[tuple[tuple[int, float, float], SearchHit]] = []
    for cid, (title, updated) in info.items():
        title_text, title_ranges = split_highlights(titles[cid]) if cid in titles else (title, ())
        rank, mid, snippet = best.get(cid, (0.0, None, ""))
        text, ranges = split_highlights(snippet)
        hit = SearchHit(
            conversation_id=cid,
            title=title_text,
            title_highlights=title_ranges,
            message_id=mid,
            snippet=text,
            highlights=ranges,
            updated_at=updated,
        )
        hits.append(((0 if cid in titles else 1, rank, -updated), hit))
    hits.sort(key=lambda item: item[0])
    return [hit for _, hit in hits[:limit]]

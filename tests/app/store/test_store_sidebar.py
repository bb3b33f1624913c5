"""Sidebar support: date groups in local time, pinned chats, rename, delete with undo, purge."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from app.store import StoreError
from app.store.dates import group_conversations, group_label
from app.store.models import ConversationInfo

TOKYO = 9 * 3600.0


def ts(text: str, offset: float = TOKYO) -> float:
    """A local wall-clock time in a fixed-offset zone, as Unix seconds."""
    local = datetime.fromisoformat(text).replace(tzinfo=timezone(timedelta(seconds=offset)))
    return local.timestamp()


def label(when: str, now: str) -> str:
    return group_label(ts(when), ts(now), tz_offset=lambda _: TOKYO)


def test_groups_follow_the_local_calendar():
    now = "2025-06-19 00:10"  # a Thursday, just after midnight
    assert label("2025-06-19 00:01", now) == "Today"
    assert label("2025-06-18 23:50", now) == "Yesterday"  # 20 minutes ago, but yesterday
    assert label("2025-06-16 09:00", now) == "This week"  # Monday
    assert label("2025-06-15 23:59", now) == "This month"  # Sunday before
    assert label("2025-06-01 00:00", now) == "This month"
    assert label("2025-05-31 23:59", now) == "Older"
    assert label("2025-06-20 12:00", now) == "Today"  # the future (clock skew) is today
    # On the first of the month, this week reaches back into the previous month.
    assert label("2025-06-30 12:00", "2025-07-02 12:00") == "This week"
    assert label("2025-06-29 12:00", "2025-07-02 12:00") == "Older"
    # A Monday: yesterday was Sunday, which is not "this week".
    assert label("2025-06-15 12:00", "2025-06-16 08:00") == "Yesterday"
    assert label("2025-06-14 12:00", "2025-06-16 08:00") == "This month"


def test_the_same_instant_groups_differently_in_another_time_zone():
    instant = ts("2025-06-18 23:30", offset=0)  # 23:30 in London is 08:30 next day in Tokyo
    now = ts("2025-06-19 12:00", offset=0)
    assert group_label(instant, now, tz_offset=lambda _: 0.0) == "Yesterday"
    assert group_label(instant, now, tz_offset=lambda _: TOKYO) == "Today"


def test_group_conversations_orders_groups_and_rows():
    now = ts("2025-06-19 12:00")
    rows = [
        ConversationInfo(1, "old", "", 0.0, ts("2025-01-01 10:00")),
        ConversationInfo(2, "today early", "", 0.0, ts("2025-06-19 08:00")),
        ConversationInfo(3, "today late", "", 0.0, ts("2025-06-19 11:00")),
        ConversationInfo(4, "yesterday", "", 0.0, ts("2025-06-18 11:00")),
    ]
    groups = group_conversations(rows, now, tz_offset=lambda _: TOKYO)
    assert [(g.label, [c.id for c in g.conversations]) for g in groups] == [
        ("Today", [3, 2]),
        ("Yesterday", [4]),
        ("Older", [1]),
    ]


def test_pinned_chats_come_first_newest_pin_first_and_leave_their_date_group():
    now = ts("2025-06-19 12:00")
    rows = [
        ConversationInfo(1, "old, pinned first", "", 0.0, ts("2025-01-01 10:00"), pinned_at=now - 60),
        ConversationInfo(2, "today", "", 0.0, ts("2025-06-19 08:00")),
        ConversationInfo(3, "today, pinned last", "", 0.0, ts("2025-06-19 11:00"), pinned_at=now),
        ConversationInfo(4, "yesterday", "", 0.0, ts("2025-06-18 11:00")),
    ]
    groups = group_conversations(rows, now, tz_offset=lambda _: TOKYO)
    assert [(g.label, [c.id for c in g.conversations]) for g in groups] == [
        ("Pinned", [3, 1]),
        ("Today", [2]),
        ("Yesterday", [4]),
    ]  # "Older" is gone: its only chat is pinned


def test_pin_and_unpin_keep_the_chat_in_place_among_the_dates(store, clock):
    old = store.create_conversation("old")
    clock.advance(40 * 86400)
    new = store.create_conversation("new")
    other = store.create_conversation("other")
    updated = store.conversation(old).updated_at

    clock.advance(60)
    store.set_pinned(old, True)
    info = store.conversation(old)
    assert (info.pinned_at, info.updated_at) == (clock.now, updated)  # pinning is not activity
    clock.advance(60)
    store.set_pinned(new, True)
    assert [(g.label, [c.id for c in g.conversations]) for g in store.grouped_conversations()] == [
        ("Pinned", [new, old]),  # the most recently pinned first
        ("Today", [other]),
    ]
    assert [c.id for c in store.list_conversations()] == [other, new, old]  # by activity, as before

    clock.advance(60)
    store.set_pinned(old, True)  # already pinned: keeps its place in the group
    assert store.conversation(old).pinned_at == updated + 40 * 86400 + 60

    store.set_pinned(old, False)
    assert store.conversation(old).pinned_at is None
    assert [(g.label, [c.id for c in g.conversations]) for g in store.grouped_conversations()] == [
        ("Pinned", [new]),
        ("Today", [other]),
        ("Older", [old]),  # back where it was
    ]
    store.set_pinned(old, False)  # unpinning twice is harmless
    with pytest.raises(StoreError, match="does not exist"):
        store.set_pinned(12345, True)


def test_a_pinned_chat_in_the_trash_is_hidden_and_restoring_keeps_the_pin(store, clock):
    pinned = store.create_conversation("pinned chat about otters")
    store.send_user_message(pinned, "otters hold hands")
    other = store.create_conversation("other")
    store.set_pinned(pinned, True)
    assert [h.conversation_id for h in store.search("otters")] == [pinned]  # search is unaffected

    store.delete_conversation(pinned)
    assert [g.label for g in store.grouped_conversations()] == ["Today"]
    assert [c.id for c in store.grouped_conversations()[0].conversations] == [other]
    assert store.search("otters") == []
    store.restore_conversation(pinned)
    assert [(g.label, [c.id for c in g.conversations]) for g in store.grouped_conversations()] == [
        ("Pinned", [pinned]),
        ("Today", [other]),
    ]


def test_store_groups_with_its_clock_by_last_activity(store, clock):
    old = store.create_conversation("old")
    clock.advance(40 * 86400)
    new = store.create_conversation("new")
    groups = store.grouped_conversations()
    assert [g.label for g in groups] == ["Today", "Older"]
    assert [c.id for c in groups[0].conversations] == [new]
    clock.advance(60)
    store.send_user_message(old, "back to this one")  # activity moves it to Today
    assert [c.id for c in store.grouped_conversations()[0].conversations] == [old, new]


def test_rename_delete_undo_and_purge(store, clock, tmp_path):
    image = tmp_path / "only-here.png"
    image.write_bytes(b"unique image")
    shared = tmp_path / "shared.png"
    shared.write_bytes(b"shared image")
    keep = store.create_conversation()
    store.send_user_message(keep, "keep", [shared])
    doomed = store.create_conversation()
    message = store.send_user_message(doomed, "doomed", [image, shared])
    store.rename_conversation(doomed, "Renamed")
    assert store.conversation(doomed).title == "Renamed"

    store.delete_conversation(doomed)
    assert [c.id for c in store.list_conversations()] == [keep]
    assert [c.id for c in store.deleted_conversations()] == [doomed]
    store.restore_conversation(doomed)  # undo
    assert {c.id for c in store.list_conversations()} == {keep, doomed}
    assert store.active_path(doomed)[0].text == "doomed"

    store.delete_conversation(doomed)
    clock.advance(3600)
    assert store.purge_deleted(older_than_s=7200) == 0  # still within the undo window
    unique_blob, shared_blob = (a.path for a in message.attachments)
    for blob in (unique_blob, shared_blob):  # blobs younger than an hour are never collected
        os.utime(blob, (time.time() - 86400, time.time() - 86400))
    clock.advance(7200)
    assert store.purge_deleted(older_than_s=7200) == 1
    assert store.deleted_conversations() == []
    assert not unique_blob.exists()  # nothing refers to it any more
    assert shared_blob.exists()  # still used by the conversation we kept
    assert store.search("doomed") == []
    conn = store._db.conn
    assert (
        conn.execute("SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (doomed,)).fetchone()[0] == 0
    )
    conn.execute("INSERT INTO message_fts (message_fts) VALUES ('integrity-check')")
    conn.execute("INSERT INTO conversation_fts (conversation_fts) VALUES ('integrity-check')")


def test_format_moment_says_today_yesterday_a_weekday_or_a_year():
    from datetime import datetime

    from app.store.dates import format_moment

    now = datetime(2026, 11, 27, 9, 30).timestamp()
    assert format_moment(datetime(2026, 11, 27, 8, 5).timestamp(), now) == "today at 08:05"
    assert format_moment(datetime(2026, 11, 26, 22, 10).timestamp(), now) == "yesterday at 22:10"
    assert format_moment(datetime(2026, 11, 23, 9, 2).timestamp(), now) == "Mon 23 Nov at 09:02"
    assert format_moment(datetime(2025, 12, 31, 23, 59).timestamp(), now) == "Wed 31 Dec 2025 at 23:59"


def test_purging_chosen_chats_now_leaves_the_rest_of_the_trash(store):
    a, b, c = (store.create_conversation(title) for title in ("a", "b", "c"))
    for cid in (a, b):
        store.delete_conversation(cid)
    assert store.purge_deleted(0, [a, c]) == 1  # c is not in the trash: untouched
    assert [info.id for info in store.deleted_conversations()] == [b]
    assert {info.id for info in store.list_conversations()} == {c}

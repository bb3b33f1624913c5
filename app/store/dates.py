"""Sidebar headings: pinned chats first, then date headings computed in the user's local time.

Headings follow the calendar, not "24 hours ago": a chat from 23:50 is
"Yesterday" at 00:10.  The first matching heading wins: Today, Yesterday,
This week (since Monday), This month, Older.  Timestamps in the future
(clock changes, another machine's export) count as Today.  Pinned chats are
listed once, under "Pinned" above the dates, so the chats a user keeps
coming back to stay at the top however old they are.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta

from app.store.models import ConversationGroup, ConversationInfo

PINNED_LABEL = "Pinned"
GROUP_ORDER: tuple[str, ...] = ("Today", "Yesterday", "This week", "This month", "Older")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# The times every platform's datetime can show: 1970 to the end of year 9998.
LATEST = 253_370_764_800.0


def shown_time(timestamp: float) -> float:
    """``timestamp`` moved into the range a datetime can show (NaN as 1970).

    The database may hold any number (a hand edit, an import from an older
    version that checked nothing); a date that cannot be shown must not stop
    the window from starting or an export from being written.
    """
    if not isinstance(timestamp, int | float) or math.isnan(timestamp):
        return 0.0
    return min(max(float(timestamp), 0.0), LATEST)


def local_datetime(timestamp: float) -> datetime:
    """The local date and time of ``timestamp``, whatever number it is."""
    return datetime.fromtimestamp(shown_time(timestamp))


def _local_date(timestamp: float, tz_offset: Callable[[float], float] | None) -> date:
    if tz_offset is None:
        return local_datetime(timestamp).date()
    return datetime.fromtimestamp(shown_time(timestamp + tz_offset(timestamp)), tz=UTC).date()


def group_label(timestamp: float, now: float, *, tz_offset: Callable[[float], float] | None = None) -> str:
    """The heading for ``timestamp`` as seen at ``now`` (both Unix seconds).

    ``tz_offset`` (seconds east of UTC for a timestamp) replaces the system
    time zone, for tests.
    """
    today = _local_date(now, tz_offset)
    day = _local_date(timestamp, tz_offset)
    if day >= today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    if day >= today - timedelta(days=today.weekday()):
        return "This week"
    if day >= today.replace(day=1):
        return "This month"
    return "Older"


def group_conversations(
    conversations: Iterable[ConversationInfo],
    now: float,
    *,
    tz_offset: Callable[[float], float] | None = None,
) -> list[ConversationGroup]:
    """Non-empty groups: "Pinned" (most recently pinned first), then the dates (newest activity first).

    A pinned chat is left out of its date group, so every chat appears once.
    """
    pinned: list[ConversationInfo] = []
    buckets: dict[str, list[ConversationInfo]] = {label: [] for label in GROUP_ORDER}
    for info in conversations:
        if info.pinned_at is not None:
            pinned.append(info)
        else:
            buckets[group_label(info.updated_at, now, tz_offset=tz_offset)].append(info)
    groups = [
        ConversationGroup(PINNED_LABEL, tuple(sorted(pinned, key=lambda c: (-(c.pinned_at or 0.0), -c.id))))
    ]
    groups += [
        ConversationGroup(label, tuple(sorted(items, key=lambda c: (-c.updated_at, -c.id))))
        for label, items in buckets.items()
    ]
    return [group for group in groups if group.conversations]


def format_moment(timestamp: float, now: float | None = None) -> str:
    """When a message was written, for a tooltip: "today at 08:45", "yesterday at 22:10",
    "Mon 23 Nov at 09:02", or with the year when it is another year (local time)."""
    moment = local_datetime(timestamp)
    label = group_label(timestamp, now if now is not None else datetime.now().timestamp())
    clock = moment.strftime("%H:%M")
    if label == "Today":
        return f"today at {clock}"
    if label == "Yesterday":
        return f"yesterday at {clock}"
    current_year = local_datetime(now).year if now is not None else datetime.now().year
    day = f"{WEEKDAYS[moment.weekday()]} {moment.day} {MONTHS[moment.month - 1]}"  # not the C locale's
    if moment.year != current_year:
        day += f" {moment.year}"
    return f"{day} at {clock}"

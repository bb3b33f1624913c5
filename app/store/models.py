"""What the store hands back: small frozen dataclasses, safe to pass between threads.

The engine's own types are used where they fit (``Stats``, ``Turn``,
``Attachment``); these add what only storage knows (ids, status, branches).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from engine.events import Stats
from engine.inputs.conversation import Attachment

Status = Literal["streaming", "complete", "incomplete"]


@dataclass(frozen=True, slots=True)
class ConversationInfo:
    """A sidebar row."""

    id: int
    title: str
    system: str
    created_at: float  # Unix seconds
    updated_at: float
    deleted_at: float | None = None
    pinned_at: float | None = None  # None: not pinned; else when, to list the newest pin first

    @property
    def pinned(self) -> bool:
        return self.pinned_at is not None


@dataclass(frozen=True, slots=True)
class ConversationGroup:
    """Conversations under one heading ("Pinned", "Today", "Yesterday", …), newest first."""

    label: str
    conversations: tuple[ConversationInfo, ...]


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    """An attachment as kept by the store: its own copy, found by content hash."""

    sha256: str
    kind: Literal["image", "video", "document"]
    name: str  # the original file name, for display and export
    size: int
    path: Path  # the store's copy; feed this to the engine

    def to_engine(self) -> Attachment:
        return Attachment(path=self.path, kind=self.kind, name=self.name)


@dataclass(frozen=True, slots=True)
class Siblings:
    """The alternatives at one point of the tree (edits of a user message, regenerations of a reply)."""

    ids: tuple[int, ...]  # oldest first
    index: int  # position of the message asked about

    @property
    def count(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True)
class Message:
    """One node of a conversation's message tree.

    For assistant messages ``text`` is the answer (thought stripped) and
    ``thought`` the reasoning; while ``status`` is "streaming" both hold what
    the committed canvases say so far.  ``siblings`` (this message among its
    versions) drives the "‹ 2/3 ›" switcher.
    """

    id: int
    conversation_id: int
    parent_id: int | None
    role: Literal["user", "assistant"]
    text: str
    thought: str
    status: Status
    stop_reason: str
    stats: Stats | None
    attachments: tuple[StoredAttachment, ...]
    created_at: float
    updated_at: float
    siblings: Siblings | None = None  # None: the only version

    @property
    def sibling_index(self) -> int:
        return self.siblings.index if self.siblings else 0

    @property
    def sibling_count(self) -> int:
        return self.siblings.count if self.siblings else 1


@dataclass(frozen=True, slots=True)
class StoredCanvas:
    """A committed canvas as the engine emitted it (tokens padded after EOS)."""

    block: int
    tokens: tuple[int, ...]
    text: str
    steps: int
    ended: bool


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One conversation matching a search, with the best matching message's snippet.

    ``snippet`` is plain text; ``highlights`` are (start, end) character
    ranges in it to emphasise, so the GUI can escape the text and then mark
    them.  ``message_id`` is None when only the title matched; it may lie on
    an inactive branch (``Store.select_message`` switches to it).
    """

    conversation_id: int
    title: str
    title_highlights: tuple[tuple[int, int], ...]
    message_id: int | None
    snippet: str
    highlights: tuple[tuple[int, int], ...]
    updated_at: float

"""Chats held in memory: messages as shown, and which stored turns the engine gets.

Kept separate from widgets so the rules about what the model sees (final
answers only, never thoughts; failed exchanges left out) are plain, testable
Python.  The window persists every message in :mod:`app.store`; a
:class:`ChatSession` is the page's view of one stored conversation (its id is
the conversation's id), and :func:`usable_turns` filters the stored history
the engine gets; :func:`session_message` turns a stored message into the
page's.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from app.store.titles import auto_title
from engine.events import Stats
from engine.inputs.conversation import Attachment, Turn
from engine.inputs.media import MediaKind

if TYPE_CHECKING:
    from app.store import Message as StoredMessage


_chat_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class ChatAttachment:
    path: Path
    kind: MediaKind
    duration_s: float | None = None
    name: str = ""  # the file's own name when ``path`` is the store's copy

    def for_engine(self) -> Attachment:
        return Attachment(path=self.path, kind=self.kind, name=self.name)


@dataclass(slots=True)
class Message:
    role: Literal["user", "assistant"]
    text: str = ""  # the final answer for assistant messages
    attachments: tuple[ChatAttachment, ...] = ()
    thought: str = ""
    thought_seconds: float | None = None
    stats: Stats | None = None
    error: str | None = None
    incomplete: bool = False
    store_id: int | None = None  # the message's id in app.store

    @property
    def usable(self) -> bool:
        """Whether this assistant message goes back to the model as history."""
        return self.role == "assistant" and self.error is None and bool(self.text.strip())


@dataclass(slots=True)
class ChatSession:
    id: int = field(default_factory=lambda: next(_chat_ids))
    title: str = "New chat"
    messages: list[Message] = field(default_factory=list)

    def add(self, message: Message) -> Message:
        if message.role == "user" and self.title == "New chat":
            self.title = auto_title(message.text, [a.name or a.path.name for a in message.attachments])
        self.messages.append(message)
        return message

    def context_used(self) -> int | None:
        """Tokens the newest measured reply filled (its prompt + its reply); None before any."""
        for message in reversed(self.messages):
            if message.stats is not None:
                return message.stats.prompt_tokens + message.stats.generated_tokens
        return None


def usable_turns(turns: tuple[Turn, ...] | list[Turn]) -> tuple[Turn, ...]:
    """The stored history minus failed exchanges: a user turn whose reply has no answer goes, with it.

    The store keeps every reply, even one that failed or was stopped before its
    first canvas; sending that empty answer back (or the question twice in a
    row) would only confuse the model.
    """
    kept: list[Turn] = []
    turns = list(turns)
    for index, turn in enumerate(turns):
        following = turns[index + 1] if index + 1 < len(turns) else None
        if turn.role == "user" and following is not None and following.role == "assistant":
            if not following.text.strip():
                continue
        elif turn.role == "assistant" and not turn.text.strip():
            continue
        kept.append(turn)
    return tuple(kept)


def session_message(stored: StoredMessage) -> Message:
    """A stored message as its chat page holds it; a reply that did not finish carries why as its error.

    A reply the user stopped has no error: it is continued, not retried.
    """
    if stored.role == "user":
        attachments = tuple(ChatAttachment(a.path, a.kind, name=a.name) for a in stored.attachments)
        return Message("user", stored.text, attachments, store_id=stored.id)
    message = Message(
        "assistant",
        stored.text,
        thought=stored.thought,
        stats=stored.stats,
        store_id=stored.id,
        incomplete=stored.status != "complete",
    )
    if stored.status != "complete" and stored.stop_reason != "cancelled":
        message.error = incomplete_message(stored.stop_reason)
    return message


def incomplete_message(reason: str) -> str:
    """Why a stored reply is not finished, in words, from its ``stop_reason``."""
    if reason == "interrupted":
        return (
            "This reply was interrupted: the app closed while it was being written. The part shown was saved."
        )
    if reason == "error":
        return "This reply failed before it was finished."
    return "This reply was not finished."

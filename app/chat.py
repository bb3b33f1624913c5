"""Chats held in memory: messages as shown, and the conversation the engine gets.

Kept separate from widgets so the rules about what the model sees (final
answers only, never thoughts; failed exchanges left out) are plain, testable
Python.  A later issue persists these in SQLite.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from engine.conversation import Attachment, Conversation, Turn
from engine.events import Stats

MediaKind = Literal["image", "video"]
TITLE_LENGTH = 48

_chat_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class ChatAttachment:
    path: Path
    kind: MediaKind
    duration_s: float | None = None

    def for_engine(self) -> Attachment:
        return Attachment(path=self.path, kind=self.kind)


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

    @property
    def usable(self) -> bool:
        """Whether this assistant message goes back to the model as history."""
        return self.role == "assistant" and self.error is None and bool(self.text.strip())


def title_from(text: str, attachments: tuple[ChatAttachment, ...] = ()) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if not line:
        return f"{attachments[0].path.name}" if attachments else "New chat"
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


@dataclass(slots=True)
class ChatSession:
    id: int = field(default_factory=lambda: next(_chat_ids))
    title: str = "New chat"
    messages: list[Message] = field(default_factory=list)

    def add(self, message: Message) -> Message:
        if message.role == "user" and self.title == "New chat":
            self.title = title_from(message.text, message.attachments)
        self.messages.append(message)
        return message

    def conversation(self, system: str = "") -> Conversation:
        """The turns the engine sees: answered user turns with their answers, then the last user turn.

        A user turn whose reply failed is left out, so "try again" never doubles it.
        """
        turns: list[Turn] = []
        messages = self.messages
        for index, message in enumerate(messages):
            if message.role != "user":
                continue
            reply = messages[index + 1] if index + 1 < len(messages) else None
            is_last = all(m.role != "user" for m in messages[index + 1 :])
            user_turn = Turn("user", message.text, tuple(a.for_engine() for a in message.attachments))
            if reply is not None and reply.usable:
                turns += [user_turn, Turn("assistant", reply.text)]
            elif is_last and reply is None:
                turns.append(user_turn)
        return Conversation(turns=tuple(turns), system=system)

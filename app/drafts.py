"""Unsent messages, one per chat: kept when the user switches chats, quits or the app crashes.

A long prompt typed in one chat must not vanish because the user looked at
another chat for a moment, nor because the app was closed before Send.  The
draft (text and the paths of its attachments) is kept per conversation in a
small JSON file beside the conversation database, written atomically a moment
after typing stops.  Qt-free.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from app.atomic_file import write_text_atomically

log = logging.getLogger(__name__)

FILE_NAME = "drafts.json"
MAX_DRAFT_CHARS = 2_000_000  # a pasted book is kept; anything larger is not a draft worth a write per pause


@dataclass(frozen=True, slots=True)
class Draft:
    text: str = ""
    attachments: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not self.text.strip() and not self.attachments


class Drafts:
    """The drafts of every chat, in memory, written to ``path`` by :meth:`save`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._drafts: dict[int, Draft] = {}
        self._dirty = False
        self._load()

    def get(self, chat_id: int) -> Draft:
        return self._drafts.get(chat_id, Draft())

    def chat_ids(self) -> set[int]:
        """The chats that hold a draft."""
        return set(self._drafts)

    def put(self, chat_id: int, draft: Draft) -> None:
        """Remember ``draft`` for the chat (an empty one forgets it)."""
        if draft.empty:
            self._dirty |= self._drafts.pop(chat_id, None) is not None
        elif self._drafts.get(chat_id) != draft:
            self._drafts[chat_id] = Draft(draft.text[:MAX_DRAFT_CHARS], tuple(draft.attachments))
            self._dirty = True

    def save(self) -> None:
        """Write the drafts if they changed (atomically: a crash leaves the old file or the new)."""
        if not self._dirty:
            return
        data = {
            str(chat_id): {"text": d.text, "attachments": [str(p) for p in d.attachments]}
            for chat_id, d in self._drafts.items()
        }
        try:
            text = json.dumps({"schema": 1, "drafts": data}, ensure_ascii=False)
            write_text_atomically(self.path, text, make_folder=True)
        except OSError:
            log.exception("drafts could not be saved to %s", self.path)  # kept in memory; retried next time
            return
        self._dirty = False

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            drafts = data["drafts"]
            for key, value in drafts.items():
                paths = tuple(Path(p) for p in value.get("attachments", ()))
                draft = Draft(str(value.get("text", "")), paths)
                if not draft.empty:
                    self._drafts[int(key)] = draft
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            log.warning("unreadable drafts file %s set aside", self.path, exc_info=True)
            self._drafts.clear()
            with contextlib.suppress(OSError):
                os.replace(self.path, self.path.with_suffix(".json.bad"))

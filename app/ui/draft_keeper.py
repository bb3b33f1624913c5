"""Keeps what is typed in the composer as the draft of the chat it was typed in.

The window shows one chat at a time but the user may leave half a message in
several.  This object owns that bookkeeping, so the window only says which chat
is now shown (:meth:`DraftKeeper.switch_to`) and when it closes
(:meth:`DraftKeeper.save`): the composer's text and attachments are saved a
moment after each change (:data:`SAVE_DELAY_MS`), put aside when another chat is
shown and brought back when the chat is shown again.  Which chats hold a draft
is announced (:attr:`DraftKeeper.drafts_changed`) so the chat list can mark them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from app.drafts import Draft, Drafts
from app.qt import QObject, QTextCursor, QTimer, Signal
from app.ui.composer import Composer

SAVE_DELAY_MS = 800  # a draft is written this long after typing pauses


class DraftKeeper(QObject):
    drafts_changed = Signal()  # the set of chats that hold a draft changed

    def __init__(
        self,
        composer: Composer,
        path: Path,
        add_files: Callable[[list[Path]], None],
        parent: QObject | None = None,
    ) -> None:
        """``add_files`` attaches a draft's files as the window does (probed, a missing one named)."""
        super().__init__(parent)
        self._composer = composer
        self._add_files = add_files
        self._drafts = Drafts(path)
        self._chat: int | None = None  # the chat whose draft the composer holds
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SAVE_DELAY_MS)
        self._timer.timeout.connect(self.save)
        composer.edit.textChanged.connect(self.schedule_save)
        composer.attachment_removed.connect(self.schedule_save)

    def chats_with_drafts(self) -> set[int]:
        return self._drafts.chat_ids()

    def draft_of(self, chat_id: int) -> Draft:
        return self._drafts.get(chat_id)

    def save_pending(self) -> bool:
        """True while a change waits for :data:`SAVE_DELAY_MS` before it is saved."""
        return self._timer.isActive()

    def schedule_save(self, *_args: object) -> None:
        """The composer changed: save its content once typing pauses."""
        self._timer.start()

    def save(self) -> None:
        """Keep the composer's text and attachments as the draft of the chat they were typed in."""
        self._timer.stop()
        if self._chat is None:
            return
        before = self._drafts.chat_ids()
        text = self._composer.edit.toPlainText()
        self._drafts.put(self._chat, Draft(text, tuple(p for p, _ in self._composer.attachments())))
        self._drafts.save()
        if self._drafts.chat_ids() != before:
            self.drafts_changed.emit()

    def switch_to(self, chat_id: int) -> None:
        """``chat_id`` is shown now: put the composer's content aside and fill it with that chat's draft."""
        if chat_id == self._chat:
            return
        self.save()  # what was typed stays with the chat it was typed in
        self._chat = None  # clearing and refilling is not an edit of any chat's draft
        draft = self._drafts.get(chat_id)
        self._composer.clear()
        self._composer.edit.setPlainText(draft.text)
        self._composer.edit.moveCursor(QTextCursor.MoveOperation.End)
        self._add_files(list(draft.attachments))  # probed again: a file deleted since is named inline
        self._timer.stop()
        self._chat = chat_id

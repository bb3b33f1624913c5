"""``Store``: the one object the GUI talks to for everything that must survive a restart.

It is a thin facade: each method is one transaction over the modules that do
the work (``conversations``, ``tree``, ``replies``, ``history``, ``search``,
``exchange``).  It never imports Qt and is safe to call from the GUI thread
and the generation worker alike (one connection behind a lock).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import app.store.conversations as conversations
import app.store.exchange as exchange
import app.store.history as history
import app.store.recoveries as recoveries
import app.store.search as search_module
import app.store.tree as tree
from app.store.blobs import BlobStore
from app.store.database import Database, Recovery
from app.store.dates import group_conversations
from app.store.errors import StoreError
from app.store.models import ConversationGroup, ConversationInfo, Message, SearchHit, Siblings, StoredCanvas
from app.store.paths import blobs_dir_for, default_db_path
from app.store.replies import ReplyWriter
from engine.errors import AttachmentError
from engine.events import Step
from engine.inputs.conversation import Attachment, Conversation, Turn
from engine.inputs.media import guess_kind

DEFAULT_TRASH_DAYS = 30

AttachmentInput = Attachment | str | Path


class Store:
    """Conversations, their message trees, replies as they stream, replay data, search and export.

    Open with :meth:`Store.open`; close with :meth:`close` (or use ``with``).
    Every method raises :class:`StoreError` (with a user-facing message) on
    failure and leaves the database as it was before the call.
    """

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        *,
        clock: Callable[[], float] = time.time,
        recovery: Recovery | None = None,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._clock = clock
        self.recovery = recovery
        """Set when a damaged database was moved aside at open: show ``recovery.message`` to the user."""
        self.interrupted: tuple[int, ...] = ()
        """Replies that were still streaming when the app last died; now marked incomplete."""
        self._data_version = db.data_version()

    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        *,
        clock: Callable[[], float] = time.time,
        recover: bool = True,
    ) -> Store:
        """Open the store (default: ``$DGCHAT_DATA_DIR`` or the user data folder), creating it if needed.

        Replies left "streaming" by a crash become "incomplete" (their ids in
        ``interrupted``).  A damaged file is moved aside and replaced
        (``recovery`` says where it went) unless ``recover`` is false.
        """
        db_path = Path(path) if path is not None else default_db_path()
        db, recovery = Database.open(db_path, recover=recover)
        if recovery is not None:
            recoveries.remember(db_path, recovery)  # the window tells the user, whoever moved it
        store = cls(db, BlobStore(blobs_dir_for(db_path)), clock=clock, recovery=recovery)
        try:
            store.interrupted = store._finish_interrupted_replies()
        except BaseException:
            db.close()
            raise
        return store

    @classmethod
    def in_memory(cls, folder: Path, *, clock: Callable[[], float] = time.time) -> Store:
        """A store kept in memory only, for a session whose disk cannot take even a temporary database.

        Its attachments (and the window's drafts) would go to ``folder``, which is created only when
        something is written there.
        """
        db_path = folder / default_db_path().name
        return cls(Database.open_in_memory(db_path), BlobStore(blobs_dir_for(db_path)), clock=clock)

    @classmethod
    def open_for_thread(cls, path: str | Path, *, clock: Callable[[], float] = time.time) -> Store:
        """Another connection to a store that is already open, for a background thread (export, import).

        SQLite connections belong to the thread that made them, so a worker opens
        its own.  Unlike :meth:`open` it neither recovers a damaged file nor marks
        streaming replies as interrupted: the window's reply may be streaming now.
        """
        db_path = Path(path)
        db, _recovery = Database.open(db_path, recover=False)
        return cls(db, BlobStore(blobs_dir_for(db_path)), clock=clock)

    @property
    def path(self) -> Path:
        return self._db.path

    @property
    def blobs_dir(self) -> Path:
        return self._blobs.root

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def has_external_changes(self) -> bool:
        """True once after another connection (``dgchat import`` from a terminal) committed something."""
        version = self._db.data_version()
        changed = version != self._data_version
        self._data_version = version
        return changed

    def _finish_interrupted_replies(self) -> tuple[int, ...]:
        with self._db.write("mark interrupted replies") as conn:
            ids = tuple(row[0] for row in conn.execute("SELECT id FROM messages WHERE status = 'streaming'"))
            conn.execute(
                "UPDATE messages SET status = 'incomplete', stop_reason = 'interrupted'"
                " WHERE status = 'streaming'"
            )
        return ids

    # -- conversations -----------------------------------------------------------------------------

    def create_conversation(self, title: str = "", system: str = "") -> int:
        """A new, empty conversation; an empty title is filled in from the first message."""
        with self._db.write("create a conversation") as conn:
            return conversations.create(conn, self._clock(), title.strip(), system)

    def conversation(self, conversation_id: int) -> ConversationInfo:
        with self._db.read() as conn:
            return conversations.get(conn, conversation_id)

    def list_conversations(self) -> list[ConversationInfo]:
        """Live conversations, most recently active first."""
        with self._db.read() as conn:
            return conversations.list_all(conn)

    def grouped_conversations(self, now: float | None = None) -> list[ConversationGroup]:
        """The sidebar: Pinned, then Today, Yesterday, This week, This month, Older (empty ones left out)."""
        return group_conversations(self.list_conversations(), self._clock() if now is None else now)

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        with self._db.write("rename the conversation") as conn:
            conversations.rename(conn, conversation_id, title)

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        """Pin the chat to the top of the sidebar (the "Pinned" group) or unpin it.

        Its last activity is unchanged, so unpinning puts it back in the date group it came from.
        """
        with self._db.write("pin the chat" if pinned else "unpin the chat") as conn:
            conversations.set_pinned(conn, conversation_id, self._clock() if pinned else None)

    def set_system_prompt(self, conversation_id: int, system: str) -> None:
        with self._db.write("save the system prompt") as conn:
            conversations.set_system(conn, conversation_id, system)

    def delete_conversation(self, conversation_id: int) -> None:
        """Move to the trash; :meth:`restore_conversation` undoes it until :meth:`purge_deleted`."""
        with self._db.write("delete the conversation") as conn:
            conversations.soft_delete(conn, conversation_id, self._clock())

    def restore_conversation(self, conversation_id: int) -> None:
        with self._db.write("restore the conversation") as conn:
            conversations.restore(conn, conversation_id)

    def deleted_conversations(self) -> list[ConversationInfo]:
        with self._db.read() as conn:
            return conversations.list_all(conn, deleted=True)

    def purge_deleted(
        self,
        older_than_s: float = DEFAULT_TRASH_DAYS * 86400,
        conversation_ids: Collection[int] | None = None,
    ) -> int:
        """Really delete conversations in the trash for longer than ``older_than_s``; return how many.

        ``conversation_ids`` limits it to those (with ``older_than_s=0``: "Delete now").
        Attachment blobs no longer referenced anywhere (also those left by a
        failed send or import) are removed too.  Runs once at startup.
        """
        with self._db.write("empty the trash") as conn:
            purged = conversations.purge(conn, self._clock() - older_than_s, conversation_ids)
            referenced = conversations.referenced_blobs(conn)
        self._blobs.collect_garbage(referenced)
        return len(purged)

    # -- messages and branches ---------------------------------------------------------------------

    def send_user_message(
        self, conversation_id: int, text: str, attachments: Sequence[AttachmentInput] = ()
    ) -> Message:
        """Save the user's message at the end of the active branch (before generation starts)."""
        items = self._copy_attachments(attachments)
        with self._db.write("save your message") as conn:
            conversations.get(conn, conversation_id)
            path = tree.load_skeleton(conn, conversation_id).descend(None)
            parent = path[-1] if path else None
            return self._add_user(conn, conversation_id, parent, text, items)

    def edit_user_message(
        self, message_id: int, text: str, attachments: Sequence[AttachmentInput] | None = None
    ) -> Message:
        """A new version of a user message, as its sibling; the original and its replies stay.

        ``attachments=None`` keeps the original's attachments.
        """
        items = None if attachments is None else self._copy_attachments(attachments)
        with self._db.write("save the edited message") as conn:
            original = tree.load_messages(conn, [message_id], self._blobs)[0]
            if original.role != "user":
                raise StoreError("Only your own messages can be edited")
            if items is None:
                items = tree.attachment_rows(conn, message_id)
            return self._add_user(conn, original.conversation_id, original.parent_id, text, items)

    def _add_user(
        self,
        conn: Any,
        conversation_id: int,
        parent: int | None,
        text: str,
        items: Sequence[tuple[str, str, str, int]],
    ) -> Message:
        now = self._clock()
        mid = tree.insert_message(conn, conversation_id, parent, "user", text, now)
        tree.insert_attachments(conn, mid, items)
        if (
            parent is None
            and not conn.execute(
                "SELECT 1 FROM messages WHERE conversation_id = ? AND id != ? LIMIT 1", (conversation_id, mid)
            ).fetchone()
        ):  # the very first message names the chat; later edits do not rename it
            conversations.apply_auto_title(conn, conversation_id, text, [name for _, _, name, _ in items])
        conversations.touch(conn, conversation_id, now)
        return tree.load_messages(conn, [mid], self._blobs)[0]

    def _copy_attachments(self, attachments: Sequence[AttachmentInput]) -> list[tuple[str, str, str, int]]:
        items = []
        for item in attachments:
            if isinstance(item, Attachment):
                path, kind = Path(item.path), item.kind
            else:
                path = Path(item)
                try:
                    kind = guess_kind(path)
                except AttachmentError as error:
                    raise StoreError(error.title, fix=error.fix, path=path) from None
            sha, size = self._blobs.put_file(path)
            items.append((sha, kind, path.name, size))
        return items

    def begin_reply(self, user_message_id: int) -> ReplyWriter:
        """Create the assistant reply (status "streaming") under a user message and return its writer.

        If the user message already has replies this is a regeneration: the
        new reply becomes their sibling and the active one.
        """
        with self._db.write("start saving the reply") as conn:
            parent = tree.load_messages(conn, [user_message_id], self._blobs)[0]
            if parent.role != "user":
                raise StoreError("A reply must answer a user message")
            now = self._clock()
            mid = tree.insert_message(
                conn, parent.conversation_id, parent.id, "assistant", "", now, status="streaming"
            )
            conversations.touch(conn, parent.conversation_id, now)
        return ReplyWriter(self._db, parent.conversation_id, mid, self._clock)

    def regenerate(self, assistant_message_id: int) -> ReplyWriter:
        """A new reply to the same user message, beside the old one (which is kept)."""
        message = self.message(assistant_message_id)
        if message.role != "assistant" or message.parent_id is None:
            raise StoreError("Only replies can be regenerated")
        return self.begin_reply(message.parent_id)

    def continue_reply(self, assistant_message_id: int) -> ReplyWriter:
        """Reopen an incomplete reply to append more canvases (numbered after the ones it has)."""
        with self._db.write("continue the reply") as conn:
            message = tree.load_messages(conn, [assistant_message_id], self._blobs)[0]
            if message.role != "assistant" or message.status != "incomplete":
                raise StoreError("Only an incomplete reply can be continued")
            stored = history.canvases(conn, assistant_message_id)
            conn.execute("UPDATE messages SET status = 'streaming' WHERE id = ?", (assistant_message_id,))
            tree.select(conn, assistant_message_id)
        return ReplyWriter(
            self._db,
            message.conversation_id,
            assistant_message_id,
            self._clock,
            first_block=(stored[-1].block + 1) if stored else 0,
            committed_texts=[c.text for c in stored],
        )

    def fork_reply(self, assistant_message_id: int, block: int) -> tuple[ReplyWriter, list[StoredCanvas]]:
        """A new version of a reply that keeps its first ``block`` canvases (and their history) and goes on
        from there (Go on from here in Replay); returns its writer and the canvases it keeps.

        The old reply stays as a sibling; the new one is the active version.
        """
        with self._db.write("start a version of the reply from a step") as conn:
            message = tree.load_messages(conn, [assistant_message_id], self._blobs)[0]
            if message.role != "assistant" or message.parent_id is None:
                raise StoreError("Only a reply can go on from one of its steps")
            kept = history.canvases(conn, assistant_message_id)[:block]
            if [c.block for c in kept] != list(range(block)):
                raise StoreError("The canvases before this step are not all saved")
            now = self._clock()
            mid = tree.insert_message(
                conn, message.conversation_id, message.parent_id, "assistant", "", now, status="streaming"
            )
            history.copy_blocks(conn, assistant_message_id, mid, block)
            conversations.touch(conn, message.conversation_id, now)
        writer = ReplyWriter(
            self._db,
            message.conversation_id,
            mid,
            self._clock,
            first_block=block,
            committed_texts=[c.text for c in kept],
        )
        return writer, kept

    def message(self, message_id: int) -> Message:
        with self._db.read() as conn:
            return tree.load_messages(conn, [message_id], self._blobs)[0]

    def active_path(self, conversation_id: int) -> list[Message]:
        """The messages shown: from the first message down the active branch to its leaf."""
        with self._db.read() as conn:
            conversations.get(conn, conversation_id)
            return tree.load_messages(
                conn, tree.load_skeleton(conn, conversation_id).descend(None), self._blobs
            )

    def path_to(self, message_id: int) -> list[Message]:
        """The messages from the conversation's start down to ``message_id`` (inclusive)."""
        with self._db.read() as conn:
            skeleton = tree.load_skeleton(conn, tree.conversation_of(conn, message_id))
            return tree.load_messages(conn, skeleton.path_to(message_id), self._blobs)

    def siblings(self, message_id: int) -> Siblings:
        """The versions at this point of the tree, for a "‹ 2/3 ›" switcher."""
        with self._db.read() as conn:
            return tree.load_skeleton(conn, tree.conversation_of(conn, message_id)).siblings(message_id)

    def select_message(self, message_id: int) -> list[Message]:
        """Switch to the branch through ``message_id`` (as last seen below it); return the new active path."""
        with self._db.write("switch versions") as conn:
            tree.select(conn, message_id)
            cid = tree.conversation_of(conn, message_id)
            return tree.load_messages(conn, tree.load_skeleton(conn, cid).descend(None), self._blobs)

    def engine_conversation(self, message_id: int) -> Conversation:
        """What to give ``Engine.generate`` to answer ``message_id``: the path to it as engine Turns.

        Assistant turns carry the final answer only (never the thought);
        attachments point at the store's copies.
        """
        with self._db.read() as conn:
            cid = tree.conversation_of(conn, message_id)
            system = conversations.get(conn, cid).system
            skeleton = tree.load_skeleton(conn, cid)
            path = tree.load_messages(conn, skeleton.path_to(message_id), self._blobs)
        return Conversation(turns=to_turns(path), system=system)

    # -- canvases and refinement history -----------------------------------------------------------

    def canvases(self, message_id: int) -> list[StoredCanvas]:
        with self._db.read() as conn:
            return history.canvases(conn, message_id)

    def replay(self, message_id: int, block: int | None = None) -> list[Step]:
        """Every denoising step of a reply (or one block) as stored: drafts exact, entropy quantised."""
        with self._db.read() as conn:
            return history.replay(conn, message_id, block)

    def history_bytes(self, message_id: int) -> int:
        with self._db.read() as conn:
            return history.history_bytes(conn, message_id)

    # -- search, export, import --------------------------------------------------------------------

    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        with self._db.read() as conn:
            return search_module.search(conn, query, limit)

    def export_json(
        self,
        conversation_ids: Sequence[int] | None = None,
        *,
        embed_attachments: bool = True,
        include_history: bool = False,
    ) -> dict[str, Any]:
        """A JSON-ready dict of the given conversations (default: all live ones); see docs/storage.md."""
        with self._db.read() as conn:
            return exchange.export_data(
                conn,
                self._blobs,
                conversation_ids,
                self._clock(),
                embed_attachments=embed_attachments,
                include_history=include_history,
            )

    def branch_conversation(self, message_id: int) -> int:
        """A new chat holding the path from the start down to ``message_id``; returns its id.

        "Go on from here in a new chat": the messages of that path (the versions shown, with
        their attachments, statistics and refinement history, so Replay and Continue work)
        are copied; the original chat is left as it is.  The new chat is dated now and
        titled after the original, with "(branch)".
        """
        with self._db.read() as conn:
            cid = tree.conversation_of(conn, message_id)
            path = tree.load_skeleton(conn, cid).path_to(message_id)
            document = exchange.export_data(
                conn,
                self._blobs,
                [cid],
                self._clock(),
                embed_attachments=False,
                include_history=True,
                only_messages=set(path),
            )
        now = self._clock()
        (conv,) = document["conversations"]
        conv.update(
            title=f"{conv['title'] or 'Chat'} (branch)",
            title_auto=False,
            pinned=False,
            created_at=now,
            updated_at=now,
        )
        with self._db.write("branch a conversation") as conn:
            (new_id,) = exchange.import_data(conn, self._blobs, document, now)
        return new_id

    def export_markdown(self, conversation_ids: Sequence[int] | None = None) -> str:
        with self._db.read() as conn:
            return exchange.export_markdown(conn, self._blobs, conversation_ids)

    def import_json(self, document: Any) -> list[int]:
        """Add the conversations of an export as new conversations; all or nothing.  Returns their ids."""
        exchange.store_embedded_blobs(self._blobs, document)
        with self._db.write("import conversations") as conn:
            return exchange.import_data(conn, self._blobs, document, self._clock())


def to_turns(path: Sequence[Message]) -> tuple[Turn, ...]:
    """Messages as engine Turns: answers only for the assistant, the store's attachment copies."""
    return tuple(
        Turn(role=m.role, text=m.text, attachments=tuple(a.to_engine() for a in m.attachments)) for m in path
    )

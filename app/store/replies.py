"""Saving an assistant reply while it is being written, so a crash loses at most the current canvas.

The reply's row exists from the first moment (status "streaming").  Each
committed Canvas is one transaction: the canvas, its refinement history (the
block's buffered Step events, compressed) and the reply's text so far.  The
final Done stores the answer, thought, stats and status ("complete", or
"incomplete" when it was stopped).  A reply whose writer never finished
(crash, SIGKILL, power cut) is still "streaming" on disk; the next
``Store.open`` turns it into "incomplete".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType

import app.store.conversations as conversations
import app.store.history as history
from app.store.database import Database
from app.store.tree import stats_to_json
from engine.events import Canvas, Done, Event, Step
from engine.inputs.thinking import split_thinking


class ReplyWriter:
    """Feed it every engine event of one reply, in order, from any one thread.

    ``on_event`` ignores events it has no use for (LoadProgress,
    PromptEncoded), so the GUI can pass the engine's stream straight through.
    Used as a context manager, leaving the block without a Done (an engine
    error, the window closing) marks the reply incomplete.  A failed write
    raises StoreError; the writer stays usable and the next canvas saves the
    whole text again.
    """

    def __init__(
        self,
        db: Database,
        conversation_id: int,
        message_id: int,
        clock: Callable[[], float],
        *,
        first_block: int = 0,
        committed_texts: Sequence[str] = (),
    ) -> None:
        self.conversation_id = conversation_id
        self.message_id = message_id
        self._db = db
        self._clock = clock
        self._first_block = first_block
        self._prior_text = "".join(committed_texts)
        self._texts: list[str] = list(committed_texts)
        self._pending: list[Step] = []
        self._finished = False

    @property
    def finished(self) -> bool:
        return self._finished

    def on_event(self, event: Event) -> None:
        if isinstance(event, Done):
            self._on_done(event)
        elif self._finished:
            return
        elif isinstance(event, Step):
            self._on_step(event)
        elif isinstance(event, Canvas):
            self._on_canvas(event)

    def stop(self, reason: str = "cancelled") -> None:
        """End the reply without a Done: keep what was committed, mark it incomplete."""
        if self._finished:
            return
        parts = split_thinking("".join(self._texts))
        self._finish(parts.answer, parts.thought, "incomplete", reason, None)

    def __enter__(self) -> ReplyWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._finished:
            self.stop(
                "error" if kind is not None and not issubclass(kind, KeyboardInterrupt) else "cancelled"
            )

    # -- events ------------------------------------------------------------------------------------

    def _on_step(self, step: Step) -> None:
        if self._pending and self._pending[-1].block != step.block:
            self._pending.clear()  # a block ended without its Canvas: nothing to attach it to
        self._pending.append(step)

    def _on_canvas(self, canvas: Canvas) -> None:
        block = self._first_block + canvas.block
        steps = [s for s in self._pending if s.block == canvas.block]
        self._pending.clear()
        self._texts.append(canvas.text)
        parts = split_thinking("".join(self._texts), final=False)
        now = self._clock()
        with self._db.write("save the reply being written") as conn:
            history.save_canvas(conn, self.message_id, block, canvas)
            if steps:
                history.save_refinement(conn, self.message_id, block, steps, committed=True)
            conn.execute(
                "UPDATE messages SET text = ?, thought = ?, status = 'streaming', updated_at = ?"
                " WHERE id = ?",
                (parts.answer, parts.thought, now, self.message_id),
            )
            conversations.touch(conn, self.conversation_id, now)

    def _on_done(self, done: Done) -> None:
        if self._first_block:  # a continuation: the answer spans the earlier canvases too
            parts = split_thinking(self._prior_text + done.text)
            answer, thought = parts.answer, parts.thought
        else:
            answer, thought = done.answer, done.thought
        status = "incomplete" if done.incomplete else "complete"
        self._finish(answer, thought, status, done.stop_reason, stats_to_json(done.stats))

    def _finish(self, answer: str, thought: str, status: str, reason: str, stats: str | None) -> None:
        pending = self._pending
        self._pending = []
        now = self._clock()
        with self._db.write("save the finished reply") as conn:
            if pending:  # the block a Stop interrupted: kept for replay, marked uncommitted
                block = self._first_block + pending[0].block
                steps = [s for s in pending if s.block == pending[0].block]
                history.save_refinement(conn, self.message_id, block, steps, committed=False)
            conn.execute(
                "UPDATE messages SET text = ?, thought = ?, status = ?, stop_reason = ?,"
                " stats = COALESCE(?, stats), updated_at = ? WHERE id = ?",
                (answer, thought, status, reason, stats, now, self.message_id),
            )
            conversations.touch(conn, self.conversation_id, now)
        self._finished = True

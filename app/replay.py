"""A past reply's refinement, frame by frame, as the live view drew it.

Qt-free, so the fidelity rules are plain tests: :class:`Replay` holds the
decoded Step events of a stored reply and the text of each committed canvas,
and :meth:`Replay.state_at` rebuilds the :class:`ReplyState` the window held
at that step, so replay goes through the very same drawing code as a live
reply (markdown and token grid alike).

A history is only replayed when it decodes to what was saved: the last step of
every committed block must give exactly that block's stored text.  A reply
written by another model (another tokenizer) fails that check, and the user is
told which model to load instead of being shown garbage.

A reply with canvases but no stored steps (written by a model on a server,
which sends whole canvases, or an old local reply whose history is gone) is
replayed canvas by canvas instead: each frame is the text up to and including
one canvas.  That needs only the stored text, so no model has to be loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.reply_state import ReplyState
from engine.events import Stats, Step

# Playback rate at 1×: the recorded time per denoising forward, but never faster than
# this (a 9 ms forward would flash past) nor slower than the upper bound.
MIN_STEP_SECONDS = 0.06
MAX_STEP_SECONDS = 0.5
SPEEDS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
# A canvas-by-canvas replay at 1×: the recorded time per canvas, long enough to read a change.
MIN_CANVAS_SECONDS = 0.4
MAX_CANVAS_SECONDS = 2.0
SERVER_NOTE = "from a server: whole canvases, no steps"
NO_HISTORY_NOTE = "steps not saved: whole canvases"
# The replay bar's tooltip for each note: the whole reason, too long for the bar itself.
NOTE_TOOLTIPS = {
    SERVER_NOTE: "Written by a model on a server, which sends each 256-token canvas whole and nothing "
    "for its denoising steps, so this replay shows the reply canvas by canvas.",
    NO_HISTORY_NOTE: "This reply's denoising steps were not saved (only its canvases were), so this "
    "replay shows it canvas by canvas.",
}
NO_HISTORY_MESSAGE = (
    "This reply has no saved refinement history (it was imported, written by a model on a server, "
    "or written before the history was kept), so there is nothing to replay."
)


class ReplayError(Exception):
    """The history cannot be replayed; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Replay:
    steps: tuple[Step, ...]
    canvases: tuple[str, ...]  # committed text per block, as saved
    step_seconds: float  # playback interval at 1×
    note: str = ""  # why a canvas-by-canvas replay has no steps ("" for a step-by-step one)

    @classmethod
    def build(
        cls, steps: Sequence[Step], canvases: Sequence[str], stats: Stats | None, *, model_name: str = ""
    ) -> Replay:
        """Check the decoded steps against the saved canvases; raise ReplayError when they disagree.

        No steps but saved canvases: the canvas-by-canvas replay (see the module).
        """
        if not steps and canvases:
            return cls.of_canvases(canvases, stats)
        if not steps:
            raise ReplayError(NO_HISTORY_MESSAGE)
        last_of_block: dict[int, Step] = {}
        for step in steps:
            last_of_block[step.block] = step
        for block, text in enumerate(canvases):
            step = last_of_block.get(block)
            if step is None:
                raise ReplayError(f"The saved history of block {block + 1} is missing or damaged.")
            if step.text != text:
                which = f" than {model_name}" if model_name else ""
                raise ReplayError(
                    f"This reply was written by a different model{which}: its saved tokens do not "
                    "decode to the saved text. Load the model that wrote it (Model menu) to replay it."
                )
        return cls(tuple(steps), tuple(canvases), recorded_step_seconds(stats))

    @classmethod
    def of_canvases(cls, canvases: Sequence[str], stats: Stats | None) -> Replay:
        """Frame i is the reply after canvas i: all there is of a reply stored without its steps."""
        note = SERVER_NOTE if written_in_whole_canvases(stats) else NO_HISTORY_NOTE
        return cls((), tuple(canvases), recorded_canvas_seconds(stats, len(canvases)), note)

    @property
    def by_canvas(self) -> bool:
        """True when the frames are whole canvases, not denoising steps."""
        return not self.steps

    def __len__(self) -> int:
        return len(self.canvases) if self.by_canvas else len(self.steps)

    def state_at(self, index: int) -> ReplyState:
        """The reply as it looked right after step ``index`` (0-based), with earlier blocks committed."""
        if self.by_canvas:
            return self._canvas_state_at(index)
        index = max(0, min(index, len(self.steps) - 1))
        step = self.steps[index]
        state = ReplyState(timed=False)
        for text in self.canvases[: step.block]:
            state.on_canvas_text(text)
        if index > 0 and self.steps[index - 1].block == step.block:
            state.on_step(self.steps[index - 1])
        state.on_step(step)
        return state

    def _canvas_state_at(self, index: int) -> ReplyState:
        state = ReplyState(timed=False)
        for text in self.canvases[: max(0, min(index, len(self.canvases) - 1)) + 1]:
            state.on_canvas_text(text)
        return state

    def position(self, index: int) -> str:
        """ "block 2 · step 5/16" (or "canvas 2 of 5") for the frame ``index``."""
        if self.by_canvas:
            return f"canvas {max(0, min(index, len(self.canvases) - 1)) + 1} of {len(self.canvases)}"
        step = self.steps[max(0, min(index, len(self.steps) - 1))]
        return f"block {step.block + 1} · step {step.step}/{step.max_steps}"

    def label(self, index: int) -> str:
        """The replay bar's text for frame ``index``: the position, and for whole canvases why."""
        return f"{self.position(index)} · {self.note}" if self.note else self.position(index)


def written_in_whole_canvases(stats: Stats | None) -> bool:
    """A reply from a model on a server: canvases but no denoising forwards counted (it does not say)."""
    return stats is not None and stats.canvases > 0 and stats.forwards == 0


def recorded_canvas_seconds(stats: Stats | None, canvases: int) -> float:
    """Seconds per canvas frame at 1×: the reply's own time per canvas, clamped to be readable."""
    if stats is None or stats.seconds <= 0 or canvases <= 0:
        return MIN_CANVAS_SECONDS * 2
    return min(MAX_CANVAS_SECONDS, max(MIN_CANVAS_SECONDS, stats.seconds / canvases))


def recorded_step_seconds(stats: Stats | None) -> float:
    """Seconds per frame at 1×: the reply's own average per forward, clamped to be watchable."""
    if stats is None or stats.forwards <= 0 or stats.seconds <= 0:
        return MIN_STEP_SECONDS * 2
    return min(MAX_STEP_SECONDS, max(MIN_STEP_SECONDS, stats.seconds / stats.forwards))

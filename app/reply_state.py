"""What a reply looks like at this moment: committed canvases + the current draft.

Qt-free, so the coalescing logic can be tested without widgets.  The worker's
events update it in O(1) (the GUI may receive a thousand a second); the
expensive part, :meth:`ReplyState.display`, runs only when a frame is drawn.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace

from engine.events import Canvas, Done, PromptEncoded, PromptProgress, Stats, Step
from engine.inputs.thinking import split_thinking


@dataclass(frozen=True, slots=True)
class Display:
    """The text to draw now. ``*_committed`` say how much of each part can no longer change."""

    thought: str
    answer: str
    thinking: bool
    thought_committed: int
    answer_committed: int


def _committed_prefix(live: str, committed: str) -> int:
    return len(committed) if live.startswith(committed) else 0


@dataclass(slots=True)
class ReplyState:
    """One assistant reply while it is generated (and after, for its statistics)."""

    started_at: float = field(default_factory=time.monotonic)
    canvases: list[str] = field(default_factory=list)
    step: Step | None = None
    previous_step: Step | None = None  # the step before ``step`` in the same block
    steps_received: int = 0
    prompt: PromptEncoded | None = None
    prompt_progress: PromptProgress | None = None  # how far a long prompt is read
    done: Done | None = None
    error: str | None = None
    first_step_at: float | None = None
    thought_seconds: float | None = None
    timed: bool = True  # False for a replay: the thinking time is not measured again
    block_offset: int = 0  # a continued reply: its new blocks come after this many saved ones
    _committed_text: str = ""
    _prior_text: str = ""
    _canvas_step: Step | None = None  # the token view of the last canvas of a reply without steps

    @classmethod
    def continuing(cls, saved_canvases: list[str]) -> ReplyState:
        """The state of a reply that goes on after its saved canvases (engine blocks restart at 0)."""
        state = cls(block_offset=len(saved_canvases))
        for text in saved_canvases:
            state.on_canvas_text(text)
        state._prior_text = state._committed_text
        return state

    # --- events (cheap) ------------------------------------------------------

    def on_prompt_progressed(self, event: PromptProgress) -> None:
        self.prompt_progress = event

    def on_prompt_encoded(self, event: PromptEncoded) -> None:
        self.prompt = event

    def on_step(self, step: Step) -> None:
        same_block = self.step is not None and self.step.block == step.block
        self.previous_step = self.step if same_block else None
        self.step = step
        self.steps_received += 1
        if self.first_step_at is None:
            self.first_step_at = time.monotonic()

    def on_canvas(self, canvas: Canvas) -> None:
        self.on_canvas_text(canvas.text)

    def on_canvas_text(self, text: str) -> None:
        self.canvases.append(text)
        self._committed_text += text

    def on_done(self, done: Done) -> None:
        if self._prior_text:  # a continuation's Done covers only the new text
            whole = split_thinking(self._prior_text + done.text)
            done = replace(
                done, text=self._prior_text + done.text, thought=whole.thought, answer=whole.answer
            )
        self.done = done
        if done.thought and self.thought_seconds is None:
            self.thought_seconds = time.monotonic() - (self.first_step_at or self.started_at)

    def on_error(self, message: str) -> None:
        self.error = message

    # --- derived (per frame) -------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.done is not None or self.error is not None

    @property
    def live_step(self) -> Step | None:
        """The step of the canvas being refined (None between a commit and the next step)."""
        if self.step is not None and self.step.block + self.block_offset >= len(self.canvases):
            return self.step
        return None

    def grid_step(self) -> tuple[Step, Step | None] | None:
        """What the token view draws: the step and the one before it; None: nothing yet.

        A reply without steps (whole canvases from a server) shows its last canvas, all stable.
        """
        if self.step is not None:
            return self.step, self.previous_step
        if not self.canvases:
            return None
        block = len(self.canvases) - 1
        if self._canvas_step is None or self._canvas_step.block != block:
            self._canvas_step = canvas_step(block, self.canvases[-1])
        return self._canvas_step, None

    def text(self) -> str:
        live = self.live_step
        return self._committed_text + (live.text if live is not None and not self.finished else "")

    def display(self) -> Display:
        if self.done is not None:
            return Display(
                self.done.thought, self.done.answer, False, len(self.done.thought), len(self.done.answer)
            )
        live = split_thinking(self.text(), final=False)
        fixed = split_thinking(self._committed_text, final=False)
        if live.has_thought and not live.thinking and self.thought_seconds is None and self.timed:
            self.thought_seconds = time.monotonic() - (self.first_step_at or self.started_at)
        return Display(
            thought=live.thought,
            answer=live.answer,
            thinking=live.thinking,
            thought_committed=_committed_prefix(live.thought, fixed.thought),
            answer_committed=_committed_prefix(live.answer, fixed.answer),
        )

    def indicator(self) -> str:
        """The step indicator: "block 2 · step 14/48", or what happens before the first step."""
        if self.done is not None:
            return "stopped" if self.done.incomplete else ""
        if self.error is not None:
            return ""
        step = self.step
        if step is None and len(self.canvases) > self.block_offset:
            return f"canvas {len(self.canvases)} · {WHOLE_CANVASES}"
        if step is None:
            if self.prompt is not None:
                return "first canvas…"
            progress = self.prompt_progress
            return reading_prompt(progress) if progress is not None else "encoding the prompt…"
        block = step.block + self.block_offset
        if block < len(self.canvases):
            return f"block {block + 1} committed"
        return f"block {block + 1} · step {step.step}/{step.max_steps}"


def reading_prompt(progress: PromptProgress) -> str:
    """The indicator while a long prompt is read, so that minutes before the first draft are not a hang.

    "Reading the prompt · 12,288 / 95,000 tokens · about 1 min left".
    """
    text = f"Reading the prompt · {progress.tokens_done:,} / {progress.tokens_total:,} tokens"
    left = time_left(progress.seconds_left) if progress.tokens_done < progress.tokens_total else ""
    return f"{text} · {left}" if left else text


def time_left(seconds: float) -> str:
    """A rough remaining time in words ("about 40 s left", "about 3 min left", "about 1 h 5 min left")."""
    if seconds < 1:
        return "almost done"
    if seconds < 59.5:
        return f"about {round(seconds)} s left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60} min left"


WHOLE_CANVASES = "whole canvases from a server, no denoising steps"
SERVER_STATS_PREFIX = "server"
SERVER_STATS_TOOLTIP = (
    "Written by a model on a server, which sends each 256-token canvas whole: there are no "
    "denoising steps to show, so the token view and Replay go canvas by canvas."
)
_PIECE = re.compile(r"\s*\S+|\s+")  # a word with the spaces before it (or trailing spaces)


def canvas_step(block: int, text: str) -> Step:
    """A committed canvas known only by its text, as a finished Step the token view draws as stable.

    Without the tokens (a server sends text) the cells are the canvas's words, not its tokens.
    """
    pieces = tuple(_PIECE.findall(text))
    n = len(pieces)
    return Step(block, 0, 0, tuple(range(1, n + 1)), (True,) * n, (0.0,) * n, text, pieces, True)


def written_by_server(stats: Stats) -> bool:
    """Canvases but no denoising forwards: the server does not say how many steps it ran."""
    return stats.canvases > 0 and stats.forwards == 0


def stats_tooltip(line: str) -> str:
    """The tooltip of a reply's stats line: why a server's reply has no steps ("" otherwise)."""
    return SERVER_STATS_TOOLTIP if line.startswith(f"{SERVER_STATS_PREFIX} ·") else ""


def format_stats(done: Done) -> str:
    """The line under a finished reply: tokens, blocks, steps per block, speed."""
    s = done.stats
    if written_by_server(s):
        return " · ".join(
            [
                SERVER_STATS_PREFIX,
                f"{s.generated_tokens} tokens",
                f"{s.canvases} whole canvas{'es' if s.canvases != 1 else ''}",
                f"{s.tokens_per_second:.0f} tok/s",
                f"first canvas {s.time_to_first_draft * 1000:.0f} ms",
            ]
        )
    steps = s.steps_per_canvas
    if steps:
        per_block = (
            "/".join(str(n) for n in steps) if len(steps) <= 6 else f"{sum(steps) / len(steps):.1f} avg"
        )
    else:
        per_block = "–"
    parts = [
        f"{s.generated_tokens} tokens",
        f"{s.canvases} block{'s' if s.canvases != 1 else ''}",
        f"steps per block {per_block}",
        f"{s.tokens_per_forward:.1f} tokens/forward",
        f"{s.tokens_per_second:.0f} tok/s",
        f"first draft {s.time_to_first_draft * 1000:.0f} ms",
    ]
    return " · ".join(parts)

"""A test double of :class:`engine.engine.Engine` that streams a scripted reply.

Only for the throttle, stress and error tests, where the event rate, the final
text and failures must be controlled exactly; everything end-to-end uses the
real Engine on the tiny checkpoint.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from engine.cancel import CancelToken
from engine.errors import EngineError
from engine.events import Canvas, Done, Event, LoadProgress, PromptEncoded, PromptProgress, Stats, Step
from engine.generation.codec import TokenCodec
from engine.generation.plan import ALL_PLANS, ReplyPlan
from engine.generation.replay import decode_steps
from engine.inputs.conversation import Conversation, PromptOptions
from engine.inputs.thinking import split_thinking
from engine.settings import GenerationSettings

CANVAS = 256
NOISE = ("▒", "qx", " zu", "ß", " lor", "##", " ~", "ep")


@dataclass(frozen=True)
class FakeInfo:
    name: str = "Fake model"
    source: str = "fake"
    path: str = "/fake"
    device: str = "cpu"
    dtype: str = "float32"
    canvas_length: int = CANVAS
    context_length: int = 8192
    is_demo: bool = False
    model_context_length: int = 8192
    context_limited_by_memory: bool = False
    plans: frozenset[str] = ALL_PLANS


def pieces_of(text: str) -> list[str]:
    """Word-ish pieces whose concatenation is exactly ``text``."""
    return re.findall(r"\s*\S+|\s+", text)


FRESH = ReplyPlan.fresh()


class FakeEngine:
    """An :class:`engine.interface.ChatEngine` (tests/app/test_app_engine_interface.py holds it to that)."""

    info: FakeInfo
    default_settings: GenerationSettings

    def __init__(
        self,
        reply: str = "Hello **world**.",
        *,
        steps: int = 8,
        step_delay: float = 0.0,
        fail: EngineError | Exception | None = None,
        fail_after_steps: int = 0,
        on_step: Callable[[], None] | None = None,
        prompt_chunks: int = 0,
    ) -> None:
        self.reply = reply
        self.steps = steps
        self.step_delay = step_delay
        self.fail = fail
        self.fail_after_steps = fail_after_steps
        self.on_step = on_step
        self.prompt_chunks = prompt_chunks  # > 1: report reading a long prompt, chunk by chunk
        self.info = FakeInfo()
        self.default_settings = GenerationSettings(max_denoising_steps=steps)
        self.calls: list[tuple[Conversation, GenerationSettings | None, PromptOptions | None]] = []
        self.forgotten = 0
        self.closed = False
        self.plans: list[ReplyPlan] = []  # the ReplyPlan of each call
        # Draft ids index this vocabulary (0 is end-of-turn), so a stored history decodes back.
        self.vocab: dict[str, int] = {"": 0}
        self.codec = TokenCodec(
            decode=lambda ids: "".join(self.pieces[i] for i in ids),
            pieces=lambda ids: [self.pieces[i] for i in ids],
            eos_ids=frozenset({0}),
            pad_id=0,
        )

    @property
    def pieces(self) -> list[str]:
        return list(self.vocab)

    def _id(self, piece: str) -> int:
        return self.vocab.setdefault(piece, len(self.vocab))

    def decode_steps(self, frames) -> list[Step]:
        return decode_steps(frames, self.codec)

    def vram_in_use(self) -> int | None:
        return None

    def forget_prompt_cache(self) -> None:
        self.forgotten += 1

    def close(self) -> None:
        self.closed = True

    def generate(
        self,
        conversation: Conversation,
        settings: GenerationSettings | None = None,
        options: PromptOptions | None = None,
        cancel: CancelToken | None = None,
        *,
        plan: ReplyPlan = FRESH,
    ) -> Iterator[Event]:
        self.calls.append((conversation, settings, options))
        self.plans.append(plan)
        cancel = cancel or CancelToken()
        rng = random.Random(0)
        start = time.perf_counter()
        for chunk in range(1, self.prompt_chunks + 1 if self.prompt_chunks > 1 else 1):
            yield PromptProgress(
                2048 * chunk, 2048 * self.prompt_chunks, 0.01 * chunk, 0.01 * (self.prompt_chunks - chunk)
            )
            if self.step_delay:
                time.sleep(self.step_delay)
            if cancel.cancelled:
                yield self._done("", start, None, 0, [], incomplete=True)
                return
        yield PromptEncoded(prompt_tokens=12, seconds=0.001)
        pieces = pieces_of(self.reply)
        blocks = [pieces[i : i + CANVAS] for i in range(0, max(1, len(pieces)), CANVAS)] or [[]]
        committed: list[str] = []
        steps_done = 0
        per_block: list[int] = []
        first = None
        # Each position settles at its own step (cheap per step: the worker must not hog the GIL
        # more than the real engine's Python does).
        settle = [1 + int(rng.random() * self.steps) for _ in range(CANVAS)]
        noise = [rng.choice(NOISE) for _ in range(CANVAS)]
        high = [3.0 + rng.random() * 5 for _ in range(CANVAS)]
        for b, block in enumerate(blocks):
            padded = block + [""] * (CANVAS - len(block))
            for s in range(1, self.steps + 1):
                if self.fail is not None and steps_done >= self.fail_after_steps:
                    raise self.fail
                last_step = s == self.steps
                accepted = tuple(last_step or s >= t for t in settle)
                draft_pieces = tuple(
                    p if ok or i >= len(block) else n
                    for i, (p, ok, n) in enumerate(zip(padded, accepted, noise, strict=True))
                )
                text = "".join(draft_pieces[: len(block)])
                entropy = tuple(0.01 if ok else h for ok, h in zip(accepted, high, strict=True))
                steps_done += 1
                first = first or time.perf_counter()
                yield Step(
                    block=b,
                    step=s,
                    max_steps=self.steps,
                    draft=tuple(self._id(p) for p in draft_pieces),
                    accepted=accepted,
                    entropy=entropy,
                    text=text,
                    pieces=draft_pieces,
                    finished=s == self.steps,
                )
                if self.on_step:
                    self.on_step()
                if self.step_delay:
                    time.sleep(self.step_delay)
                if cancel.cancelled:
                    partial = "".join(committed) + text
                    yield self._done(partial, start, first, steps_done, per_block, incomplete=True)
                    return
            per_block.append(self.steps)
            block_text = "".join(block)
            committed.append(block_text)
            last = b == len(blocks) - 1
            tokens = tuple(self._id(p) for p in padded)
            yield Canvas(block=b, tokens=tokens, text=block_text, steps=self.steps, ended=last)
        yield self._done("".join(committed), start, first, steps_done, per_block, incomplete=False)

    def _done(self, text, start, first, forwards, per_block, *, incomplete: bool) -> Done:
        split = split_thinking(text)
        seconds = max(1e-6, time.perf_counter() - start)
        tokens = len(pieces_of(text))
        stats = Stats(
            prompt_tokens=12,
            cached_prompt_tokens=0,
            generated_tokens=tokens,
            canvases=len(per_block),
            forwards=forwards,
            max_denoising_steps=self.steps,
            steps_per_canvas=tuple(per_block),
            tokens_per_forward=tokens / max(1, forwards),
            time_to_first_draft=(first or start) - start,
            seconds=seconds,
            tokens_per_second=tokens / seconds,
        )
        return Done(
            prompt_ids=(1, 2, 3),
            token_ids=tuple(range(tokens)),
            text=text,
            thought=split.thought,
            answer=split.answer,
            stats=stats,
            incomplete=incomplete,
            stop_reason="cancelled" if incomplete else "eos",
        )


def fake_loader(engine: FakeEngine | None = None, *, error: Exception | None = None, delay: float = 0.0):
    """A loader for EngineHost that reports progress and returns ``engine`` (or raises ``error``)."""

    def load(source: str, progress: Callable[[LoadProgress], None]) -> FakeEngine:
        progress(LoadProgress("weights", 0, 2, "Loading weights"))
        if delay:
            time.sleep(delay)
        if error is not None:
            raise error
        progress(LoadProgress("ready", 2, 2, "Model ready"))
        return engine or FakeEngine()

    return load

"""The typed events the engine emits while it generates.

These are the whole contract between the engine and its consumers (the GUI,
the CLI's ``--jsonl`` mode, the store).  They are plain frozen dataclasses of
Python scalars and tuples so that they cross threads (and processes, as JSON)
without dragging tensors along: per denoising step only the 256 draft ids, the
accepted mask and the per-position entropy leave the device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class LoadProgress:
    """Model loading progress: ``done`` of ``total`` units (files, tensors or bytes)."""

    stage: str
    done: int
    total: int
    message: str = ""


@dataclass(frozen=True, slots=True)
class PromptProgress:
    """Part of a long prompt is encoded: sent after each encoder call when the prompt needs several.

    A 95 K-token prompt takes minutes on a small GPU before the first draft;
    this says how far the reading is and about how long it still takes
    (``seconds_left`` extrapolates the rate so far, so it is a rough guess: later
    chunks attend to more tokens).  ``tokens_done`` counts cached tokens as done.
    """

    tokens_done: int
    tokens_total: int
    seconds: float  # since the prompt started to be read
    seconds_left: float

    def to_json(self) -> dict[str, Any]:
        return {
            "event": "prompt_progress",
            "tokens_done": self.tokens_done,
            "tokens_total": self.tokens_total,
            "seconds": round(self.seconds, 3),
            "seconds_left": round(self.seconds_left, 3),
        }


@dataclass(frozen=True, slots=True)
class PromptEncoded:
    """The prompt was tokenized and encoded into the KV cache (prefill finished)."""

    prompt_tokens: int
    seconds: float
    cached_tokens: int = 0  # prompt tokens reused from the previous turn's cache
    omitted_turns: int = 0  # oldest turns left out: the chat outgrew the context (engine.inputs.overflow)


@dataclass(frozen=True, slots=True)
class Step:
    """One denoising step of one canvas.

    ``block`` counts canvases from 0; ``step`` counts from 1 within each block.
    ``draft`` is the argmax canvas (what the block would commit now),
    ``accepted`` marks the positions the sampler accepted this step (the rest
    were re-randomised), ``entropy`` is each position's entropy (nats) of the
    temperature-scaled distribution.  ``text`` is ``draft`` decoded up to the
    first end-of-turn token; ``pieces`` are the draft's token strings for the
    token-state view.
    """

    block: int
    step: int
    max_steps: int
    draft: tuple[int, ...]
    accepted: tuple[bool, ...]
    entropy: tuple[float, ...]
    text: str
    pieces: tuple[str, ...] = ()
    finished: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "event": "step",
            "block": self.block,
            "step": self.step,
            "draft": list(self.draft),
            "accepted": list(self.accepted),
            "entropy": [round(e, 5) for e in self.entropy],
        }


@dataclass(frozen=True, slots=True)
class Canvas:
    """A canvas was committed (its argmax draft, with everything after EOS set to pad)."""

    block: int
    tokens: tuple[int, ...]
    text: str
    steps: int
    ended: bool

    def to_json(self) -> dict[str, Any]:
        return {"event": "canvas", "block": self.block, "tokens": list(self.tokens), "text": self.text}


@dataclass(frozen=True, slots=True)
class Stats:
    """What one reply cost."""

    prompt_tokens: int
    cached_prompt_tokens: int
    generated_tokens: int
    canvases: int
    forwards: int
    max_denoising_steps: int
    steps_per_canvas: tuple[int, ...]
    tokens_per_forward: float
    time_to_first_draft: float
    seconds: float
    tokens_per_second: float
    peak_vram_bytes: int | None = None
    omitted_turns: int = 0  # oldest turns the model did not see (the chat outgrew the context)


@dataclass(frozen=True, slots=True)
class Done:
    """The reply is over: finished, or cut short by a cancel (``incomplete``)."""

    prompt_ids: tuple[int, ...]
    token_ids: tuple[int, ...]
    text: str
    thought: str
    answer: str
    stats: Stats
    incomplete: bool = False
    stop_reason: str = "eos"  # "eos" | "length" | "cancelled"
    gaps: tuple[str, ...] = ()  # a filled draft: each gap's text, in order (``text`` is the whole draft)

    def to_json(self) -> dict[str, Any]:
        stats = asdict(self.stats)
        gaps = {"gaps": list(self.gaps)} if self.gaps else {}
        return {
            "event": "done",
            "prompt_ids": list(self.prompt_ids),
            "token_ids": list(self.token_ids),
            "text": self.text,
            "thought": self.thought,
            "answer": self.answer,
            "incomplete": self.incomplete,
            "stop_reason": self.stop_reason,
            "canvases": self.stats.canvases,
            "forwards": self.stats.forwards,
            "tokens_per_forward": self.stats.tokens_per_forward,
            "max_denoising_steps": self.stats.max_denoising_steps,
            "seconds": self.stats.seconds,
            "stats": stats,
            **gaps,
        }


Event = LoadProgress | PromptProgress | PromptEncoded | Step | Canvas | Done

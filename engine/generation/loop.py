"""The block-diffusion loop: read the prompt, then canvas after canvas, step after step, as events.

It performs exactly the computation of ``DiffusionGemmaForBlockDiffusion.generate``
(transformers 5.23+) for one sequence — same model calls, same random-number
draws in the same order — so that after ``torch.manual_seed(S)`` it yields the
same token ids (a test holds it to that).  What it adds is what the product
needs: an event per denoising step carrying the draft, the accepted mask and
the per-position entropy (256 numbers each; the 256 × vocab logits never leave
the device), a cancel flag checked once per step, and timing statistics.

Read top to bottom, in the manner of gpt-fast's ``generate.py``:
:func:`denoise` reads the prompt (:func:`engine.generation.prefill.prefill`),
then per canvas seeds it (:func:`engine.generation.step.seed_canvas`), refines it
(:func:`refine`, one :func:`engine.generation.step.denoise_step` per step) and
commits it (:func:`commit`); :func:`finish` builds the one Done.  What kind of
reply it writes comes resolved, as a :class:`~engine.generation.seeding.Seeding`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from engine.cancel import CancelToken
from engine.events import Canvas, Done, Event, Stats, Step
from engine.generation.codec import TokenCodec
from engine.generation.prefill import (
    PrefillOptions,
    Prompt,
    append_tokens,
    encode_canvas,
    prefill,
    synchronize,
)
from engine.generation.sampling import ReportingStoppingCriteria
from engine.generation.seeding import Seeding
from engine.generation.step import CanvasSeed, DecoderInputs, Denoised, Sampling, denoise_step, seed_canvas
from engine.settings import GenerationSettings

__all__ = ["TokenCodec", "denoise", "synchronize"]


@dataclass
class Reply:
    """One reply in progress: what every part of the loop reads, and the tally Done reports."""

    model: Any
    settings: GenerationSettings
    codec: TokenCodec
    cancel: CancelToken
    with_pieces: bool
    split: Callable[[str], tuple[str, str]] | None
    started: float = field(default_factory=time.perf_counter)
    committed: list[int] = field(default_factory=list)
    steps_per_canvas: list[int] = field(default_factory=list)
    forwards: int = 0
    cached: int = 0
    first_draft_at: float | None = None
    last_draft: tuple[int, ...] = ()  # the last Step's draft: what a cancelled canvas shows


@dataclass(frozen=True)
class Ending:
    """How the reply ended: ``reason`` is "eos", "length" or "cancelled" (then ``tokens`` is the draft)."""

    reason: str
    tokens: tuple[int, ...] | None = None  # None: the committed canvases


def denoise(
    model: Any,
    inputs: dict[str, torch.Tensor],
    settings: GenerationSettings,
    codec: TokenCodec,
    *,
    seeding: Seeding | None = None,
    cancel: CancelToken | None = None,
    with_pieces: bool = True,
    split: Callable[[str], tuple[str, str]] | None = None,
    prefill_options: PrefillOptions | None = None,
) -> Iterator[Event]:
    """Write a reply to one prompt: PromptProgress… (long prompts), PromptEncoded, Step…, Canvas…, Done.

    ``inputs`` is the processor's output for one sequence (``input_ids`` plus
    optional image tensors).  ``seeding`` is the resolved reply plan (default: a
    fresh reply of ``settings.max_new_tokens``; its budget wins over the settings').
    ``split`` turns the final text into (thought, answer); without it the whole
    text is the answer.
    """
    settings.validate()
    if model.config.text_config.vocab_size >= 2**24:  # the per-step host copy stores ids in float32
        raise ValueError("vocabularies of 2^24 tokens or more are not supported")
    seeding = seeding or Seeding(settings.max_new_tokens)
    options = prefill_options or PrefillOptions()
    reply = Reply(model, settings, codec, cancel or CancelToken(), with_pieces, split)
    if model.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(model.device)
    remember = options.reuse is not None or options.keep is not None
    prompt = Prompt.on_device(model, append_tokens(inputs, seeding.prompt_tail), fingerprint=remember)
    with torch.no_grad():
        ending = yield from write(reply, prompt, seeding, options)
    yield finish(reply, prompt, ending)


def write(
    reply: Reply, prompt: Prompt, seeding: Seeding, options: PrefillOptions
) -> Generator[Event, None, Ending]:
    """Prefill, then seed, refine and commit canvas after canvas; returns how the reply ended."""
    model, canvas = reply.model, reply.model.config.canvas_length
    if reply.cancel.cancelled:
        return Ending("cancelled", ())
    prefilled = yield from prefill(model, prompt, options, reply.cancel, reply.started)
    if prefilled is None:
        return Ending("cancelled", ())
    cache, reply.cached = prefilled
    sampling = Sampling.of(model, reply.settings)
    eos = torch.tensor(sorted(reply.codec.eos_ids), device=model.device)
    sequence = prompt.ids
    for block in range(math.ceil(seeding.max_new_tokens / canvas)):
        start, kept = seeding.canvas_start(block, canvas)
        seed = seed_canvas(
            start,
            kept,
            canvas,
            sampling.vocab_size,
            model.device,
            held=seeding.held,
            barred=seeding.barred,
        )
        decoder = DecoderInputs.of(model, cache, sequence, seed.canvas)
        draft = yield from refine(reply, decoder, sampling, seed, block)
        if draft is None:
            return Ending("cancelled", tuple(reply.committed) + reply.last_draft)
        steps = reply.steps_per_canvas[-1]
        sequence, committed = commit(sequence, draft, reply.codec, eos, block, steps)
        reply.committed.extend(committed.tokens)
        yield committed
        if committed.ended:
            return Ending("eos")
        if sequence.shape[1] >= prompt.length + seeding.max_new_tokens:
            return Ending("length")
        if reply.cancel.cancelled:
            return Ending("cancelled")
        cache = encode_canvas(model, sequence, cache, canvas)
    return Ending("length")


def refine(
    reply: Reply, decoder: DecoderInputs, sampling: Sampling, seed: CanvasSeed, block: int
) -> Generator[Step, None, torch.Tensor | None]:
    """Denoise one canvas, a Step event per step, until it is stable and confident or out of steps.

    Steps count down N..1 as in transformers (the temperature falls with them).
    Returns the last draft (the last step's logits die here, before the next
    canvas), or None when a cancel arrived (the reply's last Step then holds the
    draft).  Appends the canvas's step count when it completes.
    """
    settings = reply.settings
    stopper = ReportingStoppingCriteria(settings.stability_threshold, float(settings.confidence_threshold))
    state = Denoised.start(seed)
    for count, cur_step in enumerate(reversed(range(1, sampling.steps + 1)), start=1):
        state = denoise_step(reply.model, decoder, sampling, seed, state, cur_step)
        reply.forwards += 1
        finished = bool(stopper.check(state.draft, state.entropy).all())
        yield step_event(reply, state, block, count, finished)
        if finished:
            break
        if reply.cancel.cancelled:
            return None
    reply.steps_per_canvas.append(count)
    return state.draft


def step_event(reply: Reply, state: Denoised, block: int, step: int, finished: bool) -> Step:
    """The step as an event: only these 3 × 256 values cross to the host, in one copy."""
    # Ids below 2^24 are exact in float32 (checked in denoise).
    values = (state.draft, state.accepted, state.entropy)
    packed = torch.stack([v[0].float() for v in values]).tolist()
    draft = [int(v) for v in packed[0]]
    if reply.first_draft_at is None:
        reply.first_draft_at = time.perf_counter()
    reply.last_draft = tuple(draft)
    codec = reply.codec
    return Step(
        block=block,
        step=step,
        max_steps=reply.settings.max_denoising_steps,
        draft=tuple(draft),
        accepted=tuple(v > 0.5 for v in packed[1]),
        entropy=tuple(packed[2]),
        text=codec.decode(codec.until_eos(draft)),
        pieces=tuple(codec.pieces(draft)) if reply.with_pieces else (),
        finished=finished,
    )


def commit(
    sequence: torch.Tensor,
    draft: torch.Tensor,
    codec: TokenCodec,
    eos: torch.Tensor,
    block: int,
    steps: int,
) -> tuple[torch.Tensor, Canvas]:
    """Append the argmax canvas to the sequence; everything after its first EOS becomes pad."""
    sequence = torch.cat([sequence, draft], dim=-1)
    new_tokens = sequence[:, -draft.shape[1] :]
    is_eos = torch.isin(new_tokens, eos)
    ended = bool(is_eos.any())
    if ended and codec.pad_id is not None:
        eos_cumsum = is_eos.cumsum(dim=-1)
        pad_mask = (eos_cumsum > 0) & ~((eos_cumsum == 1) & is_eos)
        new_tokens[pad_mask] = codec.pad_id  # writes into ``sequence``
    ids = new_tokens[0].tolist()
    text = codec.decode(codec.until_eos(ids))
    return sequence, Canvas(block=block, tokens=tuple(ids), text=text, steps=steps, ended=ended)


def finish(reply: Reply, prompt: Prompt, ending: Ending) -> Done:
    """The one Done of a reply: its text split into thought and answer, and what it cost."""
    device = reply.model.device
    synchronize(device)
    seconds = time.perf_counter() - reply.started
    first_draft = reply.first_draft_at
    codec = reply.codec
    token_ids = list(ending.tokens if ending.tokens is not None else reply.committed)
    valid = [t for t in token_ids if t != codec.pad_id] if codec.pad_id is not None else token_ids
    text = codec.decode(codec.until_eos(token_ids))
    thought, answer = reply.split(text) if reply.split else ("", text)
    stats = Stats(
        prompt_tokens=prompt.length,
        cached_prompt_tokens=reply.cached,
        generated_tokens=len(valid),
        canvases=len(reply.steps_per_canvas),
        forwards=reply.forwards,
        max_denoising_steps=reply.settings.max_denoising_steps,
        steps_per_canvas=tuple(reply.steps_per_canvas),
        tokens_per_forward=(len(valid) / reply.forwards) if reply.forwards else 0.0,
        time_to_first_draft=(first_draft - reply.started) if first_draft is not None else 0.0,
        seconds=seconds,
        tokens_per_second=(len(valid) / seconds) if seconds > 0 else 0.0,
        peak_vram_bytes=torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
    )
    cancelled = ending.reason == "cancelled"
    return Done(prompt.token_ids, tuple(token_ids), text, thought, answer, stats, cancelled, ending.reason)

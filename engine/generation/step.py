"""One denoising step of one canvas, as a function from the canvas to what the step computed.

This is transformers' ``DiffusionGemmaGenerationMixin._denoising_step`` for one
sequence, with the same model call and the same random draws in the same order
(``torch.multinomial`` for the candidates, then ``torch.randint`` for the
re-noised positions), so a seeded reply is token for token ``model.generate``'s.
It returns a :class:`Denoised` value — draft, accepted mask, entropy, next canvas,
self-conditioning logits — and keeps no state: the loop passes it to the next step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from engine.generation.sampling import (
    LinearTemperatureScheduleLogitsProcessor,
    accept,
    noise,
    renoise,
    token_entropy,
)
from engine.settings import GenerationSettings


@dataclass(frozen=True)
class Sampling:
    """The per-reply constants of a step: temperature schedule, entropy bound, vocabulary."""

    temperature: LinearTemperatureScheduleLogitsProcessor
    entropy_bound: float
    vocab_size: int
    steps: int
    embeddings_dtype: torch.dtype

    @classmethod
    def of(cls, model: Any, settings: GenerationSettings) -> Sampling:
        steps = settings.max_denoising_steps
        return cls(
            LinearTemperatureScheduleLogitsProcessor(settings.t_min, settings.t_max, steps),
            float(settings.entropy_bound),
            model.config.text_config.vocab_size,
            steps,
            model.model.decoder.embed_tokens.weight.dtype,
        )


@dataclass(frozen=True)
class CanvasSeed:
    """A canvas's starting tokens and, for a rewrite, the positions held fixed (with their tokens)."""

    canvas: torch.Tensor  # (1, canvas) ids
    keep: torch.Tensor | None = None  # (1, canvas) bool: True where the token never changes
    kept_tokens: torch.Tensor | None = None  # the starting canvas, read where ``keep`` is True
    barred: torch.Tensor | None = None  # ids the free positions may not take (fill: EOS and pad)

    def bar(self, logits: torch.Tensor) -> torch.Tensor:
        """``logits`` with the barred ids impossible (-inf) at the positions not kept; in place.

        Kept positions are left as they are: their tokens are held anyway, and their
        logits are the self-conditioning the model reads there.
        """
        if self.barred is None:
            return logits
        free = torch.ones_like(self.canvas, dtype=torch.bool) if self.keep is None else ~self.keep
        columns = logits[..., self.barred]
        logits[..., self.barred] = columns.masked_fill(free.unsqueeze(-1), float("-inf"))
        return logits

    def hold(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens`` with the kept positions put back (unchanged when nothing is kept)."""
        return tokens if self.keep is None else torch.where(self.keep, self.kept_tokens, tokens)


def seed_canvas(
    start: tuple[int, ...],
    kept: tuple[bool, ...],
    length: int,
    vocab_size: int,
    device: torch.device,
    *,
    held: bool = True,
    barred: tuple[int, ...] = (),
) -> CanvasSeed:
    """Uniform noise, with ``start`` written over its first positions (where ``kept`` says, if given).

    The noise is drawn whatever the start, so the random draws match a fresh reply's.
    With ``kept`` only the kept positions start from the old text: the freed ones are
    written from noise, so a rewrite is new text, not the old tokens accepted again.
    ``held`` False (a fork) only starts the kept positions there: nothing is fixed.
    ``barred`` ids are made impossible at the positions not kept (every one if none is).
    """
    canvas = noise(length, vocab_size, device)
    bars = torch.tensor(barred, dtype=torch.long, device=device) if barred else None
    if not start:
        return CanvasSeed(canvas, barred=bars)
    old = torch.tensor(list(start), dtype=canvas.dtype, device=device)
    if not kept:
        canvas[0, : len(start)] = old
        return CanvasSeed(canvas, barred=bars)
    keep = torch.zeros((1, length), dtype=torch.bool, device=device)
    keep[0, : len(kept)] = torch.tensor(kept, dtype=torch.bool, device=device)
    canvas[0, : len(start)] = torch.where(keep[0, : len(start)], old, canvas[0, : len(start)])
    if not held:
        return CanvasSeed(canvas, barred=bars)
    return CanvasSeed(canvas, keep, canvas.clone(), bars)


@dataclass(frozen=True)
class DecoderInputs:
    """What every step of one canvas reads besides the canvas: the encoder's cache, masks, positions."""

    cache: Any
    mask: Any  # the decoder's attention mask mapping
    positions: torch.Tensor
    sequence: torch.Tensor  # the ids so far (the logits processor's signature takes them)

    @classmethod
    def of(cls, model: Any, cache: Any, sequence: torch.Tensor, canvas: torch.Tensor) -> DecoderInputs:
        length, width = sequence.shape[1], canvas.shape[1]
        device = canvas.device
        mask = model.model.decoder.create_diffusion_decoder_attention_mask(
            config=model.config,
            inputs_embeds=canvas.unsqueeze(-1),  # only its shape is read
            cache=cache,
            decoder_attention_mask=torch.ones((1, length + width), dtype=torch.bool, device=device),
        )
        positions = torch.arange(length, length + width, dtype=torch.int32, device=device).unsqueeze(0)
        return cls(cache, mask, positions, sequence)


class Conditioning:
    """The previous step's logits for the next forward, handed over once.

    They are a canvas × vocab tensor (134 MB on the real model) that the next step
    needs only for its model call: :meth:`take` moves it out, so it is freed
    before the sampler's peak even while the caller still holds the step that made it.
    """

    __slots__ = ("_logits",)

    def __init__(self, logits: torch.Tensor | None = None) -> None:
        self._logits = logits

    def take(self) -> torch.Tensor | None:
        logits, self._logits = self._logits, None
        return logits


@dataclass(frozen=True)
class Denoised:
    """What one step computed (tensors of shape (1, canvas), on the device)."""

    draft: torch.Tensor  # the argmax canvas: what the block commits if it stops here
    accepted: torch.Tensor  # bool: the positions accepted this step (the others were re-noised)
    entropy: torch.Tensor  # each position's entropy (nats) of the temperature-scaled distribution
    canvas: torch.Tensor  # the next step's input
    self_conditioning: Conditioning  # the temperature-scaled logits, for the next forward

    @classmethod
    def start(cls, seed: CanvasSeed) -> Denoised:
        """The state before the first step: the seeded canvas, no self-conditioning yet."""
        nothing = torch.zeros_like(seed.canvas, dtype=torch.bool)
        return cls(seed.canvas, nothing, nothing.float(), seed.canvas, Conditioning())


def denoise_step(
    model: Any, inputs: DecoderInputs, sampling: Sampling, seed: CanvasSeed, previous: Denoised, cur_step: int
) -> Denoised:
    """Run the decoder on ``previous.canvas``, sample, accept by entropy, re-noise the rest.

    ``cur_step`` counts down from ``sampling.steps`` to 1, as in transformers (the
    temperature falls with it).  Kept positions are certain (entropy 0, so they use
    none of the entropy bound) and exactly the seed's tokens in the draft and canvas.
    """
    step = torch.tensor(cur_step, device=previous.canvas.device, dtype=torch.int32)
    logits = model(
        decoder_input_ids=previous.canvas,
        self_conditioning_logits=previous.self_conditioning.take(),
        decoder_attention_mask=inputs.mask,
        cache=inputs.cache,
        decoder_position_ids=inputs.positions,
    ).logits
    processed = seed.bar(sampling.temperature(inputs.sequence, logits, cur_step=step))
    del logits
    probs = torch.softmax(processed, dim=-1, dtype=torch.float32)
    shape = previous.canvas.shape
    sampled = torch.multinomial(probs.view(-1, sampling.vocab_size), num_samples=1).view(shape)
    del probs
    draft = torch.argmax(processed, dim=-1)
    conditioning = processed.to(sampling.embeddings_dtype)
    # The entropy may overwrite the logits unless the self-conditioning input is them (fp32).
    entropy = token_entropy(processed, consume=conditioning is not processed)
    del processed
    if seed.keep is not None:
        entropy = entropy.masked_fill(seed.keep, 0.0)
    accepted = accept(entropy, sampling.entropy_bound)
    canvas = renoise(previous.canvas, sampled, accepted, sampling.vocab_size)
    return Denoised(seed.hold(draft), accepted, entropy, seed.hold(canvas), Conditioning(conditioning))

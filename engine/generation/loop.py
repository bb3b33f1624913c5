"""The block-diffusion loop: prefill, then canvas after canvas, step after step, as events.

It performs exactly the computation of ``DiffusionGemmaForBlockDiffusion.generate``
(transformers 5.23+) for one sequence — same model calls, same random-number
draws in the same order — so that after ``torch.manual_seed(S)`` it yields the
same token ids (a test holds it to that).  What it adds is what the product
needs: an event per denoising step carrying the draft, the accepted mask and
the per-position entropy (256 numbers each; the 256 × vocab logits never leave
the device), a cancel flag checked once per step, and timing statistics.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers.cache_utils import DynamicCache

from engine.cancel import CancelToken
from engine.events import Canvas, Done, Event, PromptEncoded, Stats, Step
from engine.generation.sampling import (
    EntropyBoundSamplerConfig,
    LinearTemperatureScheduleLogitsProcessor,
    ReportingSampler,
    ReportingStoppingCriteria,
    token_entropy,
)
from engine.settings import PREFILL_CHUNK, GenerationSettings

# Inputs consumed by the first (prefill) encoder call only, as in transformers' generate.
PREFILL_ONLY_INPUTS = ("pixel_values", "image_position_ids", "mm_token_type_ids")


@dataclass(frozen=True)
class PrefixCache:
    """The encoder's KV cache as it was right after a prompt was encoded, kept for the next turn.

    A follow-up prompt starts with the previous prompt's exact ids (the chat
    template only appends the answer and the new user turn), so those tokens
    need not be encoded again.  ``image_keys`` fingerprints the images inside
    the prefix: equal placeholder ids with different pixels must not match.

    No copy of the cache is made (a copy doubled the KV memory, engine.model.planner):
    the reply goes on growing the same cache, and :meth:`restore` takes it back
    to the prompt.  Full-attention layers are cut back to the prompt's length;
    sliding-window layers drop their oldest entries as the reply grows, so their
    state at the prompt's end (at most ``window - 1`` tokens each) is kept by
    reference — the cache's updates replace tensors rather than write into them.
    """

    ids: tuple[int, ...]
    image_keys: tuple[str, ...]
    cache: DynamicCache
    sliding: tuple[tuple[int, torch.Tensor, torch.Tensor, int], ...] = ()

    @classmethod
    def capture(cls, ids: tuple[int, ...], image_keys: tuple[str, ...], cache: DynamicCache) -> PrefixCache:
        sliding = tuple(
            (index, layer.keys, layer.values, layer.cumulative_length)
            for index, layer in enumerate(cache.layers)
            if layer.is_sliding and layer.is_initialized
        )
        return cls(ids, image_keys, cache, sliding)

    def covers(self, ids: tuple[int, ...], image_keys: tuple[str, ...]) -> bool:
        n = len(self.ids)
        return len(ids) > n and ids[:n] == self.ids and image_keys[: len(self.image_keys)] == self.image_keys

    def restore(self) -> DynamicCache:
        """The cache holding exactly the prompt again, whatever the reply after it appended."""
        length = len(self.ids)
        saved = {index: (keys, values, seen) for index, keys, values, seen in self.sliding}
        for index, layer in enumerate(self.cache.layers):
            if index in saved:
                layer.keys, layer.values, layer.cumulative_length = saved[index]
            elif layer.is_initialized:
                layer.keys = layer.keys[..., :length, :]
                layer.values = layer.values[..., :length, :]
        return self.cache


def image_fingerprints(inputs: dict[str, torch.Tensor]) -> tuple[str, ...]:
    """A digest of each image's pixels, in prompt order."""
    pixels = inputs.get("pixel_values")
    if pixels is None:
        return ()
    return tuple(hashlib.sha1(p.detach().cpu().contiguous().numpy().tobytes()).hexdigest() for p in pixels)


@dataclass(frozen=True)
class TokenCodec:
    """How token ids become text: the engine's view of the tokenizer."""

    decode: Callable[[list[int]], str]
    pieces: Callable[[list[int]], list[str]]
    eos_ids: frozenset[int]
    pad_id: int | None

    def until_eos(self, ids: list[int]) -> list[int]:
        """Ids up to (excluding) the first end-of-sequence token."""
        for i, token in enumerate(ids):
            if token in self.eos_ids:
                return ids[:i]
        return ids


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op off CUDA): timings must include it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def denoise(
    model: Any,
    inputs: dict[str, torch.Tensor],
    settings: GenerationSettings,
    codec: TokenCodec,
    *,
    cancel: CancelToken | None = None,
    with_pieces: bool = True,
    split: Callable[[str], tuple[str, str]] | None = None,
    reuse: PrefixCache | None = None,
    keep_prefix: Callable[[PrefixCache], None] | None = None,
    chunk: int = PREFILL_CHUNK,
    start_from: Sequence[int] = (),
    frozen: Sequence[bool] = (),
) -> Iterator[Event]:
    """Generate a reply for one prompt, yielding PromptEncoded, Step…, Canvas… and a final Done.

    ``inputs`` is the processor's output for one sequence (``input_ids`` plus
    optional image tensors).  ``split`` turns the final text into (thought,
    answer); without it the whole text is the answer.

    ``start_from`` revises a text in place: canvas k starts from its tokens
    k·256 … k·256+255 instead of uniform noise (positions past its end stay
    noise), so the first denoising step reads the old text and keeps what it is
    confident about.  The random draws are the same as without it.

    ``frozen`` (one flag per position of ``start_from``) keeps those tokens as they
    are through every step, as if accepted from the start (entropy 0, so they use
    none of the entropy bound); the other positions start from noise and are
    denoised reading the kept ones around them (a "rewrite this part").
    """
    cancel = cancel or CancelToken()
    settings.validate()
    device = model.device
    config = model.config
    canvas_length = config.canvas_length
    vocab_size = config.text_config.vocab_size
    if vocab_size >= 2**24:  # the packed per-step copy below stores ids in float32
        raise ValueError("vocabularies of 2^24 tokens or more are not supported")
    start = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    input_ids = inputs["input_ids"].to(device)
    if input_ids.dim() != 2 or input_ids.shape[0] != 1:
        raise ValueError("denoise() handles exactly one sequence")
    prefill_inputs = {k: inputs[k].to(device) for k in PREFILL_ONLY_INPUTS if k in inputs}
    if "pixel_values" in prefill_inputs:
        prefill_inputs["pixel_values"] = prefill_inputs["pixel_values"].to(model.dtype)
    prompt_len = input_ids.shape[1]
    max_new_canvases = math.ceil(settings.max_new_tokens / canvas_length)
    max_length = prompt_len + settings.max_new_tokens

    prompt_ids = tuple(inputs["input_ids"][0].tolist())
    image_keys = image_fingerprints(inputs) if (reuse or keep_prefix) else ()
    cached = 0
    if reuse is not None and reuse.covers(prompt_ids, image_keys):
        cache = reuse.restore()
        cached = len(reuse.ids)
    else:
        cache = DynamicCache(config=config.get_text_config(decoder=True))
    cur_len = prompt_len
    attention_mask = torch.ones((1, cur_len), dtype=torch.bool, device=device)
    decoder_attention_mask = torch.nn.functional.pad(attention_mask, (0, canvas_length), value=True)
    decoder_position_ids = torch.arange(
        cur_len, cur_len + canvas_length, dtype=torch.int32, device=device
    ).unsqueeze(0)

    steps = settings.max_denoising_steps
    sampler = ReportingSampler(
        EntropyBoundSamplerConfig(entropy_bound=float(settings.entropy_bound)),
        canvas_length,
        vocab_size,
        steps,
    )
    temperature = LinearTemperatureScheduleLogitsProcessor(settings.t_min, settings.t_max, steps)
    stopper = ReportingStoppingCriteria(settings.stability_threshold, float(settings.confidence_threshold))
    eos_tensor = torch.tensor(sorted(codec.eos_ids), device=device)
    embeddings_dtype = model.model.decoder.embed_tokens.weight.dtype

    committed: list[int] = []
    steps_per_canvas: list[int] = []
    forwards = 0
    first_draft_at: float | None = None
    stop_reason = "length"
    last_draft: list[int] = []

    def finish(incomplete: bool, reason: str, token_ids: list[int]) -> Done:
        synchronize(device)
        seconds = time.perf_counter() - start
        valid = [t for t in token_ids if t != codec.pad_id] if codec.pad_id is not None else token_ids
        text = codec.decode(codec.until_eos(token_ids))
        thought, answer = split(text) if split else ("", text)
        peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
        stats = Stats(
            prompt_tokens=prompt_len,
            cached_prompt_tokens=cached,
            generated_tokens=len(valid),
            canvases=len(steps_per_canvas),
            forwards=forwards,
            max_denoising_steps=steps,
            steps_per_canvas=tuple(steps_per_canvas),
            tokens_per_forward=(len(valid) / forwards) if forwards else 0.0,
            time_to_first_draft=(first_draft_at - start) if first_draft_at is not None else 0.0,
            seconds=seconds,
            tokens_per_second=(len(valid) / seconds) if seconds > 0 else 0.0,
            peak_vram_bytes=peak,
        )
        return Done(
            prompt_ids=prompt_ids,
            token_ids=tuple(token_ids),
            text=text,
            thought=thought,
            answer=answer,
            stats=stats,
            incomplete=incomplete,
            stop_reason=reason,
        )

    if cancel.cancelled:
        yield finish(True, "cancelled", [])
        return

    with torch.no_grad():
        for block in range(max_new_canvases):
            # a. Encode the prompt (first block, in chunks) or the last committed canvas into the KV cache.
            is_prefill = block == 0
            if is_prefill:
                media = prefill_inputs.get("mm_token_type_ids")
                for lo, hi in prefill_chunks(media, cached, prompt_len, chunk):
                    if lo > cached and cancel.cancelled:
                        yield finish(True, "cancelled", [])
                        return
                    extra = _chunk_inputs(prefill_inputs, lo, hi)
                    types = media[:, :hi] if media is not None else None  # absolute positions
                    mask = attention_mask[:, :hi]
                    cache = _encode(model, config, input_ids[:, lo:hi], mask, cache, extra, lo, types)
            else:
                lo = cur_len - canvas_length
                cache = _encode(model, config, input_ids[:, lo:], attention_mask, cache, {}, lo)
            if is_prefill:
                if keep_prefix is not None:
                    keep_prefix(PrefixCache.capture(prompt_ids, image_keys, cache))
                synchronize(device)
                yield PromptEncoded(
                    prompt_tokens=prompt_len, seconds=time.perf_counter() - start, cached_tokens=cached
                )

            # b. A fresh canvas of uniformly random tokens, or the text being revised where it reaches.
            canvas = sampler.initialize_canvas(batch_size=1, device=device)
            # With ``frozen`` only the kept positions start from the old text: the freed ones are
            # written from noise, so a rewrite is new text, not the old tokens accepted again.
            seeded = start_from[block * canvas_length : (block + 1) * canvas_length]
            kept = list(frozen[block * canvas_length : (block + 1) * canvas_length])[: len(seeded)]
            keep_mask = None
            if seeded:
                old = torch.tensor(list(seeded), dtype=canvas.dtype, device=device)
                if frozen:
                    keep_mask = torch.zeros((1, canvas_length), dtype=torch.bool, device=device)
                    keep_mask[0, : len(kept)] = torch.tensor(kept, dtype=torch.bool, device=device)
                    canvas[0, : len(seeded)] = torch.where(
                        keep_mask[0, : len(seeded)], old, canvas[0, : len(seeded)]
                    )
                    kept_tokens = canvas.clone()
                else:
                    canvas[0, : len(seeded)] = old
            argmax_canvas = canvas
            self_conditioning = None
            mask_mapping = model.model.decoder.create_diffusion_decoder_attention_mask(
                config=config,
                inputs_embeds=canvas.unsqueeze(-1),
                cache=cache,
                decoder_attention_mask=decoder_attention_mask,
            )
            stopper.reset()
            block_steps = 0
            cancelled = False

            # c. Denoising steps, counted down N..1 as transformers does (temperature falls with them).
            for cur_step in reversed(range(1, steps + 1)):
                forwards += 1
                block_steps += 1
                step_tensor = torch.tensor(cur_step, device=device, dtype=torch.int32)
                logits = model(
                    decoder_input_ids=canvas,
                    self_conditioning_logits=self_conditioning,
                    decoder_attention_mask=mask_mapping,
                    cache=cache,
                    decoder_position_ids=decoder_position_ids,
                ).logits
                processed = temperature(input_ids, logits, cur_step=step_tensor)
                del logits
                probs = torch.softmax(processed, dim=-1, dtype=torch.float32)
                sampled = torch.multinomial(probs.view(-1, vocab_size), num_samples=1).view(1, canvas_length)
                del probs
                argmax_canvas = torch.argmax(processed, dim=-1)
                self_conditioning = processed.to(embeddings_dtype)
                # The entropy may overwrite the logits unless the self-conditioning input is them (fp32).
                entropy = token_entropy(processed, consume=self_conditioning is not processed)
                del processed
                if keep_mask is not None:  # kept positions: certain, and exactly the old tokens
                    entropy = entropy.masked_fill(keep_mask, 0.0)
                    argmax_canvas = torch.where(keep_mask, kept_tokens, argmax_canvas)
                accepted_canvas = sampler.accept_with_entropy(canvas, sampled, entropy)
                canvas = sampler.renoise_canvas(accepted_canvas, cur_step)
                if keep_mask is not None:
                    canvas = torch.where(keep_mask, kept_tokens, canvas)
                finished = bool(stopper.check(argmax_canvas, entropy).all())

                # Only these 3 × 256 values cross to the host, in one copy (ids < 2^24 are exact in fp32).
                packed = torch.stack(
                    [argmax_canvas[0].float(), sampler.accepted_token_mask[0].float(), entropy[0].float()]
                ).tolist()
                draft = [int(v) for v in packed[0]]
                accepted = [v > 0.5 for v in packed[1]]
                entropies = packed[2]
                if first_draft_at is None:
                    first_draft_at = time.perf_counter()
                last_draft = draft
                visible = codec.until_eos(draft)
                yield Step(
                    block=block,
                    step=block_steps,
                    max_steps=steps,
                    draft=tuple(draft),
                    accepted=tuple(accepted),
                    entropy=tuple(entropies),
                    text=codec.decode(visible),
                    pieces=tuple(codec.pieces(draft)) if with_pieces else (),
                    finished=finished,
                )
                if finished:
                    break
                if cancel.cancelled:
                    cancelled = True
                    break

            if cancelled:
                yield finish(True, "cancelled", committed + last_draft)
                return

            # d. Commit the argmax canvas; everything after the first EOS becomes pad.
            steps_per_canvas.append(block_steps)
            input_ids = torch.cat([input_ids, argmax_canvas], dim=-1)
            new_tokens = input_ids[:, -canvas_length:]
            is_eos = torch.isin(new_tokens, eos_tensor)
            ended = bool(is_eos.any())
            if ended and codec.pad_id is not None:
                eos_cumsum = is_eos.cumsum(dim=-1)
                pad_mask = (eos_cumsum > 0) & ~((eos_cumsum == 1) & is_eos)
                new_tokens[pad_mask] = codec.pad_id
            canvas_ids = new_tokens[0].tolist()
            committed.extend(canvas_ids)
            yield Canvas(
                block=block,
                tokens=tuple(canvas_ids),
                text=codec.decode(codec.until_eos(canvas_ids)),
                steps=block_steps,
                ended=ended,
            )
            if ended:
                stop_reason = "eos"
                break
            if input_ids.shape[1] >= max_length:
                break
            if cancel.cancelled:
                yield finish(True, "cancelled", committed)
                return

            # e. Shift positions and masks to the next canvas.
            cur_len += canvas_length
            decoder_attention_mask = torch.nn.functional.pad(
                decoder_attention_mask, (0, canvas_length), value=True
            )
            attention_mask = torch.nn.functional.pad(attention_mask, (0, canvas_length), value=True)
            decoder_position_ids = torch.arange(
                cur_len, cur_len + canvas_length, dtype=torch.int32, device=device
            ).unsqueeze(0)

    yield finish(False, stop_reason, committed)


def prefill_chunks(
    mm_token_type_ids: torch.Tensor | None, start: int, end: int, chunk: int
) -> list[tuple[int, int]]:
    """Split prompt positions [start, end) into encoder calls of about ``chunk`` tokens.

    A boundary never falls inside an image's soft tokens: they attend to each
    other bidirectionally and are embedded from their pixels in one piece, so a
    chunk that would cut one is extended to the image's end.
    """
    if end <= start:
        return []
    media = mm_token_type_ids[0].tolist() if mm_token_type_ids is not None else None
    bounds: list[tuple[int, int]] = []
    lo = start
    while lo < end:
        hi = min(end, lo + max(1, chunk))
        if media is not None:
            while hi < end and media[hi - 1] != 0 and media[hi] != 0:
                hi += 1
        bounds.append((lo, hi))
        lo = hi
    return bounds


def _image_spans_before(media: torch.Tensor | None, position: int) -> int:
    """How many images start before ``position`` (a span of non-zero media token types is one image)."""
    if media is None or position <= 0:
        return 0
    types = media[0, :position] != 0
    starts = types.clone()
    starts[1:] &= ~types[:-1]
    return int(starts.sum())


def _chunk_inputs(prefill: dict[str, torch.Tensor], start: int, end: int) -> dict[str, torch.Tensor]:
    """The prefill-only inputs of prompt positions [start, end): their token types and their images.

    The whole prompt in one call gets the inputs untouched, exactly as
    transformers' generate passes them.
    """
    media = prefill.get("mm_token_type_ids")
    if start == 0 and (media is None or end == media.shape[1]):
        return dict(prefill)
    out = dict(prefill)
    if media is not None:
        out["mm_token_type_ids"] = media[:, start:end]
    first, last = _image_spans_before(media, start), _image_spans_before(media, end)
    for key in ("pixel_values", "image_position_ids"):
        if key in out:
            out[key] = out[key][first:last]
            if out[key].shape[0] == 0:
                del out[key]
    return out


def _encode(
    model: Any,
    config: Any,
    ids: torch.Tensor,
    attention_mask: torch.Tensor,
    cache: DynamicCache,
    extra: dict[str, torch.Tensor],
    first_position: int,
    mask_types: torch.Tensor | None = None,
) -> DynamicCache:
    """Run the encoder over ``ids`` (which follow what ``cache`` holds) and return the grown cache.

    ``mask_types`` are the media token types of the whole sequence so far: the
    bidirectional image mask looks them up by absolute position, cached ones included.
    """
    ids = ids.clone(memory_format=torch.contiguous_format)
    length = ids.shape[1]
    device = ids.device
    positions = torch.arange(first_position, first_position + length, dtype=torch.int32, device=device)
    positions = positions.unsqueeze(0)
    encoder = model.model.encoder
    mask = encoder.create_masks_for_generate(
        config=config,
        inputs_embeds=torch.empty((1, length, 0), dtype=model.dtype, device=device),
        attention_mask=attention_mask,
        cache=cache,
        position_ids=positions,
        mm_token_type_ids=mask_types,
    )
    return encoder(input_ids=ids, attention_mask=mask, cache=cache, position_ids=positions, **extra).cache

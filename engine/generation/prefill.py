"""Reading the prompt: encode it into the encoder's KV cache, a chunk at a time, reusing last turn's.

The causal encoder reads the prompt once (the "prefill"); the decoder then
refines each canvas reading that cache.  A long prompt is encoded in chunks of
about ``chunk`` tokens: it bounds the transient memory (engine.model.planner),
lets a Stop land between chunks, and gives the GUI something to show while a
95 K-token prompt is read (:class:`~engine.events.PromptProgress`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers.cache_utils import DynamicCache

from engine.cancel import CancelToken
from engine.events import PromptEncoded, PromptProgress
from engine.generation.kv_cache import new_cache
from engine.settings import PREFILL_CHUNK

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


@dataclass(frozen=True)
class PrefillOptions:
    """How to read a prompt: chunk size, and the previous turn's cache to start from and keep."""

    chunk: int = PREFILL_CHUNK
    reuse: PrefixCache | None = None
    keep: Callable[[PrefixCache], None] | None = None  # receives this prompt's cache, for the next turn


@dataclass(frozen=True)
class Prompt:
    """One sequence's prompt on the device: ids, prefill-only inputs, and what identifies it."""

    ids: torch.Tensor  # (1, length)
    extras: dict[str, torch.Tensor]  # PREFILL_ONLY_INPUTS present in the processor's output
    token_ids: tuple[int, ...]
    image_keys: tuple[str, ...]

    @classmethod
    def on_device(cls, model: Any, inputs: dict[str, torch.Tensor], fingerprint: bool) -> Prompt:
        ids = inputs["input_ids"]
        if ids.dim() != 2 or ids.shape[0] != 1:
            raise ValueError("the loop handles exactly one sequence")
        extras = {k: inputs[k].to(model.device) for k in PREFILL_ONLY_INPUTS if k in inputs}
        if "pixel_values" in extras:
            extras["pixel_values"] = extras["pixel_values"].to(model.dtype)
        keys = image_fingerprints(inputs) if fingerprint else ()
        return cls(ids.to(model.device), extras, tuple(ids[0].tolist()), keys)

    @property
    def length(self) -> int:
        return self.ids.shape[1]


def append_tokens(tensors: dict[str, torch.Tensor], ids: Sequence[int]) -> dict[str, torch.Tensor]:
    """The prompt's tensors with ``ids`` (plain text tokens) after it: ids, mask and token types grown."""
    if not ids:
        return tensors
    extra = torch.tensor([list(ids)], dtype=tensors["input_ids"].dtype)
    grown = dict(tensors)
    grown["input_ids"] = torch.cat([tensors["input_ids"], extra], dim=-1)
    for key, fill in (("attention_mask", 1), ("mm_token_type_ids", 0), ("token_type_ids", 0)):
        if key in tensors:
            pad = torch.full((1, len(ids)), fill, dtype=tensors[key].dtype)
            grown[key] = torch.cat([tensors[key], pad], dim=-1)
    return grown


def image_fingerprints(inputs: dict[str, torch.Tensor]) -> tuple[str, ...]:
    """A digest of each image's pixels, in prompt order."""
    pixels = inputs.get("pixel_values")
    if pixels is None:
        return ()
    return tuple(hashlib.sha1(p.detach().cpu().contiguous().numpy().tobytes()).hexdigest() for p in pixels)


def starting_cache(model: Any, prompt: Prompt, options: PrefillOptions) -> tuple[DynamicCache, int]:
    """The previous turn's cache when it covers the start of this prompt, else an empty one; tokens cached."""
    reuse = options.reuse
    if reuse is not None and reuse.covers(prompt.token_ids, prompt.image_keys):
        return reuse.restore(), len(reuse.ids)
    return new_cache(model.config.get_text_config(decoder=True)), 0


def prefill(
    model: Any, prompt: Prompt, options: PrefillOptions, cancel: CancelToken, started: float
) -> Generator[PromptProgress | PromptEncoded, None, tuple[DynamicCache, int] | None]:
    """Encode the prompt; yield PromptProgress per chunk (when several) and PromptEncoded.

    Returns the grown cache and how many tokens came from the previous turn, or
    None when a cancel landed between chunks.  ``started`` is when the reply began.
    """
    cache, cached = starting_cache(model, prompt, options)
    media = prompt.extras.get("mm_token_type_ids")
    chunks = prefill_chunks(media, cached, prompt.length, options.chunk)
    reading = time.perf_counter()
    for lo, hi in chunks:
        if lo > cached and cancel.cancelled:
            return None
        types = media[:, :hi] if media is not None else None  # absolute positions
        extra = _chunk_inputs(prompt.extras, lo, hi)
        cache = _encode(model, prompt.ids[:, lo:hi], cache, extra, lo, types)
        if len(chunks) > 1:
            yield _progress(model.device, reading, cached, hi, prompt.length)
    if options.keep is not None:
        options.keep(PrefixCache.capture(prompt.token_ids, prompt.image_keys, cache))
    synchronize(model.device)
    yield PromptEncoded(prompt.length, seconds=time.perf_counter() - started, cached_tokens=cached)
    return cache, cached


def _progress(device: torch.device, reading: float, cached: int, done: int, total: int) -> PromptProgress:
    """How far the reading is, with the time left at the rate of the chunks encoded so far."""
    synchronize(device)  # the time must include the chunk, and a Stop must not queue behind others
    seconds = time.perf_counter() - reading
    rate = (done - cached) / seconds if seconds > 0 else 0.0
    left = (total - done) / rate if rate > 0 else 0.0
    return PromptProgress(tokens_done=done, tokens_total=total, seconds=seconds, seconds_left=left)


def encode_canvas(model: Any, ids: torch.Tensor, cache: DynamicCache, canvas: int) -> DynamicCache:
    """Encode the last committed canvas (the last ``canvas`` of ``ids``) into the cache."""
    first = ids.shape[1] - canvas
    return _encode(model, ids[:, first:], cache, {}, first)


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
    ids: torch.Tensor,
    cache: DynamicCache,
    extra: dict[str, torch.Tensor],
    first_position: int,
    mask_types: torch.Tensor | None = None,
) -> DynamicCache:
    """Run the encoder over ``ids`` (which follow what ``cache`` holds) and return the grown cache.

    Every position attends to every earlier one (one sequence, no padding).
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
        config=model.config,
        inputs_embeds=torch.empty((1, length, 0), dtype=model.dtype, device=device),
        attention_mask=torch.ones((1, first_position + length), dtype=torch.bool, device=device),
        cache=cache,
        position_ids=positions,
        mm_token_type_ids=mask_types,
    )
    return encoder(input_ids=ids, attention_mask=mask, cache=cache, position_ids=positions, **extra).cache


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op off CUDA): timings must include it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)

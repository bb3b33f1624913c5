"""A compact, exact encoding of one canvas's refinement history (every denoising Step).

A reply of 8 canvases × 48 steps is 384 frames of 256 draft ids, 256
accepted flags and 256 entropies: ~0.9 MB as float32 + int32, several MB as
JSON.  Stored here, per block, as one zlib-compressed record:

* header: format version, canvas length L, frame count, max_steps, step numbers
  (deltas; consecutive steps cost one byte each);
* drafts: the first frame whole (ids bit-packed at the width of the largest
  id); every later frame as the positions that changed since the previous
  frame (gap-coded varints) plus their new ids (varints), or whole again
  when more than half changed (a random-weight model changes every position
  every step; a trained one settles within a few steps);
* accepted: one bit per position, XOR-ed with the previous frame;
* entropy: one byte per position (see :func:`quantize_entropy`).  Plain
  codes compressed better than differences between frames on both the tiny
  model's and the synthetic converging data (settled positions sit at code 0).

Draft ids and accepted flags come back exactly; entropies come back as the
centre of their quantisation bin.

Entropy quantisation: code 0 means "below 1e-4 nats" (decoded as 0.0, an
absolute error under 1e-4); codes 1…255 split [1e-4, 12.5] nats into 255
equal steps of log(entropy) (Δ = ln(125000)/255 ≈ 0.0460) and decode to the
bin's geometric centre, so the relative error is at most exp(Δ/2) − 1 ≈ 2.33 %.
12.5 nats covers the largest possible entropy of the 262,144-token vocabulary
(ln 262144 ≈ 12.48); larger values (and NaN) are stored as 255.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Sequence

from engine.events import Step

FORMAT_VERSION = 1
ENTROPY_FLOOR = 1e-4
ENTROPY_CEIL = 12.5
_LOG_FLOOR = math.log(ENTROPY_FLOOR)
ENTROPY_LOG_STEP = (math.log(ENTROPY_CEIL) - _LOG_FLOOR) / 255
ENTROPY_MAX_RELATIVE_ERROR = math.exp(ENTROPY_LOG_STEP / 2) - 1
_DEQUANTIZED: tuple[float, ...] = (
    0.0,
    *(math.exp(_LOG_FLOOR + (q - 0.5) * ENTROPY_LOG_STEP) for q in range(1, 256)),
)


class HistoryFormatError(ValueError):
    """A stored history record cannot be decoded (damaged, or written by a newer format)."""


def quantize_entropy(value: float) -> int:
    """Entropy (nats) to one byte; see the module docstring for the bins and error bound."""
    if value != value or value >= ENTROPY_CEIL:  # NaN or too large
        return 255
    if value < ENTROPY_FLOOR:
        return 0
    return 1 + min(254, int((math.log(value) - _LOG_FLOOR) / ENTROPY_LOG_STEP))


def dequantize_entropy(code: int) -> float:
    return _DEQUANTIZED[code]


# -- varints ---------------------------------------------------------------------------------------


def _put_varint(out: bytearray, value: int) -> None:
    if value < 0:
        raise ValueError("varints are unsigned")
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def varint(self) -> int:
        data = self.data
        result = shift = 0
        while True:
            if self.pos >= len(data):
                raise HistoryFormatError("history record ends early")
            byte = data[self.pos]
            self.pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7

    def packed(self, count: int) -> list[int]:
        width = self.take(1)[0]
        value = int.from_bytes(self.take((width * count + 7) // 8), "little")
        mask = (1 << width) - 1
        return [(value >> (i * width)) & mask for i in range(count)]

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise HistoryFormatError("history record ends early")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


def _put_packed(out: bytearray, ids: Sequence[int]) -> None:
    """Ids at a fixed bit width (one width byte, then little-endian bits): 18 bits for Gemma's vocab."""
    width = max(ids, default=0).bit_length()
    value = 0
    for i, token in enumerate(ids):
        if token < 0:
            raise ValueError("token ids are never negative")
        value |= token << (i * width)
    out.append(width)
    out += value.to_bytes((width * len(ids) + 7) // 8, "little")


def _pack_bits(flags: Sequence[bool]) -> int:
    value = 0
    for i, flag in enumerate(flags):
        if flag:
            value |= 1 << i
    return value


# -- blocks ----------------------------------------------------------------------------------------


def encode_block(frames: Sequence[Step], *, level: int = 9) -> bytes:
    """Encode the steps of one block (in step order, equal lengths) as one compressed record.

    Only what the model computed is kept (ids, accepted mask, entropy): a step's
    text and token pieces depend on the tokenizer and are decoded again on replay.
    """
    if not frames:
        raise ValueError("a history record needs at least one frame")
    length = len(frames[0].draft)
    block = frames[0].block
    for frame in frames:
        if frame.block != block:
            raise ValueError("all frames of a record must belong to one block")
        if not len(frame.draft) == len(frame.accepted) == len(frame.entropy) == length:
            raise ValueError("draft, accepted and entropy must all have the canvas length")

    out = bytearray([FORMAT_VERSION])
    _put_varint(out, length)
    _put_varint(out, len(frames))
    _put_varint(out, frames[0].max_steps)
    _put_varint(out, frames[0].step)
    for prev, frame in itertools.pairwise(frames):
        if frame.step <= prev.step:
            raise ValueError("steps must increase within a block")
        _put_varint(out, frame.step - prev.step)

    previous: tuple[int, ...] | None = None
    for frame in frames:
        draft = frame.draft
        if previous is None:
            _put_packed(out, draft)
        else:
            changed = [i for i in range(length) if draft[i] != previous[i]]
            _put_varint(out, len(changed))
            if 2 * len(changed) > length:
                _put_packed(out, draft)
            else:
                last = -1
                for i in changed:
                    _put_varint(out, i - last - 1)
                    last = i
                for i in changed:
                    _put_varint(out, draft[i])
        previous = draft

    mask_bytes = (length + 7) // 8
    prev_bits = 0
    for frame in frames:
        bits = _pack_bits(frame.accepted)
        out += (bits ^ prev_bits).to_bytes(mask_bytes, "little")
        prev_bits = bits

    for frame in frames:
        out += bytes(quantize_entropy(e) for e in frame.entropy)
    return zlib.compress(bytes(out), level)


def decode_block(data: bytes, block: int) -> list[Step]:
    """The steps of one record, exactly as :func:`encode_block` stored them, without text.

    The engine's ``decode_steps`` gives them their text and pieces with the loaded tokenizer.
    """
    try:
        raw = zlib.decompress(data)
    except zlib.error as error:
        raise HistoryFormatError(f"history record is damaged ({error})") from None
    reader = _Reader(raw)
    version = reader.take(1)[0]
    if version != FORMAT_VERSION:
        raise HistoryFormatError(f"history format {version} is not supported")
    length = reader.varint()
    count = reader.varint()
    max_steps = reader.varint()
    steps = [reader.varint()]
    for _ in range(count - 1):
        steps.append(steps[-1] + reader.varint())

    drafts: list[tuple[int, ...]] = []
    current: list[int] = []
    for k in range(count):
        if k == 0:
            current = reader.packed(length)
        else:
            changed = reader.varint()
            if 2 * changed > length:
                current = reader.packed(length)
            else:
                positions = []
                last = -1
                for _ in range(changed):
                    last += reader.varint() + 1
                    positions.append(last)
                for i in positions:
                    if i >= length:
                        raise HistoryFormatError("history record has a position past the canvas")
                    current[i] = reader.varint()
        drafts.append(tuple(current))

    mask_bytes = (length + 7) // 8
    accepted: list[tuple[bool, ...]] = []
    bits = 0
    for _ in range(count):
        bits ^= int.from_bytes(reader.take(mask_bytes), "little")
        accepted.append(tuple(bool((bits >> i) & 1) for i in range(length)))

    entropies = [tuple(_DEQUANTIZED[c] for c in reader.take(length)) for _ in range(count)]
    if reader.pos != len(raw):
        raise HistoryFormatError("history record has trailing data")

    return [
        Step(block, steps[k], max_steps, drafts[k], accepted[k], entropies[k], text="") for k in range(count)
    ]


# -- committed canvases ----------------------------------------------------------------------------


def encode_tokens(tokens: Sequence[int]) -> bytes:
    """A committed canvas's ids as zlib-compressed varints (the pad run after EOS costs ~nothing)."""
    out = bytearray()
    for token in tokens:
        _put_varint(out, token)
    return zlib.compress(bytes(out), 6)


def decode_tokens(data: bytes) -> tuple[int, ...]:
    reader = _Reader(zlib.decompress(data))
    tokens = []
    while reader.pos < len(reader.data):
        tokens.append(reader.varint())
    return tuple(tokens)

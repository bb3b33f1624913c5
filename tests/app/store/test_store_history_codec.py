"""The refinement-history codec: exact drafts and masks, bounded entropy error, compact records."""

from __future__ import annotations

import math
import random

import pytest
from history_samples import converging_block

from app.store.history_codec import (
    ENTROPY_CEIL,
    ENTROPY_FLOOR,
    ENTROPY_MAX_RELATIVE_ERROR,
    HistoryFormatError,
    decode_block,
    decode_tokens,
    dequantize_entropy,
    encode_block,
    encode_tokens,
    quantize_entropy,
)
from engine.events import Step


def random_frames(seed: int, *, length: int, count: int, vocab: int, change: float) -> list[Step]:
    rng = random.Random(seed)
    draft = [rng.randrange(vocab) for _ in range(length)]
    frames = []
    for k in range(count):
        draft = [rng.randrange(vocab) if rng.random() < change else t for t in draft]
        frames.append(
            Step(
                block=3,
                step=k + 1,
                max_steps=48,
                draft=tuple(draft),
                accepted=tuple(rng.random() < 0.3 for _ in range(length)),
                entropy=tuple(rng.choice([0.0, 1e-7, rng.uniform(0, 12.4)]) for _ in range(length)),
                text="",  # the store keeps no text: replay decodes it with the loaded tokenizer
            )
        )
    return frames


@pytest.mark.parametrize(
    ("length", "count", "vocab", "change"),
    [(256, 16, 262_144, 0.1), (256, 48, 1024, 1.0), (13, 5, 2, 0.5), (1, 1, 1, 0.0), (256, 3, 262_144, 0.0)],
)
def test_round_trip_is_exact_for_ids_and_masks_and_bounded_for_entropy(length, count, vocab, change):
    frames = random_frames(length + count, length=length, count=count, vocab=vocab, change=change)
    back = decode_block(encode_block(frames), 3)
    assert [f.draft for f in back] == [f.draft for f in frames]
    assert [f.accepted for f in back] == [f.accepted for f in frames]
    assert [(f.block, f.step, f.max_steps) for f in back] == [(3, f.step, 48) for f in frames]
    for stored, original in zip(back, frames, strict=True):
        for got, want in zip(stored.entropy, original.entropy, strict=True):
            if want < ENTROPY_FLOOR:
                assert got == 0.0
            else:
                assert abs(got - want) <= ENTROPY_MAX_RELATIVE_ERROR * want + 1e-12


def test_decoding_is_deterministic_and_re_encoding_is_stable():
    frames = random_frames(1, length=64, count=6, vocab=5000, change=0.3)
    data = encode_block(frames)
    once = decode_block(data, 3)
    assert decode_block(encode_block(once), 3) == once


def test_quantisation_bins_are_monotonic_and_documented_bounds_hold():
    assert ENTROPY_MAX_RELATIVE_ERROR < 0.024
    assert quantize_entropy(0.0) == 0
    assert quantize_entropy(ENTROPY_FLOOR / 2) == 0
    assert quantize_entropy(ENTROPY_FLOOR) == 1
    top = math.log(262_144)  # the real vocabulary's largest possible entropy is inside the range
    assert abs(dequantize_entropy(quantize_entropy(top)) - top) <= ENTROPY_MAX_RELATIVE_ERROR * top
    assert quantize_entropy(ENTROPY_CEIL) == 255
    assert quantize_entropy(float("nan")) == 255
    codes = [quantize_entropy(10 ** (e / 100)) for e in range(-400, 110)]
    assert codes == sorted(codes)
    for code in range(256):
        assert quantize_entropy(dequantize_entropy(code)) == code  # each code decodes inside its own bin


def test_synthetic_converging_block_is_compact():
    frames = converging_block(0)
    data = encode_block(frames)
    raw = len(frames) * 256 * (4 + 1 + 4)  # int32 id + bool + float32 entropy
    assert len(data) < 8_000
    assert len(data) < raw / 6


def test_damaged_or_unknown_records_raise_a_format_error():
    data = encode_block(random_frames(2, length=8, count=2, vocab=100, change=0.5))
    with pytest.raises(HistoryFormatError):
        decode_block(data[:-5], 0)
    import zlib

    raw = bytearray(zlib.decompress(data))
    raw[0] = 99
    with pytest.raises(HistoryFormatError, match="format 99"):
        decode_block(zlib.compress(bytes(raw)), 0)
    with pytest.raises(HistoryFormatError):
        decode_block(zlib.compress(bytes(raw[:20])), 0)


def test_encoder_rejects_inconsistent_frames():
    a, b = random_frames(3, length=8, count=2, vocab=100, change=0.5)
    with pytest.raises(ValueError, match="increase"):
        encode_block([b, a])
    with pytest.raises(ValueError, match="length"):
        encode_block([Step(0, 1, 48, (1, 2), (True,), (0.1, 0.2), "")])


def test_token_codec_round_trips():
    tokens = (5, 262_143, 0, 0, 0, 1) + (0,) * 250
    assert decode_tokens(encode_tokens(tokens)) == tokens
    assert len(encode_tokens(tokens)) < 40

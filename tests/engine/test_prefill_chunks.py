"""Chunked prefill: long prompts are encoded a chunk at a time, with the same result as one call."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from media_files import write_png

from engine.cancel import CancelToken
from engine.engine import Engine
from engine.events import Done, PromptEncoded, PromptProgress, Step
from engine.generation import prefill as denoise_module
from engine.generation.prefill import _image_spans_before, prefill_chunks
from engine.inputs.conversation import Attachment, Conversation, PromptOptions, Turn

TEXT = Conversation(turns=(Turn("user", "Tell me about rivers and the sea. " * 12),), system="Be brief.")


@pytest.fixture
def engine(tiny_engine):
    fresh = Engine(tiny_engine.model, tiny_engine.processor, tiny_engine.info)
    fresh.reuse_prompt_cache = False
    return fresh


def run(engine: Engine, conversation: Conversation, chunk: int, seed: int = 3, cancel=None):
    engine.prefill_chunk = chunk
    settings = engine.default_settings.with_changes(max_new_tokens=512, max_denoising_steps=4, seed=seed)
    return list(engine.generate(conversation, settings, PromptOptions(), cancel, with_pieces=False))


def test_chunks_cover_the_range_and_never_cut_an_image():
    assert prefill_chunks(None, 0, 10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert prefill_chunks(None, 3, 10, 100) == [(3, 10)]
    assert prefill_chunks(None, 5, 5, 4) == []
    media = torch.tensor([[0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0]])
    chunks = prefill_chunks(media, 0, 11, 3)
    assert chunks[0][0] == 0 and chunks[-1][1] == 11
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))
    for _, hi in chunks[:-1]:
        assert not (media[0, hi - 1] != 0 and media[0, hi] != 0), f"a chunk ends inside an image at {hi}"
    assert _image_spans_before(media, 11) == 2 and _image_spans_before(media, 3) == 1
    assert _image_spans_before(media, 2) == 0


@pytest.mark.parametrize("chunk", [7, 32])
def test_a_chunked_prompt_writes_the_same_reply_as_one_encoder_call(engine, chunk):
    whole = run(engine, TEXT, chunk=100_000)
    chunked = run(engine, TEXT, chunk=chunk)
    prompt = next(e for e in whole if isinstance(e, PromptEncoded)).prompt_tokens
    assert prompt > 4 * chunk, "the prompt really spans several chunks"
    assert chunked[-1].token_ids == whole[-1].token_ids
    assert [s.draft for s in chunked if isinstance(s, Step)] == [
        s.draft for s in whole if isinstance(s, Step)
    ]


def test_chunks_with_images_give_each_call_its_own_images(engine, tmp_path: Path):
    first, second = write_png(tmp_path / "a.png", size=(64, 48)), write_png(tmp_path / "b.png", size=(48, 64))
    images = (Attachment(first, "image"), Attachment(second, "image"))
    conversation = Conversation(turns=(Turn("user", "Compare the two pictures, please. " * 3, images),))
    tensors = engine.prepare(conversation, engine.default_settings, PromptOptions()).tensors
    media = tensors["mm_token_type_ids"]
    assert _image_spans_before(media, media.shape[1]) == tensors["pixel_values"].shape[0] == 2

    calls: list[int] = []
    handle = engine.model.model.encoder.vision_tower.register_forward_hook(
        lambda _m, args, _out: calls.append(int(args[0].shape[0]) if args else 0)
    )
    try:
        whole = run(engine, conversation, chunk=100_000)
        calls.clear()
        chunked = run(engine, conversation, chunk=16)
    finally:
        handle.remove()
    assert chunked[-1].token_ids == whole[-1].token_ids
    assert len(calls) == 2, "each image went through the vision tower once, with its own chunk"


def test_a_cancel_during_a_long_prefill_lands_between_chunks(engine, monkeypatch):
    cancel = CancelToken()
    calls = []
    original = denoise_module._encode

    def encode(*args, **kwargs):
        calls.append(1)
        cancel.cancel()  # the user pressed Stop while the first chunk was encoded
        return original(*args, **kwargs)

    monkeypatch.setattr(denoise_module, "_encode", encode)
    events = run(engine, TEXT, chunk=8, cancel=cancel)
    assert len(calls) == 1, "no chunk after the cancel"
    assert isinstance(events[-1], Done) and events[-1].incomplete and events[-1].token_ids == ()
    assert not any(isinstance(e, Step) for e in events)


def test_a_prompt_read_in_chunks_reports_each_chunk_before_it_is_encoded(engine):
    events = run(engine, TEXT, chunk=32)
    encoded = next(i for i, e in enumerate(events) if isinstance(e, PromptEncoded))
    total = events[encoded].prompt_tokens
    progress = events[:encoded]
    assert all(isinstance(e, PromptProgress) for e in progress)
    assert [p.tokens_done for p in progress] == [hi for _, hi in prefill_chunks(None, 0, total, 32)]
    assert all(p.tokens_total == total and p.seconds_left >= 0 for p in progress)
    assert [p.seconds for p in progress] == sorted(p.seconds for p in progress)
    assert progress[-1].seconds_left == 0
    assert not any(isinstance(e, PromptProgress) for e in events[encoded:])
    whole = run(engine, TEXT, chunk=100_000)
    assert not any(isinstance(e, PromptProgress) for e in whole), "one encoder call: nothing to report"
    assert whole[-1].token_ids == events[-1].token_ids


def test_stop_after_the_first_progress_event_ends_the_reply_before_any_step(engine):
    cancel = CancelToken()
    engine.prefill_chunk = 16
    settings = engine.default_settings.with_changes(max_new_tokens=256, max_denoising_steps=4, seed=1)
    events = []
    for event in engine.generate(TEXT, settings, PromptOptions(), cancel, with_pieces=False):
        events.append(event)
        if isinstance(event, PromptProgress):
            cancel.cancel()  # the user pressed Stop on "Reading the prompt · 16 / … tokens"
    assert [type(e) for e in events] == [PromptProgress, Done]
    done = events[-1]
    assert done.incomplete and done.stop_reason == "cancelled" and done.token_ids == ()
    assert events[0].tokens_done == 16 < events[0].tokens_total

"""A follow-up turn reuses the previous prompt's encoder cache and matches a full re-encode."""

from __future__ import annotations

import pytest

from engine.engine import Engine
from engine.events import Done, PromptEncoded
from engine.inputs.conversation import Conversation, Turn


@pytest.fixture
def engine(tiny_engine):
    fresh = Engine(tiny_engine.model, tiny_engine.processor, tiny_engine.info)
    yield fresh
    fresh.forget_prompt_cache()


def _reply(engine: Engine, conversation: Conversation, settings) -> tuple[PromptEncoded, Done]:
    events = list(engine.generate(conversation, settings, with_pieces=False))
    return next(e for e in events if isinstance(e, PromptEncoded)), events[-1]


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_follow_up_reuses_the_cache_and_matches_a_full_re_encode(engine, seed):
    settings = engine.default_settings.with_changes(max_new_tokens=512, max_denoising_steps=6, seed=seed)
    # Longer than the tiny model's 128-token sliding window, so the cached prefix holds evicted windows.
    first = Conversation(turns=(Turn("user", "Tell me about gardens. " * 20),), system="Be brief.")
    encoded, done = _reply(engine, first, settings)
    assert encoded.cached_tokens == 0

    follow_up = first.with_turn(Turn("assistant", done.answer)).with_turn(Turn("user", "And then?"))
    encoded_again, reused = _reply(engine, follow_up, settings)
    assert encoded_again.cached_tokens == encoded.prompt_tokens > 128
    assert reused.stats.cached_prompt_tokens == encoded.prompt_tokens

    engine.forget_prompt_cache()
    engine.reuse_prompt_cache = False
    encoded_full, full = _reply(engine, follow_up, settings)
    assert encoded_full.cached_tokens == 0
    assert reused.token_ids == full.token_ids


def test_a_different_conversation_does_not_reuse(engine):
    settings = engine.default_settings.with_changes(max_new_tokens=256, max_denoising_steps=2, seed=1)
    _reply(engine, Conversation(turns=(Turn("user", "First chat"),)), settings)
    encoded, _ = _reply(engine, Conversation(turns=(Turn("user", "Another chat entirely"),)), settings)
    assert encoded.cached_tokens == 0
    # Editing the system prompt changes the prefix too.
    _reply(engine, Conversation(turns=(Turn("user", "Hi"),), system="A"), settings)
    encoded, _ = _reply(
        engine,
        Conversation(turns=(Turn("user", "Hi"), Turn("assistant", "x"), Turn("user", "y")), system="B"),
        settings,
    )
    assert encoded.cached_tokens == 0


def test_a_follow_up_with_an_image_after_a_cached_prefix_matches_a_full_re_encode(engine, tmp_path):
    """The image's bidirectional attention mask is looked up by absolute position, cached tokens included."""
    from media_files import write_png

    from engine.inputs.conversation import Attachment

    settings = engine.default_settings.with_changes(max_new_tokens=256, max_denoising_steps=4, seed=11)
    first = Conversation(turns=(Turn("user", "Describe what I send next. " * 8),))
    encoded, done = _reply(engine, first, settings)
    picture = Attachment(write_png(tmp_path / "p.png", size=(64, 48)), "image")
    follow_up = first.with_turn(Turn("assistant", done.answer)).with_turn(
        Turn("user", "This one.", (picture,))
    )
    encoded_again, reused = _reply(engine, follow_up, settings)
    assert encoded_again.cached_tokens == encoded.prompt_tokens

    engine.forget_prompt_cache()
    engine.reuse_prompt_cache = False
    _, full = _reply(engine, follow_up, settings)
    assert reused.token_ids == full.token_ids


def test_the_kept_prompt_cache_is_the_working_cache_not_a_copy(engine):
    """A copy doubled the KV memory; the reply now grows the same cache and restore() cuts it back."""
    import dataclasses

    vocab = engine.model.config.get_text_config().vocab_size
    engine.codec = dataclasses.replace(engine.codec, eos_ids=frozenset({vocab - 1}))  # a rare end: 3 canvases
    settings = engine.default_settings.with_changes(max_new_tokens=768, max_denoising_steps=2, seed=2)
    _, done = _reply(engine, Conversation(turns=(Turn("user", "Tell me about gardens. " * 20),)), settings)
    assert done.stats.canvases >= 2, "a later canvas was encoded into the cache after the prompt"
    prefix = engine._prefix
    full = [layer for layer in prefix.cache.layers if layer.is_initialized and not layer.is_sliding]
    assert full and all(layer.keys.shape[-2] > len(prefix.ids) for layer in full), "the reply grew this cache"
    kept = {id(keys) for _, keys, _, _ in prefix.sliding}
    assert not any(id(layer.keys) in kept for layer in full), "no full-attention tensor is held twice"
    restored = prefix.restore()
    assert restored is prefix.cache
    assert all(layer.keys.shape[-2] == len(prefix.ids) for layer in full)
    assert restored.get_seq_length() == len(prefix.ids)


def test_a_follow_up_after_a_stopped_reply_matches_a_full_re_encode(engine):
    from engine.cancel import CancelToken
    from engine.events import Canvas

    settings = engine.default_settings.with_changes(max_new_tokens=768, max_denoising_steps=4, seed=9)
    first = Conversation(turns=(Turn("user", "Write about the sea. " * 15),))
    cancel = CancelToken()
    events = []
    for event in engine.generate(first, settings, cancel=cancel, with_pieces=False):
        events.append(event)
        if isinstance(event, Canvas):
            cancel.cancel()  # stopped after the first canvas: the cache holds prompt + a canvas
    done = events[-1]
    assert done.incomplete
    follow_up = first.with_turn(Turn("assistant", done.answer)).with_turn(Turn("user", "Go on."))
    encoded, reused = _reply(engine, follow_up, settings)
    assert encoded.cached_tokens > 0

    engine.forget_prompt_cache()
    engine.reuse_prompt_cache = False
    _, full = _reply(engine, follow_up, settings)
    assert reused.token_ids == full.token_ids

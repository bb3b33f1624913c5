"""The encoder cache's sliding-window layers keep their window in storage of their own."""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicSlidingWindowLayer

from engine.generation.kv_cache import CompactSlidingWindowLayer


def _update(layer, tokens: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    keys, values = (torch.randn(1, 2, tokens, 8, generator=g) for _ in range(2))
    return layer.update(keys, values)


def test_a_compact_layer_attends_and_keeps_exactly_what_transformers_does():
    compact = CompactSlidingWindowLayer(sliding_window=16)
    plain = DynamicSlidingWindowLayer(sliding_window=16)
    for seed, tokens in enumerate([40, 5, 64]):  # more than the window at once, a few, then many again
        got, expected = _update(compact, tokens, seed), _update(plain, tokens, seed)
        assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))
        assert torch.equal(compact.keys, plain.keys) and torch.equal(compact.values, plain.values)
        assert compact.cumulative_length == plain.cumulative_length
        kept = compact.keys.numel() * compact.keys.element_size()
        assert compact.keys.untyped_storage().nbytes() == kept  # 15 tokens, not the whole concatenation
        assert plain.keys.untyped_storage().nbytes() > kept


def test_the_engine_starts_every_prompt_with_compact_sliding_layers(tiny_checkpoint):
    from transformers import AutoConfig

    from engine.generation.kv_cache import new_cache

    config = AutoConfig.from_pretrained(str(tiny_checkpoint)).get_text_config(decoder=True)
    cache = new_cache(config)
    kinds = [type(layer) for layer in cache.layers]
    assert kinds.count(CompactSlidingWindowLayer) == config.layer_types.count("sliding_attention") > 0

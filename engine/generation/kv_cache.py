"""The encoder's KV cache: transformers' DynamicCache, with sliding-window layers that keep only their window.

transformers' sliding-window layer keeps its last ``window - 1`` tokens as a
*slice* of the concatenation it just attended over, and a slice keeps that
whole concatenation's storage alive.  After a 2,048-token prompt chunk each
sliding layer of the real model held 3,071 tokens' worth of memory instead of
1,023 — +0.4 GiB over its 25 sliding layers, which the planner did not count.
Tracing the 30-layer real-shape run on a CPU found it (docs/benchmarks.md).
Copying the kept tokens into their own storage (8 MiB a layer, once per
encoder call) gives back the rest, so the cache holds what the planner says.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicCache, DynamicSlidingWindowLayer


def _owns_its_storage(tensor: torch.Tensor) -> bool:
    return tensor.untyped_storage().nbytes() == tensor.numel() * tensor.element_size()


class CompactSlidingWindowLayer(DynamicSlidingWindowLayer):
    """A sliding-window layer whose kept tokens own their storage (see the module docstring)."""

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        attended = super().update(key_states, value_states, *args, **kwargs)
        if not _owns_its_storage(self.keys):
            self.keys = self.keys.clone(memory_format=torch.contiguous_format)
        if not _owns_its_storage(self.values):
            self.values = self.values.clone(memory_format=torch.contiguous_format)
        return attended


def new_cache(text_config) -> DynamicCache:
    """An empty encoder cache for ``text_config``, its sliding-window layers compact."""
    cache = DynamicCache(config=text_config)
    cache.layers = [
        CompactSlidingWindowLayer(sliding_window=layer.sliding_window)
        if type(layer) is DynamicSlidingWindowLayer
        else layer
        for layer in cache.layers
    ]
    return cache

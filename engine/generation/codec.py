"""How token ids become text: the engine's view of the tokenizer.

The loop, the seeding of a reply's canvases and the replay of a stored history
all decode ids the same way; this small value is what they share, so none of
them needs the others (or the tokenizer itself).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


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

"""Which token positions of a reply a "rewrite this part" frees, from the text the user selected.

DiffusionGemma refines a canvas in which some positions are already accepted;
the sampler keeps them and re-draws the others.  A rewrite uses that directly:
every token of the old reply is kept (frozen) except those under the selected
text, which start from the old tokens and are denoised again, in place, reading
everything around them.  The span keeps its number of tokens.

The selection comes from the rendered reply, where markdown markup is gone
("**bold**" shows as "bold") and line breaks may differ, so both texts are
compared by their letters and digits only; the first place the selection
occurs wins.  Token boundaries come from decoding prefixes of the reply
(``decode(ids[:k])`` grows with k), found by binary search.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from engine.errors import EngineError


def letters(text: str) -> tuple[str, list[int]]:
    """The letters and digits of ``text`` (lower case) and, for each, its index in ``text``.

    Rendered text and model text compare equal this way (markdown markup and line breaks drop
    out); the uncertainty view (app.uncertainty) aligns them with it too.
    """
    lowered = text.lower()
    if len(lowered) != len(text):  # one character each ("İ".lower() is two): letters and indices in step
        lowered = "".join(map(_lower, text))
    where = list(itertools.compress(range(len(text)), map(str.isalnum, text)))  # (a long reply: C speed)
    return "".join(map(lowered.__getitem__, where)), where


def _lower(ch: str) -> str:
    lower = ch.lower()
    return lower if len(lower) == 1 else ch


def require_token_ids(reply_ids: Sequence[int]) -> None:
    """A rewrite keeps the other tokens of the reply: a served or imported reply has its text only."""
    if not reply_ids:
        raise EngineError(
            "This reply was saved as text without its tokens (a model on a server wrote it, or it was "
            "imported), so a part of it cannot be rewritten in place",
            fix="Regenerate the reply, or Revise it (Ctrl+R) with what to change",
        )


def selected_range(text: str, selection: str) -> tuple[int, int]:
    """The characters ``[start, end)`` of ``text`` that ``selection`` (as rendered) covers."""
    wanted, _ = letters(selection)
    if not wanted:
        raise EngineError(
            "The selection has no words to rewrite", fix="Select a word, a sentence or a paragraph"
        )
    have, where = letters(text)
    found = have.find(wanted)
    if found < 0:
        raise EngineError(
            "The selected text is not in this reply as the model wrote it",
            fix="Select text inside one reply, then choose Rewrite this part",
        )
    return where[found], where[found + len(wanted) - 1] + 1


def frozen_positions(
    ids: Sequence[int], decode: Callable[[list[int]], str], start: int, end: int
) -> list[bool]:
    """For each token of ``ids``: True to keep it, False when it overlaps characters ``[start, end)``."""
    lengths: dict[int, int] = {}

    def length(k: int) -> int:
        if k not in lengths:
            lengths[k] = len(decode(list(ids[:k])))
        return lengths[k]

    def first_prefix_longer_than(chars: int) -> int:
        lo, hi = 0, len(ids)
        while lo < hi:
            mid = (lo + hi) // 2
            if length(mid) > chars:
                hi = mid
            else:
                lo = mid + 1
        return lo

    first = max(0, first_prefix_longer_than(start) - 1)  # the token holding character ``start``
    last = first_prefix_longer_than(end - 1)  # the prefix that holds character ``end - 1``
    return [not first <= position < last for position in range(len(ids))]

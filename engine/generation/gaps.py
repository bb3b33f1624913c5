"""A user's draft with gaps: where the gaps are, and how a filled reply maps back onto the draft.

The user marks a gap ``[...]`` (about :data:`DEFAULT_GAP` tokens) or ``[...N]``
(about N tokens; ``[…]`` with the ellipsis character works too).  The text
between gaps is kept token for token; only the gap positions are denoised.

A filled reply is the draft's texts in order with the gaps' text between them,
so the gaps can be found again from the draft and the reply alone
(:func:`filled_spans`): the app marks the filled parts of a stored reply without
storing anything beside it, and the CLI lists them.

Torch-free on purpose: the GUI imports it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from engine.errors import EngineError

DEFAULT_GAP = 24  # tokens in a gap written ``[...]``: about a sentence
GAP = re.compile(r"\[(?:\.\.\.|\u2026)(\d*)\]")


@dataclass(frozen=True, slots=True)
class Draft:
    """A draft cut at its gaps: ``texts[i]`` comes before gap i, ``texts[-1]`` after the last one."""

    texts: tuple[str, ...]  # one more than gaps
    gaps: tuple[int, ...]  # each gap's length in tokens

    def assemble(self, fillings: list[str]) -> str:
        """The draft with each gap replaced by its filling, in order."""
        out = [self.texts[0]]
        for filling, text in zip(fillings, self.texts[1:], strict=True):
            out += [filling, text]
        return "".join(out)


def has_gaps(text: str) -> bool:
    """Whether ``text`` marks at least one gap (the composer's Fill gaps is offered only then)."""
    return GAP.search(text) is not None


def parse_draft(text: str) -> Draft:
    """``text`` cut at its gaps; raises EngineError when it has none or a gap of 0 tokens."""
    texts: list[str] = []
    gaps: list[int] = []
    position = 0
    for match in GAP.finditer(text):
        length = int(match.group(1)) if match.group(1) else DEFAULT_GAP
        if length < 1:
            raise EngineError("A gap of 0 tokens has nothing to fill", fix="Write [...] or [...N] with N ≥ 1")
        texts.append(text[position : match.start()])
        gaps.append(length)
        position = match.end()
    if not gaps:
        raise EngineError(
            "The draft has no gap to fill",
            fix="Mark each gap with [...] (about 24 tokens) or [...N] (about N tokens)",
        )
    texts.append(text[position:])
    return Draft(tuple(texts), tuple(gaps))


@dataclass(frozen=True, slots=True)
class FillLayout:
    """A parsed draft laid out in token positions: its ids, and the positions of each gap."""

    draft: Draft
    ids: tuple[int, ...]  # the draft's tokens, gap positions holding a placeholder
    gap_spans: tuple[tuple[int, int], ...]  # [start, end) of each gap in ``ids``

    def fillings(self, reply_ids: list[int], decode: Callable[[list[int]], str]) -> list[str]:
        """Each gap's text in ``reply_ids`` (positions as in ``ids``)."""
        return [decode(list(reply_ids[start:end])) for start, end in self.gap_spans]


def lay_out(text: str, encode: Callable[[str], list[int]], placeholder: int) -> FillLayout:
    """The draft's ids (each text tokenized on its own, as the user wrote it) and its gap positions."""
    draft = parse_draft(text)
    ids: list[int] = []
    spans: list[tuple[int, int]] = []
    for piece, gap in zip(draft.texts, draft.gaps, strict=False):
        ids += encode(piece) if piece else []
        spans.append((len(ids), len(ids) + gap))
        ids += [placeholder] * gap
    ids += encode(draft.texts[-1]) if draft.texts[-1] else []
    return FillLayout(draft, tuple(ids), tuple(spans))


def filled_spans(draft_text: str, reply: str) -> list[tuple[int, int]] | None:
    """The character ranges of ``reply`` that fill the gaps of ``draft_text``, or None if it is no filling.

    The reply must start with the draft's first text, end with its last and hold
    the others in order; each gap is what lies between (the first match wins).
    """
    if not has_gaps(draft_text):
        return None
    draft = parse_draft(draft_text)
    if not reply.startswith(draft.texts[0]) or not reply.endswith(draft.texts[-1]):
        return None
    end_limit = len(reply) - len(draft.texts[-1])
    spans: list[tuple[int, int]] = []
    position = len(draft.texts[0])
    for text in draft.texts[1:-1]:
        found = reply.find(text, position, end_limit) if text else position
        if found < 0:
            return None
        spans.append((position, found))
        position = found + len(text)
    if position > end_limit:
        return None
    spans.append((position, end_limit))
    return spans

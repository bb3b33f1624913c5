"""A ReplyPlan resolved into what the denoising loop reads: the prompt's tail and each canvas's start.

:class:`~engine.generation.plan.ReplyPlan` is what the user asked for, in the
user's terms (the text they selected, the answer to revise).  The loop does not
know about modes: it reads a :class:`Seeding` — tokens to read after the prompt,
the tokens each canvas starts from, which of them are kept through every step,
and the token budget — and :func:`resolve` is the one place that turns a plan
into it.

A mode is one ``ReplyPlan`` constructor and one case here:

* "fill gaps" (a user draft with holes, :mod:`engine.generation.gaps`): ``start``
  = the draft's ids then an end-of-turn and pad to whole canvases, ``kept`` =
  True where the user wrote, False in the holes, ``barred`` = EOS and pad, which
  the holes may not take (so a gap cannot end the reply early or stay empty);
* "rewrite" frees a span inside a reply the same way, with the same ``barred`` ids
  (so Rewrite this part can fill one gap of a filled draft again);
* "fork at a step": ``prompt_tail`` = the canvases committed before that step,
  ``start`` = the recorded step's draft, ``kept`` = its accepted positions and
  ``held`` False: the fork's canvas starts as the sampler left it between two
  steps (accepted positions holding their tokens, the others noise drawn with
  the new seed) and is then denoised normally, so the model may still change
  any of it (a transformers step re-decides every position anyway).

Torch-free on purpose: the GUI imports the plan module, and this one with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.errors import EngineError
from engine.generation.gaps import FillLayout, lay_out
from engine.generation.plan import ReplyPlan
from engine.generation.rewrite import frozen_positions, require_token_ids, selected_range

if TYPE_CHECKING:
    from engine.generation.codec import TokenCodec


@dataclass(frozen=True, slots=True)
class Seeding:
    """How the loop starts: every field in token positions, nothing about modes.

    ``start[k * canvas : (k + 1) * canvas]`` is canvas k's starting text (noise
    past its end); ``kept`` (empty, or one flag per ``start`` position) holds
    those tokens fixed through every step, as if accepted from the start (entropy
    0); the positions not kept start from noise, so a rewrite is new text.
    """

    max_new_tokens: int  # the loop's budget (the events cover only what it writes)
    prompt_tail: tuple[int, ...] = ()  # read after the prompt before the first canvas (a continuation)
    start: tuple[int, ...] = ()
    kept: tuple[bool, ...] = ()
    held: bool = True  # kept positions stay fixed through every step (False: they only start there)
    barred: tuple[int, ...] = ()  # ids the positions not kept may never take (fill: EOS and pad)

    def canvas_start(self, block: int, canvas: int) -> tuple[tuple[int, ...], tuple[bool, ...]]:
        """Canvas ``block``'s starting tokens and, when positions are kept, their flags."""
        start = self.start[block * canvas : (block + 1) * canvas]
        return start, self.kept[block * canvas : (block + 1) * canvas][: len(start)]


def resolve(
    plan: ReplyPlan,
    budget: int,
    codec: TokenCodec,
    encode: Callable[[str], list[int]],
    canvas: int,
    end_of_turn: int | None = None,
) -> Seeding:
    """The Seeding of ``plan`` for a reply of at most ``budget`` new tokens.

    ``encode`` tokenizes plain text (no special tokens).  ``end_of_turn`` (default:
    the lowest EOS id) closes a filled draft.  Raises EngineError when the plan
    cannot be carried out (nothing left of the budget, a selection that is not in
    the reply, a draft with no gap or longer than the budget).
    """
    if plan.kind == "continue":
        tokens = plan.tokens or tuple(encode(plan.text))  # a served reply has text, no ids
        remaining = budget - len(tokens)
        if remaining <= 0:
            raise EngineError(
                f"This reply already has {len(tokens):,} tokens, the 'max new tokens' limit",
                fix="Raise 'max new tokens' in Settings to continue it, or regenerate it",
            )
        return Seeding(remaining, prompt_tail=tokens)
    if plan.kind == "revise":
        return Seeding(budget, start=tuple(start_tokens(encode, plan.text, budget)))
    if plan.kind == "rewrite":  # a span inside the reply: it may not end the reply either
        ids, kept = rewrite_positions(codec, canvas, plan.tokens, plan.text)
        return Seeding(len(ids), start=tuple(ids), kept=tuple(kept), barred=ending_ids(codec))
    if plan.kind == "fill":
        end = end_of_turn if end_of_turn is not None else min(codec.eos_ids)
        return fill_seeding(lay_out(plan.text, encode, end), budget, codec, canvas, end)
    if plan.kind == "fork":
        return fork_seeding(plan, budget, canvas)
    return Seeding(budget)


def fill_seeding(layout: FillLayout, budget: int, codec: TokenCodec, canvas: int, end: int) -> Seeding:
    """The draft, closed by ``end`` and padded to whole canvases; only the gaps are free."""
    free = {p for start, stop in layout.gap_spans for p in range(start, stop)}
    length = -(-(len(layout.ids) + 1) // canvas) * canvas
    if length > budget:
        raise EngineError(
            f"The draft with its gaps is {len(layout.ids) + 1:,} tokens, more than the {budget:,} "
            "the context has room for",
            fix="Make the gaps smaller ([...N] with a smaller N) or the draft shorter",
        )
    pad = codec.pad_id if codec.pad_id is not None else end
    ids = (*layout.ids, end, *[pad] * (length - len(layout.ids) - 1))
    kept = tuple(p not in free for p in range(length))
    return Seeding(length, start=ids, kept=kept, barred=ending_ids(codec))


def ending_ids(codec: TokenCodec) -> tuple[int, ...]:
    """End-of-turn and pad: what a span inside a text (a gap, a rewritten part) may not become."""
    return tuple(sorted(codec.eos_ids | ({codec.pad_id} if codec.pad_id is not None else set())))


def fork_seeding(plan: ReplyPlan, budget: int, canvas: int) -> Seeding:
    """After the committed canvases, one canvas starting from the step's accepted tokens (not held)."""
    if len(plan.draft) != canvas or len(plan.accepted) != canvas:
        raise EngineError(
            "This step's saved canvas does not match the loaded model's canvas",
            fix="Load the model that wrote this reply (Model menu), then go on from the step again",
        )
    remaining = budget - len(plan.tokens)
    if remaining <= 0:
        raise EngineError(
            f"The canvases before this step already hold {len(plan.tokens):,} tokens, "
            "the 'max new tokens' limit",
            fix="Raise 'max new tokens' in Settings to go on from this step",
        )
    return Seeding(remaining, prompt_tail=plan.tokens, start=plan.draft, kept=plan.accepted, held=False)


def start_tokens(encode: Callable[[str], list[int]], text: str, limit: int) -> list[int]:
    """``text`` as the ids a revision's canvases start from (no special tokens), at most ``limit``."""
    return list(encode(text)[:limit]) if text else []


def rewrite_positions(
    codec: TokenCodec, canvas: int, reply_ids: Sequence[int], selection: str
) -> tuple[list[int], list[bool]]:
    """The ids a rewrite starts from (whole canvases) and which of them it keeps.

    Raises EngineError when the reply is not whole canvases or the selection is not in its text.
    """
    require_token_ids(reply_ids)
    ids = list(reply_ids)
    if len(ids) % canvas:
        raise EngineError(
            "This reply's saved canvases are incomplete, so a part of it cannot be rewritten",
            fix="Regenerate the reply instead",
        )
    text_ids = codec.until_eos(ids)
    start, end = selected_range(codec.decode(text_ids), selection)
    keep = frozen_positions(text_ids, codec.decode, start, end)
    return ids, keep + [True] * (len(ids) - len(text_ids))  # the end of the reply stays

"""A ReplyPlan resolves into one Seeding: the loop's prompt tail, canvas starts, kept positions, budget."""

from __future__ import annotations

import pytest

from engine.errors import EngineError
from engine.generation.codec import TokenCodec
from engine.generation.plan import ReplyPlan
from engine.generation.seeding import Seeding, resolve

WORDS = ["", "Rivers", " run", " to", " the", " sea", "."]  # id 0 ends the turn
CODEC = TokenCodec(
    decode=lambda ids: "".join(WORDS[i] for i in ids),
    pieces=lambda ids: [WORDS[i] for i in ids],
    eos_ids=frozenset({0}),
    pad_id=0,
)


def encode(text: str) -> list[int]:
    return [WORDS.index(" " + word if i else word) for i, word in enumerate(text.split())]


def seeding(plan: ReplyPlan, budget: int) -> Seeding:
    return resolve(plan, budget, CODEC, encode, 4)  # canvases of 4 tokens


def test_each_plan_becomes_its_seeding():
    assert seeding(ReplyPlan.fresh(), 512) == Seeding(512)
    assert seeding(ReplyPlan.continuing([1, 2, 3, 4]), 12) == Seeding(8, prompt_tail=(1, 2, 3, 4))
    # A reply a server wrote has text and no ids: the local model reads its tokens.
    assert seeding(ReplyPlan.continuing([], "Rivers run"), 12) == Seeding(10, prompt_tail=(1, 2))
    assert seeding(ReplyPlan.revising("Rivers run to the sea"), 3) == Seeding(3, start=(1, 2, 3))
    rewrite = seeding(ReplyPlan.rewriting([1, 2, 3, 4, 5, 6, 0, 0], "to the"), 512)
    assert rewrite.max_new_tokens == 8 and rewrite.start == (1, 2, 3, 4, 5, 6, 0, 0)
    assert rewrite.kept == (True, True, False, False, True, True, True, True)
    assert rewrite.canvas_start(1, 4) == ((5, 6, 0, 0), (True, True, True, True))


def test_a_plan_that_cannot_be_carried_out_is_refused_with_the_fix():
    with pytest.raises(EngineError, match="max new tokens"):
        seeding(ReplyPlan.continuing([1] * 8), 8)
    with pytest.raises(EngineError, match="incomplete"):
        seeding(ReplyPlan.rewriting([1, 2, 3], "run"), 512)


def encode_pieces(text: str) -> list[int]:
    """Word pieces with their leading space, as the draft is cut at its gaps."""
    import re

    return [WORDS.index(piece) for piece in re.findall(r"\s*\w+|\.", text)]


def test_a_draft_keeps_its_tokens_frees_its_gaps_and_bars_the_ending_ids():
    fill = resolve(ReplyPlan.filling("Rivers[...2] to the[...] sea."), 512, CODEC, encode_pieces, 4)
    # Rivers, gap of 2, " to", " the", gap of 24, " sea", ".", then the end of turn and pad to 32 tokens
    assert fill.start[:3] == (1, 0, 0) and fill.start[3:5] == (3, 4) and fill.start[29:32] == (5, 6, 0)
    assert fill.max_new_tokens == 32 and len(fill.start) == len(fill.kept) == 32
    free = [p for p, kept in enumerate(fill.kept) if not kept]
    assert free == [1, 2, *range(5, 29)]
    assert fill.barred == (0,) and fill.held  # EOS and pad are both id 0 here
    rewrite = seeding(ReplyPlan.rewriting([1, 2, 3, 4, 5, 6, 0, 0], "to the"), 512)
    assert rewrite.barred == (0,), "a rewritten span may not end the reply either"
    assert seeding(ReplyPlan.fresh(), 512).barred == ()  # other modes: nothing barred


def test_a_fork_reads_the_committed_canvases_and_starts_from_the_step_unheld():
    fork = seeding(ReplyPlan.forking([1, 2, 3, 4], [5, 6, 0, 0], [True, False, True, False]), 12)
    assert fork == Seeding(
        8, prompt_tail=(1, 2, 3, 4), start=(5, 6, 0, 0), kept=(True, False, True, False), held=False
    )
    with pytest.raises(EngineError, match="canvas"):
        seeding(ReplyPlan.forking([], [5, 6], [True, True]), 12)
    with pytest.raises(EngineError, match="max new tokens"):
        seeding(ReplyPlan.forking([1] * 12, [5, 6, 0, 0], [True] * 4), 12)

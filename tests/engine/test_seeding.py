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

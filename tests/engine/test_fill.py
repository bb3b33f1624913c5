"""Fill the gaps: a draft comes back token for token, only its gaps denoised, never ended inside one."""

from __future__ import annotations

import pytest
import torch

from engine.errors import EngineError
from engine.events import Done, Step
from engine.generation.gaps import DEFAULT_GAP, filled_spans, has_gaps, parse_draft
from engine.generation.plan import ReplyPlan
from engine.generation.step import seed_canvas
from engine.inputs.conversation import Conversation, PromptOptions, Turn

CONVERSATION = Conversation(turns=(Turn("user", "Complete my notes."),))

TABLE = "| River | Length |\n|---|---|\n| Nile | [...4] |\n| Amazon | 6,400 km |\n"
CODE = "```python\ndef flow(river):\n    [...12]\n    return river\n```\n"

DRAFTS = {
    "gap at the start": "[...6] is the longest river in Africa.",
    "gap at the end": "The Nile flows north into [...]",
    "two gaps": "Water [...3] downhill, and [...5] the sea.",
    "inside a table": TABLE,
    "inside a code block": CODE,
    "special tokens typed as text": "Close with <turn|> then [...4] and <eos>.",
}


def fill(engine, draft: str, seed: int = 5) -> list:
    settings = engine.default_settings.with_changes(max_denoising_steps=3, seed=seed)
    return list(engine.generate(CONVERSATION, settings, PromptOptions(), plan=ReplyPlan.filling(draft)))


@pytest.mark.parametrize("draft", DRAFTS.values(), ids=DRAFTS.keys())
def test_the_text_outside_the_gaps_comes_back_exactly_token_for_token(tiny_engine, draft):
    check_filled(tiny_engine, draft)


def check_filled(tiny_engine, draft: str):
    """Fill ``draft``; assert its texts came back exactly; the layout and the events."""
    layout = tiny_engine.fill_layout(draft)
    events = fill(tiny_engine, draft)
    done = events[-1]
    assert isinstance(done, Done) and done.stop_reason == "eos"
    ids = list(done.token_ids)
    free = {p for start, stop in layout.gap_spans for p in range(start, stop)}
    assert all(ids[p] == layout.ids[p] for p in range(len(layout.ids)) if p not in free)
    # Decoded from the reply's own tokens (not copied from the draft), each text between gaps is exact.
    bounds = [0, *[p for span in layout.gap_spans for p in span], len(layout.ids)]
    texts = [tiny_engine.codec.decode(ids[a:b]) for a, b in zip(bounds[::2], bounds[1::2], strict=True)]
    assert texts == list(parse_draft(draft).texts)
    assert done.text == parse_draft(draft).assemble(list(done.gaps)) and done.answer == done.text
    assert len(done.gaps) == len(layout.gap_spans)
    spans = filled_spans(draft, done.text)  # the app finds the filled parts from the draft and the reply
    assert spans is not None and len(spans) == len(done.gaps)
    return layout, events


def test_a_gap_across_a_canvas_boundary_reads_both_sides_and_keeps_the_text(tiny_engine):
    prefix = ""
    while tiny_engine.fill_layout(prefix + "[...40] The end.").gap_spans[0][0] < 230:
        prefix += "Rivers carry water, silt and stories to the sea. "
    layout, events = check_filled(tiny_engine, prefix + "[...40] The end.")
    start, stop = layout.gap_spans[0]
    assert start < 256 < stop, "the gap straddles two canvases"
    assert {e.block for e in events if isinstance(e, Step)} == {0, 1}


def test_end_of_turn_and_pad_are_never_accepted_inside_a_gap(tiny_engine):
    draft = "A [...60] B [...60] C"
    layout = tiny_engine.fill_layout(draft)
    barred = tiny_engine.codec.eos_ids | {tiny_engine.codec.pad_id}
    events = fill(tiny_engine, draft, seed=11)
    gaps = [p for start, stop in layout.gap_spans for p in range(start, stop)]
    for step in (e for e in events if isinstance(e, Step)):
        assert not {step.draft[p] for p in gaps} & barred
    assert not {events[-1].token_ids[p] for p in gaps} & barred
    assert events[-1].token_ids[len(layout.ids)] in tiny_engine.codec.eos_ids  # the draft ends the turn


def test_barred_ids_lose_at_free_positions_only():
    seed = seed_canvas((7, 0, 7), (True, False, True), 4, 10, torch.device("cpu"), barred=(1, 2))
    logits = torch.zeros((1, 4, 10))
    logits[..., 1] = 5.0  # the barred id is every position's favourite
    barred = seed.bar(logits.clone())
    assert torch.argmax(barred, dim=-1).tolist() == [[1, 0, 1, 0]]  # kept positions (held anyway) untouched
    assert torch.isinf(barred[0, 1, [1, 2]]).all() and torch.isfinite(barred[0, 1, 3:]).all()
    assert seed.bar(logits.clone()).shape == logits.shape
    nothing_barred = seed_canvas((), (), 4, 10, torch.device("cpu"))
    assert torch.equal(nothing_barred.bar(logits.clone()), logits)  # other modes: the step is unchanged


def test_gap_lengths_are_as_marked(tiny_engine):
    layout = tiny_engine.fill_layout("One [...] two [...7] three [\u20263] four")
    assert [stop - start for start, stop in layout.gap_spans] == [DEFAULT_GAP, 7, 3]
    assert parse_draft("[...] x [...2]").gaps == (DEFAULT_GAP, 2)
    assert has_gaps("a [...] b") and not has_gaps("a [..] b [ ... ] c [...x]")


@pytest.mark.parametrize(
    ("draft", "message"),
    [("No gap here.", "no gap"), ("A gap of [...0] tokens", "0 tokens"), ("Huge [...900000]", "more than")],
)
def test_a_draft_that_cannot_be_filled_is_refused_with_the_fix(tiny_engine, draft, message):
    with pytest.raises(EngineError, match=message) as refused:
        fill(tiny_engine, draft)
    assert refused.value.fix


def test_filled_spans_find_the_gaps_of_a_filled_reply_and_nothing_else():
    draft = "Rivers [...] to the [...4]."
    assert filled_spans(draft, "Rivers run down to the sea.") == [(7, 15), (23, 26)]
    assert filled_spans(draft, "Rivers  to the .") == [(7, 7), (15, 15)]  # empty fillings
    assert filled_spans(draft, "Rivers to the.") is None  # a space of the draft is missing
    assert filled_spans(draft, "Lakes run to the sea.") is None
    assert filled_spans(draft, "Rivers run to the sea!") is None
    assert filled_spans("no gaps", "no gaps") is None

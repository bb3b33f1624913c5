"""Rewrite this part: a reply is denoised again with every token kept except those under a selection."""

from __future__ import annotations

import pytest

from engine.errors import EngineError
from engine.events import Canvas, Done, Step
from engine.generation.plan import ReplyPlan
from engine.generation.rewrite import frozen_positions, selected_range
from engine.inputs.conversation import Conversation, PromptOptions, Turn

TOKENS = ["Water", " **", "early", "**", ",", " at", " the", " roots", "."]


def decode(ids: list[int]) -> str:
    return "".join(TOKENS[i] for i in ids)


def test_a_selection_of_rendered_text_finds_its_markdown_and_its_tokens():
    text = decode(list(range(len(TOKENS))))
    start, end = selected_range(text, "early, at\u2029the")  # as Qt reports a rendered selection
    assert text[start:end] == "early**, at the"
    keep = frozen_positions(list(range(len(TOKENS))), decode, start, end)
    assert [TOKENS[i] for i, kept in enumerate(keep) if not kept] == ["early", "**", ",", " at", " the"]
    start, end = selected_range(text, "Water")
    keep = frozen_positions(list(range(len(TOKENS))), decode, start, end)
    assert keep == [False] + [True] * (len(TOKENS) - 1)


@pytest.mark.parametrize("selection", ["", " ** ", "not in the reply"])
def test_a_selection_that_is_not_in_the_reply_is_refused(selection):
    with pytest.raises(EngineError):
        selected_range(decode(list(range(len(TOKENS)))), selection)


CONVERSATION = Conversation(turns=(Turn("user", "Write about rivers."),))


def test_only_the_selected_tokens_change_and_the_reply_keeps_its_length(tiny_engine):
    settings = tiny_engine.default_settings.with_changes(max_new_tokens=512, max_denoising_steps=4, seed=7)
    first = list(tiny_engine.generate(CONVERSATION, settings, PromptOptions()))
    old = list(next(e for e in first if isinstance(e, Done)).token_ids)
    assert len(old) % 256 == 0 and old  # whole canvases, ended by EOS and padding
    text = tiny_engine.codec.decode(tiny_engine.codec.until_eos(old))
    words = text.split()
    selection = " ".join(words[3:6])
    ids, keep = tiny_engine.rewrite_plan(old, selection)
    assert ids == old and len(keep) == len(old) and 0 < keep.count(False) < 40
    freed = [i for i, kept in enumerate(keep) if not kept]
    assert freed == list(range(freed[0], freed[-1] + 1)), "one contiguous span"

    events = list(
        tiny_engine.generate(
            CONVERSATION,
            settings.with_changes(seed=8),
            PromptOptions(),
            plan=ReplyPlan.rewriting(old, selection),
        )
    )
    done = next(e for e in events if isinstance(e, Done))
    new = list(done.token_ids)
    assert len(new) == len(old)
    assert all(n == o for n, o, kept in zip(new, old, keep, strict=True) if kept)
    assert new != old, "the freed span was denoised again (fixed seeds: the same every run)"
    for step in (e for e in events if isinstance(e, Step)):
        base = step.block * 256
        for position, token in enumerate(step.draft):
            if keep[base + position]:
                assert token == old[base + position]  # every frame shows the kept text as it was
    assert len([e for e in events if isinstance(e, Canvas)]) == len(old) // 256


def test_a_reply_without_whole_canvases_cannot_be_rewritten(tiny_engine):
    with pytest.raises(EngineError, match="incomplete"):
        tiny_engine.rewrite_plan([5] * 100, "anything")

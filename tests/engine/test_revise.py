"""Revising an answer in place: the reply's canvases start from the old answer's tokens, not noise."""

from __future__ import annotations

from engine.events import Canvas
from engine.generation.plan import ReplyPlan
from engine.inputs.conversation import Conversation, PromptOptions, Turn

CONVERSATION = Conversation(turns=(Turn("user", "Write about rivers, but shorter."),))
OLD_ANSWER = "Rivers carry water from the hills to the sea, " * 40  # longer than one canvas


def first_canvases(engine, settings, **kwargs) -> list[list[int]]:
    """The canvas each block's first denoising forward read (the decoder's input ids)."""
    seen: list[list[int]] = []

    def hook(_module, _args, kwargs_in):
        ids = kwargs_in.get("decoder_input_ids")
        if ids is not None and kwargs_in.get("self_conditioning_logits") is None:
            seen.append(ids[0].tolist())  # the first step of a block has no self-conditioning yet

    handle = engine.model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        events = list(engine.generate(CONVERSATION, settings, PromptOptions(), **kwargs))
    finally:
        handle.remove()
    assert len(seen) == len([e for e in events if isinstance(e, Canvas)])
    return seen


def test_each_canvas_starts_from_its_part_of_the_old_answer(tiny_engine):
    settings = tiny_engine.default_settings.with_changes(max_new_tokens=512, max_denoising_steps=4, seed=7)
    plain = first_canvases(tiny_engine, settings)
    revised = first_canvases(tiny_engine, settings, plan=ReplyPlan.revising(OLD_ANSWER))
    old = tiny_engine.start_tokens(OLD_ANSWER, 512)
    assert len(old) > 256, "the old answer reaches into the second canvas"
    assert len(plain) == len(revised) == 2, "the tiny model writes two full canvases with this seed"
    assert revised[0] == old[:256]
    tail = old[256:]
    assert revised[1][: len(tail)] == tail
    # Past the old answer's end the canvas is the same noise as without it: the random draws are unchanged.
    assert revised[1][len(tail) :] == plain[1][len(tail) :]
    assert plain[0] != revised[0]


def test_the_old_answer_is_cut_to_the_reply_budget_and_empty_changes_nothing(tiny_engine):
    assert len(tiny_engine.start_tokens(OLD_ANSWER, 100)) == 100
    assert tiny_engine.start_tokens("", 100) == []
    ids = tiny_engine.start_tokens("Rivers", 100)
    assert tiny_engine.codec.decode(ids) == "Rivers"  # no <bos> or other special token in front
    settings = tiny_engine.default_settings.with_changes(max_new_tokens=256, max_denoising_steps=3, seed=3)
    assert first_canvases(tiny_engine, settings, plan=ReplyPlan.revising("")) == first_canvases(
        tiny_engine, settings
    )


def test_a_revision_is_reproducible_with_a_fixed_seed(tiny_engine):
    settings = tiny_engine.default_settings.with_changes(max_new_tokens=256, max_denoising_steps=3, seed=11)
    one = list(
        tiny_engine.generate(CONVERSATION, settings, PromptOptions(), plan=ReplyPlan.revising(OLD_ANSWER))
    )
    two = list(
        tiny_engine.generate(CONVERSATION, settings, PromptOptions(), plan=ReplyPlan.revising(OLD_ANSWER))
    )
    assert one[-1].token_ids == two[-1].token_ids

"""Go on from a step: a new reply whose canvas starts from a recorded step, after the canvases before it."""

from __future__ import annotations

import pytest
import torch

from engine.errors import EngineError
from engine.events import Canvas, Done, Step
from engine.generation.plan import ReplyPlan
from engine.generation.step import seed_canvas
from engine.inputs.conversation import Conversation, PromptOptions, Turn

CONVERSATION = Conversation(turns=(Turn("user", "Write about rivers."),))


def test_a_fork_seed_starts_from_the_accepted_tokens_and_holds_nothing():
    draft = (5, 6, 7, 8)
    accepted = (True, False, True, False)
    torch.manual_seed(0)
    seed = seed_canvas(draft, accepted, 4, 1000, torch.device("cpu"), held=False)
    assert seed.canvas[0, [0, 2]].tolist() == [5, 7]
    assert seed.keep is None, "a fork is not frozen: the model may still change any position"
    torch.manual_seed(0)
    fresh = seed_canvas((), (), 4, 1000, torch.device("cpu"))
    assert seed.canvas[0, [1, 3]].tolist() == fresh.canvas[0, [1, 3]].tolist()  # the rest: the same noise


def test_a_fork_goes_on_from_the_step_after_the_committed_canvases(tiny_engine):
    settings = tiny_engine.default_settings.with_changes(
        max_new_tokens=512, max_denoising_steps=4, seed=1, confidence_threshold=1e-9
    )
    first = list(tiny_engine.generate(CONVERSATION, settings, PromptOptions()))
    committed = [e for e in first if isinstance(e, Canvas)]
    steps = [e for e in first if isinstance(e, Step) and e.block == 1]
    assert len(committed) == 2 and steps, "two canvases, the second refined over steps"
    step = steps[1]
    assert any(step.accepted) and not all(step.accepted)

    inputs: list[torch.Tensor] = []

    def record(_module, _args, kwargs):
        if kwargs.get("decoder_input_ids") is not None:
            inputs.append(kwargs["decoder_input_ids"].clone())

    hook = tiny_engine.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        plan = ReplyPlan.forking(committed[0].tokens, step.draft, step.accepted)
        new_seed = settings.with_changes(seed=8)
        fork = list(tiny_engine.generate(CONVERSATION, new_seed, PromptOptions(), plan=plan))
    finally:
        hook.remove()
    first_canvas = inputs[0][0].tolist()
    assert [t for t, a in zip(first_canvas, step.accepted, strict=True) if a] == [
        t for t, a in zip(step.draft, step.accepted, strict=True) if a
    ], "the fork's first canvas holds the step's accepted tokens"
    done = fork[-1]
    assert isinstance(done, Done)
    assert done.prompt_ids[-256:] == committed[0].tokens, "the canvases before the step are read as written"
    assert {e.block for e in fork if isinstance(e, Step)} == {0}  # one canvas left of the 512-token budget
    assert len(done.token_ids) == 256


def test_a_fork_with_the_wrong_canvas_or_no_budget_left_is_refused(tiny_engine):
    settings = tiny_engine.default_settings.with_changes(max_new_tokens=256, seed=1)
    with pytest.raises(EngineError, match="canvas"):
        list(tiny_engine.generate(CONVERSATION, settings, plan=ReplyPlan.forking([], [1] * 10, [True] * 10)))
    with pytest.raises(EngineError, match="max new tokens"):
        plan = ReplyPlan.forking([5] * 256, [1] * 256, [True] * 256)
        list(tiny_engine.generate(CONVERSATION, settings, plan=plan))

"""Continuing a reply that was cut short: the model sees its committed canvases after the prompt."""

from __future__ import annotations

import pytest
import torch

from engine.errors import EngineError
from engine.events import Canvas, Done, PromptEncoded
from engine.generation.plan import ReplyPlan
from engine.generation.prefill import append_tokens
from engine.inputs.conversation import Conversation, PromptOptions, Turn

CONVERSATION = Conversation(turns=(Turn("user", "Write two paragraphs about rivers."),))


def test_appended_tokens_grow_every_per_token_tensor():
    tensors = {
        "input_ids": torch.tensor([[5, 6, 7]]),
        "attention_mask": torch.tensor([[1, 1, 1]]),
        "mm_token_type_ids": torch.tensor([[0, 1, 0]]),
        "pixel_values": torch.zeros(1, 2, 3),
    }
    grown = append_tokens(tensors, [8, 9])
    assert grown["input_ids"].tolist() == [[5, 6, 7, 8, 9]]
    assert grown["attention_mask"].tolist() == [[1, 1, 1, 1, 1]]
    assert grown["mm_token_type_ids"].tolist() == [[0, 1, 0, 0, 0]]
    assert grown["pixel_values"] is tensors["pixel_values"]
    assert tensors["input_ids"].shape == (1, 3), "the prompt's own tensors are untouched"


def test_continuation_equals_generate_on_the_prompt_followed_by_the_committed_canvas(tiny_engine):
    settings = tiny_engine.default_settings.with_changes(max_new_tokens=512, max_denoising_steps=4, seed=7)
    first = list(tiny_engine.generate(CONVERSATION, settings, PromptOptions()))
    canvases = [e for e in first if isinstance(e, Canvas)]
    assert canvases and not canvases[0].ended, "the tiny model writes a full first canvas"
    committed = canvases[0].tokens

    events = list(
        tiny_engine.generate(CONVERSATION, settings, PromptOptions(), plan=ReplyPlan.continuing(committed))
    )
    prompt = next(e for e in events if isinstance(e, PromptEncoded))
    done = next(e for e in events if isinstance(e, Done))
    new_canvases = [e for e in events if isinstance(e, Canvas)]
    original_prompt = next(e for e in first if isinstance(e, PromptEncoded)).prompt_tokens
    assert prompt.prompt_tokens == original_prompt + len(committed)
    assert [c.block for c in new_canvases] == [0], "blocks restart at 0; the remaining budget is one canvas"

    inputs = append_tokens(tiny_engine.prepare(CONVERSATION, settings, PromptOptions()).tensors, committed)
    torch.manual_seed(7)
    reference = tiny_engine.model.generate(
        inputs["input_ids"],
        max_new_tokens=256,
        max_denoising_steps=4,
        eos_token_id=sorted(tiny_engine.codec.eos_ids),
    )
    assert list(done.token_ids) == reference.sequences[0, inputs["input_ids"].shape[1] :].tolist()


def test_a_reply_already_at_the_length_limit_cannot_be_continued(tiny_engine):
    settings = tiny_engine.default_settings.with_changes(max_new_tokens=256, max_denoising_steps=2, seed=1)
    with pytest.raises(EngineError, match="max new tokens"):
        list(
            tiny_engine.generate(
                CONVERSATION, settings, PromptOptions(), plan=ReplyPlan.continuing([5] * 256)
            )
        )

"""Our denoising loop yields exactly the token ids of transformers' ``model.generate``."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from engine.events import Canvas, Done, Step
from engine.generation.loop import denoise
from engine.inputs.conversation import Conversation, PromptOptions, Turn

PROMPTS = [
    "Hello there, tell me a story.",
    "Write a table of three fruits and their colours.",
    "Why is the sky blue?",
]


def _inputs(engine, text: str) -> dict:
    conversation = Conversation(turns=(Turn("user", text),))
    return engine.prepare(conversation, engine.default_settings, PromptOptions()).tensors


def _reference(engine, inputs, seed: int, max_new_tokens: int, steps: int, eos: list[int]) -> list[int]:
    torch.manual_seed(seed)
    out = engine.model.generate(
        inputs["input_ids"], max_new_tokens=max_new_tokens, max_denoising_steps=steps, eos_token_id=eos
    )
    return out.sequences[0, inputs["input_ids"].shape[1] :].tolist()


def _ours(engine, inputs, seed: int, max_new_tokens: int, steps: int, eos: list[int]):
    settings = engine.default_settings.with_changes(max_new_tokens=max_new_tokens, max_denoising_steps=steps)
    codec = dataclasses.replace(engine.codec, eos_ids=frozenset(eos))
    torch.manual_seed(seed)
    return list(denoise(engine.model, inputs, settings, codec))


CASES = [
    # (prompt index, seed, max_new_tokens, steps, which eos set)
    (0, 0, 256, 48, "real"),
    (1, 1, 768, 8, "real"),
    (2, 2, 1024, 8, "real"),
    (0, 3, 768, 8, "rare"),
    (1, 4, 700, 6, "rare"),
    (2, 5, 1024, 4, "rare"),
]


@pytest.mark.parametrize(("prompt", "seed", "max_new", "steps", "eos_kind"), CASES)
def test_loop_matches_generate(tiny_engine, prompt, seed, max_new, steps, eos_kind):
    real_eos = sorted(tiny_engine.codec.eos_ids)
    # "rare": a single EOS id, so random weights often run for several canvases.
    eos = (
        real_eos
        if eos_kind == "real"
        else [tiny_engine.processor.tokenizer.convert_tokens_to_ids("<|tool_response>")]
    )
    inputs = _inputs(tiny_engine, PROMPTS[prompt])
    expected = _reference(tiny_engine, inputs, seed, max_new, steps, eos)
    events = _ours(tiny_engine, inputs, seed, max_new, steps, eos)
    done = events[-1]
    assert isinstance(done, Done)
    assert list(done.token_ids) == expected
    canvases = [e for e in events if isinstance(e, Canvas)]
    assert sum(len(c.tokens) for c in canvases) == len(expected)


def test_cases_cover_multi_canvas_and_eos(tiny_engine):
    """Guard against the equivalence cases silently degenerating to one canvas each."""
    seen_multi = seen_eos_mid = False
    rare = [tiny_engine.processor.tokenizer.convert_tokens_to_ids("<|tool_response>")]
    real = sorted(tiny_engine.codec.eos_ids)
    for prompt, seed, max_new, steps, kind in CASES:
        inputs = _inputs(tiny_engine, PROMPTS[prompt])
        done = _ours(tiny_engine, inputs, seed, max_new, steps, real if kind == "real" else rare)[-1]
        seen_multi |= done.stats.canvases >= 2
        seen_eos_mid |= done.stop_reason == "eos" and tiny_engine.codec.pad_id in done.token_ids
    assert seen_multi and seen_eos_mid


def test_step_events_follow_the_loop(tiny_engine):
    inputs = _inputs(tiny_engine, PROMPTS[0])
    rare = [tiny_engine.processor.tokenizer.convert_tokens_to_ids("<|tool_response>")]
    events = _ours(tiny_engine, inputs, 3, 768, 8, rare)
    steps = [e for e in events if isinstance(e, Step)]
    canvases = [e for e in events if isinstance(e, Canvas)]
    done = events[-1]
    assert len(canvases) == done.stats.canvases
    assert len(steps) == done.stats.forwards == sum(done.stats.steps_per_canvas)
    for block, canvas in enumerate(canvases):
        block_steps = [s for s in steps if s.block == block]
        assert [s.step for s in block_steps] == list(range(1, len(block_steps) + 1))
        # The committed canvas is the last step's argmax draft (before EOS padding).
        last = block_steps[-1].draft
        n = len(canvas.tokens) if not canvas.ended else canvas.tokens.index(tiny_engine.codec.pad_id)
        assert list(canvas.tokens[:n]) == list(last[:n])
    for step in steps:
        assert len(step.draft) == len(step.accepted) == len(step.entropy) == 256
        assert all(e >= 0 for e in step.entropy)
        assert step.max_steps == 8
        # At least the single lowest-entropy position is always accepted.
        assert any(step.accepted)

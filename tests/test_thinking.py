"""Thought/answer split for both marker styles, robust to markers split across canvases."""

from __future__ import annotations

import random

import pytest

from engine.thinking import split_thinking, strip_special_tokens

CHANNEL = "<|channel>thought\nLet me think: 2 + 2 is 4.<channel|>The answer is **4**.<turn|><pad><pad>"
THINK = "<think>\nConsider the sky.\n</think>\n\nThe sky is blue because of Rayleigh scattering.<eos>"


def test_channel_format():
    parts = split_thinking(CHANNEL)
    assert parts.thought == "Let me think: 2 + 2 is 4."
    assert parts.answer == "The answer is **4**."
    assert parts.has_thought and not parts.thinking


def test_think_tag_format():
    parts = split_thinking(THINK)
    assert parts.thought == "Consider the sky."
    assert parts.answer == "The sky is blue because of Rayleigh scattering."


def test_empty_thought_channel_with_thinking_off():
    parts = split_thinking("<|channel>thought\n<channel|>Hello!<turn|>")
    assert parts.thought == "" and parts.answer == "Hello!"


def test_plain_answer_and_text_after_end_of_turn_dropped():
    parts = split_thinking("Just an answer.<turn|>garbage after the end")
    assert parts.answer == "Just an answer." and not parts.has_thought


def test_unclosed_thought_stays_thought():
    parts = split_thinking("<|channel>thought\nstill thinking about it", final=True)
    assert parts.thinking and parts.thought == "still thinking about it" and parts.answer == ""


def test_no_special_token_leaks():
    text = "<bos><|channel>thought\nhm<channel|>A<|image|>B<|tool_call>C<tool_call|><mask>D<turn|>"
    parts = split_thinking(text)
    assert parts.answer == "ABCD"
    assert "<" not in parts.answer + parts.thought
    assert strip_special_tokens("x<|video|>y<audio|>z<|think|>") == "xyz"
    assert split_thinking("Answer.<|turn>user\nnext question").answer == "Answer."


def test_unicode_is_preserved():
    parts = split_thinking("<think>考え</think>مرحبا 👋 你好<turn|>")
    assert parts.thought == "考え" and parts.answer == "مرحبا 👋 你好"


@pytest.mark.parametrize("full", [CHANNEL, THINK])
def test_every_split_point_while_streaming(full):
    final = split_thinking(full).answer
    for i in range(len(full) + 1):
        parts = split_thinking(full[:i], final=False)
        for marker in ("<|", "|>", "<think", "</think", "channel", "<turn", "<eos"):
            assert marker not in parts.answer, (i, parts.answer)
        assert final.startswith(parts.answer), (i, parts.answer)


def test_markers_split_across_canvases_at_random_points():
    rng = random.Random(0)
    body = CHANNEL.replace("<turn|><pad><pad>", "") + " More text follows here." + "<turn|>"
    expected = split_thinking(body)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(body)), 3))
        chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        text = ""
        for chunk in chunks:
            text += chunk
            partial = split_thinking(text, final=False)
            assert expected.answer.startswith(partial.answer)
            assert "<" not in partial.answer
        assert split_thinking(text) == expected

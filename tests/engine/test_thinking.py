"""Thought/answer split for both marker styles, robust to markers split across canvases.

The streaming tests feed every prefix of a reply (and random canvas-sized
chunkings of generated replies) with ``final=False`` and check the two
promises the GUI relies on: nothing marker-like ever shows, and what is shown
only ever grows (each streamed answer and thought is a prefix of the final one).
"""

from __future__ import annotations

import dataclasses
import random
import re

import pytest

from engine.inputs.thinking import SplitText, split_thinking, strip_special_tokens

CHANNEL = "<|channel>thought\nLet me think: 2 + 2 is 4.<channel|>The answer is **4**.<turn|><pad><pad>"
THINK = "<think>\nConsider the sky.\n</think>\n\nThe sky is blue because of Rayleigh scattering.<eos>"

# Every special token the brief lists, plus generic Gemma 4-shaped ones.
SPECIAL_TOKENS = (
    "<bos>",
    "<eos>",
    "<pad>",
    "<|turn>",
    "<turn|>",
    "<|think|>",
    "<|channel>",
    "<channel|>",
    "<|image>",
    "<|image|>",
    "<image|>",
    "<|video|>",
    "<|audio>",
    "<|audio|>",
    "<audio|>",
    "<mask>",
    "<unk>",
    "<|tool_call>",
    "<tool_call|>",
    "<|tool_response>",
    "<tool_response|>",
    "<|tool>",
    "<tool|>",
    '<|"|>',
    "<|some_future_token|>",
    "<|another>",
    "<yet_another|>",
)
END_TOKENS = ("<turn|>", "<eos>", "<|turn>", "<|tool_response>")
# Tokens that carry no structure: they vanish wherever they appear.
NEUTRAL_TOKENS = tuple(
    t for t in SPECIAL_TOKENS if t not in END_TOKENS and t not in ("<|channel>", "<channel|>")
)
# Independent of the module's own patterns on purpose.
TOKEN_SHAPED = re.compile(r"<\|[a-z_\"]+\|?>|<[a-z_]+\|>|<(?:bos|eos|pad|mask|unk)>")

UNICODE = "日本語のテキスト、中文字符 — עברית ومرحبا بالعالم 👋🏽 👨‍👩‍👧 é (e\u0301) \u200f"


def parts(thought: str, answer: str, *, thinking: bool = False) -> SplitText:
    return SplitText(thought=thought, answer=answer, thinking=thinking, has_thought=bool(thought))


# ---------------------------------------------------------------- formats


def test_channel_format():
    result = split_thinking(CHANNEL)
    assert result == parts("Let me think: 2 + 2 is 4.", "The answer is **4**.")
    assert result.has_thought and not result.thinking


def test_think_tag_format():
    assert split_thinking(THINK) == parts(
        "Consider the sky.", "The sky is blue because of Rayleigh scattering."
    )


@pytest.mark.parametrize(
    "text",
    [
        "<think>why</think>Because.",
        "\n<think>\nwhy\n</think>\n\nBecause.",
        "  \n\n <think>  why  </think>   \n Because.  \n",
        "<bos><think>\r\nwhy\r\n</think>\r\n\r\nBecause.<turn|>",
        "<|channel>thought\n<channel|><think>why</think>Because.",
    ],
)
def test_think_tags_with_surrounding_whitespace(text):
    assert split_thinking(text) == parts("why", "Because.")


def test_empty_thought_channel_with_thinking_off():
    result = split_thinking("<|channel>thought\n<channel|>Hello!<turn|>")
    assert result == parts("", "Hello!")
    assert not result.has_thought and not result.thinking
    assert split_thinking("<|channel>thought<channel|>\n\nHello!") == parts("", "Hello!")


def test_plain_answer_and_leading_newlines_trimmed():
    assert split_thinking("\n\nJust an answer.\n") == parts("", "Just an answer.")
    assert split_thinking("<|channel>thought\nhm<channel|>\n\n\nAnswer") == parts("hm", "Answer")


def test_channel_name_line_is_stripped_but_not_a_word_that_merely_starts_like_it():
    assert split_thinking("<|channel>thought\nthoughts on it<channel|>A").thought == "thoughts on it"
    assert split_thinking("<|channel>thoughtful<channel|>A").thought == "thoughtful"
    assert split_thinking("<|channel>  thought \r\nx<channel|>A").thought == "x"


def test_multiple_thought_segments_are_concatenated():
    text = "<|channel>thought\nFirst.<channel|><|channel>thought\nSecond.<channel|>Answer.<turn|>"
    assert split_thinking(text) == parts("First.\n\nSecond.", "Answer.")
    text = "<think>one</think><think>two</think>Answer."
    assert split_thinking(text) == parts("one\n\ntwo", "Answer.")
    # A new channel opened inside an unclosed one starts a new segment.
    text = "<|channel>thought\nA<|channel>thought\nB<channel|>C"
    assert split_thinking(text) == parts("A\n\nB", "C")


def test_answer_before_and_between_thoughts_is_kept():
    text = "Sure.<|channel>thought\nhm<channel|>\nHere it is."
    assert split_thinking(text) == parts("hm", "Sure.\n\nHere it is.")
    assert split_thinking("Sure.<|channel>thought\nhm") == parts("hm", "Sure.", thinking=True)


def test_orphan_closers():
    assert split_thinking("<channel|>Answer.") == parts("", "Answer.")
    # </think> is plain text to the tokenizer: with nothing open it stays text.
    assert split_thinking("a</think>b") == parts("", "a</think>b")


def test_answer_that_talks_about_think_tags_stays_intact():
    text = "Models like R1 wrap reasoning in `<think>` and `</think>` tags.<turn|>"
    assert split_thinking(text) == parts(
        "", "Models like R1 wrap reasoning in `<think>` and `</think>` tags."
    )
    text = "<|channel>thought\nthe user asks about <think> tags<channel|>Use `<think>`."
    assert split_thinking(text) == parts("the user asks about <think> tags", "Use `<think>`.")


def test_html_and_comparisons_in_the_answer_survive():
    answer = "Use <br> or <div class='x'>…</div>; if a<b and b >c then <b>bold</b>. Arrow: <- x <= y"
    assert split_thinking(answer + "<turn|>").answer == answer
    assert split_thinking(answer, final=False).answer == answer


# ---------------------------------------------------------------- unclosed thought


def test_unclosed_thought_stays_thought_when_final():
    result = split_thinking("<|channel>thought\nstill thinking about it", final=True)
    assert result == parts("still thinking about it", "", thinking=True)
    assert split_thinking("<think>hmm, so") == parts("hmm, so", "", thinking=True)
    # The turn ended inside the thought (e.g. cancelled): still a thought, no answer.
    assert split_thinking("<|channel>thought\nhalf<turn|>junk") == parts("half", "", thinking=True)


def test_unclosed_thought_while_streaming():
    assert split_thinking("<|channel>thought\nstep one, ", final=False) == parts(
        "step one,", "", thinking=True
    )
    # Thinking has started but no reasoning text yet: nothing to show, but thinking is reported.
    for text in ("<|channel>", "<|channel>tho", "<|channel>thought", "<|channel>thought\n", "<think>\n"):
        assert split_thinking(text, final=False) == parts("", "", thinking=True), text


# ---------------------------------------------------------------- end of turn, special tokens


@pytest.mark.parametrize("end", END_TOKENS)
def test_text_after_end_of_turn_is_dropped(end):
    text = f"<|channel>thought\nT<channel|>Answer.{end}\n<|turn>user\nmore<|channel>thought\nX<channel|>Y"
    assert split_thinking(text) == parts("T", "Answer.")
    assert split_thinking(text, final=False) == parts("T", "Answer.")


@pytest.mark.parametrize("token", NEUTRAL_TOKENS)
def test_special_tokens_never_leak(token):
    text = f"{token}<|channel>thought\nA{token}B<channel|>C{token}D{token}<turn|>"
    result = split_thinking(text)
    assert result == parts("AB", "CD")
    for streamed in (split_thinking(text[:i], final=False) for i in range(len(text) + 1)):
        assert "<" not in streamed.answer + streamed.thought
    assert strip_special_tokens(f"x{token}y") == "xy"


def test_no_special_token_leaks_from_a_noisy_draft():
    rng = random.Random(1)
    pieces = [*SPECIAL_TOKENS, "<think>", "</think>", "word ", "\n", "thought\n", "日本", "👋"]
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 40)))
        for final in (True, False):
            result = split_thinking(text, final=final)
            assert not TOKEN_SHAPED.search(result.answer + result.thought), text


def test_strip_special_tokens_removes_tokens_and_nothing_else():
    text = "<bos>Keep <b>this</b>, a < b, <think>tags</think>,\n  spaces<pad><|image|> and 你好👋<turn|>tail"
    assert (
        strip_special_tokens(text) == "Keep <b>this</b>, a < b, <think>tags</think>,\n  spaces and 你好👋tail"
    )
    assert strip_special_tokens("x<|video|>y<audio|>z<|think|>") == "xyz"
    assert strip_special_tokens("no markers at all") == "no markers at all"
    assert strip_special_tokens("") == ""


# ---------------------------------------------------------------- unicode


def test_unicode_is_preserved():
    assert split_thinking("<think>考え</think>مرحبا 👋 你好<turn|>") == parts("考え", "مرحبا 👋 你好")
    text = f"<|channel>thought\n{UNICODE}<channel|>{UNICODE} <pad>{UNICODE}<turn|>"
    assert split_thinking(text) == parts(UNICODE.strip(), f"{UNICODE} {UNICODE}".strip())


# ---------------------------------------------------------------- streaming


STREAM_SAMPLES = [
    CHANNEL,
    THINK,
    "<|channel>thought\n<channel|>Hello there, no thinking today.<turn|>",
    "<bos><|channel>thought\nFirst.<channel|><|channel>thought\nSecond.<channel|>\n\nBoth done.<eos>",
    "Preamble.<|channel>thought\nhm<pad>m<channel|>\nAnswer with 日本語 and 👨‍👩‍👧.<turn|><|turn>user\nx",
    "  <think>  \nweigh it\n  </think>\n\n**Bold** answer: x > y, a|b.<|tool_response>",
    "<|channel>thought\nthinking without end",
]


@pytest.mark.parametrize("full", STREAM_SAMPLES)
def test_every_split_point_while_streaming(full):
    final = split_thinking(full)
    for i in range(len(full) + 1):
        streamed = split_thinking(full[:i], final=False)
        shown = streamed.answer + streamed.thought
        for marker in ("<", "|>", "channel", "think>", "turn", "eos"):
            assert marker not in shown, (i, streamed)
        assert final.answer.startswith(streamed.answer), (i, streamed)
        assert final.thought.startswith(streamed.thought), (i, streamed)
    assert split_thinking(full, final=False).answer == final.answer


@pytest.mark.parametrize("full", [CHANNEL, THINK])
def test_marker_split_across_two_chunks_at_every_point(full):
    expected = split_thinking(full)
    for i in range(len(full) + 1):
        first, second = full[:i], full[i:]
        assert expected.answer.startswith(split_thinking(first, final=False).answer)
        assert split_thinking(first + second) == expected


def _random_reply(rng: random.Random) -> tuple[str, str, str]:
    """A well-formed reply built from random pieces, with the thought and answer it must give."""
    words = [
        "Hello",
        "world",
        "日本語",
        "中文",
        "שלום",
        "مرحبا",
        "👋🏽",
        "👨‍👩‍👧",
        "e\u0301",
        "a|b",
        "x > y",
        "42",
    ]
    spacers = [" ", "\n", "\n\n", "  ", "\t"]

    def content() -> tuple[str, str]:
        raw, clean = "", ""
        for _ in range(rng.randrange(0, 8)):
            piece = rng.choice(words) + rng.choice(spacers)
            if rng.random() < 0.2:
                token = rng.choice(NEUTRAL_TOKENS)
                raw += token
            raw += piece
            clean += piece
        return raw, clean.strip()

    text = rng.choice(["", "<bos>", "\n"])
    thoughts: list[str] = []
    if rng.random() < 0.5:  # Gemma 4 channels, possibly several, possibly empty
        for _ in range(rng.randrange(0, 3)):
            raw, clean = content()
            text += f"<|channel>thought\n{raw}<channel|>" + rng.choice(["", "\n", "\n\n"])
            if clean:
                thoughts.append(clean)
    elif rng.random() < 0.7:
        raw, clean = content()
        text += rng.choice(["", " ", "\n"]) + f"<think>{raw}</think>" + rng.choice(["", "\n\n"])
        if clean:
            thoughts.append(clean)
    raw, answer = content()
    text += raw + rng.choice(["", *END_TOKENS, "<turn|><pad><pad>", "<eos>junk after the end"])
    return text, "\n\n".join(thoughts), answer


def test_random_replies_at_random_split_points():
    rng = random.Random(2024)
    for _ in range(150):
        text, thought, answer = _random_reply(rng)
        expected = split_thinking(text)
        assert (expected.thought, expected.answer) == (thought, answer), text
        assert not expected.thinking
        cuts = sorted(rng.sample(range(len(text) + 1), min(len(text) + 1, 12)))
        for cut in cuts:
            streamed = split_thinking(text[:cut], final=False)
            assert "<" not in streamed.answer + streamed.thought, (text, cut)
            assert answer.startswith(streamed.answer), (text, cut, streamed)
            assert thought.startswith(streamed.thought), (text, cut, streamed)


def test_canvas_chunks_arriving_in_random_sizes():
    rng = random.Random(7)
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


# ---------------------------------------------------------------- contract


def test_split_text_is_frozen():
    result = split_thinking(CHANNEL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.answer = "x"  # type: ignore[misc]

"""The live reply model: what is committed, what the indicator says, token states."""

from __future__ import annotations

from app.chat import ChatAttachment, ChatSession, Message, usable_turns
from app.reply_state import ReplyState, format_stats, time_left
from app.store.titles import auto_title
from app.token_states import TokenState, classify, entropy_level
from engine.events import Canvas, PromptEncoded, PromptProgress, Step
from engine.inputs.conversation import Attachment, Turn


def step(
    block: int, n: int, text: str, accepted=(True, False), entropy=(0.01, 5.0), draft=(1, 2), finished=False
):
    return Step(block, n, 48, draft, accepted, entropy, text, ("a", "b"), finished)


def test_display_splits_committed_and_live_text():
    state = ReplyState()
    assert state.indicator() == "encoding the prompt…"
    state.on_prompt_encoded(PromptEncoded(10, 0.1))
    assert state.indicator() == "first canvas…"
    state.on_step(step(0, 3, "Hello wor"))
    assert state.indicator() == "block 1 · step 3/48"
    shown = state.display()
    assert shown.answer == "Hello wor" and shown.answer_committed == 0
    state.on_canvas(Canvas(0, (1,), "Hello world.\n\n", 12, False))
    assert state.indicator() == "block 1 committed"
    state.on_step(step(1, 1, "Next"))
    shown = state.display()
    assert shown.answer == "Hello world.\n\nNext" and shown.answer_committed == len("Hello world.")
    assert state.indicator() == "block 2 · step 1/48"


def test_thinking_is_split_and_timed():
    state = ReplyState()
    state.on_step(step(0, 1, "<|channel>thought\nLet me see"))
    shown = state.display()
    assert shown.thinking and shown.thought == "Let me see" and shown.answer == ""
    state.on_step(step(0, 2, "<|channel>thought\nLet me see<channel|>Answer"))
    shown = state.display()
    assert not shown.thinking and shown.answer == "Answer"
    assert state.thought_seconds is not None


def test_previous_step_is_tracked_within_a_block_only():
    state = ReplyState()
    a, b = step(0, 1, "x"), step(0, 2, "x")
    state.on_step(a)
    state.on_step(b)
    assert state.previous_step is a
    state.on_step(step(1, 1, "y"))
    assert state.previous_step is None


def test_token_states():
    previous = Step(0, 1, 48, (5, 6, 7, 8), (True, True, False, False), (0.0, 0.0, 5.0, 0.5), "", ())
    current = Step(0, 2, 48, (5, 9, 7, 8), (True, True, False, False), (0.0, 0.1, 5.0, 0.5), "", ())
    assert classify(current, previous) == [
        TokenState.STABLE,  # accepted twice, same token
        TokenState.ACCEPTED,  # accepted, but the token changed
        TokenState.NOISE,  # high entropy
        TokenState.DRAFT,  # low entropy, not yet accepted
    ]
    assert classify(current, None)[0] == TokenState.ACCEPTED
    assert entropy_level(0) == 0 and entropy_level(100) == 1 and 0 < entropy_level(1) < 1


def test_format_stats():
    from engine.events import Done, Stats

    stats = Stats(10, 0, 300, 2, 30, 48, (14, 16), 10.0, 0.25, 1.5, 200.0)
    line = format_stats(Done((), (), "", "", "", stats))
    assert line == (
        "300 tokens · 2 blocks · steps per block 14/16 · 10.0 tokens/forward · 200 tok/s · first draft 250 ms"
    )


def test_history_skips_failed_exchanges(tmp_path):
    picture = Attachment(tmp_path / "p.png", "image")
    stored = (
        Turn("user", "q1"),
        Turn("assistant", "a1"),
        Turn("user", "q2"),
        Turn("assistant", ""),  # failed: the question goes with it, so "try again" never doubles it
        Turn("user", "q3", (picture,)),
    )
    turns = usable_turns(stored)
    assert [(t.role, t.text) for t in turns] == [("user", "q1"), ("assistant", "a1"), ("user", "q3")]
    assert turns[-1].attachments == (picture,)


def test_a_chat_is_titled_like_the_store_titles_it(tmp_path):
    long = "Explain how the block diffusion sampler accepts tokens at each denoising step, please"
    chat = ChatSession()
    chat.add(Message("user", long))
    assert chat.title == auto_title(long) and chat.title.endswith("…") and len(chat.title) <= 61
    attached = ChatSession()
    copy = ChatAttachment(tmp_path / "3f9a0c", "image", name="holiday.png")  # the store's copy, by hash
    attached.add(Message("user", "", (copy,)))
    assert attached.title == "holiday.png"


def test_a_long_prompt_shows_how_much_is_read_and_the_time_left():
    state = ReplyState()
    state.on_prompt_progressed(PromptProgress(12_288, 95_000, seconds=10.0, seconds_left=70.0))
    assert state.indicator() == "Reading the prompt · 12,288 / 95,000 tokens · about 1 min left"
    state.on_prompt_progressed(PromptProgress(94_000, 95_000, seconds=100.0, seconds_left=3.4))
    assert state.indicator() == "Reading the prompt · 94,000 / 95,000 tokens · about 3 s left"
    state.on_prompt_progressed(PromptProgress(95_000, 95_000, seconds=101.0, seconds_left=0.0))
    assert state.indicator() == "Reading the prompt · 95,000 / 95,000 tokens"
    state.on_prompt_encoded(PromptEncoded(95_000, 101.0))
    assert state.indicator() == "first canvas…"


def test_time_left_reads_as_words():
    assert time_left(0.4) == "almost done"
    assert time_left(42) == "about 42 s left"
    assert time_left(59.7) == "about 1 min left"
    assert time_left(129) == "about 2 min left"
    assert time_left(3900) == "about 1 h 5 min left"

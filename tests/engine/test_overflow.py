"""A chat that outgrows the context leaves out its oldest turns, keeps that cut, and says so."""

from __future__ import annotations

import dataclasses

import pytest

from engine.engine import Engine
from engine.errors import PromptTooLongError, SettingsError
from engine.events import Done, PromptEncoded
from engine.inputs.conversation import Conversation, PromptOptions, Turn
from engine.inputs.overflow import SLACK, Cut, fit_conversation, without_oldest


def _chat(*words: int, system: str = "") -> Conversation:
    """Alternating user/assistant turns of ``words`` words each (the last one a user turn)."""
    roles = ("user", "assistant")
    return Conversation(
        turns=tuple(Turn(roles[i % 2], " ".join(["w"] * n)) for i, n in enumerate(words)), system=system
    )


def words(conversation: Conversation) -> int:
    return sum(len(turn.text.split()) for turn in conversation.turns) + len(conversation.system.split())


class WordCounter:
    """The words of ``conversation`` without its first ``start`` turns, as tokens; counts its calls."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self.calls = 0

    def __call__(self, start: int) -> int:
        self.calls += 1
        return words(without_oldest(self.conversation, start))


def test_the_cut_starts_at_a_user_turn_and_leaves_a_quarter_free():
    chat = _chat(10, 10, 10, 10, 10, 10, 10, 10, 10)  # 90 words, 9 turns
    count = WordCounter(chat)
    cut = fit_conversation(chat, count, budget=60)
    calls = count.calls
    assert cut is not None
    kept = without_oldest(chat, cut.turns)
    assert kept.turns[0].role == "user"
    assert words(kept) <= 60 * (1 - SLACK)
    # The smallest such cut: one user turn earlier would not leave the slack free.
    assert words(without_oldest(chat, cut.turns - 2)) > 60 * (1 - SLACK)
    assert cut.turns == 6 and calls <= 4  # a binary search over the 4 possible starts


def test_the_same_cut_is_kept_while_the_chat_still_fits():
    chat = _chat(10, 10, 10, 10, 10, 10, 10, 10, 10)
    cut = fit_conversation(chat, WordCounter(chat), budget=60)
    grown = Conversation(turns=(*chat.turns, Turn("assistant", "w " * 10), Turn("user", "w " * 5)))
    assert fit_conversation(grown, WordCounter(grown), budget=60, previous=cut) == cut
    # Once the kept part no longer fits, a new cut is made, again leaving a quarter free.
    longer = Conversation(turns=(*grown.turns, Turn("assistant", "w " * 20), Turn("user", "w " * 5)))
    new = fit_conversation(longer, WordCounter(longer), budget=60, previous=cut)
    assert new is not None and new.turns > cut.turns
    assert words(without_oldest(longer, new.turns)) <= 45


def test_a_cut_from_another_chat_does_not_apply():
    chat = _chat(10, 10, 10, 10, 10)
    cut = fit_conversation(chat, WordCounter(chat), budget=30)
    other = _chat(10, 10, 10, 10, 10, system="Be brief.")
    assert cut is not None and not cut.applies_to(other) and cut.applies_to(chat)
    edited = Conversation(turns=(Turn("user", "v " * 10), *chat.turns[1:]))
    assert not cut.applies_to(edited)


def test_when_only_the_last_message_fits_it_is_all_that_is_kept():
    chat = _chat(10, 10, 50)
    cut = fit_conversation(chat, WordCounter(chat), budget=55)  # 50 > 55 × 0.75: no slack possible
    assert cut == Cut.of(chat, 2)


def test_a_last_message_too_long_on_its_own_has_no_cut():
    for chat in (_chat(10, 10, 80), _chat(80)):
        assert fit_conversation(chat, WordCounter(chat), budget=60) is None


# --- through the engine, on the tiny checkpoint ------------------------------------------------


@pytest.fixture
def small_engine(tiny_engine):
    """The tiny model with a 1,024-token context, as if the GPU had room for no more."""
    info = dataclasses.replace(
        tiny_engine.info, context_length=1024, model_context_length=4096, context_limited_by_memory=True
    )
    engine = Engine(tiny_engine.model, tiny_engine.processor, info)
    yield engine
    engine.forget_prompt_cache()


def _long_chat(exchanges: int) -> Conversation:
    turns: list[Turn] = []
    for i in range(exchanges):
        turns += [
            Turn("user", f"Question {i}: " + "tell me more " * 20),
            Turn("assistant", "an answer " * 20),
        ]
    return Conversation(turns=(*turns, Turn("user", "And the last one?")), system="Be brief.")


def _reply(engine: Engine, conversation: Conversation, settings) -> tuple[PromptEncoded, Done]:
    events = list(engine.generate(conversation, settings, with_pieces=False))
    return next(e for e in events if isinstance(e, PromptEncoded)), events[-1]


def test_a_long_chat_is_answered_without_its_oldest_turns(small_engine):
    settings = small_engine.default_settings.with_changes(max_new_tokens=256, max_denoising_steps=2, seed=3)
    chat = _long_chat(12)
    assert (
        small_engine.prepare(chat, settings, PromptOptions(context_overflow="drop_oldest")).num_tokens
        <= 1024 - 256
    )
    encoded, done = _reply(small_engine, chat, settings)
    assert encoded.omitted_turns > 0 and encoded.omitted_turns % 2 == 0  # whole exchanges, from the start
    assert done.stats.omitted_turns == encoded.omitted_turns
    assert encoded.prompt_tokens <= (1024 - 256) * (1 - SLACK)
    # The system prompt and the newest question are in what the model saw.
    text = small_engine.prepare(chat, settings, PromptOptions()).text
    assert "Be brief." in text and "And the last one?" in text and "Question 0:" not in text

    # The next reply keeps the same cut, so the prompt cache is reused.
    follow_up = chat.with_turn(Turn("assistant", done.answer)).with_turn(Turn("user", "Thanks."))
    again, done_again = _reply(small_engine, follow_up, settings)
    assert again.omitted_turns == done_again.stats.omitted_turns == encoded.omitted_turns
    assert again.cached_tokens == encoded.prompt_tokens


def test_the_stop_policy_refuses_with_the_numbers(small_engine):
    settings = small_engine.default_settings.with_changes(max_new_tokens=256, max_denoising_steps=2)
    with pytest.raises(PromptTooLongError) as info:
        list(small_engine.generate(_long_chat(12), settings, PromptOptions(context_overflow="stop")))
    message = str(info.value)
    assert "this GPU's memory has room for 1,024 tokens" in message and "maximum is 4,096" in message
    assert "leave out the oldest messages" in message and "closing other programs" in message


def test_a_message_too_long_on_its_own_names_the_message(small_engine):
    settings = small_engine.default_settings.with_changes(max_new_tokens=256)
    chat = Conversation(turns=(Turn("user", "hi"), Turn("assistant", "hello"), Turn("user", "word " * 900)))
    with pytest.raises(PromptTooLongError, match="Your message is") as info:
        list(small_engine.generate(chat, settings))
    assert "Shorten the message" in str(info.value)


def test_an_unknown_policy_is_a_settings_error(small_engine):
    chat = Conversation(turns=(Turn("user", "hi"),))
    with pytest.raises(SettingsError, match="overflow policy"):
        small_engine.prepare(chat, small_engine.default_settings, PromptOptions(context_overflow="truncate"))

"""Cancel from another thread stops the reply within one denoising step; the engine stays usable."""

from __future__ import annotations

import queue
import threading

from engine.cancel import CancelToken
from engine.events import Done, Step
from engine.inputs.conversation import Conversation, Turn


def test_cancel_from_another_thread_takes_effect_within_one_step(tiny_engine):
    conversation = Conversation(turns=(Turn("user", "Tell me everything."),))
    settings = tiny_engine.default_settings.with_changes(max_new_tokens=2048, max_denoising_steps=48, seed=7)
    cancel = CancelToken()
    events: queue.Queue = queue.Queue()

    def worker() -> None:
        try:
            for event in tiny_engine.generate(conversation, settings, cancel=cancel, with_pieces=False):
                events.put(event)
        except BaseException as error:  # surfaced in the test thread below
            events.put(error)
        finally:
            events.put(None)

    thread = threading.Thread(target=worker, name="generate")
    thread.start()
    seen: list = []
    steps_at_cancel = None
    while True:
        event = events.get(timeout=60)
        if event is None:
            break
        if isinstance(event, BaseException):
            raise event
        seen.append(event)
        if isinstance(event, Step) and event.step == 3 and steps_at_cancel is None:
            cancel.cancel()
            steps_at_cancel = sum(isinstance(e, Step) for e in seen)
    thread.join(timeout=10)

    steps_total = sum(isinstance(e, Step) for e in seen)
    assert steps_total - steps_at_cancel <= 1, "more than one denoising step ran after the cancel"
    done = seen[-1]
    assert isinstance(done, Done)
    assert done.incomplete and done.stop_reason == "cancelled"
    # The partial reply is the last draft of the block being refined.
    last_step = [e for e in seen if isinstance(e, Step)][-1]
    assert list(done.token_ids) == list(last_step.draft)

    # The engine is still usable afterwards.
    again = list(
        tiny_engine.generate(conversation, settings.with_changes(max_new_tokens=256, max_denoising_steps=2))
    )
    assert isinstance(again[-1], Done) and not again[-1].incomplete


def test_cancel_before_start_returns_empty_incomplete_reply(tiny_engine):
    cancel = CancelToken()
    cancel.cancel()
    conversation = Conversation(turns=(Turn("user", "Hi"),))
    events = list(tiny_engine.generate(conversation, cancel=cancel))
    assert len(events) == 1 and events[0].incomplete and events[0].token_ids == ()


def test_fixed_seed_is_reproducible(tiny_engine):
    conversation = Conversation(turns=(Turn("user", "Hi"),))
    settings = tiny_engine.default_settings.with_changes(max_new_tokens=256, max_denoising_steps=4, seed=11)
    a = list(tiny_engine.generate(conversation, settings))[-1]
    b = list(tiny_engine.generate(conversation, settings))[-1]
    assert a.token_ids == b.token_ids

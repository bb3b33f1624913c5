"""Replies are saved while they stream: after every canvas, with the final state on Done or Stop."""

from __future__ import annotations

import sqlite3

import pytest
from history_samples import fake_reply

from app.store import Store
from engine.events import Canvas, Done, PromptEncoded, Step


def start(store):
    cid = store.create_conversation()
    user = store.send_user_message(cid, "Go")
    return cid, user


def test_each_canvas_is_committed_before_the_next_one_starts(store, clock):
    cid, user = start(store)
    writer = store.begin_reply(user.id)
    message = store.message(writer.message_id)
    assert (message.status, message.text, message.role, message.parent_id) == (
        "streaming",
        "",
        "assistant",
        user.id,
    )
    events = fake_reply(3, canvases=3, words="Hello")
    writer.on_event(PromptEncoded(prompt_tokens=3, seconds=0.1))
    seen_canvases = 0
    for event in events:
        clock.advance(1)
        writer.on_event(event)
        if isinstance(event, Canvas):
            seen_canvases += 1
            # Read through a separate connection: what a crash right now would leave on disk.
            other = sqlite3.connect(store.path)
            status, text = other.execute(
                "SELECT status, text FROM messages WHERE id = ?", (writer.message_id,)
            ).fetchone()
            blocks = other.execute(
                "SELECT COUNT(*) FROM canvases WHERE message_id = ?", (writer.message_id,)
            ).fetchone()[0]
            frames = other.execute(
                "SELECT SUM(frames) FROM refinements WHERE message_id = ?", (writer.message_id,)
            ).fetchone()[0]
            other.close()
            assert status == "streaming"
            assert blocks == seen_canvases and frames == 3 * seen_canvases
            assert text == " ".join(["Hello"] + [f"part{b}" for b in range(seen_canvases)])
    final = store.message(writer.message_id)
    assert final.status == "complete" and final.stop_reason == "eos"
    assert final.text == "Hello part0 part1 part2"
    assert final.stats is not None and final.stats.steps_per_canvas == (3, 3, 3)
    assert store.conversation(cid).updated_at == clock.now
    assert [c.text for c in store.canvases(writer.message_id)] == ["Hello part0 ", "part1 ", "part2 "]


def test_a_thinking_reply_streams_its_answer_and_thought_apart(store):
    _, user = start(store)
    writer = store.begin_reply(user.id)
    writer.on_event(Canvas(0, (1, 2), "<|channel>thought\nLet me think", 3, False))
    streaming = store.message(writer.message_id)
    assert (streaming.thought, streaming.text) == ("Let me think", "")
    writer.on_event(Canvas(1, (3, 4), " more<channel|>The answer<turn|>", 3, True))
    streaming = store.message(writer.message_id)
    assert (streaming.thought, streaming.text) == ("Let me think more", "The answer")


def test_a_cancelled_reply_is_incomplete_and_keeps_the_interrupted_block_for_replay(store):
    _, user = start(store)
    events = fake_reply(4, canvases=2)
    first_block = events[:4]  # 3 steps + canvas 0
    partial = [e for e in events[4:] if isinstance(e, Step)][:2]
    done = events[-1]
    cancelled = Done(
        (), (), "part0 half", "", "part0 half", done.stats, incomplete=True, stop_reason="cancelled"
    )
    writer = store.begin_reply(user.id)
    for event in [*first_block, *partial, cancelled]:
        writer.on_event(event)
    message = store.message(writer.message_id)
    assert (message.status, message.stop_reason, message.text) == ("incomplete", "cancelled", "part0 half")
    assert [c.block for c in store.canvases(message.id)] == [0]
    frames = store.replay(message.id)
    assert [(f.block, f.step) for f in frames] == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2)]
    assert [f.draft for f in frames[3:]] == [s.draft for s in partial]


def test_leaving_the_writer_without_done_marks_the_reply_incomplete(store):
    _, user = start(store)
    events = fake_reply(5, canvases=3)
    with pytest.raises(RuntimeError), store.begin_reply(user.id) as writer:
        for event in events[:4]:
            writer.on_event(event)
        raise RuntimeError("engine failed")
    message = store.message(writer.message_id)
    assert (message.status, message.stop_reason, message.text) == ("incomplete", "error", "part0")
    writer.on_event(events[4])  # late events after the end are ignored
    assert store.message(writer.message_id).status == "incomplete"

    with store.begin_reply(user.id) as stopped:
        stopped.on_event(events[0])
        stopped.stop()
    assert store.message(stopped.message_id).stop_reason == "cancelled"


def test_an_incomplete_reply_can_be_continued(store):
    _, user = start(store)
    writer = store.begin_reply(user.id)
    for event in fake_reply(6, canvases=1, words="Begin")[:-1]:
        writer.on_event(event)
    writer.stop()
    more = store.continue_reply(writer.message_id)
    assert store.message(writer.message_id).status == "streaming"
    for event in fake_reply(7, canvases=2):
        more.on_event(event)
    message = store.message(writer.message_id)
    assert message.status == "complete"
    assert [c.block for c in store.canvases(message.id)] == [0, 1, 2]
    assert message.text == "Begin part0 part0 part1"
    assert sorted({f.block for f in store.replay(message.id)}) == [0, 1, 2]


def test_replies_left_streaming_by_a_crash_become_incomplete_on_open(data_dir, clock):
    with Store.open(clock=clock) as store:
        _, user = start(store)
        writer = store.begin_reply(user.id)
        for event in fake_reply(8, canvases=3)[:8]:  # two canvases, then the app "dies"
            writer.on_event(event)
        mid = writer.message_id
    with Store.open(clock=clock) as store:
        assert store.interrupted == (mid,)
        message = store.message(mid)
        assert (message.status, message.stop_reason, message.text) == (
            "incomplete",
            "interrupted",
            "part0 part1",
        )
        regenerated = store.regenerate(mid)
        assert store.siblings(mid).ids == (mid, regenerated.message_id)
    with Store.open(clock=clock) as store:
        assert store.interrupted == (regenerated.message_id,)

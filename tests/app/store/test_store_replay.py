"""Replay fidelity on real engine output (the tiny checkpoint): frames come back as they were streamed."""

from __future__ import annotations

from app.store.history_codec import ENTROPY_FLOOR, ENTROPY_MAX_RELATIVE_ERROR
from engine.cancel import CancelToken
from engine.events import Canvas, Done, Step
from engine.inputs.conversation import Conversation, Turn


def pad_after_eos(draft, eos_ids, pad_id):
    """What the engine commits: everything after the first EOS becomes pad."""
    out = list(draft)
    for i, token in enumerate(out):
        if token in eos_ids:
            out[i + 1 :] = [pad_id] * (len(out) - i - 1)
            break
    return tuple(out)


def generate(engine, store, user_id, settings, cancel=None):
    """Stream a real reply into the store; with ``cancel``, stop at block 1, step 2."""
    events = []
    with store.begin_reply(user_id) as writer:
        for event in engine.generate(
            Conversation(turns=(Turn("user", "Tell me about the sea."),)),
            settings,
            cancel=cancel,
            with_pieces=False,
        ):
            events.append(event)
            writer.on_event(event)
            if cancel is not None and isinstance(event, Step) and event.block == 1 and event.step == 2:
                cancel.cancel()
    return writer.message_id, events


def _two_canvas_settings(engine, text: str):
    """Settings whose seed makes the random tiny model write exactly two canvases, ending in EOS."""
    from engine.inputs.conversation import Conversation, Turn

    for seed in range(64):
        settings = engine.default_settings.with_changes(max_new_tokens=512, max_denoising_steps=16, seed=seed)
        events = list(engine.generate(Conversation(turns=(Turn("user", text),)), settings, with_pieces=False))
        if [c.ended for c in events if isinstance(c, Canvas)] == [False, True]:
            return settings
    raise AssertionError("no seed in 0..63 gives two canvases ending in EOS")


def test_replayed_frames_match_the_engine_steps_and_the_committed_canvases(tiny_engine, store):
    # 16 steps per canvas, like a trained model; pick a seed giving two canvases, the second ending in EOS.
    settings = _two_canvas_settings(tiny_engine, "Tell me about the sea.")
    cid = store.create_conversation()
    user = store.send_user_message(cid, "Tell me about the sea.")
    mid, events = generate(tiny_engine, store, user.id, settings)
    steps = [e for e in events if isinstance(e, Step)]
    canvases = [e for e in events if isinstance(e, Canvas)]
    done = events[-1]
    assert isinstance(done, Done) and [c.ended for c in canvases] == [False, True]

    frames = store.replay(mid)
    assert [(f.block, f.step, f.max_steps) for f in frames] == [(s.block, s.step, s.max_steps) for s in steps]
    assert [f.draft for f in frames] == [s.draft for s in steps]
    assert [f.accepted for f in frames] == [s.accepted for s in steps]
    for frame, step in zip(frames, steps, strict=True):
        for got, want in zip(frame.entropy, step.entropy, strict=True):
            assert abs(got - want) <= max(ENTROPY_MAX_RELATIVE_ERROR * want, ENTROPY_FLOOR)

    codec = tiny_engine.codec
    stored = store.canvases(mid)
    assert [c.tokens for c in stored] == [c.tokens for c in canvases]
    for canvas in stored:
        last = store.replay(mid, canvas.block)[-1]
        assert last.step == canvas.steps
        assert pad_after_eos(last.draft, codec.eos_ids, codec.pad_id) == canvas.tokens

    message = store.message(mid)
    assert (message.status, message.text, message.thought) == ("complete", done.answer, done.thought)
    assert message.stats == done.stats

    per_block = store.history_bytes(mid) / len(canvases)
    print(f"\ntiny checkpoint: {per_block:.0f} bytes per block of {len(frames) // len(canvases)} steps")
    assert per_block < 16 * 420  # worst case: a random-weight model changes every position on every step


def test_a_stop_mid_canvas_keeps_the_committed_canvas_and_the_partial_block(tiny_engine, store):
    settings = tiny_engine.default_settings.with_changes(max_new_tokens=1024, max_denoising_steps=4, seed=1)
    cid = store.create_conversation()
    user = store.send_user_message(cid, "Tell me about the sea.")
    mid, events = generate(tiny_engine, store, user.id, settings, cancel=CancelToken())
    done = events[-1]
    assert isinstance(done, Done) and done.incomplete
    message = store.message(mid)
    assert (message.status, message.stop_reason) == ("incomplete", "cancelled")
    assert [c.block for c in store.canvases(mid)] == [0]
    partial = store.replay(mid, 1)
    assert [f.step for f in partial] == [1, 2]
    assert partial[-1].draft == [e for e in events if isinstance(e, Step)][-1].draft

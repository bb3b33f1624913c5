"""Go on from here: in Replay, a new version of the reply that starts from a chosen step.

The engine is the scripted fake (it writes its reply whatever the plan): what is
tested is the app's part: the plan it asks for (the canvases before the step,
the step's draft and accepted positions), the new version beside the old one,
and the earlier canvases kept in it, text and refinement history alike.
"""

from __future__ import annotations

import pytest
from app_chat import loaded, replies, say, wait_idle
from app_fakes import FakeEngine

from app.qt import Qt

pytestmark = pytest.mark.timeout(120)

FIRST = " ".join(f"w{i}" for i in range(300))  # 300 pieces: two canvases of 256
SECOND = " and a new ending."


def open_replay(qtbot, reply):
    qtbot.mouseClick(reply.replay_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: reply.replay is not None, timeout=10_000)
    return reply.replay


def test_go_on_from_a_step_makes_a_version_that_keeps_the_canvases_before_it(qtbot, make_window):
    engine = FakeEngine(FIRST, steps=4)
    window = loaded(qtbot, make_window, engine)
    say(qtbot, window, "count")
    (reply,) = replies(window)
    old = window.store.canvases(reply.store_id)
    assert len(old) == 2
    replay = open_replay(qtbot, reply)
    frame = next(i for i, s in enumerate(replay.steps) if s.block == 1 and s.step == 2)
    step = replay.steps[frame]
    bar = reply.replay_bar
    bar.seek(frame)
    assert bar.fork_button.isVisible()

    engine.reply = SECOND
    qtbot.mouseClick(bar.fork_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    plan = engine.plans[-1]
    assert plan.kind == "fork" and plan.tokens == old[0].tokens
    assert plan.draft == step.draft and plan.accepted == step.accepted
    (new,) = replies(window)
    assert new.store_id != reply.store_id and new.versions.label.text() == "2/2"
    assert new.answer.text == old[0].text + SECOND
    kept = window.store.canvases(new.store_id)
    assert [c.block for c in kept] == [0, 1] and kept[0] == old[0]  # the canvas before the step, as it was
    history = window.store.replay(new.store_id)
    assert [s.draft for s in history if s.block == 0] == [
        s.draft for s in window.store.replay(reply.store_id) if s.block == 0
    ], "its refinement is kept too: the new version replays from the start"
    assert window.store.message(reply.store_id).text == FIRST  # the old version is untouched


def test_go_on_from_a_step_of_the_first_canvas_reads_no_earlier_canvas(qtbot, make_window):
    engine = FakeEngine("Short reply here.", steps=3)
    window = loaded(qtbot, make_window, engine)
    say(qtbot, window, "hi")
    (reply,) = replies(window)
    replay = open_replay(qtbot, reply)
    reply.replay_bar.seek(1)
    engine.reply = "Another reply."
    qtbot.mouseClick(reply.replay_bar.fork_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    plan = engine.plans[-1]
    assert plan.kind == "fork" and plan.tokens == () and plan.draft == replay.steps[1].draft
    (new,) = replies(window)
    assert new.answer.text == "Another reply." and new.versions.label.text() == "2/2"

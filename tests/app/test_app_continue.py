"""Continue a reply that was stopped or interrupted: the engine goes on after its saved canvases."""

from __future__ import annotations

import pytest
from app_chat import loaded, replies
from app_fakes import CANVAS, FakeEngine, pieces_of

from app.qt import Qt
from app.reply_state import ReplyState
from engine.events import Done, Stats, Step
from engine.generation.plan import ReplyPlan

pytestmark = pytest.mark.timeout(120)

LONG = " ".join(f"w{i}" for i in range(CANVAS * 3))  # three canvases of the fake's word pieces


def stop_after_first_canvas(qtbot, window, engine) -> int:
    window.composer.edit.setPlainText("write a lot")
    window.send()
    qtbot.waitUntil(
        lambda: window.active is not None and len(window.active.state.canvases) >= 1, timeout=10_000
    )
    writer = window.active.writer
    window.stop()
    qtbot.waitUntil(lambda: window.active is None, timeout=10_000)
    return writer.message_id


def test_continue_goes_on_after_the_saved_canvases_and_completes_the_same_reply(qtbot, make_window):
    engine = FakeEngine(LONG, steps=4, step_delay=0.002)
    window = loaded(qtbot, make_window, engine)
    mid = stop_after_first_canvas(qtbot, window, engine)
    (reply,) = replies(window)
    assert reply.continue_button.isVisible()
    saved = window.store.canvases(mid)
    assert saved and window.store.message(mid).status == "incomplete"

    engine.reply, engine.step_delay = " and the rest.", 0.0
    qtbot.mouseClick(reply.continue_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.active is None, timeout=10_000)

    so_far = "".join(c.text for c in saved)
    assert engine.plans[-1] == ReplyPlan.continuing([t for c in saved for t in c.tokens], so_far)
    assert engine.calls[-1][0].turns[-1].text == "write a lot"
    whole = "".join(c.text for c in saved) + " and the rest."
    (reply,) = replies(window)
    assert reply.answer.text == whole and not reply.continue_button.isVisible()
    stored = window.store.message(mid)
    assert (stored.text, stored.status) == (whole, "complete")
    assert [c.block for c in window.store.canvases(mid)] == list(range(len(saved) + 1))
    assert window.store.siblings(mid).count == 1, "continuing does not make a new version"


def test_an_interrupted_reply_offers_continue_after_a_restart(qtbot, make_window):
    engine = FakeEngine(LONG, steps=4, step_delay=0.002)
    window = loaded(qtbot, make_window, engine)
    stop_after_first_canvas(qtbot, window, engine)
    cid = window.current_page().session.id
    window.close()

    again = loaded(qtbot, make_window, FakeEngine(" more.", steps=2))
    again.open_chat(cid)
    (reply,) = replies(again)
    assert reply.continue_button.isVisible()
    reply.continue_clicked.emit()
    qtbot.waitUntil(lambda: again.active is None, timeout=10_000)
    assert replies(again)[0].answer.text.endswith(" more.")


def test_only_the_last_reply_of_the_branch_can_be_continued(qtbot, make_window):
    engine = FakeEngine(LONG, steps=4, step_delay=0.002)
    window = loaded(qtbot, make_window, engine)
    mid = stop_after_first_canvas(qtbot, window, engine)
    engine.reply, engine.step_delay = "ok", 0.0
    window.composer.edit.setPlainText("next")
    window.send()
    qtbot.waitUntil(lambda: window.active is None, timeout=10_000)
    first = replies(window)[0]
    assert not first.continue_button.isVisible()
    assert window.replies.continue_reply(mid) is None


def step(block: int, text: str) -> Step:
    return Step(block, 1, 4, (1,), (True,), (0.1,), text, ("x",))


def test_a_continuing_state_numbers_blocks_after_the_saved_ones_and_joins_the_text():
    state = ReplyState.continuing(["Hello ", "there "])
    state.on_step(step(0, "wor"))
    assert state.indicator() == "block 3 · step 1/4"
    assert state.text() == "Hello there wor"
    stats = Stats(1, 0, 2, 1, 4, 4, (4,), 0.5, 0.1, 1.0, 2.0)
    state.on_done(Done((), (), "world", "", "world", stats))
    assert (state.done.text, state.done.answer) == ("Hello there world", "Hello there world")
    assert len(pieces_of(state.done.answer)) == 3

"""Refinement replay: the stored history re-run frame by frame, through the live drawing code.

The fidelity test uses the real engine on the tiny checkpoint: every Step the
live view received is recorded, and the replay must reproduce each one (ids,
accepted mask, text, token pieces exactly; entropy within the store's 8-bit
quantisation error).
"""

from __future__ import annotations

import math

import pytest
from app_chat import loaded, say
from app_fakes import FakeEngine, fake_loader

from app.config import AppConfig
from app.qt import Qt
from app.replay import MAX_STEP_SECONDS, MIN_STEP_SECONDS, Replay, ReplayError, recorded_step_seconds
from app.store.history_codec import ENTROPY_MAX_RELATIVE_ERROR
from app.token_states import classify
from app.ui.messages import AssistantMessage
from app.worker import load_engine
from engine.events import Stats, Step
from engine.settings import GenerationSettings

pytestmark = pytest.mark.timeout(180)


def last_reply(window) -> AssistantMessage:
    return [w for w in window.current_page().transcript.messages() if isinstance(w, AssistantMessage)][-1]


def open_replay(qtbot, window, reply: AssistantMessage) -> Replay:
    qtbot.mouseClick(reply.replay_button, Qt.MouseButton.LeftButton)
    assert reply.replay_bar is not None and reply.replay_bar.isVisible()
    qtbot.waitUntil(
        lambda: reply.replay is not None or reply.replay_bar.message.text() != "Preparing the replay…"
    )
    assert reply.replay is not None, reply.replay_bar.message.text()
    return reply.replay


def step(block: int, n: int, text: str, steps: int = 4) -> Step:
    return Step(block, n, steps, (1, 2), (True, False), (0.1, 2.0), text, ("a", "b"), n == steps)


# --- the model (Qt-free) ---------------------------------------------------------------------------


def test_state_at_commits_earlier_blocks_and_keeps_the_previous_step():
    replay = Replay.build(
        [step(0, 1, "He"), step(0, 2, "Hello"), step(1, 1, " wo"), step(1, 2, " world")],
        ["Hello"],
        None,
    )
    first = replay.state_at(0)
    assert first.text() == "He" and first.previous_step is None
    second_block = replay.state_at(3)
    assert second_block.canvases == ["Hello"]
    assert second_block.text() == "Hello world"
    assert second_block.previous_step.text == " wo"
    assert replay.position(2) == "block 2 · step 1/4"
    assert replay.state_at(99).step.text == " world", "out-of-range frames clamp to the ends"


def test_a_history_that_decodes_to_other_text_is_refused_with_the_fix():
    with pytest.raises(ReplayError, match=r"different model than Demo.*Load the model that wrote it"):
        Replay.build([step(0, 1, "x"), step(0, 2, "Goodbye")], ["Hello"], None, model_name="Demo")
    with pytest.raises(ReplayError, match="block 2"):
        Replay.build([step(0, 1, "Hello")], ["Hello", "world"], None)
    with pytest.raises(ReplayError, match="no saved refinement history"):
        Replay.build([], [], None)


def test_playback_speed_follows_the_recorded_time_per_forward_within_watchable_bounds():
    def stats(seconds: float, forwards: int) -> Stats:
        return Stats(1, 0, 10, 1, forwards, 16, (16,), 0.6, 0.01, seconds, 10 / seconds)

    assert recorded_step_seconds(stats(1.6, 16)) == pytest.approx(0.1)
    assert recorded_step_seconds(stats(0.16, 16)) == MIN_STEP_SECONDS  # 10 ms forwards: slowed down
    assert recorded_step_seconds(stats(160, 16)) == MAX_STEP_SECONDS
    assert recorded_step_seconds(None) > 0


# --- in the window ----------------------------------------------------------------------------------


def test_replay_scrubs_through_every_step_in_both_views_and_restores_the_final_reply(qtbot, make_window):
    engine = FakeEngine("# Title\n\nSome **bold** text and a list:\n\n- one\n- two\n", steps=6)
    window = loaded(qtbot, make_window, fake_loader(engine))
    say(qtbot, window, "show me")
    reply = last_reply(window)
    final = reply.answer.text
    replay = open_replay(qtbot, window, reply)
    bar = reply.replay_bar
    assert len(replay) == 6 and bar.slider.maximum() == 5
    assert bar.position.text() == "block 1 · step 1/6"
    assert "replay" in reply.indicator.text()
    assert reply.answer.text != final, "the first frame still has unsettled tokens"

    bar.seek(5)
    assert reply.answer.text.strip() == final.strip()
    assert bar.position.text() == "block 1 · step 6/6"

    reply.set_token_view(True)
    bar.seek(2)
    assert reply.grid.states(), "the token grid draws the replayed step"
    assert reply.grid.states() == classify(replay.steps[2], replay.steps[1])

    bar.seek(0)
    bar.play()
    assert bar.playing
    qtbot.waitUntil(lambda: not bar.playing, timeout=10_000)
    assert bar.frame == 5, "playing runs to the last frame and pauses there"

    qtbot.mouseClick(bar.close_button, Qt.MouseButton.LeftButton)
    reply.set_token_view(False)
    assert not bar.isVisible() and reply.replay is None
    assert reply.answer.text == final and reply.indicator.text() == ""


def test_replay_speed_changes_the_frame_interval(qtbot, make_window):
    window = loaded(qtbot, make_window, fake_loader(FakeEngine("Hi.", steps=4)))
    say(qtbot, window, "x")
    reply = last_reply(window)
    open_replay(qtbot, window, reply)
    bar = reply.replay_bar
    normal = bar._interval_ms()
    bar.speed.setCurrentIndex(bar.speed.findText("4×"))
    assert bar._interval_ms() == pytest.approx(normal / 4, abs=1)
    bar.play()
    qtbot.keyClick(bar, Qt.Key.Key_Space)
    assert not bar.playing


def test_replay_of_a_reply_written_by_another_model_says_which_to_load(qtbot, make_window):
    window = loaded(qtbot, make_window, fake_loader(FakeEngine("Hello there.", steps=3)))
    say(qtbot, window, "x")
    cid = window.current_page().session.id
    window.close()

    other = FakeEngine("Different words entirely.", steps=3)
    for piece in ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]:
        other._id(piece)  # another vocabulary: the stored ids now mean other pieces
    window = loaded(qtbot, make_window, fake_loader(other))
    window.open_chat(cid)
    reply = last_reply(window)
    qtbot.mouseClick(reply.replay_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "different model" in reply.replay_bar.message.text())
    assert "Load the model that wrote it" in reply.replay_bar.message.text()
    assert reply.replay is None and reply.replay_button.isEnabled()
    assert reply.answer.text == "Hello there.", "the saved reply is untouched"


def test_replay_without_a_model_asks_for_one(qtbot, make_window):
    window = loaded(qtbot, make_window, fake_loader(FakeEngine("Hello.", steps=2)))
    say(qtbot, window, "x")
    cid = window.current_page().session.id
    window.close()
    window = make_window(fake_loader(FakeEngine()))
    window.open_chat(cid)
    reply = last_reply(window)
    qtbot.mouseClick(reply.replay_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "No model is loaded" in reply.replay_bar.message.text())


def test_replay_reproduces_every_live_step_of_the_real_engine(qtbot, make_window, tiny_checkpoint):
    settings = GenerationSettings(max_new_tokens=512, max_denoising_steps=4, seed=3)
    window = loaded(qtbot, make_window, load_engine, str(tiny_checkpoint), AppConfig(generation=settings))
    live: list[Step] = []
    window.host.worker.step_ready.connect(lambda _rid, s: live.append(s))
    say(qtbot, window, "Tell me something", timeout=60_000)
    reply = last_reply(window)
    final = reply.answer.text
    replay = open_replay(qtbot, window, reply)

    assert len({s.block for s in live}) >= 2, "the case spans several canvases"
    assert len(replay.steps) == len(live)
    for original, again in zip(live, replay.steps, strict=True):
        assert (again.block, again.step, again.max_steps) == (
            original.block,
            original.step,
            original.max_steps,
        )
        assert again.draft == original.draft and again.accepted == original.accepted
        assert again.text == original.text and again.pieces == original.pieces
        for a, b in zip(original.entropy, again.entropy, strict=True):
            assert (b == 0.0 and a < 1e-4) or math.isclose(a, b, rel_tol=ENTROPY_MAX_RELATIVE_ERROR + 1e-6)

    reply.replay_bar.seek(len(replay) - 1)
    assert reply.answer.text.strip() == final.strip(), "the replayed last frame equals the stored reply"


def test_the_history_is_read_and_decoded_off_the_gui_thread_and_drawn_on_it(qtbot, make_window, monkeypatch):
    from app_probes import ThreadRecorder

    from app.store import Store
    from app.ui.messages import AssistantMessage

    recorder = ThreadRecorder()
    recorder.wrap(monkeypatch, Store, "replay")
    recorder.wrap(monkeypatch, FakeEngine, "decode_steps")
    recorder.wrap(monkeypatch, Replay, "build")
    recorder.wrap(monkeypatch, AssistantMessage, "render_frame")
    window = loaded(qtbot, make_window, FakeEngine("Some *text*.", steps=4))
    say(qtbot, window, "x")
    recorder.calls.clear()
    reply = last_reply(window)
    open_replay(qtbot, window, reply)
    reply.replay_bar.seek(2)
    assert {"replay", "decode_steps", "build"} <= set(recorder.off_gui())
    assert ("render_frame", True) in recorder.calls and "render_frame" not in recorder.off_gui()


def test_playing_a_long_reply_at_top_speed_shows_every_frame_in_order_and_ends_on_the_reply(
    qtbot, make_window
):
    # How long the GUI thread stalls meanwhile is measured by tools/ui_bench.py, not asserted here.
    text = "\n\n".join(
        f"## Part {i}\n\nSome **bold** words, `code` and a list:\n\n- one\n- two" for i in range(60)
    )
    window = loaded(qtbot, make_window, FakeEngine(text, steps=12))
    say(qtbot, window, "long", timeout=30_000)
    reply = last_reply(window)
    final = reply.answer.text
    replay = open_replay(qtbot, window, reply)
    assert len({s.block for s in replay.steps}) >= 2
    bar = reply.replay_bar
    bar.speed.setCurrentIndex(bar.speed.count() - 1)
    bar.seek(0)
    shown: list[int] = []
    bar.frame_changed.connect(shown.append)
    bar.play()
    qtbot.waitUntil(lambda: not bar.playing, timeout=60_000)
    assert shown == list(range(1, len(replay))), "each frame once, in order, none skipped"
    assert reply.answer.text.strip() == final.strip()

"""A reply stored as whole canvases without steps: it says so, its token view and Replay go canvas by canvas.

A model on a server (the stand-in vLLM server of tests/vllm_server.py, through the real
loader and store) sends each committed canvas whole and no denoising steps; an old local
reply can have lost its history.  Neither is an error: the stored canvases' text is all a
canvas-by-canvas replay needs, so it works whichever model is loaded, or none.
"""

from __future__ import annotations

import sqlite3

import pytest
from app_chat import loaded, replies, say
from app_fakes import FakeEngine, fake_loader
from PIL import Image, ImageSequence
from test_app_replay import last_reply, open_replay

from app.qt import QFileDialog, Qt
from app.replay import NO_HISTORY_NOTE, NOTE_TOOLTIPS, SERVER_NOTE, Replay
from app.reply_state import SERVER_STATS_TOOLTIP, ReplyState, canvas_step, format_stats
from app.servers import ServerProfile, add_server
from app.store import default_db_path
from app.token_states import TokenState, classify
from app.worker import load_engine
from engine.events import Done, Stats
from tests.vllm_server import MODEL, Behaviour, fake_vllm

pytestmark = pytest.mark.timeout(120)

CANVASES = ["The first canvas. ", "The second one. ", "And the **third**."]


def served_stats(canvases: int = 3, seconds: float = 1.5) -> Stats:
    return Stats(17, 0, 300, canvases, 0, 0, (), 0.0, 0.2, seconds, 200.0)


# --- the model (Qt-free) ---------------------------------------------------------------------------


def test_a_reply_without_steps_replays_canvas_by_canvas_from_its_text():
    replay = Replay.build([], CANVASES, served_stats())
    assert replay.by_canvas and len(replay) == 3
    assert [replay.state_at(i).text() for i in range(3)] == [
        "The first canvas. ",
        "The first canvas. The second one. ",
        "".join(CANVASES),
    ]
    assert replay.state_at(99).text() == "".join(CANVASES), "out-of-range frames clamp to the ends"
    assert replay.position(1) == "canvas 2 of 3"
    assert replay.label(1) == f"canvas 2 of 3 · {SERVER_NOTE}"
    assert replay.step_seconds == 0.5  # 1.5 s for 3 canvases
    local = Replay.build([], CANVASES, Stats(17, 0, 300, 3, 40, 16, (14, 13, 13), 7.5, 0.1, 2.0, 150.0))
    assert local.label(0) == f"canvas 1 of 3 · {NO_HISTORY_NOTE}", "a local reply whose history is gone"


def test_a_canvas_known_by_its_text_is_drawn_stable_and_a_served_reply_says_where_it_came_from():
    step = canvas_step(2, "Hello **world**.\n")
    assert "".join(step.pieces) == "Hello **world**.\n" and step.block == 2
    assert set(classify(step, None)) == {TokenState.STABLE}
    live = ReplyState()
    live.on_canvas_text("Hello ")
    live.on_canvas_text("world.")
    assert live.indicator() == "canvas 2 · whole canvases from a server, no denoising steps"
    assert live.grid_step()[0].text == "world." and live.grid_step()[1] is None
    line = format_stats(Done((), (), "", "", "", served_stats()))
    assert line == "server · 300 tokens · 3 whole canvases · 200 tok/s · first canvas 200 ms"


# --- the window ---------------------------------------------------------------------------------------


def test_a_served_reply_shows_stable_canvases_and_replays_canvas_by_canvas(
    qtbot, make_window, tmp_path, monkeypatch
):
    monkeypatch.setenv("DGCHAT_NO_KEYRING", "1")
    with fake_vllm(Behaviour(canvases=CANVASES)) as server:
        add_server(ServerProfile("lab", server.url, MODEL), "")
        window = loaded(qtbot, make_window, load_engine, source="server:lab")
        window.view.toggle_token_view()
        state = say(qtbot, window, "Tell me three things")
        assert state.steps_received == 0 and state.canvases == CANVASES
        reply = replies(window)[-1]
        assert reply.stats.text().startswith("server · 300 tokens · 3 whole canvases")
        assert reply.stats.toolTip() == SERVER_STATS_TOOLTIP
        assert reply.token_panel.isVisible() and reply.grid.states()
        assert set(reply.grid.states()) == {TokenState.STABLE}, "the last canvas, committed: all stable"

        replay = open_replay(qtbot, window, reply)
        bar = reply.replay_bar
        assert not bar.message.isVisible() and bar.play_button.isVisible(), "no error, the controls"
        assert len(replay) == 3 and bar.slider.maximum() == 2
        assert bar.position.text() == f"canvas 1 of 3 · {SERVER_NOTE}"
        assert bar.position.toolTip() == NOTE_TOOLTIPS[SERVER_NOTE] and "server" in SERVER_NOTE
        assert reply.answer.text == "The first canvas."
        bar.seek(1)
        assert reply.answer.text == "The first canvas. The second one."
        assert reply.indicator.text() == "replay · canvas 2 of 3"
        assert set(reply.grid.states()) == {TokenState.STABLE}
        target = tmp_path / "served.gif"
        monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
        with qtbot.waitSignal(window.replay_export.saved, timeout=60_000):
            qtbot.mouseClick(bar.save_button, Qt.MouseButton.LeftButton)
        with Image.open(target) as gif:
            assert sum(1 for _ in ImageSequence.Iterator(gif)) == 3, "one GIF frame per canvas"
        bar.closed.emit()
        assert reply.answer.text == "The first canvas. The second one. And the **third**."
        cid = window.current_page().session.id
        window.close()

    # Another model loaded (a local one): the served reply still replays from its stored text.
    window = loaded(qtbot, make_window, FakeEngine())
    window.open_chat(cid)
    reply = last_reply(window)
    assert reply.stats.toolTip() == SERVER_STATS_TOOLTIP, "said again when the chat is opened later"
    replay = open_replay(qtbot, window, reply)
    assert replay.by_canvas and len(replay) == 3
    assert reply.replay_bar.fork_button.isHidden(), "whole canvases hold no step to go on from"
    reply.replay_bar.seek(2)
    assert reply.answer.text == "The first canvas. The second one. And the **third**."


def test_a_local_reply_whose_history_is_gone_replays_by_canvas_even_without_a_model(qtbot, make_window):
    window = loaded(qtbot, make_window, fake_loader(FakeEngine("Hello there.", steps=3)))
    say(qtbot, window, "x")
    cid = window.current_page().session.id
    window.close()
    with sqlite3.connect(default_db_path()) as db:
        assert db.execute("DELETE FROM refinements").rowcount > 0
    window = make_window(fake_loader(FakeEngine()))  # no model loaded
    window.open_chat(cid)
    reply = last_reply(window)
    replay = open_replay(qtbot, window, reply)
    assert replay.by_canvas and reply.replay_bar.position.text() == f"canvas 1 of 1 · {NO_HISTORY_NOTE}"
    assert reply.answer.text == "Hello there."

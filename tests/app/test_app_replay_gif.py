"""Save GIF… in the replay bar: every step drawn off-screen by the reply's own code, one palette, a loop."""

from __future__ import annotations

import pytest
from app_chat import loaded, say
from app_fakes import FakeEngine, fake_loader
from PIL import Image, ImageSequence
from test_app_replay import last_reply, open_replay

from app.qt import QFileDialog, Qt
from app.ui.replay_recorder import LAST_FRAME_HOLD_MS, MARGIN_PX, MAX_HEIGHT_PX, WIDTH_PX, sampled_frames

pytestmark = pytest.mark.timeout(180)


def frames_of(path) -> list[Image.Image]:
    with Image.open(path) as gif:
        return [frame.convert("RGB") for frame in ImageSequence.Iterator(gif)]


def test_save_gif_records_every_step_and_leaves_the_reply_on_screen_alone(
    qtbot, make_window, tmp_path, monkeypatch
):
    engine = FakeEngine("# Watering\n\nWater **early**, at the roots:\n\n- beans\n- squash\n", steps=8)
    window = loaded(qtbot, make_window, fake_loader(engine))
    say(qtbot, window, "how do I water?")
    reply = last_reply(window)
    replay = open_replay(qtbot, window, reply)
    reply.replay_bar.seek(3)
    shown = reply.answer.text
    target = tmp_path / "shared" / "watering"  # no extension: .gif is added
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))

    with qtbot.waitSignal(window.replay_export.saved, timeout=60_000) as saved:
        qtbot.mouseClick(reply.replay_bar.save_button, Qt.MouseButton.LeftButton)
    path = saved.args[0]
    assert path == tmp_path / "shared" / "watering.gif" and path.is_file()
    assert reply.answer.text == shown and reply.replay_bar.frame == 3  # the reply shown is untouched
    assert window.status.currentMessage().startswith("Replay saved to")

    frames = frames_of(path)
    assert len(frames) == len(replay) == 8
    assert frames[0].width == WIDTH_PX + 2 * MARGIN_PX and frames[0].height <= MAX_HEIGHT_PX + 2 * MARGIN_PX
    assert frames[0].tobytes() != frames[-1].tobytes(), "noise first, the finished reply last"
    with Image.open(path) as gif:
        assert gif.info.get("loop") == 0  # loops forever, as a shared GIF should
        gif.seek(len(frames) - 1)
        assert gif.info["duration"] == LAST_FRAME_HOLD_MS  # the finished reply stays a moment


def test_the_token_view_is_recorded_when_it_is_shown(qtbot, make_window, tmp_path):
    engine = FakeEngine("tokens " * 40, steps=4)
    window = loaded(qtbot, make_window, fake_loader(engine))
    say(qtbot, window, "go")
    reply = last_reply(window)
    open_replay(qtbot, window, reply)
    reply.set_token_view(True)
    with qtbot.waitSignal(window.replay_export.saved, timeout=60_000) as saved:
        recorder = window.replay_export.save(reply, tmp_path / "grid.gif")
    assert recorder is not None
    frames = frames_of(saved.args[0])
    assert len(frames) == 4
    # The grid's cells are coloured by entropy: far more colours than black text on white.
    assert len(frames[0].getcolors(maxcolors=1 << 20)) > 20


def test_long_replays_are_sampled_and_end_on_the_last_frame():
    assert sampled_frames(10, most=160) == list(range(10))
    picked = sampled_frames(1000, most=160)
    assert len(picked) <= 161 and picked[0] == 0 and picked[-1] == 999
    assert picked == sorted(set(picked))


def test_a_gif_that_cannot_be_written_is_named_with_the_fix(qtbot, make_window, tmp_path):
    window = loaded(qtbot, make_window, fake_loader(FakeEngine("short", steps=3)))
    say(qtbot, window, "go")
    reply = last_reply(window)
    replay = open_replay(qtbot, window, reply)
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    recorder = window.replay_export.save(reply, blocker / "replay.gif")
    with qtbot.waitSignal(recorder.failed, timeout=60_000) as failed:
        pass
    message = failed.args[0]
    assert (
        "could not be saved" in message and "Choose another folder" in message and "Traceback" not in message
    )
    assert window._notices()[-1].message == message  # told in the chat, where it stays
    assert reply.replay is replay  # the replay on screen goes on

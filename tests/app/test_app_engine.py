"""End to end with the real Engine on the tiny checkpoint: the same code path as the 26B model."""

from __future__ import annotations

import pytest
from app_probes import ThreadRecorder

from app.config import AppConfig
from app.reply_state import ReplyState
from app.ui.messages import AssistantMessage
from app.ui.status import StatusBar
from app.ui.window import MainWindow
from app.worker import load_engine
from engine.engine import Engine
from engine.settings import GenerationSettings

pytestmark = pytest.mark.timeout(120)


def tiny_config(**changes) -> AppConfig:
    generation = GenerationSettings(max_new_tokens=512, max_denoising_steps=8, seed=1)
    return AppConfig(generation=generation.with_changes(**changes))


def loaded(qtbot, make_window, tiny_checkpoint, config: AppConfig) -> MainWindow:
    window = make_window(load_engine, config)
    window.load_model(str(tiny_checkpoint))
    qtbot.waitUntil(
        lambda: window.model_info is not None or window.model_switcher.load_notice is not None, timeout=60_000
    )
    assert window.model_info is not None, window.model_switcher.load_notice.message
    return window


def test_send_streams_steps_and_shows_the_engines_final_text(
    qtbot, make_window, tiny_checkpoint, monkeypatch
):
    recorder = ThreadRecorder()
    for name in ("on_step", "on_canvas", "on_done", "on_prompt_encoded"):
        recorder.wrap(monkeypatch, ReplyState, name)
    recorder.wrap(monkeypatch, AssistantMessage, "render_frame")
    recorder.wrap(monkeypatch, StatusBar, "set_model")  # called by ModelSwitcher.on_model_loaded
    recorder.wrap(monkeypatch, Engine, "load")  # torch's work: the GUI thread must never wait for it
    recorder.wrap(monkeypatch, Engine, "generate")
    indicators: list[str] = []
    original_indicator = ReplyState.indicator
    monkeypatch.setattr(
        ReplyState, "indicator", lambda self: indicators.append(original_indicator(self)) or indicators[-1]
    )

    window = loaded(qtbot, make_window, tiny_checkpoint, tiny_config())
    assert window.status.model_label.text() == tiny_checkpoint.name
    assert window.status.device_label.text() == "cpu · float32"

    def one_reply() -> None:
        window.composer.edit.setPlainText("Hello, tiny model")
        window.send()
        reply = window.active.widget
        state = window.active.state
        qtbot.waitUntil(lambda: window.active is None, timeout=60_000)
        done = state.done
        assert done is not None and not done.incomplete, reply.notice and reply.notice.message
        assert state.steps_received >= 1 and len(state.canvases) == done.stats.canvases >= 1
        assert reply.answer.text == done.answer
        assert f"{done.stats.generated_tokens} tokens" in reply.stats.text()
        assert window.current_page().session.messages[-1].text == done.answer

    one_reply()
    assert any(s.startswith("block 1 · step ") and s.endswith("/8") for s in indicators), indicators
    assert {"on_step", "on_canvas", "on_done", "render_frame", "set_model"} <= recorder.names()
    # The model's work runs off the GUI thread, every slot on it.
    assert set(recorder.off_gui()) == {"load", "generate"}, recorder.off_gui()


def test_stop_mid_reply_with_the_real_engine(qtbot, make_window, tiny_checkpoint):
    # Many steps and a confidence bar the random model never reaches: only Stop ends it early.
    config = tiny_config(max_denoising_steps=400, confidence_threshold=1e-9, max_new_tokens=2048)
    window = loaded(qtbot, make_window, tiny_checkpoint, config)
    window.composer.edit.setPlainText("Tell me a long story")
    window.send()
    reply = window.active.widget
    state = window.active.state
    qtbot.waitUntil(lambda: state.steps_received >= 3, timeout=60_000)
    window.stop()
    qtbot.waitUntil(lambda: window.active is None, timeout=30_000)
    assert state.done is not None and state.done.incomplete and state.done.stop_reason == "cancelled"
    assert state.steps_received < 100
    assert "stopped" in reply.stats.text()
    assert window.composer.send_button.text() == "Send"


def test_a_follow_up_turn_works_and_a_new_chat_starts_fresh(qtbot, make_window, tiny_checkpoint):
    window = loaded(qtbot, make_window, tiny_checkpoint, tiny_config())
    for text in ("first", "second"):
        window.composer.edit.setPlainText(text)
        window.send()
        qtbot.waitUntil(lambda: window.active is None, timeout=60_000)
    messages = window.current_page().session.messages
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]
    assert all(m.error is None for m in messages)
    window.new_chat()
    assert not window.current_page().session.messages


def test_an_image_that_vanished_before_sending_is_reported_inline(
    qtbot, make_window, tiny_checkpoint, tmp_path
):
    from media_files import write_png

    window = loaded(qtbot, make_window, tiny_checkpoint, tiny_config())
    picture = write_png(tmp_path / "gone.png")
    window.add_files([picture])
    qtbot.waitUntil(
        lambda: bool(window.composer.attachments()) and not window.composer.pending_probes(), timeout=10_000
    )
    picture.unlink()  # accepted when attached, gone when the store copies it on send
    window.composer.edit.setPlainText("what is this?")
    assert window.send() is None
    assert window.active is None
    notices = window._notices()
    assert notices and "gone.png" in notices[-1].message
    assert "Traceback" not in notices[-1].message
    assert not window.current_page().session.messages, "nothing half-sent"
    assert window.composer.edit.toPlainText() == "what is this?", "the composer keeps the message"


def test_a_folder_opened_once_is_listed_among_the_models(qtbot, make_window, tiny_checkpoint):
    from app.config import load_config

    window = loaded(qtbot, make_window, tiny_checkpoint, AppConfig())
    assert window.config.model == str(tiny_checkpoint)
    assert window.config.model_folders == (str(tiny_checkpoint),) == load_config().model_folders
    window.load_model(str(tiny_checkpoint))  # loading it again does not list it twice
    qtbot.waitUntil(lambda: window.model_info is not None, timeout=60_000)
    assert window.config.model_folders == (str(tiny_checkpoint),)


def test_switching_models_frees_the_previous_ones_weights_first(qtbot, make_window, tiny_checkpoint):
    """The old model is freed before the next loads, not whenever the GUI thread's collector runs."""
    loaded = []

    def loader(source, progress):
        if loaded:
            model = loaded[-1].model
            assert all(t.device.type == "meta" for t in [*model.parameters(), *model.buffers()])
        engine = load_engine(source, progress)
        loaded.append(engine)
        return engine

    window = make_window(loader)
    for _ in range(2):
        window.load_model(str(tiny_checkpoint))
        qtbot.waitUntil(lambda: window.model_info is not None, timeout=60_000)
    assert len(loaded) == 2
    assert next(loaded[1].model.parameters()).device.type == "cpu"

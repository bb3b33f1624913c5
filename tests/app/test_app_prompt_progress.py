"""A long prompt shows how far it is read in the live reply's indicator, and Stop ends it there."""

from __future__ import annotations

from app_fakes import FakeEngine, fake_loader

from app.reply_state import ReplyState


def loaded(qtbot, make_window, engine: FakeEngine):
    window = make_window(fake_loader(engine))
    window.load_model("fake")
    qtbot.waitUntil(lambda: window.model_info is not None, timeout=10_000)
    return window


def test_the_indicator_reads_the_prompt_chunk_by_chunk_then_refines(qtbot, make_window, monkeypatch):
    shown: list[str] = []
    original = ReplyState.indicator
    monkeypatch.setattr(ReplyState, "indicator", lambda self: shown.append(original(self)) or shown[-1])
    window = loaded(qtbot, make_window, FakeEngine(prompt_chunks=4, step_delay=0.02))
    window.composer.edit.setPlainText("A very long question")
    window.send()
    qtbot.waitUntil(lambda: window.active is None, timeout=10_000)
    reading = [text for text in shown if text.startswith("Reading the prompt · ")]
    assert reading, shown
    assert "/ 8,192 tokens" in reading[0]
    assert shown.index(reading[0]) < min(i for i, text in enumerate(shown) if text.startswith("block 1"))


def test_stop_while_the_prompt_is_read_ends_the_reply_without_a_step(qtbot, make_window):
    engine = FakeEngine(prompt_chunks=50, step_delay=0.02)
    window = loaded(qtbot, make_window, engine)
    window.composer.edit.setPlainText("A very long question")
    window.send()
    state = window.active.state
    qtbot.waitUntil(lambda: state.prompt_progress is not None, timeout=10_000)
    window.stop()
    qtbot.waitUntil(lambda: window.active is None, timeout=10_000)
    assert state.done is not None and state.done.incomplete
    assert state.steps_received == 0 and state.prompt_progress.tokens_done < 50 * 2048

"""Live rendering under load: a 1,000 events/s stream repaints at screen rate and ends exact."""

from __future__ import annotations

import itertools
import time

from app_fakes import FakeEngine, fake_loader

from app.markdown import MarkdownRenderer
from app.markdown_split import split_blocks
from app.palette import LIGHT
from app.qt import QApplication, QWidget
from app.throttle import Throttle
from app.ui.markdown_stack import MarkdownStack
from app.ui.messages import AssistantMessage

FRAME_SPACING_S = 0.015  # the 16 ms throttle, less the timers' 1 ms granularity


def long_markdown() -> str:
    parts = []
    for i in range(30):
        parts.append(
            f"## Section {i}\n\nSome *text* with `code` number {i}, and more words to fill the canvas.\n"
        )
        if i % 5 == 0:
            parts.append(f"```python\ndef f{i}(x):\n    return x * {i}\n```\n")
        if i % 7 == 0:
            parts.append("| a | b |\n|---|---|\n| 1 | 2 |\n")
    return "\n".join(parts)


def test_throttle_coalesces_calls_and_always_runs_the_last_one(qtbot):
    calls: list[int] = []
    state = {"value": 0}
    throttle = Throttle(lambda: calls.append(state["value"]), 50)
    start = time.monotonic()
    while time.monotonic() - start < 0.3:
        state["value"] += 1
        throttle()
        QApplication.processEvents()
    last = state["value"]
    qtbot.waitUntil(lambda: not throttle.pending, timeout=1000)
    assert calls[0] == 1, "the first call in a quiet period runs at once"
    assert calls[-1] == last, "a trailing call shows the final state"
    assert len(calls) <= 0.3 / 0.05 + 2


def test_throttle_flush_and_cancel(qtbot):
    calls: list[str] = []
    throttle = Throttle(lambda: calls.append("x"), 1000)
    throttle()
    throttle()
    assert calls == ["x"] and throttle.pending
    throttle.flush()
    assert calls == ["x", "x"] and not throttle.pending
    throttle()
    throttle.cancel()
    qtbot.wait(50)
    assert calls == ["x", "x"]


def test_thousand_events_per_second_repaint_at_screen_rate_and_end_exact(qtbot, make_window, monkeypatch):
    # Behaviour only: how long the GUI thread stalls meanwhile is measured by tools/ui_bench.py.
    reply_text = long_markdown()
    engine = FakeEngine(reply_text, steps=400, step_delay=0.001)  # ~1,000 steps/s
    frames: list[tuple[float, int]] = []  # when each frame was drawn, and the steps received by then
    original = AssistantMessage.render_frame

    def counting(self, state):
        frames.append((time.perf_counter(), state.steps_received))
        return original(self, state)

    monkeypatch.setattr(AssistantMessage, "render_frame", counting)
    window = make_window(fake_loader(engine))
    window.load_model("fake")
    qtbot.waitUntil(lambda: window.model_info is not None, timeout=5000)
    window.composer.edit.setPlainText("go")
    window.send()
    reply = window.active.widget
    state = window.active.state
    qtbot.waitUntil(lambda: window.active is None, timeout=60_000)
    events = state.steps_received
    assert events == 1200  # three canvases of 400 steps: none lost
    times = [t for t, _ in frames[1:]]  # (the first is drawn as the reply starts, not by the throttle)
    steps = [n for _, n in frames]
    assert min(b - a for a, b in itertools.pairwise(times)) >= FRAME_SPACING_S, "never above screen rate"
    assert steps == sorted(steps), "frames show the reply in order"
    assert len(frames) >= 3, "the reply was drawn live, not only at the end"
    assert len(frames) < events / 5, "steps were coalesced into frames"
    assert reply.answer.text == state.done.answer == reply_text.strip()
    # Committed text was rendered in chunks, once each; the live tail took the per-frame renders.
    assert reply.answer.chunk_renders < 40


def test_events_of_a_stopped_reply_are_ignored(qtbot, make_window):
    engine = FakeEngine("late " * 400, steps=50, step_delay=0.005)
    window = make_window(fake_loader(engine))
    window.load_model("fake")
    qtbot.waitUntil(lambda: window.model_info is not None, timeout=5000)
    window.composer.edit.setPlainText("go")
    first_id = window.send()
    reply = window.active.widget
    qtbot.waitUntil(lambda: reply.state.steps_received >= 2, timeout=5000)
    window.stop()
    qtbot.waitUntil(lambda: window.active is None, timeout=5000)
    frames = reply.frames
    window.live.on_step_ready(first_id, reply.state.step)  # a straggler
    qtbot.wait(50)
    assert reply.frames == frames


def test_adaptive_throttle_backs_off_when_frames_get_expensive(qtbot):
    calls: list[float] = []

    def slow() -> None:
        calls.append(time.perf_counter())
        time.sleep(0.03)

    throttle = Throttle(slow, 16, adaptive=True)
    start = time.monotonic()
    while time.monotonic() - start < 0.6:
        throttle()
        QApplication.processEvents()
    throttle.cancel()
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert throttle.last_duration_ms >= 30
    assert min(gaps) >= 0.055, "the next frame waits twice the last frame's cost"


class _SlowToPaint(QWidget):
    """Its paint takes 30 ms, as the token grid's did: the cost comes after the call that asks for it."""

    painted = 0

    def paintEvent(self, _event) -> None:
        time.sleep(0.03)
        self.painted += 1


def test_adaptive_throttle_counts_the_paint_that_follows_a_frame_and_backs_off(qtbot):
    widget = _SlowToPaint()
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: widget.painted > 0)  # shown: what follows is an update, not the first paint
    calls: list[float] = []

    def frame() -> None:
        calls.append(time.perf_counter())
        widget.update()  # cheap itself: the paint runs later, on the event loop

    throttle = Throttle(frame, 16, adaptive=True)
    throttle()
    qtbot.waitUntil(lambda: throttle.last_duration_ms >= 30, timeout=5000)
    assert throttle.last_duration_ms - throttle.last_call_ms >= 30, "the paint is part of the frame's cost"
    calls.clear()
    start = time.monotonic()
    while time.monotonic() - start < 0.6:
        throttle()
        QApplication.processEvents()
    throttle.cancel()
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert len(calls) >= 2 and min(gaps) >= 0.055, "the next frame waits twice the last frame's cost"


def test_the_live_tail_is_parsed_block_by_block_and_an_unchanged_block_not_again(qtbot):
    renderer = MarkdownRenderer(LIGHT, 11)
    live, final = MarkdownStack(lambda: renderer), MarkdownStack(lambda: renderer)
    qtbot.addWidget(live)
    qtbot.addWidget(final)
    text = long_markdown()
    live.set_text(text, 0)  # nothing committed: all of it is the live tail
    blocks = len(split_blocks(text))
    assert blocks > 30 and live.block_renders == blocks
    final.set_final(text)
    assert live.plain_text() == final.plain_text(), "block by block renders as the whole does"
    changed = text.replace("number 29,", "number twenty-nine,")  # the draft changed in one block
    live.set_text(changed, 0)
    assert live.block_renders == blocks + 1
    final.set_final(changed)
    assert live.plain_text() == final.plain_text()

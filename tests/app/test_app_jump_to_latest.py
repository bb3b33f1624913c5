"""The round "jump to the latest message" button over a transcript the reader scrolled up in.

While the view follows the newest text it is hidden; once the reader scrolls up (and a growing
reply no longer pulls the view down) it appears in the viewport's bottom-right corner, and a
click brings the view back to the newest text, which it then follows again.
"""

from __future__ import annotations

import threading

from app_chat import loaded
from app_fakes import FakeEngine
from test_app_long_chat import long_chat

from app.qt import QApplication, Qt
from app.ui.messages import AssistantMessage

LONG_REPLY = " ".join(f"Word{i} of a long reply that grows canvas by canvas." for i in range(200))


def _button_in_corner(transcript) -> bool:
    box, viewport = transcript.jump_button.geometry(), transcript.viewport().geometry()
    in_corner = box.left() > viewport.center().x() and box.top() > viewport.center().y()
    return viewport.contains(box) and in_corner


def test_the_button_appears_when_scrolled_up_and_a_click_goes_back_to_the_newest_message(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine())
    page = window.open_chat(long_chat(window.store))
    transcript, bar = page.transcript, page.transcript.verticalScrollBar()
    button = transcript.jump_button
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum())
    assert not button.isVisible(), "at the newest message: nothing to jump to"
    assert button.accessibleName() == button.toolTip() == "Jump to the latest message"

    bar.setValue(bar.maximum() // 3)  # the reader scrolls up
    assert button.isVisible() and _button_in_corner(transcript)
    window.resize(window.width() - 150, window.height() - 80)
    qtbot.waitUntil(lambda: _button_in_corner(transcript))  # it stays in the corner

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert bar.value() == bar.maximum()
    assert not button.isVisible()


def test_during_a_reply_the_button_brings_back_the_growing_text_and_it_is_followed_again(qtbot, make_window):
    steps = threading.Semaphore(0)  # the engine writes a step each time the test releases one
    engine = FakeEngine(LONG_REPLY, steps=4, on_step=lambda: steps.acquire(timeout=10))
    window = loaded(qtbot, make_window, engine)
    page = window.open_chat(long_chat(window.store))
    window.pages.finish_backfill(page)  # every message built: the scroll value below is the view's place
    transcript, bar = page.transcript, page.transcript.verticalScrollBar()
    button = transcript.jump_button
    try:
        window.composer.edit.setPlainText("Tell me more")
        assert window.send() is not None
        steps.release(2)
        qtbot.waitUntil(lambda: window.active is not None and window.active.state.step is not None)
        reply = transcript.messages()[-1]
        assert isinstance(reply, AssistantMessage)
        qtbot.waitUntil(lambda: bar.value() == bar.maximum())
        assert not button.isVisible()

        bar.setValue(bar.maximum() // 2)  # the reader scrolls up while the reply is written
        assert button.isVisible()
        held, grown_from = bar.value(), bar.maximum()
        steps.release(4)  # the next canvas: the reply grows below, the view stays where it is
        qtbot.waitUntil(lambda: bar.maximum() > grown_from, timeout=10_000)
        assert bar.value() == held and button.isVisible()

        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        assert bar.value() == bar.maximum() and not button.isVisible()
        grown_from = bar.maximum()
        steps.release(4)
        qtbot.waitUntil(lambda: bar.maximum() > grown_from, timeout=10_000)
        qtbot.waitUntil(lambda: bar.value() == bar.maximum())  # following the reply again
        assert not button.isVisible()
    finally:
        steps.release(10_000)  # let the engine finish, whatever happened
        qtbot.waitUntil(lambda: window.active is None, timeout=10_000)
    QApplication.processEvents()
    assert bar.value() == bar.maximum()

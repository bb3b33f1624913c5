"""Find in the chat shown (Ctrl+F): matches highlighted, counted, walked with Enter, cleared on close."""

from __future__ import annotations

from app_chat import loaded, replies, say
from app_fakes import FakeEngine

from app.qt import QApplication, Qt


def _highlighted(window) -> list[str]:
    texts = []
    for widget in window.current_page().transcript.messages():
        for view in getattr(widget, "text_views", list)():
            texts += [s.cursor.selectedText() for s in view.extraSelections()]
    return texts


def test_ctrl_f_finds_highlights_and_walks_the_matches(qtbot, make_window):
    engine = FakeEngine("The **river** runs past the river bank.", steps=2)
    window = loaded(qtbot, make_window, engine)
    say(qtbot, window, "Tell me about the River")
    say(qtbot, window, "and the garden")

    qtbot.keyClick(window.composer.edit, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.find_bar.isVisible()
    assert QApplication.focusWidget() is window.find_bar.field
    qtbot.keyClicks(window.find_bar.field, "river")
    # Case-insensitive, across the user's messages and the replies (markdown rendered: "**river**").
    assert window.find_bar.count.text() == "1 of 5"
    assert _highlighted(window) == ["River", "river", "river", "river", "river"]
    current = window._find.current_match()
    assert current[0] is replies(window)[0].text_views()[0] or current[0].toPlainText().startswith("Tell")

    qtbot.keyClick(window.find_bar.field, Qt.Key.Key_Return)
    assert window.find_bar.count.text() == "2 of 5"
    qtbot.keyClick(window.find_bar.field, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(window.find_bar.field, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert window.find_bar.count.text() == "5 of 5"  # wraps around

    window.find_bar.field.setText("nowhere")
    assert window.find_bar.count.text() == "No matches" and _highlighted(window) == []

    window.find_bar.field.setText("garden")
    assert window.find_bar.count.text() == "1 of 1"
    qtbot.keyClick(window.find_bar.field, Qt.Key.Key_Escape)
    assert not window.find_bar.isVisible() and _highlighted(window) == []
    assert QApplication.focusWidget() is window.composer.edit

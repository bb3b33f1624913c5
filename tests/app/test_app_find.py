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


def test_find_in_a_long_chat_counts_the_older_messages_once_they_are_built(qtbot, make_window):
    from test_app_long_chat import long_chat

    window = loaded(qtbot, make_window, FakeEngine())
    page = window.open_chat(long_chat(window.store, exchanges=30))
    assert page.backlog, "the older messages are still to be built"
    window.find_bar.open_bar()
    window.find_bar.field.setText("Question")  # one per user message: 30 in all
    first = window._find.matches[:]
    assert 0 < len(first) < 30 and page.backlog  # what is built so far; nothing was built at once
    qtbot.keyClick(window.find_bar.field, Qt.Key.Key_Return)
    on = window._find.current_match()
    qtbot.waitUntil(lambda: not page.backlog, timeout=10_000)
    assert window.find_bar.count.text().endswith("of 30")
    view, cursor = window._find.current_match()
    assert view is on[0] and cursor.selectionStart() == on[1].selectionStart()  # still on the same match

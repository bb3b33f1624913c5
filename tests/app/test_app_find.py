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


def test_find_in_a_long_chat_counts_the_messages_not_built_and_builds_the_one_it_shows(qtbot, make_window):
    from test_app_long_chat import long_chat

    from app.ui.messages import UserMessage

    window = loaded(qtbot, make_window, FakeEngine())
    page = window.open_chat(long_chat(window.store, exchanges=30))
    window.pages.stop_backfill()
    transcript = page.transcript
    unbuilt = len(transcript.placeholders())
    assert unbuilt > 30, "most of the chat is not built"
    window.find_bar.open_bar()
    window.find_bar.field.setText("Question")  # one per user message: 30 in all
    assert window.find_bar.count.text() == "1 of 30"
    view, _cursor = window._find.current_match()
    first = next(w for w in transcript.messages() if isinstance(w, UserMessage))
    assert view is first.view and first.text == "Question 0", "the message of the match shown is built"
    assert len(transcript.placeholders()) < unbuilt - 1 + 8, "not the whole chat: that message and its view"
    assert _highlighted(window)[:1] == ["Question"]

    qtbot.keyClick(window.find_bar.field, Qt.Key.Key_Return)
    assert window.find_bar.count.text() == "2 of 30"
    view, cursor = window._find.current_match()
    assert view.toPlainText() == "Question 1" and cursor.selectedText() == "Question"
    viewport = transcript.viewport()
    top = view.mapTo(viewport, view.rect().topLeft()).y()
    assert 0 <= top < viewport.height(), "scrolled to the match"

    bar = transcript.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)  # the reader scrolls away: messages are built there
    read = next(w for w in transcript.messages() if w.mapTo(viewport, w.rect().topLeft()).y() >= 0)
    where = read.mapTo(viewport, read.rect().topLeft()).y()
    left = len(transcript.placeholders())
    qtbot.waitUntil(lambda: len(transcript.placeholders()) < left)  # those near the view, on the loop
    assert read.mapTo(viewport, read.rect().topLeft()).y() == where, "not pulled back to the match"
    assert view.mapTo(viewport, view.rect().bottomLeft()).y() < 0, "the match is far above"
    assert window.find_bar.count.text() == "2 of 30"


def test_a_message_not_built_yet_counts_the_matches_its_view_will_show(qtbot, make_window):
    """The unbuilt messages are searched as rendered (markdown and code), not as their source."""
    from test_app_long_chat import long_chat

    window = loaded(qtbot, make_window, FakeEngine())
    page = window.open_chat(long_chat(window.store, exchanges=12))
    window.pages.stop_backfill()
    queries = ["print('hi')", "- one", "closing line", "```", "Answer 3."]
    counts = [window._find.search(query, reveal=False) for query in queries]
    assert page.transcript.placeholders(), "searched before they were built"
    window.pages.finish_backfill(page)
    assert [window._find.search(query, reveal=False) for query in queries] == counts
    assert counts == [36, 0, 36, 0, 1]  # 12 replies of 3 code blocks; a list's dash and a fence are not text


def test_opening_the_bar_prepares_the_text_of_unbuilt_messages_without_building_them(qtbot, make_window):
    from test_app_long_chat import long_chat

    window = loaded(qtbot, make_window, FakeEngine())
    page = window.open_chat(long_chat(window.store, exchanges=12))
    window.pages.stop_backfill()

    def unbuilt() -> list:
        return [view for view in page.text_views() if hasattr(view, "rendered")]

    placeholders = len(page.transcript.placeholders())
    assert unbuilt() and not any(view.rendered for view in unbuilt())
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: all(view.rendered for view in unbuilt()))
    assert len(page.transcript.placeholders()) == placeholders, "nothing was built for it"

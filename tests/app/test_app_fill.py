"""Fill gaps in the app: the composer's draft goes out as a fill plan, and the filled parts are marked.

The engine is the scripted fake: it answers with the filled draft a real engine
would return (the draft's text with each gap written), so what is tested here is
the app's part: the button and its shortcut, the plan, the message, the marks
after the reply, after the chat is shown again from the store, and a
regeneration that fills the draft again.
"""

from __future__ import annotations

import pytest
from app_chat import loaded, replies, users, wait_idle
from app_fakes import FakeEngine

from app.qt import QApplication, Qt, QTextCursor, QTextDocument
from app.ui import filled_gaps

pytestmark = pytest.mark.timeout(120)

DRAFT = "Rivers [...] to the sea, and lakes [...4] still."
FILLED = "Rivers run down from the hills to the sea, and lakes stay mostly still."


def marked(reply) -> list[str]:
    """The runs of the reply's text that have the fill background."""
    return [run for view in reply.answer.views() for run in marked_in(view.document())]


def marked_in(document: QTextDocument) -> list[str]:
    runs: list[str] = []
    text = filled_gaps.document_text(document)[:-1]  # the last character is the document's end
    current = ""
    for position in range(len(text)):
        cursor = QTextCursor(document)
        cursor.setPosition(position + 1)  # the format of the character before the cursor
        structural = text[position] in "\ufdd0\ufdd1\u2029"  # frame, cell and block marks
        if not structural and cursor.charFormat().background().style() != Qt.BrushStyle.NoBrush:
            current += text[position]
        elif current:
            runs.append(current)
            current = ""
    return [*runs, current] if current else runs


@pytest.mark.parametrize(
    ("draft", "reply", "expected"),
    [
        # the filling's words are also the draft's, earlier: the filling itself is marked
        (
            "Rivers reach the sea. They [...] too.",
            "Rivers reach the sea. They reach the sea too.",
            ["reach the sea"],
        ),
        # inside a table, with markup: the rendered words are marked
        (
            "| River | Length |\n|---|---|\n| Nile | [...4] |\n",
            "| River | Length |\n|---|---|\n| Nile | **6,650** km |\n",
            ["6,650 km"],
        ),
        ("Only [...] here.", "Only punctuation ... here.", ["punctuation"]),
    ],
)
def test_each_filling_is_marked_where_it_is(qapp, draft, reply, expected):
    document = QTextDocument()
    document.setMarkdown(reply)
    assert filled_gaps.mark([document], filled_gaps.pieces(draft, reply), "#3366cc") == len(expected)
    assert marked_in(document) == expected


def test_fill_gaps_sends_the_draft_and_marks_what_the_model_wrote(qtbot, make_window):
    engine = FakeEngine(FILLED, steps=2)
    window = loaded(qtbot, make_window, engine)
    button = window.composer.fill_button
    window.composer.edit.setPlainText("No gaps in this one.")
    assert button.isHidden() and not button.isEnabled(), "offered only for a draft with gaps"
    window.composer.edit.setPlainText(DRAFT)
    assert not button.isHidden() and button.isEnabled() and "Ctrl+Shift+F" in button.toolTip()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert engine.plans[-1].kind == "fill" and engine.plans[-1].text == DRAFT
    assert [u.text for u in users(window)] == [DRAFT]  # the draft is the message, as any message is
    (reply,) = replies(window)
    assert reply.answer.text == FILLED
    assert marked(reply) == ["run down from the hills", "stay mostly"]

    page = window.current_page()
    window.pages.fill(page, window.store.active_path(page.session.id))  # shown again from the store
    (stored,) = replies(window)
    assert stored is not reply and marked(stored) == ["run down from the hills", "stay mostly"]

    engine.reply = "Rivers flow to the sea, and lakes lie very still."
    qtbot.mouseClick(stored.regenerate_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert engine.plans[-1].kind == "fill" and engine.plans[-1].text == DRAFT  # filled again
    (new,) = replies(window)
    assert new.versions.label.text() == "2/2" and marked(new) == ["flow", "lie very"]

    engine.reply = "Rivers pour down to the sea, and lakes lie very still."
    assert window.replies.rewrite_part(new.store_id, "flow") is not None  # one gap, filled again
    wait_idle(qtbot, window)
    assert engine.plans[-1].kind == "rewrite" and engine.plans[-1].text == "flow"
    (again,) = replies(window)
    assert again.versions.label.text() == "3/3" and marked(again) == ["pour down", "lie very"]


def test_ctrl_shift_f_fills_the_gaps_and_the_shortcuts_list_says_so(qtbot, make_window):
    engine = FakeEngine(FILLED, steps=2)
    window = loaded(qtbot, make_window, engine)
    window.activateWindow()  # shortcuts need an active window
    window.composer.edit.setPlainText(DRAFT)
    window.composer.edit.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.composer.edit, timeout=2000)
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_F, ctrl_shift)
    wait_idle(qtbot, window)
    assert engine.plans[-1].kind == "fill" and engine.plans[-1].text == DRAFT
    box = window.menus.show_shortcuts()
    assert "Fill the gaps in the message" in box.text() and "Ctrl+Shift+F" in box.text()
    box.close()


def test_an_ordinary_reply_to_a_message_with_gaps_is_not_marked(qtbot, make_window):
    engine = FakeEngine("Brackets such as [...] mark a gap.", steps=2)
    window = loaded(qtbot, make_window, engine)
    window.composer.edit.setPlainText("What does [...] mean?")
    assert window.send() is not None
    wait_idle(qtbot, window)
    assert engine.plans[-1].kind == "fresh"
    (reply,) = replies(window)
    assert marked(reply) == []


def test_a_draft_that_cannot_be_filled_is_not_sent(qtbot, make_window):
    engine = FakeEngine("unused", steps=2)
    window = loaded(qtbot, make_window, engine)
    window.composer.edit.setPlainText("A gap of [...0] tokens and none other.")
    assert window.replies.fill_gaps() is None
    assert engine.plans == [] and users(window) == []
    assert window.composer.edit.toPlainText().startswith("A gap")  # the draft is still there to fix

"""A stored chat opens with every text at its full height in the first frame.

A message's texts are only as tall as their words wrap at the width the column
gives them.  They used to learn that width after the layout had placed them (and
QTextDocumentLayout reports a long text's height a screenful at a time), so the
first frame after ``open_chat`` showed the replies squeezed to nothing under their
headers and the user's bubbles cut off.  These tests look at the window after one
turn of the event loop, before any timer could tidy up: what a user sees first.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from app_chat import loaded
from app_fakes import FakeEngine

from app.qt import QApplication, QWidget
from app.ui.chat_pages import EAGER_MESSAGES
from app.ui.messages import AssistantMessage, UserMessage
from app.ui.text_view import RichTextView
from app.ui.transcript import Transcript
from engine.events import Done, Stats

PARAGRAPH = (
    "A long paragraph of markdown with **bold**, *italic*, `code` and a [link](https://example.com) "
    "that wraps over several lines in a column of readable width. "
) * 6
REPLY = (
    f"## A heading\n\n{PARAGRAPH}\n\n- one item\n- another item\n\n"
    f"```python\nprint('hi')\nx = 1\n```\n\n{PARAGRAPH}\n\n"
) * 3  # several thousand characters: more than QTextDocumentLayout lays out at once
QUESTION = "A question long enough to wrap in the user's bubble: " + "words " * 30
EXCHANGES = EAGER_MESSAGES  # half of them built at once, the rest on the event loop


def _stats() -> Stats:
    return Stats(10, 0, 256, 1, 16, 48, (16,), 16.0, 0.01, 0.5, 500.0)


def _stored_chat(store, title: str, exchanges: int = EXCHANGES) -> int:
    chat = store.create_conversation(title)
    for i in range(exchanges):
        user = store.send_user_message(chat, f"{i}. {QUESTION}").id
        with store.begin_reply(user) as writer:
            writer.on_event(Done((), (), REPLY, "", f"Answer {i}.\n\n{REPLY}", _stats()))
    return chat


def _document_height(view: RichTextView) -> int:
    """The text's full height at the width it is shown at, measured on a copy (the view's is left alone)."""
    probe = view.document().clone(view)
    probe.setTextWidth(view.viewport().width())
    height = round(probe.size().height())
    probe.deleteLater()
    return height


def _misfits(transcript: Transcript) -> list[str]:
    """Texts not as tall as their words, and widgets cut off by their parent, on the shown page."""
    page = transcript.widget()
    found = []
    for view in page.findChildren(RichTextView):
        height, text = view.height(), _document_height(view)
        if view.isVisible() and abs(height - text) > 2:
            found.append(f"{view.accessibleName()!r} is {height} px tall, its text {text}")
    for widget in page.findChildren(QWidget):
        parent = widget.parentWidget()
        if widget.isVisible() and not widget.isWindow() and parent is not None:
            box, room = widget.geometry(), parent.rect()
            if box.bottom() > room.bottom() or box.right() > room.right():
                name, parent_name = type(widget).__name__, type(parent).__name__
                found.append(f"{name} {box.getRect()} is cut off by {parent_name} {room.getRect()}")
    return found


@pytest.mark.parametrize("size", [(1180, 700), (700, 700)], ids=["wide", "narrow"])
def test_the_first_frame_of_an_opened_chat_shows_every_text_at_its_height(qtbot, make_window, size):
    window = loaded(qtbot, make_window, FakeEngine())
    window.resize(*size)
    chats = [_stored_chat(window.store, f"Chat {n}") for n in range(2)]
    window.open_chat(chats[0])
    QApplication.processEvents()

    page = window.open_chat(chats[1])
    QApplication.processEvents()  # one turn of the event loop: the first frame is painted from this

    shown = [w for w in page.transcript.messages() if w.isVisible()]
    assert sum(isinstance(w, AssistantMessage) for w in shown) >= EAGER_MESSAGES // 2
    assert sum(isinstance(w, UserMessage) for w in shown) >= EAGER_MESSAGES // 2
    assert _misfits(page.transcript) == []
    bar = page.transcript.verticalScrollBar()
    assert bar.value() == bar.maximum(), "opened on its newest message"


def test_the_first_frame_is_drawn_with_the_texts(qtbot, make_window, tmp_path: Path):
    """The grabbed window has the newest reply's text in view, not an empty reply header."""
    window = loaded(qtbot, make_window, FakeEngine())
    window.resize(1180, 700)
    page = window.open_chat(_stored_chat(window.store, "Drawn"))
    QApplication.processEvents()
    image = window.grab()
    image.save(str(tmp_path / "first-frame.png"))  # to look at when this fails
    newest = next(w for w in reversed(page.transcript.messages()) if isinstance(w, AssistantMessage))
    [text] = [v for v in newest.answer.views() if v.isVisible()]
    viewport = page.transcript.viewport()
    top = text.mapTo(viewport, text.rect().topLeft()).y()
    bottom = text.mapTo(viewport, text.rect().bottomLeft()).y()
    assert top < viewport.height() and bottom > 0, "the newest reply's text is in view"
    assert text.height() >= _document_height(text) - 2
    assert not _misfits(page.transcript)


def test_older_messages_built_while_the_chat_is_shown_arrive_at_their_height(qtbot, make_window):
    """A message built above the shown ones (the backfill) is placed at its height when it appears."""
    window = loaded(qtbot, make_window, FakeEngine())
    window.resize(900, 700)
    chat = _stored_chat(window.store, "Backfill")
    page = window.open_chat(chat)
    window.pages.stop_backfill()
    QApplication.processEvents()
    while page.backlog:
        window.pages.build_one_older(page)
        assert _misfits(page.transcript) == []
    QApplication.processEvents()
    assert _misfits(page.transcript) == []


def _laid_out_elsewhere(transcript: Transcript) -> list[str]:
    """Shown texts whose document is laid out for another width than the one they are shown at."""
    return [
        f"{view.accessibleName()!r} is {view.viewport().width()} px wide, its text laid out for {width}"
        for view in transcript.widget().findChildren(RichTextView)
        if view.isVisible() and (width := view.document().textWidth()) != view.viewport().width()
    ]


def test_a_resized_chat_shows_every_text_at_its_height_laid_out_for_its_width(qtbot, make_window):
    """A view keeps the layout it made when asked its height for the new width: it must be that width's.

    (A top-level resize settles over a few turns of the event loop, with the views measured for
    widths they are not given on the way: the test looks once it has settled.)
    """
    window = loaded(qtbot, make_window, FakeEngine())
    window.resize(1180, 700)
    page = window.open_chat(_stored_chat(window.store, "Resized"))
    QApplication.processEvents()
    for width in (700, 1000, 860, 1180):  # narrower and wider than the column's widest
        window.resize(width, 700)
        settled = lambda: not _misfits(page.transcript) and not _laid_out_elsewhere(page.transcript)  # noqa: E731
        qtbot.waitUntil(settled, timeout=5000)  # no fixed sleep: it must settle, however long it takes
        assert page.transcript.width() > 0 and window.width() == width


def test_a_text_measured_for_a_width_it_was_not_given_is_laid_out_for_its_own_again(qtbot, make_window):
    """Before it is painted if it is in view, on the event loop if not (finding text reads its layout)."""
    window = loaded(qtbot, make_window, FakeEngine())
    window.resize(1180, 700)
    page = window.open_chat(_stored_chat(window.store, "Measured"))
    QApplication.processEvents()
    replies = [w for w in page.transcript.messages() if isinstance(w, AssistantMessage) and w.isVisible()]
    [newest], [oldest] = ([v for v in m.answer.views() if v.isVisible()] for m in (replies[-1], replies[0]))
    assert oldest.visibleRegion().isEmpty(), "the chat opens on its newest message"
    for view in (newest, oldest):  # a layout asks, then leaves the view at the width it has
        assert view.heightForWidth(view.width() - 200) > view.height()
    newest.grab()
    assert newest.document().textWidth() == newest.viewport().width()
    QApplication.processEvents()
    assert _laid_out_elsewhere(page.transcript) == []
    assert _misfits(page.transcript) == []


# --- resizing a long chat ---------------------------------------------------------------------
#
# A resize lays out at once only the messages in and near the view; the others keep an estimated
# height and are laid out on the event loop (Transcript.relayout_pending counts them).  What the
# reader sees must be right at once, everything must be right once the event loop has drained, and
# the message the reader is looking at must stay in view throughout.

LONG_CHAT = 4 * EAGER_MESSAGES  # several screens above the view


def _opened_long_chat(qtbot, make_window, width: int = 1180):
    """A window showing a long chat with every message built and laid out."""
    window = loaded(qtbot, make_window, FakeEngine())
    window.resize(width, 700)
    page = window.open_chat(_stored_chat(window.store, "Long", LONG_CHAT))
    window.pages.finish_backfill(page)
    qtbot.waitUntil(lambda: not page.transcript.relayout_pending, timeout=30_000)
    return window, page


def _in_view(transcript: Transcript) -> list[QWidget]:
    viewport = transcript.viewport()
    found = []
    for widget in transcript.messages():
        top = widget.mapTo(viewport, widget.rect().topLeft()).y()
        if widget.isVisible() and top < viewport.height() and top + widget.height() > 0:
            found.append(widget)
    return found


def _wrong_heights(messages: list[QWidget]) -> list[str]:
    """Messages, and their texts, whose height is not their height at the width they have."""
    found = []
    for message in messages:
        width, height, wanted = message.width(), message.height(), message.heightForWidth(message.width())
        if height != wanted:
            found.append(f"{type(message).__name__} is {height} px tall, at {width} px it is {wanted}")
        for view in message.findChildren(RichTextView):
            if not view.isVisible():
                continue
            if view.layout_deferred:
                found.append(f"{view.accessibleName()!r} still has an estimated height")
            elif abs(view.height() - (text := _document_height(view))) > 2:
                found.append(f"{view.accessibleName()!r} is {view.height()} px tall, its text {text}")
    return found


@pytest.mark.parametrize("width", [760, 980], ids=["narrower", "wider"])
def test_a_resize_lays_out_the_messages_in_view_at_once_and_the_rest_later(qtbot, make_window, width):
    window, page = _opened_long_chat(qtbot, make_window, 860)
    transcript = page.transcript
    bar = transcript.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)  # the reader scrolled up to the middle of the chat
    QApplication.processEvents()
    looked_at = _in_view(transcript)[1]
    old_column = transcript.column.width()

    window.resize(width, 700)  # no turn of the event loop: this is the frame painted next
    assert transcript.column.width() != old_column
    assert _wrong_heights(_in_view(transcript)) == []
    assert looked_at in _in_view(transcript), "the message being read stays in view"
    assert transcript.relayout_pending > 0, "the messages out of sight are laid out later"

    qtbot.waitUntil(lambda: not transcript.relayout_pending, timeout=30_000)
    QApplication.processEvents()
    assert _wrong_heights(transcript.messages()) == []
    assert _misfits(transcript) == [] and _laid_out_elsewhere(transcript) == []
    assert looked_at in _in_view(transcript)
    assert bar.value() < bar.maximum(), "not thrown to the bottom"


def test_the_message_read_keeps_its_place_while_the_rest_is_laid_out(qtbot, make_window):
    """Messages above the view change height on the event loop: the one in view does not move."""
    window, page = _opened_long_chat(qtbot, make_window, 1180)
    transcript = page.transcript
    bar = transcript.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)
    QApplication.processEvents()
    window.resize(760, 700)
    viewport = transcript.viewport()
    looked_at = _in_view(transcript)[0]
    where = looked_at.mapTo(viewport, looked_at.rect().topLeft()).y()
    while transcript.relayout_pending:
        transcript._on_relayout_timer_timeout()  # one slice at a time, looking after each
        assert looked_at.mapTo(viewport, looked_at.rect().topLeft()).y() == where
        assert _wrong_heights(_in_view(transcript)) == []


def test_a_chat_pinned_to_its_newest_message_stays_there_through_resizes(qtbot, make_window):
    window, page = _opened_long_chat(qtbot, make_window)
    transcript = page.transcript
    bar = transcript.verticalScrollBar()
    newest = transcript.messages()[-1]
    for width in (760, 1000, 700, 1180):  # a user dragging the edge: the next resize comes first
        window.resize(width, 700)
        assert bar.value() == bar.maximum() and newest in _in_view(transcript)
        assert _wrong_heights(_in_view(transcript)) == []
    qtbot.waitUntil(lambda: not transcript.relayout_pending, timeout=30_000)
    QApplication.processEvents()
    assert bar.value() == bar.maximum()
    assert _wrong_heights(transcript.messages()) == [] and _misfits(transcript) == []


def test_messages_scrolled_into_view_before_their_turn_are_laid_out_at_once(qtbot, make_window):
    window, page = _opened_long_chat(qtbot, make_window)
    transcript = page.transcript
    window.resize(760, 700)
    oldest = transcript.messages()[0]
    assert oldest.findChildren(RichTextView)[0].layout_deferred  # the farthest from the view
    transcript.verticalScrollBar().setValue(0)  # the reader jumps to the top
    assert oldest in _in_view(transcript)
    assert _wrong_heights(_in_view(transcript)) == []
    qtbot.waitUntil(lambda: not transcript.relayout_pending, timeout=30_000)
    QApplication.processEvents()
    assert _wrong_heights(transcript.messages()) == []
    assert transcript.verticalScrollBar().value() == 0 and oldest in _in_view(transcript)


def test_a_resize_while_older_messages_are_not_built_yet(qtbot, make_window):
    """Placeholders are estimated again for the new width; the messages built later come at their height."""
    window = loaded(qtbot, make_window, FakeEngine())
    window.resize(1180, 700)
    page = window.open_chat(_stored_chat(window.store, "Not built yet", LONG_CHAT))
    QApplication.processEvents()
    transcript = page.transcript
    placeholder = transcript.placeholders()[1]  # a reply's
    wide = placeholder.height()
    for width in (1000, 760):
        window.resize(width, 700)
        QApplication.processEvents()
        assert placeholder.height() == placeholder.estimate(transcript.column.width())
    assert placeholder.height() > wide, "narrower: the text wraps over more lines"
    bar = transcript.verticalScrollBar()
    assert bar.value() == bar.maximum()
    window.pages.finish_backfill(page)
    qtbot.waitUntil(lambda: not transcript.relayout_pending, timeout=30_000)
    QApplication.processEvents()
    assert _wrong_heights(transcript.messages()) == [] and _misfits(transcript) == []
    assert bar.value() == bar.maximum()


def test_a_deferred_text_estimates_its_height_until_it_is_settled(qtbot):
    view = RichTextView()
    qtbot.addWidget(view)
    view.setHtml("<p>" + "words that wrap " * 80 + "</p>")
    view.resize(600, view.heightForWidth(600))
    wide = view.heightForWidth(600)
    view.defer_layout()
    assert view.layout_deferred
    assert view.heightForWidth(300) == pytest.approx(2 * wide, abs=2)  # half as wide: twice as tall
    assert view.heightForWidth(600) == wide  # a width already measured is known exactly
    view.resize(300, 100)
    assert view.document().textWidth() == 600, "a deferred text keeps its layout when resized"
    assert view.settle() and not view.layout_deferred
    assert view.document().textWidth() == view.viewport().width() == 300
    assert view.heightForWidth(300) == _document_height(view)
    assert not view.settle(), "settled once"

"""A long stored chat opens on its newest messages at once; the older ones are built above them."""

from __future__ import annotations

from app_chat import loaded
from app_fakes import FakeEngine

from app.ui.chat_pages import EAGER_MESSAGES
from app.ui.messages import AssistantMessage, UserMessage
from engine.events import Done, Stats

EXCHANGES = 30
REPLY = "An answer with a list:\n\n- one\n- two\n\n```python\nprint('hi')\n```\n\nAnd a closing line.\n" * 3


def _stats() -> Stats:
    return Stats(10, 0, 256, 1, 16, 48, (16,), 16.0, 0.01, 0.5, 500.0)


def long_chat(store, exchanges: int = EXCHANGES) -> int:
    chat = store.create_conversation("A long chat")
    for i in range(exchanges):
        user = store.send_user_message(chat, f"Question {i}").id
        with store.begin_reply(user) as writer:
            writer.on_event(Done((), (), REPLY, "", f"Answer {i}. {REPLY}", _stats()))
    return chat


def shown_ids(page) -> list[int]:
    return [w.store_id for w in page.transcript.messages() if isinstance(w, (UserMessage, AssistantMessage))]


def _placeholder_ids(page) -> list[int]:
    return [p.payload[0].id for p in page.transcript.placeholders()]


def _item_ids(page) -> list[int]:
    """The stored ids of the column's messages and placeholders, top to bottom."""
    return [w.store_id if hasattr(w, "store_id") else w.payload[0].id for w in page.transcript.items()]


def _in_view(transcript) -> list:
    viewport = transcript.viewport()
    found = []
    for widget in transcript.items():
        top = widget.mapTo(viewport, widget.rect().topLeft()).y()
        if top < viewport.height() and top + widget.height() > 0:
            found.append(widget)
    return found


def test_only_the_newest_messages_are_built_the_rest_are_placeholders_in_order(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine())
    chat = long_chat(window.store)
    path = [m.id for m in window.store.active_path(chat)]
    page = window.open_chat(chat)
    assert [m.store_id for m in page.session.messages] == path  # the whole history, for follow-ups
    assert _item_ids(page) == path
    assert shown_ids(page) == path[-EAGER_MESSAGES:]
    assert [m.id for m, _message in page.backlog] == path[:-EAGER_MESSAGES]
    for _ in range(20):  # the event loop builds what is near the view, not the whole chat
        qtbot.wait(5)
    built = shown_ids(page)
    assert built == path[-len(built) :] and len(built) < len(path) // 2
    bar = page.transcript.verticalScrollBar()
    assert bar.value() == bar.maximum() > 0  # at the newest message
    assert all(hasattr(w, "store_id") for w in _in_view(page.transcript)), "no placeholder is shown"


def test_scrolling_builds_the_messages_it_reaches_and_the_chat_ends_up_whole(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine())
    chat = long_chat(window.store)
    path = [m.id for m in window.store.active_path(chat)]
    page = window.open_chat(chat)
    transcript, bar = page.transcript, page.transcript.verticalScrollBar()
    window.pages.stop_backfill()
    bar.setValue(0)  # the reader drags the scroll bar to the top
    shown = _in_view(transcript)
    assert shown and all(hasattr(w, "store_id") for w in shown), "what is shown is built at once"
    assert shown[0].store_id == path[0] and isinstance(shown[0], UserMessage)
    assert shown[0].text == "Question 0" and bar.value() == 0
    assert transcript.placeholders(), "the middle of the chat is not built"
    while bar.value() < bar.maximum():  # the reader scrolls down to the end, a screen at a time
        bar.setValue(bar.value() + transcript.viewport().height())
        assert all(hasattr(w, "store_id") for w in _in_view(transcript))
    assert not transcript.placeholders() and shown_ids(page) == path


def test_a_reader_scrolled_up_keeps_their_place_while_messages_are_built_around_them(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine())
    chat = long_chat(window.store)
    page = window.open_chat(chat)
    transcript, bar = page.transcript, page.transcript.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)  # the reader scrolls up to the middle: built in view at once
    viewport = transcript.viewport()
    anchor = next(w for w in transcript.messages() if w.mapTo(viewport, w.rect().topLeft()).y() >= 0)
    before = anchor.mapTo(viewport, anchor.rect().topLeft()).y()
    left = len(transcript.placeholders())
    qtbot.waitUntil(lambda: len(transcript.placeholders()) < left)  # the ones near the view, on the loop
    assert anchor.mapTo(viewport, anchor.rect().topLeft()).y() == before
    window.pages.finish_backfill(page)  # every other one, above and below, at its real height
    assert not transcript.placeholders()
    assert anchor.mapTo(viewport, anchor.rect().topLeft()).y() == before
    assert bar.value() < bar.maximum()  # not thrown to the bottom either


def test_a_search_hit_in_a_message_not_built_yet_is_shown(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine())
    chat = long_chat(window.store)
    first_question = window.store.active_path(chat)[0].id
    page = window.open_chat(chat)
    window.pages.stop_backfill()
    window.navigation.show_message(page, first_question)
    assert first_question in shown_ids(page)
    qtbot.waitUntil(lambda: page.transcript.verticalScrollBar().value() == 0)  # the first message
    assert page.transcript.placeholders(), "only what was needed was built"


def test_messages_built_during_a_reply_have_their_actions_off(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine())
    chat = long_chat(window.store)
    page = window.open_chat(chat)
    window.pages.stop_backfill()
    page.set_actions_enabled(False)  # as when a reply starts in this chat
    window.pages.build_one_older(page)
    older = page.transcript.messages()[0]
    assert isinstance(older, AssistantMessage) and not older.regenerate_button.isEnabled()
    page.set_actions_enabled(True)
    window.pages.build_one_older(page)
    assert page.transcript.messages()[0].edit_button.isEnabled()


def test_a_short_chat_is_built_at_once(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine())
    chat = long_chat(window.store, exchanges=EAGER_MESSAGES // 2)
    page = window.open_chat(chat)
    assert not page.backlog
    assert shown_ids(page) == [m.id for m in window.store.active_path(chat)]


def test_a_message_built_late_has_its_versions_and_switching_them_keeps_the_chat_lazy(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine())
    chat = long_chat(window.store)
    path = window.store.active_path(chat)
    with window.store.begin_reply(path[0].id) as writer:  # a second version of the first reply
        writer.on_event(Done((), (), "Another answer", "", "Another answer", _stats()))
    window.store.select_message(path[1].id)  # the first version, and the long chat after it, shown
    page = window.open_chat(chat)
    transcript, bar = page.transcript, page.transcript.verticalScrollBar()
    assert transcript.placeholders()
    bar.setValue(0)  # the reader goes to the top: the first reply is built there
    first = next(w for w in transcript.messages() if isinstance(w, AssistantMessage))
    assert first.store_id == path[1].id and first.versions.label.text() == "1/2"
    first.versions.select(1)
    assert transcript.items()[0].store_id == path[0].id
    assert len(transcript.items()) == 2 and "Another answer" in transcript.messages()[-1].answer.text
    transcript.messages()[-1].versions.select(0)  # back to the long version: newest built, rest not
    assert [m.store_id for m in page.session.messages] == [m.id for m in path]
    assert transcript.placeholders() and shown_ids(page)[-1] == path[-1].id
    assert bar.value() == bar.maximum()


def test_a_resize_keeps_the_reader_on_their_message_with_placeholders_around_it(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine())
    window.resize(1100, 700)
    page = window.open_chat(long_chat(window.store))
    window.pages.stop_backfill()
    transcript, bar = page.transcript, page.transcript.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)
    viewport = transcript.viewport()
    read = next(w for w in transcript.messages() if w.mapTo(viewport, w.rect().topLeft()).y() >= 0)
    above = [p for p in transcript.placeholders() if p.y() < read.y()]
    assert above and [p for p in transcript.placeholders() if p.y() > read.y()], "unbuilt on both sides"
    window.resize(800, 700)  # narrower: the placeholders are estimated again for the column's width
    assert all(p.height() == p.estimate(transcript.column.width()) for p in transcript.placeholders())
    top = read.mapTo(viewport, read.rect().topLeft()).y()
    assert 0 <= top < viewport.height(), "the message being read is still in view"
    assert all(hasattr(w, "store_id") for w in _in_view(transcript)), "no placeholder is shown"

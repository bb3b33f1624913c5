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


def test_newest_messages_first_then_the_rest_above_in_order(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine())
    chat = long_chat(window.store)
    path = [m.id for m in window.store.active_path(chat)]
    page = window.open_chat(chat)
    assert [m.store_id for m in page.session.messages] == path  # the whole history, for follow-ups
    assert shown_ids(page) == path[-EAGER_MESSAGES:]
    assert len(page.backlog) == len(path) - EAGER_MESSAGES
    qtbot.waitUntil(lambda: not page.backlog, timeout=30_000)
    assert shown_ids(page) == path
    bar = page.transcript.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.value() == bar.maximum())  # still at the newest message
    first = next(w for w in page.transcript.messages() if isinstance(w, UserMessage))
    assert first.text == "Question 0"


def test_a_reader_scrolled_up_keeps_their_place_while_older_messages_arrive(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine())
    chat = long_chat(window.store)
    page = window.open_chat(chat)
    window.pages.stop_backfill()  # drive the slices by hand
    while len(page.backlog) > 40:
        window.pages.build_one_older(page)
    qtbot.wait(50)  # layout
    bar = page.transcript.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)  # the reader scrolls up
    qtbot.wait(20)
    viewport = page.transcript.viewport()
    anchor = next(w for w in page.transcript.messages() if w.mapTo(viewport, w.rect().topLeft()).y() >= 0)
    before = anchor.mapTo(viewport, anchor.rect().topLeft()).y()
    while page.backlog:
        window.pages.build_slice()
        qtbot.wait(5)
    qtbot.wait(50)
    assert abs(anchor.mapTo(viewport, anchor.rect().topLeft()).y() - before) <= 2
    assert bar.value() < bar.maximum()  # not thrown to the bottom either


def test_a_search_hit_in_a_message_not_built_yet_is_shown(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine())
    chat = long_chat(window.store)
    first_question = window.store.active_path(chat)[0].id
    page = window.open_chat(chat)
    window.pages.stop_backfill()
    window.navigation.show_message(page, first_question)
    assert not page.backlog
    assert shown_ids(page)[0] == first_question


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

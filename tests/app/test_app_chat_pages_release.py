"""Opening many chats in a row keeps only a few pages built; a reply being written keeps its page."""

from __future__ import annotations

from app_chat import loaded
from app_fakes import FakeEngine
from test_app_long_chat import long_chat, shown_ids

from app.qt import QApplication, QCoreApplication, QEvent
from app.ui.chat_pages import KEEP_PAGES


def _flush_deletes() -> None:
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def test_opening_twenty_chats_in_a_row_keeps_the_pages_and_widgets_bounded(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine())
    chats = [long_chat(window.store, exchanges=3) for _ in range(20)]
    widgets_after: list[int] = []
    for chat in chats:
        window.open_chat(chat)
        _flush_deletes()
        widgets_after.append(len(QApplication.allWidgets()))
    assert len(window.pages.all()) == KEEP_PAGES
    assert window.pages.count() == KEEP_PAGES  # the stack holds no released transcript either
    assert [p.session.id for p in window.pages.all()] == chats[-KEEP_PAGES:]
    assert window.pages.released >= len(chats) - KEEP_PAGES  # (and the empty chat the window opened on)
    # Widgets stop growing once KEEP_PAGES chats are open: each new page replaces a released one.
    steady = widgets_after[KEEP_PAGES:]
    assert max(steady) - min(steady) <= 5, widgets_after


def test_a_released_chat_is_built_again_from_the_store_when_shown(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine())
    chats = [long_chat(window.store, exchanges=2) for _ in range(KEEP_PAGES + 1)]
    first = window.open_chat(chats[0])
    ids = [m.store_id for m in first.session.messages]
    for chat in chats[1:]:
        window.open_chat(chat)
    assert window.pages.get(chats[0]) is None
    again = window.open_chat(chats[0])
    assert again is not first
    qtbot.waitUntil(lambda: not again.backlog)
    assert shown_ids(again) == ids
    assert window.current_page() is again


def test_a_reply_written_in_a_chat_not_shown_keeps_its_page_and_ends_exact(qtbot, make_window):
    text = "A slow reply that goes on while other chats are read."
    window = loaded(qtbot, make_window, FakeEngine(text, steps=40, step_delay=0.01))
    others = [long_chat(window.store, exchanges=1) for _ in range(KEEP_PAGES + 2)]
    window.composer.edit.setPlainText("go")
    window.send()
    writing = window.current_page()
    reply = window.active.widget
    for chat in others:  # the user reads other chats meanwhile, more than KEEP_PAGES of them
        window.open_chat(chat)
    assert window.pages.get(writing.session.id) is writing, "the page being written is not released"
    assert len(window.pages.all()) == KEEP_PAGES + 1
    assert window.open_chat(writing.session.id) is writing  # shown again: the same, live page
    qtbot.waitUntil(lambda: window.active is None, timeout=20_000)
    assert reply.answer.text == text
    assert writing.session.messages[-1].text == text
    for chat in others:  # the reply ended: now it is released like any other chat
        window.open_chat(chat)
    assert window.pages.get(writing.session.id) is None
    reopened = window.open_chat(writing.session.id)
    qtbot.waitUntil(lambda: not reopened.backlog)
    assert reopened.session.messages[-1].text == text

"""app/notices.py: one way to tell the user something, shown by the window the same way from any module."""

from __future__ import annotations

import logging

import pytest
from app_fakes import FakeEngine, fake_loader

from app import notices
from app.qt import QObject
from app.store import StoreError
from app.tasks import Tasks
from app.ui.messages import Notice

WAIT_MS = 10_000


@pytest.fixture
def window(make_window):
    return make_window(fake_loader(FakeEngine("ok")))


def shown_notices(window) -> list[Notice]:
    return window._notices()


def test_info_goes_to_the_status_bar_and_leaves_the_chat_alone(window):
    before = len(shown_notices(window))
    notices.info("Exported to /tmp/chats.md")
    assert window.status.currentMessage() == "Exported to /tmp/chats.md"
    assert len(shown_notices(window)) == before


def test_an_error_is_a_notice_in_the_chat_with_its_fix_and_is_logged(window, caplog):
    with caplog.at_level(logging.WARNING, logger="app.notices"):
        notices.error("The chat could not be renamed.", "Free some disk space and try again.")
    notice = shown_notices(window)[-1]
    assert notice.message == "The chat could not be renamed. Free some disk space and try again."
    assert notice.objectName() == "notice" and notice.accessibleName() == "Error"
    assert "The chat could not be renamed." in caplog.text
    assert window.status.currentMessage() == ""  # not in the status bar too


def test_a_warning_is_a_notice_in_the_chat_that_is_not_styled_as_an_error(window):
    notices.warning("That part is not in this reply.", "Select text of the last reply.")
    notice = shown_notices(window)[-1]
    assert notice.message == "That part is not in this reply. Select text of the last reply."
    assert notice.objectName() == "infoNotice"


def test_a_failure_names_what_could_not_be_done_then_why_and_the_fix(window):
    notices.failed("The chat could not be pinned", StoreError("The disk is full", fix="Free some space"))
    assert (
        shown_notices(window)[-1].message
        == "The chat could not be pinned. The disk is full. Free some space."
    )


def test_a_notice_told_on_a_worker_thread_is_shown_on_the_gui_thread(qtbot, window):
    holder = QObject()
    Tasks(holder).run(notices.error, "The export could not be written.", "Choose another folder.")
    qtbot.waitUntil(lambda: bool(shown_notices(window)), timeout=WAIT_MS)
    assert shown_notices(window)[-1].message == "The export could not be written. Choose another folder."


def test_the_newest_window_shows_the_notices(make_window):
    first = make_window(fake_loader(FakeEngine("ok")))
    second = make_window(fake_loader(FakeEngine("ok")))
    notices.error("Only once.")
    assert [n.message for n in second._notices()] == ["Only once."]
    assert first._notices() == []


def test_an_unknown_level_is_a_bug():
    with pytest.raises(ValueError, match="unknown notice level"):
        notices.tell("shout", "no such level")  # type: ignore[arg-type]


def test_a_keyed_notice_offers_its_actions_replaces_its_predecessor_and_can_be_withdrawn(window):
    """What ModelSwitcher says of a failed load: ways out as buttons, one at a time, gone once it loads."""
    clicked: list[str] = []
    before = len(shown_notices(window))
    notices.tell(
        "error", "It failed.", "Try this.", actions=[("Try again", lambda: clicked.append("again"))], key="k"
    )
    first = notices.shown("k")
    assert [b.text() for b in first.buttons] == ["Try again"]  # its action, no Dismiss
    first.buttons[0].click()
    assert clicked == ["again"]
    notices.tell("error", "It failed again.", key="k")
    assert notices.shown("k") is not first and first not in shown_notices(window)
    assert len(shown_notices(window)) == before + 1
    notices.withdraw("k")
    assert notices.shown("k") is None and len(shown_notices(window)) == before
    notices.withdraw("k")  # nothing shown with it: nothing happens

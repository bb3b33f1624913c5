"""Unsent messages stay with their chat: across chat switches, restarts, and until they are sent."""

from __future__ import annotations

import json
from pathlib import Path

from app_chat import loaded, say
from app_fakes import FakeEngine
from media_files import write_png

from app.drafts import Draft, Drafts


def test_drafts_round_trip_and_an_empty_one_is_forgotten(tmp_path: Path):
    drafts = Drafts(tmp_path / "drafts.json")
    drafts.put(1, Draft("half a question", (tmp_path / "a.png",)))
    drafts.put(2, Draft("   "))
    drafts.save()
    again = Drafts(tmp_path / "drafts.json")
    assert again.get(1) == Draft("half a question", (tmp_path / "a.png",))
    assert again.get(2).empty
    again.put(1, Draft(""))
    again.save()
    assert Drafts(tmp_path / "drafts.json").get(1).empty
    assert [p.name for p in tmp_path.iterdir()] == ["drafts.json"]  # no temporary file left behind


def test_an_unreadable_drafts_file_is_set_aside(tmp_path: Path):
    path = tmp_path / "drafts.json"
    path.write_text("{not json")
    drafts = Drafts(path)
    assert drafts.get(1).empty
    assert (tmp_path / "drafts.json.bad").read_text() == "{not json"


def type_draft(qtbot, window, text: str, picture: Path) -> Path:
    """Type ``text`` and attach a new picture at ``picture`` without sending; the picture's path."""
    write_png(picture)
    window.composer.edit.setPlainText(text)
    window.add_files([picture])
    qtbot.waitUntil(lambda: not window.composer.pending_probes())
    return picture


def test_a_draft_stays_with_its_chat_across_switches_and_a_restart(qtbot, make_window, tmp_path: Path):
    engine = FakeEngine("Sure.", steps=2)
    window = loaded(qtbot, make_window, engine)
    say(qtbot, window, "first chat")
    first = window.current_page().session.id
    picture = type_draft(qtbot, window, "a long question I have not finished", tmp_path / "plan.png")

    window.new_chat()
    assert window.composer.edit.toPlainText() == "" and window.composer.attachments() == []
    window.composer.edit.setPlainText("something for the second chat")
    second = window.current_page().session.id

    window.open_chat(first)
    assert window.composer.edit.toPlainText() == "a long question I have not finished"
    qtbot.waitUntil(lambda: not window.composer.pending_probes())
    assert [p for p, _ in window.composer.attachments()] == [picture]
    window.close()  # quitting saves the draft being typed too

    again = loaded(qtbot, make_window, engine)
    again.open_chat(second)
    assert again.composer.edit.toPlainText() == "something for the second chat"
    again.open_chat(first)
    assert again.composer.edit.toPlainText() == "a long question I have not finished"
    qtbot.waitUntil(lambda: not again.composer.pending_probes())
    say(qtbot, again, "a long question I have not finished, now finished")
    qtbot.waitUntil(lambda: not again.drafts.save_pending())
    stored = json.loads((again.store.path.parent / "drafts.json").read_text())["drafts"]
    assert str(first) not in stored and str(second) in stored  # sent: its draft is gone


def test_a_drafts_attachment_deleted_meanwhile_is_named_once_and_dropped(qtbot, make_window, tmp_path: Path):
    window = loaded(qtbot, make_window, FakeEngine("Sure.", steps=2))
    say(qtbot, window, "hello")
    first = window.current_page().session.id
    picture = type_draft(qtbot, window, "look at this", tmp_path / "gone.png")
    window.new_chat()  # the first chat keeps its draft
    picture.unlink()
    window.open_chat(first)
    qtbot.waitUntil(lambda: len(window._notices()) == 1, timeout=10_000)
    assert "gone.png" in window._notices()[0].message
    assert window.composer.edit.toPlainText() == "look at this" and window.composer.attachments() == []
    qtbot.waitUntil(lambda: not window.drafts.save_pending(), timeout=5000)
    assert window.drafts.draft_of(first) == Draft("look at this")


def test_the_chat_list_marks_chats_that_hold_a_draft(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine("Sure.", steps=2))
    say(qtbot, window, "first chat")
    first = window.current_page().session.id
    window.composer.edit.setPlainText("half a thought")
    assert window.sidebar.mark_of(first) is None  # the chat shown has its draft in the composer

    window.new_chat()
    say(qtbot, window, "second chat")
    second = window.current_page().session.id
    assert window.sidebar.mark_of(first) == "draft" and window.sidebar.mark_of(second) is None
    assert window.sidebar._item(first).toolTip().endswith("(unsent draft)")

    window.open_chat(first)  # its draft comes back into the composer, so the mark goes
    assert window.sidebar.mark_of(first) is None
    window.composer.edit.clear()  # the draft is abandoned
    window.drafts.save()
    window.open_chat(second)
    assert window.sidebar.mark_of(first) is None

    window.open_chat(first)
    window.composer.edit.setPlainText("again")
    window.open_chat(second)
    window.close()
    again = loaded(qtbot, make_window, FakeEngine("Sure.", steps=2))
    again.open_chat(second)
    assert again.sidebar.mark_of(first) == "draft"  # drafts are remembered, and so is their mark

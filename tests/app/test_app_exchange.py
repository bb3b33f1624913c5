"""Export and import from the window: Chat menu and the sidebar's context menu, real files on disk."""

from __future__ import annotations

import json

import pytest
from app_chat import loaded, replies, say
from app_fakes import FakeEngine

from app.qt import QFileDialog
from app.ui.messages import Notice
from app.ui.window import EXPORT_JSON, EXPORT_MARKDOWN, safe_file_name

pytestmark = pytest.mark.timeout(120)


def choose_save(monkeypatch, path, selected=EXPORT_MARKDOWN) -> list[tuple]:
    calls: list[tuple] = []

    def fake(*args, **kwargs):
        calls.append(args)
        return str(path), selected

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake))
    return calls


def test_export_this_chat_as_markdown_from_the_chat_menu(qtbot, make_window, tmp_path, monkeypatch):
    window = loaded(qtbot, make_window, FakeEngine("Here is **the** answer.", steps=2))
    say(qtbot, window, "What: is/this?")
    calls = choose_save(monkeypatch, tmp_path / "mine.md")
    window.export_action.trigger()
    suggested = calls[0][2]
    assert suggested.endswith("What- is-this-.md"), "the suggested name is the title, made safe"
    text = (tmp_path / "mine.md").read_text(encoding="utf-8")
    assert "What: is/this?" in text and "Here is **the** answer." in text
    assert str(tmp_path / "mine.md") in window.status.currentMessage()


def test_a_name_without_extension_gets_the_chosen_format(qtbot, make_window, tmp_path, monkeypatch):
    window = loaded(qtbot, make_window, FakeEngine("ok", steps=2))
    say(qtbot, window, "hello")
    choose_save(monkeypatch, tmp_path / "backup", EXPORT_JSON)
    window.export_all_action.trigger()
    document = json.loads((tmp_path / "backup.json").read_text(encoding="utf-8"))
    assert len(document["conversations"]) == 1


def test_json_export_then_import_keeps_branches(qtbot, make_window, tmp_path):
    engine = FakeEngine("First.", steps=2)
    window = loaded(qtbot, make_window, engine)
    say(qtbot, window, "question")
    engine.reply = "Second."
    window.regenerate(replies(window)[0].store_id)
    qtbot.waitUntil(lambda: window.active is None, timeout=10_000)
    original = window.current_page().session.id
    path = window.export_chats([original], tmp_path / "chat.json")
    assert path == tmp_path / "chat.json"

    (imported,) = window.import_chats(path)
    assert imported != original
    assert window.current_page().session.id == imported
    assert set(window.sidebar.chat_ids()) == {original, imported}
    (reply,) = replies(window)
    assert reply.answer.text == "Second." and reply.versions.label.text() == "2/2"
    reply.versions.select(0)
    assert replies(window)[0].answer.text == "First."
    assert "Imported 1 chat from chat.json" in window.status.currentMessage()


def test_importing_a_broken_file_says_why_and_adds_nothing(qtbot, make_window, tmp_path):
    window = loaded(qtbot, make_window, FakeEngine("ok", steps=2))
    bad = tmp_path / "notes.json"
    bad.write_text("{ not json", encoding="utf-8")
    before = window.store.list_conversations()
    assert window.import_chats(bad) == []
    notice = next(w for w in window.current_page().transcript.messages() if isinstance(w, Notice))
    assert "“notes.json” could not be imported" in notice.message and "not valid JSON" in notice.message
    assert window.store.list_conversations() == before


def test_an_export_that_cannot_be_written_is_reported(qtbot, make_window, tmp_path):
    window = loaded(qtbot, make_window, FakeEngine("ok", steps=2))
    say(qtbot, window, "hello")
    missing = tmp_path / "no such folder" / "chat.md"
    assert window.export_chats(None, missing) is None
    notice = next(w for w in window.current_page().transcript.messages() if isinstance(w, Notice))
    assert notice.message.startswith("The export could not be written")
    assert not missing.exists()


def test_the_sidebar_menu_exports_that_chat(qtbot, make_window, tmp_path, monkeypatch):
    window = loaded(qtbot, make_window, FakeEngine("ok", steps=2))
    say(qtbot, window, "first chat")
    first = window.current_page().session.id
    window.new_chat()
    say(qtbot, window, "second chat")
    choose_save(monkeypatch, tmp_path / "first.md")
    menu = window.sidebar.context_menu(first)
    next(a for a in menu.actions() if a.text() == "Export…").trigger()
    menu.close()
    text = (tmp_path / "first.md").read_text(encoding="utf-8")
    assert "first chat" in text and "second chat" not in text


def test_safe_file_names():
    assert safe_file_name('a/b\\c:d*e?"f<g>h|') == "a-b-c-d-e--f-g-h-"
    assert safe_file_name("  ... ") == "New chat"
    assert len(safe_file_name("x" * 300)) == 80

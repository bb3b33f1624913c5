"""Export and import from the window: Chat menu and the sidebar's context menu, real files on disk."""

from __future__ import annotations

import json

import pytest
from app_chat import loaded, replies, say
from app_fakes import FakeEngine, fake_loader

from app.qt import QFileDialog
from app.ui.chat_transfer import EXPORT_JSON, EXPORT_MARKDOWN, safe_file_name
from app.ui.messages import Notice

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
    with qtbot.waitSignal(window.chats_exported, timeout=10_000):
        window.menus.export_action.trigger()
    suggested = calls[0][2]
    assert suggested.endswith("What- is-this-.md"), "the suggested name is the title, made safe"
    text = (tmp_path / "mine.md").read_text(encoding="utf-8")
    assert "What: is/this?" in text and "Here is **the** answer." in text
    assert str(tmp_path / "mine.md") in window.status.currentMessage()


def test_a_name_without_extension_gets_the_chosen_format(qtbot, make_window, tmp_path, monkeypatch):
    window = loaded(qtbot, make_window, FakeEngine("ok", steps=2))
    say(qtbot, window, "hello")
    choose_save(monkeypatch, tmp_path / "backup", EXPORT_JSON)
    with qtbot.waitSignal(window.chats_exported, timeout=10_000) as exported:
        window.menus.export_all_action.trigger()
    assert exported.args == [tmp_path / "backup.json"]
    document = json.loads((tmp_path / "backup.json").read_text(encoding="utf-8"))
    assert len(document["conversations"]) == 1


def test_json_export_then_import_keeps_branches(qtbot, make_window, tmp_path):
    engine = FakeEngine("First.", steps=2)
    window = loaded(qtbot, make_window, engine)
    say(qtbot, window, "question")
    engine.reply = "Second."
    window.replies.regenerate(replies(window)[0].store_id)
    qtbot.waitUntil(lambda: window.active is None, timeout=10_000)
    original = window.current_page().session.id
    with qtbot.waitSignal(window.chats_exported, timeout=10_000):
        path = window.export_chats([original], tmp_path / "chat.json")
    assert path == tmp_path / "chat.json"

    with qtbot.waitSignal(window.chats_imported, timeout=10_000) as blocker:
        window.import_chats(path)
    (imported,) = blocker.args[0]
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
    with qtbot.waitSignal(window.chats_imported, timeout=10_000) as blocker:
        window.import_chats(bad)
    assert blocker.args == [[]]
    notice = next(w for w in window.current_page().transcript.messages() if isinstance(w, Notice))
    assert "“notes.json” could not be imported" in notice.message and "not valid JSON" in notice.message
    assert window.store.list_conversations() == before


def test_an_export_that_cannot_be_written_is_reported(qtbot, make_window, tmp_path):
    window = loaded(qtbot, make_window, FakeEngine("ok", steps=2))
    say(qtbot, window, "hello")
    missing = tmp_path / "no such folder" / "chat.md"
    window.export_chats(None, missing)

    def notices():
        return [w for w in window.current_page().transcript.messages() if isinstance(w, Notice)]

    qtbot.waitUntil(lambda: bool(notices()), timeout=10_000)
    notice = notices()[0]
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
    with qtbot.waitSignal(window.chats_exported, timeout=10_000):
        next(a for a in menu.actions() if a.text() == "Export…").trigger()
    menu.close()
    text = (tmp_path / "first.md").read_text(encoding="utf-8")
    assert "first chat" in text and "second chat" not in text

    window.new_chat()
    say(qtbot, window, "third chat")
    third = window.current_page().session.id
    window.sidebar._item(first).setSelected(True)  # as Ctrl+click does
    asked = choose_save(monkeypatch, tmp_path / "two.md")
    menu = window.sidebar.context_menu(first)
    with qtbot.waitSignal(window.chats_exported, timeout=10_000):
        next(a for a in menu.actions() if a.text() == "Export 2 chats…").trigger()
    menu.close()
    assert window.sidebar.selected_chat_ids() == [third, first]
    assert asked[0][1] == "Export 2 chats" and asked[0][2].endswith("DiffusionGemma chats.md")
    text = (tmp_path / "two.md").read_text(encoding="utf-8")
    assert "first chat" in text and "third chat" in text and "second chat" not in text


def test_safe_file_names():
    assert safe_file_name('a/b\\c:d*e?"f<g>h|') == "a-b-c-d-e--f-g-h-"
    assert safe_file_name("  ... ") == "New chat"
    assert len(safe_file_name("x" * 300)) == 80


def test_export_and_import_run_off_the_gui_thread_on_their_own_connection(
    qtbot, make_window, tmp_path, monkeypatch
):
    """A big export (attachments embedded) must not freeze the window: the work runs on a pool thread."""
    import threading

    from app import chat_files
    from app.store import Store

    threads: list[str] = []
    original = Store.open_for_thread.__func__

    def recording(cls, *args, **kwargs):
        threads.append(threading.current_thread().name)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(Store, "open_for_thread", classmethod(recording))
    window = loaded(qtbot, make_window, FakeEngine("ok", steps=2))
    say(qtbot, window, "hello")
    with qtbot.waitSignal(window.chats_exported, timeout=10_000):
        window.export_chats(None, tmp_path / "all.json")
    with qtbot.waitSignal(window.chats_imported, timeout=10_000):
        window.import_chats(tmp_path / "all.json")
    assert len(threads) == 2 and threading.main_thread().name not in threads
    assert chat_files.SHUTDOWN_WAIT_MS > 0  # closing the window waits for an import in flight


def test_a_reply_streaming_while_importing_is_not_marked_interrupted(qtbot, make_window, tmp_path):
    """The background connection must not treat the window's streaming reply as left over by a crash."""
    window = loaded(qtbot, make_window, FakeEngine("ok", steps=2))
    say(qtbot, window, "hello")
    with qtbot.waitSignal(window.chats_exported, timeout=10_000):
        window.export_chats(None, tmp_path / "all.json")
    chat = window.current_page().session.id
    user = window.store.send_user_message(chat, "still writing").id
    writer = window.store.begin_reply(user)  # a reply in the middle of streaming
    with qtbot.waitSignal(window.chats_imported, timeout=10_000):
        window.import_chats(tmp_path / "all.json")
    assert window.store.message(writer.message_id).status == "streaming"
    writer.stop()


def test_overlapping_exports_each_report_their_own_file(qtbot, make_window, tmp_path, monkeypatch):
    """A job finishing while another is queued must not let a new job take the queued one's name."""
    import threading

    from app import chat_files

    gate = threading.Event()
    export_file = chat_files.export_file

    def held(db_path, fmt, chat_ids, path):
        if path.name == "b.md":
            gate.wait(10)  # b stays in flight until c has been started
        return export_file(db_path, fmt, chat_ids, path)

    monkeypatch.setattr(chat_files, "export_file", held)
    window = loaded(qtbot, make_window, FakeEngine("ok", steps=2))
    say(qtbot, window, "hello")
    files = window.chat_transfer.files
    files._tasks._pool.setMaxThreadCount(2)  # a and b run side by side; b waits
    written: list = []
    window.chats_exported.connect(written.append)
    window.export_chats(None, tmp_path / "a.md")
    window.export_chats(None, tmp_path / "b.md")
    qtbot.waitUntil(lambda: written == [tmp_path / "a.md"], timeout=10_000)
    window.export_chats(None, tmp_path / "c.md")
    qtbot.waitUntil(lambda: tmp_path / "c.md" in written, timeout=10_000)
    gate.set()
    qtbot.waitUntil(lambda: len(written) == 3, timeout=10_000)
    assert sorted(written) == [tmp_path / "a.md", tmp_path / "b.md", tmp_path / "c.md"]


def test_the_window_starts_and_opens_a_chat_whatever_times_and_stats_the_database_holds(
    qtbot, make_window, tmp_path
):
    from app.store import Store

    with Store.open() as store:  # values no import lets in any more, as an older version stored them
        cid = store.create_conversation("Hostile")
        user = store.send_user_message(cid, "hello")
        conn = store._db.conn
        conn.execute("UPDATE conversations SET created_at = 1e300, updated_at = 9e999 WHERE id = ?", (cid,))
        conn.execute("UPDATE messages SET created_at = -1e15, stats = '\"fast\"' WHERE id = ?", (user.id,))
        conn.commit()
    window = make_window(fake_loader(FakeEngine("ok", steps=2)))
    assert cid in window.sidebar.chat_ids()
    page = window.open_chat(cid)
    assert page is not None and page.session.messages[0].text == "hello"
    with qtbot.waitSignal(window.chats_exported, timeout=10_000):
        window.export_chats([cid], tmp_path / "hostile.md")
    assert (tmp_path / "hostile.md").read_text(encoding="utf-8").startswith("# Hostile")

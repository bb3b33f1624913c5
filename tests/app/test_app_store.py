"""The window on the real SQLite store: persistence across restarts, history, sidebar actions.

Every test gets its own ``DGCHAT_DATA_DIR`` (tests/app/conftest.py), so the
window opens a fresh ``conversations.db`` in the test's folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from app_chat import choose, loaded, say
from app_fakes import FakeEngine, fake_loader

from app.config import AppConfig
from app.qt import QLineEdit, QMessageBox, Qt
from app.store import Store, StoreError, to_turns
from app.store.exchange import FORMAT, VERSION
from app.ui.messages import AssistantMessage, UserMessage
from app.worker import load_engine
from engine.settings import GenerationSettings

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]


def widgets(window, kind):
    return [w for w in window.current_page().transcript.messages() if isinstance(w, kind)]


def test_a_conversation_and_its_reply_survive_a_restart(qtbot, make_window, tiny_checkpoint):
    config = AppConfig(generation=GenerationSettings(max_new_tokens=256, max_denoising_steps=4, seed=1))
    window = loaded(qtbot, make_window, load_engine, str(tiny_checkpoint), config)
    state = say(qtbot, window, "Hello, tiny model", timeout=60_000)
    done = state.done
    assert done is not None and not done.incomplete
    cid = window.current_page().session.id
    window.close()

    again = make_window(fake_loader(FakeEngine()))
    assert cid in again.sidebar.chat_ids()
    assert again.sidebar.title_of(cid) == "Hello, tiny model"
    again.sidebar.select(cid)
    page = again.current_page()
    assert page.session.id == cid
    assert [w.text for w in widgets(again, UserMessage)] == ["Hello, tiny model"]
    (reply,) = widgets(again, AssistantMessage)
    assert reply.answer.text == done.answer
    assert reply.notice is None
    assert "tokens" in reply.stats.text()
    stored = again.store.active_path(cid)
    assert [(m.role, m.status) for m in stored] == [("user", "complete"), ("assistant", "complete")]
    assert stored[1].text == done.answer and stored[1].stats == done.stats
    assert again.store.canvases(stored[1].id), "the committed canvases were written too"


def test_follow_ups_send_the_stored_history_without_thoughts_even_after_a_restart(qtbot, make_window):
    engine = FakeEngine("<|channel>thought\nsecret plan<channel|>First answer.", steps=3)
    window = loaded(qtbot, make_window, fake_loader(engine))
    say(qtbot, window, "one")
    cid = window.current_page().session.id
    window.close()

    engine = FakeEngine("Second answer.", steps=3)
    window = loaded(qtbot, make_window, fake_loader(engine))
    window.open_chat(cid)
    say(qtbot, window, "two")
    say(qtbot, window, "three")
    turns = engine.calls[-1][0].turns
    assert [(t.role, t.text) for t in turns] == [
        ("user", "one"),
        ("assistant", "First answer."),
        ("user", "two"),
        ("assistant", "Second answer."),
        ("user", "three"),
    ]
    assert to_turns(window.store.active_path(cid))[-1].text == "Second answer."


def test_a_failed_exchange_is_kept_but_not_sent_back(qtbot, make_window):
    engine = FakeEngine("Fine.", steps=2, fail=RuntimeError("boom"))
    window = loaded(qtbot, make_window, fake_loader(engine))
    say(qtbot, window, "broken")
    engine.fail = None
    say(qtbot, window, "again")
    assert [(t.role, t.text) for t in engine.calls[-1][0].turns] == [("user", "again")]
    stored = window.store.active_path(window.current_page().session.id)
    assert [(m.role, m.status, m.stop_reason) for m in stored][:2] == [
        ("user", "complete", ""),
        ("assistant", "incomplete", "error"),
    ]


def test_stop_saves_the_reply_as_stopped(qtbot, make_window):
    engine = FakeEngine("word " * 300, steps=40, step_delay=0.005)
    window = loaded(qtbot, make_window, fake_loader(engine))
    window.composer.edit.setPlainText("go")
    window.send()
    qtbot.waitUntil(lambda: window.active.state.steps_received > 2, timeout=5000)
    writer = window.active.writer
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.active is None, timeout=5000)
    assert writer.finished
    message = window.store.message(writer.message_id)
    assert (message.status, message.stop_reason) == ("incomplete", "cancelled")


def chats_saying(qtbot, window, *texts: str) -> list[int]:
    """One chat per text (each opened with that message and its reply); their ids, oldest first."""
    ids: list[int] = []
    for text in texts:
        if ids:
            window.new_chat()
        say(qtbot, window, text)
        ids.append(window.current_page().session.id)
    return ids


def test_delete_from_the_context_menu_and_undo(qtbot, make_window):
    window = loaded(qtbot, make_window, fake_loader(FakeEngine("ok", steps=2)))
    keep, doomed = chats_saying(qtbot, window, "keep me", "delete me")
    assert window.sidebar.chat_ids() == [doomed, keep]

    choose(window, doomed, "Delete")
    assert window.sidebar.chat_ids() == [keep]
    assert window.current_page().session.id == keep
    assert [c.id for c in window.store.deleted_conversations()] == [doomed]
    assert window.sidebar.undo_bar.isVisible() and "delete me" in window.sidebar.undo_label.text()

    qtbot.mouseClick(window.sidebar.undo_button, Qt.MouseButton.LeftButton)
    assert not window.sidebar.undo_bar.isVisible()
    assert window.sidebar.chat_ids() == [doomed, keep]
    assert window.current_page().session.id == doomed
    assert not window.store.deleted_conversations()
    assert [w.text for w in widgets(window, UserMessage)] == ["delete me"]


def sections(sidebar) -> list[tuple[str, list[int]]]:
    """The sidebar as the user reads it: each heading with the chats listed under it."""
    out: list[tuple[str, list[int]]] = []
    for row in range(sidebar.list.count()):
        item = sidebar.list.item(row)
        cid = item.data(Qt.ItemDataRole.UserRole)
        if cid is None:
            out.append((item.text(), []))
        else:
            out[-1][1].append(int(cid))
    return out


def test_pin_from_the_context_menu_moves_the_chat_to_the_top_and_survives_a_restart(qtbot, make_window):
    window = loaded(qtbot, make_window, fake_loader(FakeEngine("ok", steps=2)))
    say(qtbot, window, "the older chat")
    older = window.current_page().session.id
    window.new_chat()
    say(qtbot, window, "the newer chat")
    newer = window.current_page().session.id
    assert sections(window.sidebar) == [("Today", [newer, older])]

    choose(window, older, "Pin")
    assert sections(window.sidebar) == [("Pinned", [older]), ("Today", [newer])]
    assert not window.sidebar.list.item(0).icon().isNull(), "the Pinned heading shows a pin"
    assert window.current_page().session.id == newer, "pinning does not open the chat"
    assert sorted(window.search_chats("chat")) == sorted([newer, older])  # results are not grouped by pins
    choose(window, older, "Unpin")  # from a search result too
    choose(window, older, "Pin")
    assert window.search_chats("") == [older, newer]
    window.close()

    again = make_window(fake_loader(FakeEngine()))
    fresh = again.current_page().session.id  # the window opens a new, empty chat
    assert sections(again.sidebar) == [("Pinned", [older]), ("Today", [fresh, newer])]
    choose(again, older, "Unpin")
    assert again.store.conversation(older).pinned_at is None
    assert sections(again.sidebar) == [("Today", [fresh, newer, older])], "back in its place by date"


def test_a_pin_that_cannot_be_saved_is_reported_and_changes_nothing(qtbot, make_window, monkeypatch):
    from app.store import StoreError

    window = loaded(qtbot, make_window, fake_loader(FakeEngine("ok", steps=2)))
    say(qtbot, window, "a chat")
    cid = window.current_page().session.id

    def fail(*_args) -> None:
        raise StoreError("Could not pin the chat: the disk is full")

    monkeypatch.setattr(window.store, "set_pinned", fail)
    choose(window, cid, "Pin")
    assert any("The chat could not be pinned" in n.message for n in window._notices())
    assert sections(window.sidebar) == [("Today", [cid])]
    choose(window, cid, "Pin")  # the menu still offers Pin: the sidebar follows the store


def test_rename_in_place_is_saved(qtbot, make_window):
    window = loaded(qtbot, make_window, fake_loader(FakeEngine("ok", steps=2)))
    say(qtbot, window, "an automatic title")
    cid = window.current_page().session.id
    menu = window.sidebar.context_menu(cid)
    next(a for a in menu.actions() if a.text().startswith("Rename")).trigger()
    menu.close()
    item = window.sidebar._item(cid)
    item.setText("  My   chosen title ")  # what the in-place editor commits
    assert window.store.conversation(cid).title == "My chosen title"
    assert window.sidebar.title_of(cid) == "My chosen title"
    say(qtbot, window, "a later message never overwrites a rename")
    assert window.store.conversation(cid).title == "My chosen title"


def test_search_lists_matching_chats_and_clearing_it_restores_the_groups(qtbot, make_window):
    window = loaded(qtbot, make_window, fake_loader(FakeEngine("Bananas are yellow.", steps=2)))
    say(qtbot, window, "tell me about fruit")
    fruit = window.current_page().session.id
    window.new_chat()
    say(qtbot, window, "what about zebras")
    zebra = window.current_page().session.id

    assert window.search_chats("zebr") == [zebra], "the last word also matches as a prefix"
    assert window.sidebar.headings() == ["1 result"]
    assert window.search_chats("fruit") == [fruit]
    assert sorted(window.search_chats("banan")) == sorted([fruit, zebra]), "answers are searched too"
    assert "Bananas" in window.sidebar._item(fruit).text(), "the snippet shows under the title"
    assert window.search_chats("nothing like this") == []
    window.sidebar.list.setCurrentRow(0)  # the heading is not selectable
    assert window.search_chats("") == [zebra, fruit]
    assert window.sidebar.headings() == ["Today"]
    window.search_chats("fruit")
    window.sidebar.list.setCurrentRow(1)
    assert window.current_page().session.id == fruit


def test_an_interrupted_reply_is_marked_inline_after_the_restart(qtbot, make_window):
    db = os.path.join(os.environ["DGCHAT_DATA_DIR"], "conversations.db")
    with Store.open(db) as store:
        cid = store.create_conversation()
        user = store.send_user_message(cid, "a question", ())
        store.begin_reply(user.id)  # the app "dies" here: the reply stays "streaming"

    window = make_window(fake_loader(FakeEngine("Recovered.", steps=2)))
    notices = window._notices()
    assert any("being written when the app last closed" in n.message for n in notices)
    window.open_chat(cid)
    (reply,) = widgets(window, AssistantMessage)
    assert reply.notice is not None and "interrupted" in reply.notice.message

    window.load_model("fake")
    qtbot.waitUntil(lambda: window.model_info is not None, timeout=5000)
    reply.notice.buttons[0].click()  # Try again: a new version of the reply
    qtbot.waitUntil(lambda: window.active is None, timeout=5000)
    stored = window.store.active_path(cid)
    assert stored[-1].text == "Recovered." and stored[-1].sibling_count == 2


def test_the_writer_runs_on_the_engine_thread_and_the_gui_never_writes_a_canvas(
    qtbot, make_window, monkeypatch
):
    from app_probes import ThreadRecorder

    from app.store import ReplyWriter

    recorder = ThreadRecorder()
    recorder.wrap(monkeypatch, ReplyWriter, "on_event")
    recorder.wrap(monkeypatch, ReplyWriter, "stop")
    window = loaded(qtbot, make_window, fake_loader(FakeEngine("Saved off the GUI thread.", steps=3)))
    say(qtbot, window, "where are you written?")
    assert "on_event" in recorder.names()
    assert set(recorder.off_gui()) == {"on_event"}, "every write of the reply happens on the engine thread"
    assert window.store.active_path(window.current_page().session.id)[-1].status == "complete"


def click_row(qtbot, window, chat_id: int, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """Click a chat's row in the sidebar as the user does (with Ctrl or Shift to add to a selection)."""
    item = window.sidebar._item(chat_id)
    rect = window.sidebar.list.visualItemRect(item)
    qtbot.mouseClick(window.sidebar.list.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())


def test_several_chats_selected_are_deleted_together_and_undone_together(qtbot, make_window):
    window = loaded(qtbot, make_window, fake_loader(FakeEngine("ok", steps=2)))
    ids = chats_saying(qtbot, window, "one", "two", "three")
    three, two, one = window.sidebar.chat_ids()
    assert [three, two, one] == ids[::-1]

    click_row(qtbot, window, three)
    click_row(qtbot, window, two, Qt.KeyboardModifier.ControlModifier)
    assert window.sidebar.selected_chat_ids() == [three, two]  # a switch of chat keeps the selection
    menu = window.sidebar.context_menu(two)
    assert [a.text() for a in menu.actions() if a.text()] == ["Export 2 chats…", "Delete 2 chats"]
    menu.close()

    qtbot.keyClick(window.sidebar.list, Qt.Key.Key_Delete)
    assert window.sidebar.chat_ids() == [one]
    assert window.current_page().session.id == one
    assert sorted(c.id for c in window.store.deleted_conversations()) == sorted([three, two])
    assert window.sidebar.undo_label.text() == "Deleted 2 chats"

    qtbot.mouseClick(window.sidebar.undo_button, Qt.MouseButton.LeftButton)
    assert window.sidebar.chat_ids() == [three, two, one]
    assert window.current_page().session.id == three
    assert not window.store.deleted_conversations()


def test_delete_key_deletes_the_current_chat_and_f2_renames_it(qtbot, make_window):
    window = loaded(qtbot, make_window, fake_loader(FakeEngine("ok", steps=2)))
    keep, chat = chats_saying(qtbot, window, "keep me", "rename me")
    click_row(qtbot, window, chat)

    qtbot.keyClick(window.sidebar.list, Qt.Key.Key_F2)
    editor = window.sidebar.list.findChild(QLineEdit)
    assert editor is not None and editor.text() == "rename me"
    editor.setText("Renamed with F2")
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # the delegate commits on the next turn of the event loop
    qtbot.waitUntil(lambda: window.store.conversation(chat).title == "Renamed with F2")

    click_row(qtbot, window, chat)
    qtbot.keyClick(window.sidebar.list, Qt.Key.Key_Delete)
    assert window.sidebar.chat_ids() == [keep]
    assert window.sidebar.undo_label.text() == "Deleted “Renamed with F2”"


def test_a_reply_written_in_another_chat_is_marked_writing_then_new(qtbot, make_window):
    engine = FakeEngine("word " * 100, steps=30, step_delay=0.01)
    window = loaded(qtbot, make_window, fake_loader(engine))
    window.composer.edit.setPlainText("a long question")
    window.send()
    busy = window.current_page().session.id
    window.new_chat()  # look elsewhere while the reply is written
    assert window.sidebar.mark_of(busy) == "writing"
    assert window.sidebar._item(busy).toolTip().endswith("(reply being written)")
    qtbot.waitUntil(lambda: window.active is None, timeout=10_000)
    assert window.sidebar.mark_of(busy) == "unread"
    assert window.sidebar._item(busy).data(Qt.ItemDataRole.AccessibleDescriptionRole) == "New reply"
    window.open_chat(busy)
    assert window.sidebar.mark_of(busy) is None
    window.new_chat()
    assert window.sidebar.mark_of(busy) is None  # seen: it stays unmarked


def test_recently_deleted_brings_back_a_chat_after_the_undo_is_gone(qtbot, make_window, monkeypatch):
    window = loaded(qtbot, make_window, fake_loader(FakeEngine("ok", steps=2)))
    keep, first, second = chats_saying(qtbot, window, "keep", "lost yesterday", "lost today")
    window.chat_list.delete([first])
    window.chat_list.delete([second])
    window.sidebar.hide_undo()  # the ten seconds of Undo are over
    assert window.sidebar.chat_ids() == [keep]

    dialog = window.trash.open()
    assert window.menus.trash_action.text() == "&Recently deleted…"
    assert dialog.chat_ids() == [second, first]  # most recently deleted first
    assert "deleted today at" in dialog.list.item(0).text()
    assert not dialog.restore_button.isEnabled()  # nothing selected yet
    dialog.list.item(1).setSelected(True)
    qtbot.mouseClick(dialog.restore_button, Qt.MouseButton.LeftButton)
    assert set(window.sidebar.chat_ids()) == {first, keep}
    assert window.current_page().session.id == first
    assert dialog.chat_ids() == [second]

    # Delete now asks first; Cancel keeps it, confirming deletes it for good.
    dialog.list.item(0).setSelected(True)
    qtbot.mouseClick(dialog.purge_button, Qt.MouseButton.LeftButton)
    box = dialog.confirm
    assert box is not None and "cannot be undone" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert dialog.chat_ids() == [second]
    qtbot.mouseClick(dialog.purge_button, Qt.MouseButton.LeftButton)
    forever = next(b for b in dialog.confirm.buttons() if b.text() == "Delete for good")
    forever.click()
    assert dialog.chat_ids() == [] and dialog.empty.isVisible()
    with pytest.raises(StoreError):
        window.store.conversation(second)
    dialog.close()


@pytest.mark.parametrize("command", [["export", "--format", "md"], ["import", "-"]])
def test_the_cli_says_it_moved_a_damaged_database_and_the_next_window_says_once(qtbot, make_window, command):
    data = Path(os.environ["DGCHAT_DATA_DIR"])
    data.mkdir()
    (data / "conversations.db").write_bytes(b"overwritten by something else " * 200)
    done = subprocess.run(
        [sys.executable, "-m", "app", *command],
        input=json.dumps({"format": FORMAT, "version": VERSION, "conversations": []}),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    (moved,) = data.glob("conversations-corrupt-*.db")
    assert str(moved) in done.stderr
    if command[0] == "export":  # the chats were in the damaged file: nothing to export is a failure
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr.startswith("error: Nothing was exported. The conversation database was damaged")
    else:
        assert done.returncode == 0, done.stderr
        assert done.stderr.startswith("note: The conversation database was damaged")

    first = make_window(fake_loader(FakeEngine("Hi.", steps=1)))
    told = [n.message for n in first._notices() if "was damaged" in n.message]
    assert len(told) == 1 and str(moved) in told[0]
    first.close()
    again = make_window(fake_loader(FakeEngine("Hi.", steps=1)))
    assert not [n for n in again._notices() if "was damaged" in n.message]  # once, not at every start


def test_a_message_moves_only_its_chats_row_and_the_list_still_matches_the_store(qtbot, make_window):
    """With 100 K imported chats, filling the whole list again after each message froze the window."""
    db = os.path.join(os.environ["DGCHAT_DATA_DIR"], "conversations.db")
    month_ago = time.time() - 40 * 86400
    with Store.open(db, clock=lambda: month_ago) as store:
        old = [store.create_conversation(f"old chat {n}") for n in range(40)]
        pinned = store.create_conversation("pinned chat")
        store.set_pinned(pinned, True)
    window = loaded(qtbot, make_window, FakeEngine("Fine.", steps=1))
    assert window.sidebar.headings() == ["Pinned", "Older"]
    rows_before = {cid: window.sidebar._item(cid) for cid in window.sidebar.chat_ids()}
    window.open_chat(old[5])
    assert window.sidebar.list.currentItem() is rows_before[old[5]]  # selected, nothing listed again
    say(qtbot, window, "back to this one")
    say(qtbot, window, "and again")

    listed = (window.sidebar.headings(), window.sidebar.chat_ids())
    assert listed[0] == ["Pinned", "Today", "Older"] and listed[1][:2] == [pinned, old[5]]
    assert window.sidebar.list.currentItem() is window.sidebar._item(old[5])
    assert window.sidebar.selected_chat_ids() == [old[5]]
    window.open_chat(old[9])
    assert window.sidebar.selected_chat_ids() == [old[9]]
    assert all(window.sidebar._item(cid) is item for cid, item in rows_before.items()), "no row was rebuilt"
    window.chat_list.refresh()  # what the store says, listed from scratch
    assert (window.sidebar.headings(), window.sidebar.chat_ids()) == listed

    window.sidebar.set_marks({old[7]: "unread"})  # a mark touches only its row
    assert window.sidebar.mark_of(old[7]) == "unread" and window.sidebar.mark_of(old[8]) is None
    window.sidebar.set_marks({})
    assert window.sidebar.mark_of(old[7]) is None
    assert window.sidebar._item(old[7]).toolTip() == "old chat 7"

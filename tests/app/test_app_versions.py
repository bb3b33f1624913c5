"""Edit-and-resend, regenerate and the ‹ 2/3 › switcher, on the real SQLite store.

Nothing is ever overwritten: each action adds a sibling in the message tree,
and the switcher walks the siblings.  The engine is the scripted fake (its
reply text changes between calls so versions are distinguishable).
"""

from __future__ import annotations

import pytest
from app_chat import loaded, replies, say, users, wait_idle
from app_fakes import FakeEngine

from app.qt import QApplication, Qt
from app.ui.messages import AssistantMessage, UserMessage
from engine.generation.plan import ReplyPlan

pytestmark = pytest.mark.timeout(120)


def shown(window) -> list[tuple[str, str]]:
    """The transcript as (role, text) pairs."""
    out = []
    for w in window.current_page().transcript.messages():
        if isinstance(w, UserMessage):
            out.append(("user", w.text))
        elif isinstance(w, AssistantMessage):
            out.append(("assistant", w.answer.text))
    return out


def test_regenerate_adds_a_version_and_the_switcher_walks_them(qtbot, make_window):
    engine = FakeEngine("First answer.", steps=2)
    window = loaded(qtbot, make_window, engine)
    say(qtbot, window, "question")
    (reply,) = replies(window)
    assert reply.regenerate_button.isVisible() and not reply.versions.isVisible()

    engine.reply = "Second answer."
    qtbot.mouseClick(reply.regenerate_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert shown(window) == [("user", "question"), ("assistant", "Second answer.")]
    (new,) = replies(window)
    assert new.versions.isVisible() and new.versions.label.text() == "2/2"
    assert [(t.role, t.text) for t in engine.calls[-1][0].turns] == [("user", "question")]

    qtbot.mouseClick(new.versions.previous_button, Qt.MouseButton.LeftButton)
    assert shown(window) == [("user", "question"), ("assistant", "First answer.")]
    (old,) = replies(window)
    assert old.versions.label.text() == "1/2" and not old.versions.previous_button.isEnabled()
    cid = window.current_page().session.id
    assert [m.text for m in window.store.active_path(cid)] == ["question", "First answer."]

    # the choice is what the next message builds on
    engine.reply = "Follow-up answer."
    say(qtbot, window, "and then?")
    assert [(t.role, t.text) for t in engine.calls[-1][0].turns] == [
        ("user", "question"),
        ("assistant", "First answer."),
        ("user", "and then?"),
    ]


def test_edit_and_resend_branches_and_keeps_the_original_exchange(qtbot, make_window):
    engine = FakeEngine("Answer one.", steps=2)
    window = loaded(qtbot, make_window, engine)
    say(qtbot, window, "first question")
    engine.reply = "Answer two."
    say(qtbot, window, "second question")

    first = users(window)[0]
    qtbot.mouseClick(first.edit_button, Qt.MouseButton.LeftButton)
    assert first.editing and first.edit_box.toPlainText() == "first question"
    first.edit_box.setPlainText("better first question")
    engine.reply = "Better answer."
    qtbot.mouseClick(first.send_edit_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)

    assert shown(window) == [("user", "better first question"), ("assistant", "Better answer.")]
    assert [(t.role, t.text) for t in engine.calls[-1][0].turns] == [("user", "better first question")]
    (edited,) = users(window)
    assert edited.versions.label.text() == "2/2"

    edited.versions.select(0)
    assert shown(window) == [
        ("user", "first question"),
        ("assistant", "Answer one."),
        ("user", "second question"),
        ("assistant", "Answer two."),
    ]
    assert users(window)[0].versions.label.text() == "1/2"


def test_edit_with_ctrl_enter_and_cancel_with_escape(qtbot, make_window):
    engine = FakeEngine("ok", steps=2)
    window = loaded(qtbot, make_window, engine)
    say(qtbot, window, "hello")
    (user,) = users(window)
    user.start_edit()
    qtbot.keyClick(user.edit_box, Qt.Key.Key_Escape)
    assert not user.editing and user.bubble.isVisible()
    assert len(engine.calls) == 1

    user.start_edit()
    user.edit_box.setPlainText("hello again")
    qtbot.keyClick(user.edit_box, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    wait_idle(qtbot, window)
    assert [u.text for u in users(window)] == ["hello again"]
    assert len(engine.calls) == 2


def test_up_in_an_empty_message_box_edits_the_last_message(qtbot, make_window):
    engine = FakeEngine("ok", steps=2)
    window = loaded(qtbot, make_window, engine)
    say(qtbot, window, "first")
    say(qtbot, window, "second")
    box = window.composer.edit
    box.setPlainText("typing")
    qtbot.keyClick(box, Qt.Key.Key_Up)  # text in the box: Up only moves the cursor
    assert not any(u.editing for u in users(window))
    box.clear()
    qtbot.keyClick(box, Qt.Key.Key_Up, Qt.KeyboardModifier.ShiftModifier)  # a modifier: not ours
    assert not any(u.editing for u in users(window))

    qtbot.keyClick(box, Qt.Key.Key_Up)
    first, second = users(window)
    assert second.editing and not first.editing
    assert second.edit_box.toPlainText() == "second" and second.edit_box.hasFocus()
    second.edit_box.setPlainText("second, better")
    qtbot.keyClick(second.edit_box, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    wait_idle(qtbot, window)
    assert [u.text for u in users(window)] == ["first", "second, better"]

    engine.steps, engine.step_delay = 30, 0.01
    box.setPlainText("third")
    window.send()
    qtbot.keyClick(box, Qt.Key.Key_Up)  # while a reply is written the branch cannot change
    assert not any(u.editing for u in users(window))
    window.stop()
    wait_idle(qtbot, window)


def test_an_unchanged_edit_sends_nothing(qtbot, make_window):
    engine = FakeEngine("ok", steps=2)
    window = loaded(qtbot, make_window, engine)
    say(qtbot, window, "same")
    (user,) = users(window)
    user.start_edit()
    user.submit_edit()
    assert not user.editing and len(engine.calls) == 1
    assert window.store.siblings(user.store_id).count == 1


def test_versions_cannot_change_while_a_reply_is_written(qtbot, make_window):
    engine = FakeEngine("word " * 200, steps=30, step_delay=0.01)
    window = loaded(qtbot, make_window, engine)
    engine.steps, engine.step_delay = 2, 0.0
    say(qtbot, window, "one")
    engine.steps, engine.step_delay = 30, 0.01
    window.composer.edit.setPlainText("two")
    window.send()
    first_user, first_reply = users(window)[0], replies(window)[0]
    assert not first_user.edit_button.isEnabled() and not first_reply.regenerate_button.isEnabled()
    assert window.replies.regenerate(first_reply.store_id) is None
    assert window.replies.edit_message(first_user.store_id, "changed") is None
    window.stop()
    wait_idle(qtbot, window)
    assert users(window)[0].edit_button.isEnabled() and replies(window)[0].regenerate_button.isEnabled()


def test_versions_survive_a_restart(qtbot, make_window):
    engine = FakeEngine("One.", steps=2)
    window = loaded(qtbot, make_window, engine)
    say(qtbot, window, "q")
    engine.reply = "Two."
    window.replies.regenerate(replies(window)[0].store_id)
    wait_idle(qtbot, window)
    engine.reply = "Three."
    window.replies.regenerate(replies(window)[0].store_id)
    wait_idle(qtbot, window)
    replies(window)[0].versions.select(1)
    cid = window.current_page().session.id
    window.close()

    again = loaded(qtbot, make_window, FakeEngine())
    again.open_chat(cid)
    (reply,) = replies(again)
    assert reply.answer.text == "Two." and reply.versions.label.text() == "2/3"
    qtbot.mouseClick(reply.versions.next_button, Qt.MouseButton.LeftButton)
    assert shown(again)[-1] == ("assistant", "Three.")


def test_a_failed_reply_retried_stays_as_a_version(qtbot, make_window):
    engine = FakeEngine("Recovered.", steps=2, fail=RuntimeError("boom"))
    window = loaded(qtbot, make_window, engine)
    say(qtbot, window, "q")
    (failed,) = replies(window)
    assert failed.notice is not None
    engine.fail = None
    qtbot.mouseClick(failed.notice.buttons[0], Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    (reply,) = replies(window)
    assert reply.answer.text == "Recovered." and reply.versions.label.text() == "2/2"


def test_a_model_chosen_in_a_dialog_mid_reply_loads_when_the_reply_ends(qtbot, make_window):
    """A download finishing (or Use in Models…) never cuts the reply being written short."""
    engine = FakeEngine("word " * 100, steps=20, step_delay=0.01)
    window = loaded(qtbot, make_window, engine)
    requested: list[str] = []
    window.host.load = requested.append
    window.composer.edit.setPlainText("go")
    window.send()
    window.load_model_when_idle("/models/new")
    assert requested == [] and window.active is not None
    assert "loads when this reply is finished" in window.status.currentMessage()
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: requested == ["/models/new"], timeout=5000)
    assert replies(window)[0].answer.text.strip() == ("word " * 100).strip(), "the reply was not stopped"


def test_a_search_hit_on_another_version_shows_that_version(qtbot, make_window):
    engine = FakeEngine("Apples grow on trees.", steps=2)
    window = loaded(qtbot, make_window, engine)
    say(qtbot, window, "fruit?")
    cid = window.current_page().session.id
    engine.reply = "Pears are sweeter."
    window.replies.regenerate(replies(window)[0].store_id)
    wait_idle(qtbot, window)
    window.new_chat()
    say(qtbot, window, "something else")

    assert window.search_chats("apples") == [cid]
    window.sidebar.select(cid)
    assert window.current_page().session.id == cid
    (reply,) = replies(window)
    assert reply.answer.text == "Apples grow on trees." and reply.versions.label.text() == "1/2"

    # clicking the hit of the chat already open still shows the matching version
    reply.versions.select(1)
    assert replies(window)[0].answer.text == "Pears are sweeter."
    window.search_chats("apples")
    item = window.sidebar.list.currentItem()
    assert int(item.data(Qt.ItemDataRole.UserRole)) == cid
    rect = window.sidebar.list.visualItemRect(item)
    qtbot.mouseClick(window.sidebar.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert replies(window)[0].answer.text == "Apples grow on trees."


def test_an_edit_emptied_of_text_is_not_sent(qtbot, make_window):
    engine = FakeEngine("ok", steps=2)
    window = loaded(qtbot, make_window, engine)
    say(qtbot, window, "something")
    (user,) = users(window)
    user.start_edit()
    user.edit_box.setPlainText("   ")
    user.submit_edit()
    assert user.editing and "Type the new version" in user.edit_box.placeholderText()
    assert len(engine.calls) == 1 and window.store.siblings(user.store_id).count == 1


def test_copy_under_a_user_message_copies_its_text_as_typed(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine("ok", steps=2))
    say(qtbot, window, "Summarise *this* in\ntwo lines")
    (user,) = users(window)
    assert user.copy_button.isVisible()
    user.copy_button.click()
    assert QApplication.clipboard().text() == "Summarise *this* in\ntwo lines"
    assert window.status.currentMessage() == "Copied to the clipboard"
    user.start_edit()
    assert not user.copy_button.isVisible()
    user.cancel_edit()
    assert user.copy_button.isVisible()


def test_revise_starts_the_next_reply_from_the_last_one(qtbot, make_window):
    engine = FakeEngine("A long answer about rivers and the sea.", steps=2)
    window = loaded(qtbot, make_window, engine)
    revise = window.composer.revise_button
    assert not revise.isEnabled()  # an empty chat has no reply to revise
    say(qtbot, window, "Tell me about rivers")
    assert revise.isEnabled() and not revise.isChecked()
    assert window.menus.revise_action.shortcut().toString() == "Ctrl+R"

    window.menus.revise_action.trigger()
    assert window.composer.revising()
    assert window.composer.edit.placeholderText().startswith("How should the last reply change?")
    say(qtbot, window, "Shorter, please")
    assert engine.plans == [ReplyPlan.fresh(), ReplyPlan.revising("A long answer about rivers and the sea.")]
    assert not revise.isChecked()  # one revision per click
    assert "Enter to send" in window.composer.edit.placeholderText()
    assert [u.text for u in users(window)] == ["Tell me about rivers", "Shorter, please"]

    say(qtbot, window, "Thanks")  # an ordinary message starts from noise again
    assert engine.plans[-1] == ReplyPlan.fresh()
    window.new_chat()
    assert not revise.isEnabled()
    window.revise_offer.toggle()  # nothing to revise: the shortcut does nothing
    assert not revise.isChecked()


def test_revise_is_off_while_a_reply_is_written(qtbot, make_window):
    engine = FakeEngine("word " * 200, steps=30, step_delay=0.01)
    window = loaded(qtbot, make_window, engine)
    engine.steps, engine.step_delay = 2, 0.0
    say(qtbot, window, "one")
    window.composer.revise_button.setChecked(True)
    engine.steps, engine.step_delay = 30, 0.01
    window.composer.edit.setPlainText("two")
    window.send()
    assert not window.composer.revise_button.isEnabled()
    window.stop()
    wait_idle(qtbot, window)
    assert not window.composer.revise_button.isChecked()  # one revision per click
    stopped = window.current_page().session.messages[-1]
    assert window.composer.revise_button.isEnabled() == bool(stopped.text.strip())  # what was kept


def two_exchanges(qtbot, window, second: str = "second") -> tuple[AssistantMessage, AssistantMessage]:
    """Say "first" and ``second``; the two replies, older first."""
    say(qtbot, window, "first")
    say(qtbot, window, second)
    older, last = replies(window)
    return older, last


def test_revise_under_the_last_reply_starts_a_revision(qtbot, make_window):
    engine = FakeEngine("An answer.", steps=2)
    window = loaded(qtbot, make_window, engine)
    older, last = two_exchanges(qtbot, window)
    assert last.revise_button.isVisible() and not older.revise_button.isVisible()
    qtbot.mouseClick(last.revise_button, Qt.MouseButton.LeftButton)
    assert window.composer.revising() and window.composer.edit.hasFocus()
    say(qtbot, window, "in French")
    assert engine.plans[-1] == ReplyPlan.revising("An answer.")
    older, middle, newest = replies(window)
    assert newest.revise_button.isVisible() and not middle.revise_button.isVisible()


def test_messages_say_when_they_were_written(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine("Fine.", steps=2))
    say(qtbot, window, "hello")
    (user,) = users(window)
    (reply,) = replies(window)
    assert user.bubble.toolTip().startswith("Sent today at ")
    assert reply.name.toolTip().startswith("Written today at ")
    cid = window.current_page().session.id
    window.close()
    again = loaded(qtbot, make_window, FakeEngine("Fine.", steps=2))
    again.open_chat(cid)
    assert users(again)[0].bubble.toolTip().startswith("Sent today at ")
    assert replies(again)[0].name.toolTip().startswith("Written today at ")


def test_a_long_pasted_message_is_shown_folded_until_show_all(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine("Looks like a timeout.", steps=2))
    log = "\n".join(f"2026-11-27 08:{i:02d} worker[{i}] retrying connection" for i in range(40))
    say(qtbot, window, log)
    (user,) = users(window)
    shown = user.view.toPlainText()
    assert user.collapsed and shown.endswith("…")
    assert "08:11 worker[11]" in shown and "worker[12]" not in shown  # the first 12 lines
    assert user.expand_button.isVisible() and user.expand_button.text() == "Show all 40 lines"
    folded = user.height()
    qtbot.mouseClick(user.expand_button, Qt.MouseButton.LeftButton)
    assert not user.collapsed and "worker[39]" in user.view.toPlainText()
    assert user.expand_button.text() == "Show less"
    qtbot.waitUntil(lambda: user.height() > folded)
    qtbot.mouseClick(user.expand_button, Qt.MouseButton.LeftButton)
    assert user.collapsed
    assert window.find_in_chat("worker[39]") == 1  # find shows a folded message whole
    assert not user.collapsed
    assert engine_text(window) == log  # the model got every line, folded or not


def engine_text(window) -> str:
    return window.host.worker._engine.calls[-1][0].turns[-1].text


def test_branch_goes_on_from_a_reply_in_a_new_chat(qtbot, make_window):
    engine = FakeEngine("An answer.", steps=2)
    window = loaded(qtbot, make_window, engine)
    say(qtbot, window, "first")
    original = window.current_page().session.id
    say(qtbot, window, "second")
    first_reply = replies(window)[0]
    assert first_reply.branch_button.isVisible()
    qtbot.mouseClick(first_reply.branch_button, Qt.MouseButton.LeftButton)
    branch = window.current_page().session.id
    assert branch != original
    assert shown(window) == [("user", "first"), ("assistant", "An answer.")]
    assert window.sidebar.chat_ids() == [branch, original]
    assert window.sidebar.title_of(branch).endswith("(branch)")
    say(qtbot, window, "a different second")
    conversation = engine.calls[-1][0]
    assert [t.text for t in conversation.turns] == ["first", "An answer.", "a different second"]
    window.open_chat(original)
    assert [u.text for u in users(window)] == ["first", "second"]  # the original is as it was


def select_in(view, text: str) -> None:
    """Select ``text`` in a text view as a mouse drag would."""
    document = view.document()
    found = document.find(text)
    assert not found.isNull(), text
    view.setTextCursor(found)


def test_rewrite_this_part_from_the_right_click_menu_makes_a_new_version(qtbot, make_window):
    engine = FakeEngine("Rivers carry water from the hills down to the sea.", steps=2)
    window = loaded(qtbot, make_window, engine)
    say(qtbot, window, "rivers?")
    (reply,) = replies(window)
    view = reply.answer.views()[-1]
    select_in(view, "from the hills")
    menu = view.context_menu(view.rect().center())
    entries = [a.text() for a in menu.actions() if a.text()]
    assert "Rewrite this part" in entries and any("Copy" in e for e in entries)  # Qt's own entries stay
    next(a for a in menu.actions() if a.text() == "Rewrite this part").trigger()
    menu.close()
    wait_idle(qtbot, window)
    assert engine.plans[-1].kind == "rewrite" and engine.plans[-1].text == "from the hills"
    assert engine.plans[-1].tokens  # the reply's stored token ids go to the engine
    (new,) = replies(window)
    assert new.store_id != reply.store_id
    assert new.versions.isVisible() and "2/2" in new.versions.label.text()


def test_rewrite_is_not_offered_without_a_selection_or_while_a_reply_is_written(qtbot, make_window):
    engine = FakeEngine("Some words to select.", steps=2)
    window = loaded(qtbot, make_window, engine)
    say(qtbot, window, "one")
    (reply,) = replies(window)
    view = reply.answer.views()[-1]
    menu = view.context_menu(view.rect().center())
    assert "Rewrite this part" not in [a.text() for a in menu.actions()]  # nothing selected
    menu.close()
    engine.steps, engine.step_delay = 30, 0.01
    window.composer.edit.setPlainText("two")
    window.send()
    select_in(view, "words")
    menu = view.context_menu(view.rect().center())
    assert "Rewrite this part" not in [a.text() for a in menu.actions()]  # the branch cannot change now
    menu.close()
    window.stop()
    wait_idle(qtbot, window)
    assert window.replies.rewrite_part(reply.store_id, "not in the reply at all") is None
    assert "not in this reply" in window._notices()[-1].message


def test_revise_this_part_changes_only_that_part_as_the_next_message_says(qtbot, make_window):
    engine = FakeEngine("Rivers carry water from the hills down to the sea.", steps=2)
    window = loaded(qtbot, make_window, engine)
    older, last = two_exchanges(qtbot, window, "rivers?")
    view = older.answer.views()[-1]
    select_in(view, "from the hills")
    menu = view.context_menu(view.rect().center())
    assert "Revise this part…" not in [a.text() for a in menu.actions()]  # only on the last reply
    menu.close()
    view = last.answer.views()[-1]
    select_in(view, "from the hills")
    menu = view.context_menu(view.rect().center())
    next(a for a in menu.actions() if a.text() == "Revise this part…").trigger()
    menu.close()
    assert window.composer.revising() and window.composer.revised_part == "from the hills"
    assert "“from the hills”" in window.composer.edit.placeholderText()
    say(qtbot, window, "from the mountains instead")
    # Only that part changes; the rest of the old reply is kept token for token (no revise plan).
    assert engine.plans[-1].kind == "rewrite" and engine.plans[-1].text == "from the hills"
    assert [u.text for u in users(window)][-1] == "from the mountains instead"
    assert not window.composer.revising() and window.composer.revised_part == ""

    window.revise_offer.start_part(replies(window)[-1].store_id, "words the reply never had")
    assert "not in this reply" in window._notices()[-1].message and not window.composer.revising()
    window.revise_offer.toggle()  # Revise from the button is about the whole reply again
    assert window.composer.revising() and window.composer.revised_part == ""
    say(qtbot, window, "shorter")
    assert engine.plans[-1].kind == "revise"

"""The main window with a scripted engine: sending, stopping, errors inline, shortcuts, focus."""

from __future__ import annotations

import pytest
from app_fakes import FakeEngine, fake_loader

from app.config import AppConfig, load_config
from app.logs import log_file
from app.qt import (
    QAbstractButton,
    QApplication,
    QComboBox,
    QDialogButtonBox,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    Qt,
    QTextBrowser,
    QTextCursor,
    QWidget,
)
from app.ui.messages import AssistantMessage, Notice, UserMessage
from engine.errors import AttachmentError, ModelFilesError, OutOfMemoryError

REPLY = "Hello **there**.\n\n```python\nprint('hi')\n```\n\nDone."


def wait_loaded(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.model_info is not None, timeout=5000)


def send(qtbot, window, text: str = "Hi") -> AssistantMessage:
    window.composer.edit.setPlainText(text)
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    assert window.active is not None, "Enter should have sent the message"
    return window.active.widget


def wait_idle(qtbot, window, timeout: int = 5000) -> None:
    qtbot.waitUntil(lambda: window.active is None, timeout=timeout)


def test_send_streams_and_ends_with_the_exact_reply(qtbot, make_window):
    engine = FakeEngine(REPLY, steps=6, step_delay=0.002)
    window = make_window(fake_loader(engine))
    window.load_model("fake")
    wait_loaded(qtbot, window)
    reply = send(qtbot, window, "Say hello")
    assert window.composer.send_button.text() == "Stop"
    assert window.composer.edit.toPlainText() == ""
    wait_idle(qtbot, window)
    assert reply.answer.text == engine._done(REPLY, 0, 0, 0, [], incomplete=False).answer
    assert "Hello there." in reply.answer.plain_text()
    assert reply.stats.isVisible() and "tokens" in reply.stats.text() and "tok/s" in reply.stats.text()
    assert reply.indicator.text() == ""
    assert window.composer.send_button.text() == "Send"
    assert "tok/s" in window.status.speed_label.text()
    page = window.current_page()
    assert [m.role for m in page.session.messages] == ["user", "assistant"]
    assert page.session.messages[1].text == reply.answer.text
    assert page.session.title == "Say hello"
    user = [w for w in page.transcript.messages() if isinstance(w, UserMessage)]
    assert user and user[0].text == "Say hello"


def test_history_carries_answers_not_thoughts(qtbot, make_window):
    engine = FakeEngine("<|channel>thought\nsecret plan<channel|>Visible answer.", steps=3)
    window = make_window(fake_loader(engine))
    window.load_model("fake")
    wait_loaded(qtbot, window)
    first = send(qtbot, window, "one")
    wait_idle(qtbot, window)
    assert first.thought_toggle.isVisible() and first.thought_toggle.text().startswith("Thought for")
    assert not first.thought_box.isVisible(), "the thought collapses once the answer is there"
    first.thought_toggle.click()
    assert first.thought_box.isVisible() and "secret plan" in first.thought.text
    send(qtbot, window, "two")
    wait_idle(qtbot, window)
    conversation = engine.calls[-1][0]
    assert [t.role for t in conversation.turns] == ["user", "assistant", "user"]
    assert conversation.turns[1].text == "Visible answer."
    assert "secret" not in conversation.turns[1].text


def test_stop_mid_reply_keeps_the_partial_text(qtbot, make_window):
    engine = FakeEngine("word " * 600, steps=40, step_delay=0.01)
    window = make_window(fake_loader(engine))
    window.load_model("fake")
    wait_loaded(qtbot, window)
    reply = send(qtbot, window)
    qtbot.waitUntil(lambda: window.active.state.steps_received >= 3, timeout=5000)
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Escape)
    wait_idle(qtbot, window)
    done = reply.state.done
    assert done is not None and done.incomplete and done.stop_reason == "cancelled"
    assert "stopped" in reply.stats.text()
    assert reply.state.steps_received < 80, "the reply stopped within a step or two"
    assert window.current_page().session.messages[-1].incomplete


def test_send_button_turns_into_stop(qtbot, make_window):
    engine = FakeEngine("x " * 300, steps=40, step_delay=0.01)
    window = make_window(fake_loader(engine))
    window.load_model("fake")
    wait_loaded(qtbot, window)
    send(qtbot, window)
    button = window.composer.send_button
    assert button.text() == "Stop" and button.accessibleName() == "Stop" and button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert button.text() == "Send"


def test_shift_enter_inserts_a_newline_and_empty_text_does_not_send(qtbot, make_window):
    window = make_window(fake_loader(FakeEngine()))
    edit = window.composer.edit
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert window.active is None
    qtbot.keyClicks(edit, "line one")
    qtbot.keyClick(edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(edit, "line two")
    assert edit.toPlainText() == "line one\nline two"
    assert window.active is None


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (AttachmentError("“cat.png” is not a readable image", fix="Save it again as PNG"), "Save it again"),
        (OutOfMemoryError("The GPU ran out of memory", fix="Start a new chat"), "Start a new chat"),
        (RuntimeError("kaboom"), "kaboom"),
    ],
)
def test_engine_errors_show_inline_and_the_chat_goes_on(qtbot, make_window, error, expected):
    engine = FakeEngine("ok", steps=3, fail=error, fail_after_steps=1)
    window = make_window(fake_loader(engine))
    window.load_model("fake")
    wait_loaded(qtbot, window)
    reply = send(qtbot, window)
    wait_idle(qtbot, window)
    assert reply.notice is not None and expected in reply.notice.message
    assert "Traceback" not in reply.notice.message
    assert window.composer.send_button.text() == "Send"
    has_text = bool(reply.answer.text)  # a step may have drawn a draft before the failure
    assert reply.replay_button.isVisible() == has_text and reply.branch_button.isVisible() == has_text
    assert reply.regenerate_button.isVisible()
    engine.fail = None
    second = send(qtbot, window, "again")
    wait_idle(qtbot, window)
    assert second.answer.text == "ok"
    # The failed exchange is not sent back to the model.
    assert [t.text for t in engine.calls[-1][0].turns] == ["again"]


def test_model_load_failure_is_inline_with_ways_out(qtbot, make_window):
    error = ModelFilesError(
        "The model folder has no config.json", fix="Choose another folder", path="/nowhere"
    )
    window = make_window(fake_loader(error=error))
    window.load_model("/nowhere")
    qtbot.waitUntil(lambda: window.model_switcher.load_notice is not None, timeout=5000)
    notice = window.model_switcher.load_notice
    assert "could not be loaded" in notice.message and "Choose another folder" in notice.message
    labels = [b.text() for b in notice.buttons]
    assert labels == ["Choose model folder…", "Try again", "Use the demo model"]
    assert window.status.model_label.text() == "No model loaded"
    # Sending anyway explains what to do instead of hanging.
    reply = send(qtbot, window)
    wait_idle(qtbot, window)
    assert "No model is loaded" in reply.notice.message


def test_a_message_sent_while_loading_waits_for_the_model(qtbot, make_window):
    window = make_window(fake_loader(FakeEngine("ready"), delay=0.3))
    window.load_model("fake")
    reply = send(qtbot, window)
    wait_idle(qtbot, window)
    assert reply.answer.text == "ready"


def test_loading_progress_appears_only_after_a_delay(qtbot, make_window):
    window = make_window(fake_loader(FakeEngine(), delay=0.8))
    window.load_model("fake")
    qtbot.wait(100)
    assert not window.status.progress.isVisible()
    qtbot.waitUntil(lambda: window.status.progress.isVisible(), timeout=2000)
    wait_loaded(qtbot, window)
    assert not window.status.progress.isVisible()
    assert window.status.model_label.text() == "Fake model"
    assert "cpu" in window.status.device_label.text()


def test_composer_has_focus_on_start_and_ctrl_l_returns_to_it(qtbot, make_window):
    window = make_window(fake_loader(FakeEngine()))
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.composer.edit, timeout=2000)
    window.sidebar.list.setFocus()
    qtbot.keyClick(window.sidebar.list, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is window.composer.edit


def test_ctrl_n_starts_a_new_chat_and_the_sidebar_switches(qtbot, make_window):
    window = make_window(fake_loader(FakeEngine("one")))
    window.load_model("fake")
    wait_loaded(qtbot, window)
    send(qtbot, window, "first chat")
    wait_idle(qtbot, window)
    first = window.current_page()
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    second = window.current_page()
    assert second is not first and not second.session.messages
    assert window.sidebar.chat_ids() == [second.session.id, first.session.id]
    assert window.sidebar.headings() == ["Today"]
    assert window.windowTitle() == "DiffusionGemma Chat"  # a new chat has no title yet
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert len(window.sidebar.chat_ids()) == 2, "an empty chat is reused, not duplicated"
    window.sidebar.list.setCurrentRow(2)  # row 0 is the "Today" heading
    assert window.current_page() is first
    assert window.windowTitle() == "first chat — DiffusionGemma Chat"  # for the taskbar
    window.chat_list.rename(first.session.id, "Renamed")
    assert window.windowTitle() == "Renamed — DiffusionGemma Chat"


def test_ctrl_t_toggles_the_token_view(qtbot, make_window):
    engine = FakeEngine("tokens " * 200, steps=30, step_delay=0.01)
    window = make_window(fake_loader(engine))
    window.load_model("fake")
    wait_loaded(qtbot, window)
    reply = send(qtbot, window)
    qtbot.waitUntil(lambda: reply.state.steps_received >= 2, timeout=5000)
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert window.view.token_view and reply.token_panel.isVisible() and not reply.answer.isVisible()
    qtbot.waitUntil(lambda: reply.grid.frames >= 3, timeout=5000)
    assert reply.token_button.isChecked()
    assert "accepted this step" in reply.grid.accessibleDescription() or reply.grid.states()
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert not reply.token_panel.isVisible() and reply.answer.isVisible()
    window.stop()
    wait_idle(qtbot, window)


def test_step_indicator_names_block_and_step(qtbot, make_window):
    seen: list[str] = []
    engine = FakeEngine("w " * 300, steps=10, step_delay=0.01)
    window = make_window(fake_loader(engine))
    window.load_model("fake")
    wait_loaded(qtbot, window)
    reply = send(qtbot, window)
    reply.indicator.setText = lambda text, _orig=reply.indicator.setText: (seen.append(text), _orig(text))
    wait_idle(qtbot, window)
    steps = [s for s in seen if "· step" in s]
    assert steps and steps[0].startswith("block 1 · step ")
    # every drawn step names its count; which step is drawn last depends on the frame throttle
    assert all(s.endswith("/10") for s in steps), steps
    assert any(s.startswith("block 2 · step") for s in seen)


def test_every_control_has_an_accessible_name(qtbot, make_window):
    engine = FakeEngine("<|channel>thought\nhm<channel|>Answer", steps=2)
    window = make_window(fake_loader(engine))
    window.load_model("fake")
    wait_loaded(qtbot, window)
    send(qtbot, window)
    wait_idle(qtbot, window)
    controls = (
        QAbstractButton,
        QComboBox,
        QLineEdit,
        QListWidget,
        QPlainTextEdit,
        QTextBrowser,
        QProgressBar,
    )
    unnamed = [
        f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r}"
        for w in window.findChildren(QWidget)
        if isinstance(w, controls) and not w.accessibleName() and w.isVisibleTo(window)
    ]
    assert not unnamed, unnamed


def test_settings_changes_are_persisted_and_used(qtbot, make_window):
    engine = FakeEngine("ok", steps=2)
    window = make_window(fake_loader(engine), AppConfig())
    window.load_model("fake")
    wait_loaded(qtbot, window)
    dialog = window.view.open_settings()
    dialog.max_steps.setValue(7)
    dialog.system_prompt.setPlainText("Be brief.")
    dialog.seed_fixed.setChecked(True)
    dialog.seed_value.setText("42")
    dialog.buttons.button(dialog.buttons.StandardButton.Save).click()
    saved = load_config()
    assert saved.generation is not None and saved.generation.max_denoising_steps == 7
    assert saved.generation.seed == 42 and saved.system_prompt == "Be brief."
    send(qtbot, window)
    wait_idle(qtbot, window)
    conversation, settings, _options = engine.calls[-1]
    assert settings.max_denoising_steps == 7 and settings.seed == 42
    assert conversation.system == "Be brief."


def test_think_button_sets_thinking_in_the_prompt_options(qtbot, make_window):
    engine = FakeEngine("ok", steps=2)
    window = make_window(fake_loader(engine))
    window.load_model("fake")
    wait_loaded(qtbot, window)
    window.composer.think_button.click()
    send(qtbot, window)
    wait_idle(qtbot, window)
    assert engine.calls[-1][2].enable_thinking
    assert load_config().thinking


def test_notice_dismiss_removes_it(qtbot, make_window):
    window = make_window(fake_loader(FakeEngine()))
    notice = window.notice_display.show_notice("Something to read. Do this next.")
    assert isinstance(notice, Notice) and notice in window.current_page().transcript.messages()
    notice.buttons[0].click()
    assert notice not in window.current_page().transcript.messages()


def test_try_again_replaces_a_failed_reply(qtbot, make_window):
    engine = FakeEngine(
        "second time lucky", steps=2, fail=OutOfMemoryError("Out of memory", fix="Close apps")
    )
    window = make_window(fake_loader(engine))
    window.load_model("fake")
    wait_loaded(qtbot, window)
    failed = send(qtbot, window, "please")
    wait_idle(qtbot, window)
    assert failed.notice.buttons[0].text() == "Try again"
    engine.fail = None
    failed.notice.buttons[0].click()
    assert window.active is not None
    wait_idle(qtbot, window)
    page = window.current_page()
    assert [(m.role, m.text) for m in page.session.messages] == [
        ("user", "please"),
        ("assistant", "second time lucky"),
    ]
    replies = [w for w in page.transcript.messages() if isinstance(w, AssistantMessage)]
    assert len(replies) == 1 and replies[0].answer.text == "second time lucky"
    assert [t.text for t in engine.calls[-1][0].turns] == ["please"]


def test_ctrl_comma_opens_the_settings(qtbot, make_window):
    window = make_window(fake_loader(FakeEngine()))
    window.activateWindow()  # shortcuts need an active window
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.composer.edit, timeout=2000)
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    dialogs = [w for w in QApplication.topLevelWidgets() if w.isVisible() and w.windowTitle() == "Settings"]
    assert dialogs
    dialogs[0].reject()


def test_rtl_and_cjk_paragraphs_lay_out_in_their_own_direction(qtbot, make_window):
    engine = FakeEngine("שלום עולם, זה טקסט בעברית.\n\n日本語のテキスト 🎉\n\nEnglish text.", steps=2)
    window = make_window(fake_loader(engine))
    window.load_model("fake")
    wait_loaded(qtbot, window)
    reply = send(qtbot, window)
    wait_idle(qtbot, window)
    view = reply.answer.views()[-1]
    block = view.document().firstBlock()
    directions = []
    while block.isValid():
        if block.text().strip():
            directions.append(block.layout().textOption().textDirection() if block.layout() else None)
            directions[-1] = block.textDirection()
        block = block.next()
    assert directions[0] == Qt.LayoutDirection.RightToLeft
    assert directions[-1] == Qt.LayoutDirection.LeftToRight
    assert "日本語のテキスト 🎉" in view.toPlainText()


def test_demo_model_is_labelled_with_a_one_line_explanation(qtbot):
    from app.ui.status import DEMO_EXPLANATION, StatusBar

    bar = StatusBar()
    qtbot.addWidget(bar)
    bar.set_model("Demo model", "cpu", "float32", demo=True)
    assert bar.model_label.text() == f"Demo model · {DEMO_EXPLANATION}"
    bar.set_model("diffusiongemma-26B-A4B-it", "cuda:0", "bfloat16")
    assert bar.model_label.text() == "diffusiongemma-26B-A4B-it"


def test_ctrl_plus_minus_and_zero_change_the_text_size_and_save_it(qtbot, make_window):
    engine = FakeEngine("Some **bold** text.", steps=2)
    window = make_window(fake_loader(engine))
    window.load_model("fake")
    qtbot.waitUntil(lambda: window.model_info is not None, timeout=5000)
    window.composer.edit.setPlainText("hi")
    window.send()
    qtbot.waitUntil(lambda: window.active is None, timeout=5000)
    reply = window.view.last_assistant_widget()
    before = reply.height()

    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert window.config.font_size == 13 and load_config().font_size == 13
    assert window.status.currentMessage() == "Text size 13 pt"
    qtbot.waitUntil(lambda: reply.height() > before)  # drawn again, larger
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert window.config.font_size == 12
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert window.config.font_size == 11 and load_config().font_size == 11
    for _ in range(30):
        window.view.zoom(1)
    assert window.config.font_size == 32  # the largest the settings allow


def test_a_reply_that_ends_in_a_window_in_the_background_asks_for_attention(qtbot, make_window, monkeypatch):
    alerted = []
    monkeypatch.setattr(QApplication, "alert", staticmethod(lambda widget, msec=0: alerted.append(widget)))
    window = make_window(fake_loader(FakeEngine("Done.", steps=2)))
    window.load_model("fake")
    qtbot.waitUntil(lambda: window.model_info is not None, timeout=5000)
    monkeypatch.setattr(window, "isActiveWindow", lambda: False)  # the user switched to another window
    window.composer.edit.setPlainText("hi")
    window.send()
    qtbot.waitUntil(lambda: window.active is None, timeout=5000)
    assert alerted == [window]
    monkeypatch.setattr(window, "isActiveWindow", lambda: True)
    window.composer.edit.setPlainText("again")
    window.send()
    qtbot.waitUntil(lambda: window.active is None, timeout=5000)
    assert alerted == [window]  # not when the user is looking at it


def test_ctrl_k_searches_and_alt_arrows_walk_the_chat_list(qtbot, make_window):
    window = make_window(fake_loader(FakeEngine("Fine.", steps=2)))
    window.load_model("fake")
    qtbot.waitUntil(lambda: window.model_info is not None, timeout=5000)
    for text in ("one", "two", "three"):
        window.new_chat()
        window.composer.edit.setPlainText(text)
        window.send()
        qtbot.waitUntil(lambda: window.active is None, timeout=5000)
    ids = window.sidebar.chat_ids()  # newest first: three, two, one
    assert window.current_page().session.id == ids[0]
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert window.current_page().session.id == ids[1]
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert window.current_page().session.id == ids[2]  # stays on the last one
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert window.current_page().session.id == ids[1]
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert window.sidebar.search.hasFocus() or QApplication.focusWidget() is window.sidebar.search


def test_the_help_menu_lists_the_real_shortcuts_the_version_and_the_log_folder(
    qtbot, make_window, monkeypatch
):
    window = make_window(fake_loader(FakeEngine("Fine.", steps=2)))
    window.load_model("fake")
    qtbot.waitUntil(lambda: window.model_info is not None, timeout=5000)
    menus = {a.text(): a.menu() for a in window.menuBar().actions()}
    assert [a.text() for a in menus["&Help"].actions() if a.text()] == [
        "&Keyboard shortcuts",
        "&Check this computer…",
        "Show the &log folder",
        "&About DiffusionGemma Chat",
    ]
    box = window.menus.show_shortcuts()
    text = box.text()
    box.close()
    assert "Find in this chat</td><td><b>Ctrl+F" in text and "New chat</td><td><b>Ctrl+N" in text
    assert "Larger text</td><td><b>Ctrl++ or Ctrl+=" in text
    about = window.menus.show_about()
    text = about.text()
    about.close()
    assert "DiffusionGemma Chat 0.1.0" in text and "Model: Fake model" in text and "dgchat.log" in text
    opened = []
    monkeypatch.setattr("app.ui.help_menu.QDesktopServices.openUrl", lambda url: opened.append(url) or True)
    next(a for a in menus["&Help"].actions() if a.text() == "Show the &log folder").trigger()
    assert opened and opened[0].isLocalFile() and opened[0].toLocalFile() == str(log_file().parent)


def test_check_this_computer_runs_the_doctor_off_the_gui_thread_and_copies_a_report(
    qtbot, make_window, tiny_checkpoint
):
    window = make_window(fake_loader(FakeEngine("Fine.", steps=2)), AppConfig(model=str(tiny_checkpoint)))
    menus = {a.text(): a.menu() for a in window.menuBar().actions()}
    action = next(a for a in menus["&Help"].actions() if a.text() == "&Check this computer…")
    action.trigger()
    (dialog,) = [d for d in window.findChildren(QWidget) if d.windowTitle() == "Check this computer"]
    assert "Checking this computer" in dialog.body.toPlainText() and not dialog.copy_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.copy_button.isEnabled(), timeout=60_000)
    text = dialog.body.toPlainText()
    assert "model" in text and "complete" in text and dialog.verdict.text().startswith("Not ready")
    dialog.copy_button.click()
    report = QApplication.clipboard().text()
    assert report.startswith(f"DiffusionGemma Chat — checks for {tiny_checkpoint}")
    assert "ok: model:" in report
    dialog.reject()


def test_ctrl_enter_can_be_chosen_to_send_so_enter_writes_a_new_line(qtbot, make_window):
    engine = FakeEngine("Fine.", steps=2)
    window = make_window(fake_loader(engine))
    window.load_model("fake")
    wait_loaded(qtbot, window)
    box = window.composer.edit
    dialog = window.view.open_settings()
    dialog.send_key.setCurrentIndex(dialog.send_key.findData("ctrl+enter"))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    assert window.config.send_key == "ctrl+enter" and "Ctrl+Enter" in box.placeholderText()

    box.setPlainText("line one")
    box.moveCursor(QTextCursor.MoveOperation.End)
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert box.toPlainText() == "line one\n" and not engine.calls
    box.insertPlainText("line two")
    qtbot.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    wait_idle(qtbot, window)
    assert engine.calls and engine.calls[-1][0].turns[-1].text == "line one\nline two"
    shortcuts = window.menus.show_shortcuts()
    assert "Ctrl+Enter / Enter" in shortcuts.text()
    shortcuts.close()


def test_chat_app_shortcuts_copy_the_last_reply_delete_the_chat_and_list_the_keys(qtbot, make_window):
    window = make_window(fake_loader(FakeEngine("The **answer**.", steps=2)))
    window.load_model("fake")
    wait_loaded(qtbot, window)
    send(qtbot, window, "keep this chat")
    wait_idle(qtbot, window)
    kept = window.current_page().session.id
    window.new_chat()
    send(qtbot, window, "question")
    wait_idle(qtbot, window)
    doomed = window.current_page().session.id
    QApplication.clipboard().clear()
    qtbot.keyClick(
        window.composer.edit,
        Qt.Key.Key_C,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert QApplication.clipboard().text() == "The **answer**."  # as markdown

    qtbot.keyClick(
        window.composer.edit,
        Qt.Key.Key_Backspace,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert window.sidebar.chat_ids() == [kept] and window.current_page().session.id == kept
    assert window.sidebar.undo_bar.isVisible()
    assert doomed in [c.id for c in window.store.deleted_conversations()]

    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Slash, Qt.KeyboardModifier.ControlModifier)
    box = next(
        w for w in QApplication.topLevelWidgets() if w.isVisible() and w.windowTitle() == "Keyboard shortcuts"
    )
    text = box.text()
    assert "Copy the last reply" in text and "Delete this chat" in text and "Keyboard shortcuts" in text
    box.close()


def test_a_reply_that_failed_before_any_text_offers_no_replay_or_branch(qtbot, make_window):
    engine = FakeEngine(
        "ok", steps=3, fail=OutOfMemoryError("Out of memory", fix="Close apps"), fail_after_steps=0
    )
    window = make_window(fake_loader(engine))
    window.load_model("fake")
    wait_loaded(qtbot, window)
    reply = send(qtbot, window)
    wait_idle(qtbot, window)
    assert reply.notice is not None and not reply.answer.text
    assert not reply.replay_button.isVisible() and not reply.branch_button.isVisible()
    assert reply.regenerate_button.isVisible()  # trying again is what makes sense

"""Instructions per chat: a system prompt of its own, edited from the composer, the menu or the sidebar."""

from __future__ import annotations

from app_chat import choose, loaded, say
from app_fakes import FakeEngine

from app.config import AppConfig
from app.ui.instructions_dialog import InstructionsDialog


def test_a_chat_follows_its_own_instructions_and_the_others_keep_the_default(qtbot, make_window):
    engine = FakeEngine("Oui.", steps=2)
    window = loaded(qtbot, make_window, engine, config=AppConfig(system_prompt="Be brief."))
    say(qtbot, window, "hi")
    assert engine.calls[-1][0].system == "Be brief."
    assert not window.composer.instructions_button.isChecked()
    french = window.current_page().session.id

    window.composer.instructions_button.click()
    (dialog,) = [d for d in window.findChildren(InstructionsDialog) if d.isVisible()]
    assert not window.composer.instructions_button.isChecked(), "a click opens the dialog, it does not toggle"
    assert "Be brief." in dialog.default_note.text()
    dialog.edit.setPlainText("  Answer in French.  ")
    dialog.accept()
    assert window.store.conversation(french).system == "Answer in French."
    assert window.composer.instructions_button.isChecked()
    say(qtbot, window, "how are you?")
    assert engine.calls[-1][0].system == "Answer in French."

    window.new_chat()
    assert not window.composer.instructions_button.isChecked()
    say(qtbot, window, "another chat")
    assert engine.calls[-1][0].system == "Be brief."

    window.open_chat(french)
    assert window.composer.instructions_button.isChecked()
    # The sidebar's row menu opens the same dialog; "Use the default" empties it.
    choose(window, french, "Instructions…")
    (dialog,) = [d for d in window.findChildren(InstructionsDialog) if d.isVisible()]
    assert dialog.edit.toPlainText() == "Answer in French."
    dialog.clear_button.click()
    dialog.accept()
    assert window.store.conversation(french).system == ""
    assert not window.composer.instructions_button.isChecked()
    say(qtbot, window, "back to normal")
    assert engine.calls[-1][0].system == "Be brief."

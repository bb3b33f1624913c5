"""A chat longer than the context: the reply says which messages the model did not see, the status
bar shows how full the context is, and the "stop" choice fails the reply with the numbers instead."""

from __future__ import annotations

import dataclasses

import pytest
from app_chat import loaded, replies, say
from app_fakes import FakeEngine, fake_loader

from app.config import AppConfig, load_config
from app.ui.settings_dialog import SettingsDialog
from app.worker import load_engine
from engine.events import PromptEncoded
from engine.settings import GenerationSettings

pytestmark = pytest.mark.timeout(180)

CONTEXT = 1024
QUESTION = "Please tell me more about the garden, the trees and the river. " * 8


def small_context_loader(source, progress):
    """The real engine on the tiny checkpoint, as if the GPU had room for only 1,024 tokens."""
    engine = load_engine(source, progress)
    engine.info = dataclasses.replace(
        engine.info, context_length=CONTEXT, model_context_length=4096, context_limited_by_memory=True
    )
    return engine


def _config(**changes) -> AppConfig:
    generation = GenerationSettings(max_new_tokens=256, max_denoising_steps=2, seed=1)
    return AppConfig(generation=generation, **changes)


def test_a_long_chat_goes_on_and_the_reply_says_what_the_model_did_not_see(
    qtbot, make_window, tiny_checkpoint
):
    window = loaded(qtbot, make_window, small_context_loader, str(tiny_checkpoint), _config())
    states = [say(qtbot, window, f"{i}. {QUESTION}", timeout=60_000) for i in range(6)]
    assert all(s.done is not None and s.error is None for s in states), [s.error for s in states]
    omitted = [s.done.stats.omitted_turns for s in states]
    assert omitted[0] == 0 and omitted[-1] > 0, omitted

    notes = [w.context_note for w in replies(window)]
    assert not notes[0].isVisible()
    assert notes[-1].isVisible()
    assert f"did not see the first {omitted[-1]} messages" in notes[-1].text()
    used = states[-1].done.stats.prompt_tokens + states[-1].done.stats.generated_tokens
    shown = f"{used / 1000:.1f}K" if used >= 1000 else str(used)
    assert window.status.context_label.text() == f"context {shown} / 1.0K"
    tip = window.status.context_label.toolTip()
    assert "room for" in tip and "4,096" in tip

    # The note is stored with the reply: it is still there after a restart.
    cid = window.current_page().session.id
    window.close()
    again = loaded(qtbot, make_window, FakeEngine())
    page = again.open_chat(cid)
    again.pages.finish_backfill(page)  # the older messages are built when they come into view
    reopened = replies(again)
    assert len(reopened) == 6
    assert reopened[-1].context_note.isVisible() and not reopened[0].context_note.isVisible()
    assert again.status.context_label.text() == f"context {shown} / 8.2K"  # the fake's limit


def test_the_stop_choice_fails_the_reply_with_the_numbers(qtbot, make_window, tiny_checkpoint):
    config = _config(context_overflow="stop")
    window = loaded(qtbot, make_window, small_context_loader, str(tiny_checkpoint), config)
    states = [say(qtbot, window, f"{i}. {QUESTION}", timeout=60_000) for i in range(6)]
    failed = [s.error for s in states if s.error]
    assert failed, "the chat never outgrew the context"
    assert "this GPU's memory has room for 1,024 tokens" in failed[0]
    assert "leave out the oldest messages" in failed[0]
    (notice,) = [w.notice for w in replies(window) if w.notice is not None][:1]
    assert "1,024 tokens" in notice.message


def test_the_choice_is_a_setting_that_reaches_the_engine(qtbot, make_window):
    engine = FakeEngine("Fine.", steps=2)
    window = loaded(qtbot, make_window, fake_loader(engine))
    dialog = SettingsDialog(window.config, engine.default_settings, window)
    qtbot.addWidget(dialog)
    dialog.overflow.setCurrentIndex(dialog.overflow.findData("stop"))
    assert dialog.config().context_overflow == "stop"
    window.view._on_settings_accepted(dialog.config())
    assert load_config().context_overflow == "stop"
    say(qtbot, window, "hello")
    _conversation, _settings, options = engine.calls[-1]
    assert options.context_overflow == "stop"


def test_the_context_use_shows_the_prompt_as_soon_as_it_is_encoded(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine("Fine.", steps=2))
    window.host.generate = lambda *_args, **_kw: 1  # the reply's events are played in below
    window.composer.edit.setPlainText("hello")
    reply_id = window.send()
    window.live.on_prompt_encoded(reply_id, PromptEncoded(prompt_tokens=6_150, seconds=0.1))
    assert window.status.context_label.text() == "context 6.2K / 8.2K"  # before any step

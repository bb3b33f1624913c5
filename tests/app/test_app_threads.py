"""The Settings' engine threads reach the thread that generates: at load, and when changed."""

from __future__ import annotations

import pytest

from app.config import AppConfig
from app.qt import QDialogButtonBox
from app.worker import load_engine
from engine.engine import Engine
from engine.settings import GenerationSettings

pytestmark = pytest.mark.timeout(120)


def test_engine_threads_apply_on_the_engine_thread_at_load_and_when_changed(
    qtbot, make_window, tiny_checkpoint, monkeypatch
):
    import torch

    seen: list[int] = []
    generate = Engine.generate

    def recording_generate(self, *args, **kwargs):
        seen.append(torch.get_num_threads())  # runs on the engine thread
        yield from generate(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "generate", recording_generate)
    generation = GenerationSettings(max_new_tokens=256, max_denoising_steps=4, seed=1)
    window = make_window(load_engine, AppConfig(generation=generation, engine_threads=3))
    window.load_model(str(tiny_checkpoint))
    qtbot.waitUntil(lambda: window.model_info is not None, timeout=60_000)

    def reply() -> None:
        window.composer.edit.setPlainText("Hello")
        window.send()
        qtbot.waitUntil(lambda: window.active is None, timeout=60_000)

    reply()
    dialog = window.view.open_settings()  # as a person changes it: Settings, the field, Save
    dialog.threads.setValue(2)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    assert window.config.engine_threads == 2
    reply()
    assert seen == [3, 2]

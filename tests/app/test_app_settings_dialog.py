"""The settings dialog: inline validation, reset to the model's defaults, follow-the-model storage."""

from __future__ import annotations

from app.config import AppConfig
from app.qt import QDialogButtonBox
from app.ui.settings_dialog import SettingsDialog
from engine.settings import GenerationSettings

MODEL_DEFAULTS = GenerationSettings(max_denoising_steps=48, t_max=0.8, t_min=0.4)


def make(qtbot, config: AppConfig | None = None) -> SettingsDialog:
    dialog = SettingsDialog(config or AppConfig(), MODEL_DEFAULTS)
    qtbot.addWidget(dialog)
    return dialog


def save_button(dialog: SettingsDialog):
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Save)


def test_starts_from_the_models_defaults_and_stores_follow_the_model(qtbot):
    dialog = make(qtbot)
    assert dialog.max_steps.value() == 48 and dialog.seed_random.isChecked()
    assert dialog.config().generation is None, "unchanged values follow the model"
    dialog.max_steps.setValue(20)
    assert dialog.config().generation.max_denoising_steps == 20


def test_invalid_values_show_the_engines_message_inline_and_block_save(qtbot):
    dialog = make(qtbot)
    dialog.show()
    dialog.t_max.setValue(0.2)  # below t_min
    assert (
        dialog.error.isVisible()
        and "t_max" in dialog.error.text()
        and "greater than t_min" in dialog.error.text()
    )
    assert not save_button(dialog).isEnabled()
    dialog.t_max.setValue(0.9)
    assert not dialog.error.isVisible() and save_button(dialog).isEnabled()
    dialog.seed_fixed.setChecked(True)
    dialog.seed_value.setText("abc")
    assert "not a whole number" in dialog.error.text() and not save_button(dialog).isEnabled()
    dialog.close()


def test_reset_restores_the_models_defaults(qtbot):
    dialog = make(qtbot, AppConfig(generation=GenerationSettings(max_denoising_steps=5, seed=3)))
    assert dialog.max_steps.value() == 5 and dialog.seed_value.text() == "3"
    dialog.reset_button.click()
    assert dialog.max_steps.value() == 48 and dialog.seed_random.isChecked()
    assert dialog.config().generation is None


def test_every_field_round_trips(qtbot):
    config = AppConfig(
        thinking=True,
        system_prompt="Be kind.",
        image_tokens=560,
        video_fps=2.5,
        video_max_frames=90,
        send_key="ctrl+enter",
        theme="dark",
        font_size=15,
        context_overflow="stop",
    )
    assert make(qtbot, config).config() == config

"""The settings dialog: inline validation, reset to the model's defaults, follow-the-model storage."""

from __future__ import annotations

from app.config import AppConfig
from app.qt import QApplication, QColor, QDialogButtonBox, QImage
from app.theme import apply_theme
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


def test_the_form_scrolls_on_a_short_screen_and_save_stays_in_view(qtbot):
    apply_theme(QApplication.instance(), "light", 11)  # as the window does: its sheet styles the fields
    dialog = make(qtbot, AppConfig())
    dialog.show()
    qtbot.waitExposed(dialog)
    screen = dialog.screen().availableGeometry()  # offscreen: 800 × 800, shorter than the form
    assert dialog.height() <= screen.height() * 0.9 + 1
    assert dialog._scroll.verticalScrollBar().maximum() > 0  # the form scrolls …
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    assert save.isVisible() and dialog.rect().contains(save.geometry().translated(dialog.buttons.pos()))
    field = dialog.max_new_tokens
    assert field.lineEdit().width() > field.width() // 2  # no step buttons eating the field
    dialog.close()


def test_combo_boxes_get_a_drawn_arrow_in_the_themes_colour(tmp_path, monkeypatch):
    from app.palette import LIGHT
    from app.theme import chevron_image, style_sheet

    monkeypatch.setenv("DGCHAT_CACHE_DIR", str(tmp_path))
    path = chevron_image(LIGHT.muted)
    image = QImage(str(path))
    assert (image.width(), image.height()) == (20, 12)
    assert QColor(image.pixel(10, 9)).name() == QColor(LIGHT.muted).name()  # the chevron's tip
    assert image.pixelColor(10, 1).alpha() == 0  # transparent around it
    assert f"url({path.as_posix()})" in style_sheet(LIGHT, 11, path)


def test_engine_threads_default_to_automatic_and_round_trip(qtbot):
    from engine.threads import default_threads

    dialog = make(qtbot)
    assert dialog.threads.value() == 0 and dialog.threads.text() == f"Automatic ({default_threads()})"
    dialog.threads.setValue(3)
    assert dialog.config().engine_threads == 3
    assert make(qtbot, AppConfig(engine_threads=5)).threads.value() == 5

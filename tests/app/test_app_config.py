"""Settings persistence: versioned JSON in the config folder, atomic, bad files set aside."""

from __future__ import annotations

import json

import pytest

from app.config import SCHEMA_VERSION, AppConfig, config_path, load_config, save_config
from engine.errors import SettingsError
from engine.settings import GenerationSettings


def test_round_trip_in_the_overridden_config_dir(app_dirs):
    config = AppConfig(
        generation=GenerationSettings(max_new_tokens=1024, seed=7),
        thinking=True,
        system_prompt="Réponds en français 🇫🇷",
        image_tokens=1120,
        video_fps=2.0,
        video_max_frames=30,
        theme="dark",
        font_size=16,
        model="/models/dg",
    )
    path = save_config(config)
    assert path == config_path() == app_dirs / "config" / "settings.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["schema"] == SCHEMA_VERSION and data["generation"]["seed"] == 7
    assert load_config() == config
    assert not list(path.parent.glob(".settings-*")), "no temp files left behind"


def test_defaults_when_missing_and_bad_files_are_kept_aside(app_dirs):
    assert load_config() == AppConfig()
    path = config_path()
    path.write_text("{not json", encoding="utf-8")
    assert load_config() == AppConfig()
    assert path.with_suffix(".json.bad").read_text(encoding="utf-8") == "{not json"
    path.write_text(json.dumps({"schema": SCHEMA_VERSION + 1}), encoding="utf-8")
    assert load_config() == AppConfig()


def test_unknown_keys_are_ignored_and_missing_ones_default(app_dirs):
    config_path().write_text(json.dumps({"schema": 1, "theme": "dark", "future_option": 3}), encoding="utf-8")
    assert load_config() == AppConfig(theme="dark")


@pytest.mark.parametrize(
    ("changes", "word"),
    [
        ({"image_tokens": 300}, "Image token budget"),
        ({"video_fps": 0}, "frames per second"),
        ({"video_max_frames": 0}, "frame cap"),
        ({"send_key": "space"}, "send key"),
        ({"engine_threads": -1}, "Engine threads"),
        ({"engine_threads": 10_000}, "Engine threads"),
        ({"generation": GenerationSettings(t_max=0.1, t_min=0.4)}, "t_max"),
    ],
)
def test_invalid_values_are_refused_with_a_message(changes, word):
    with pytest.raises(SettingsError, match=word):
        AppConfig(**changes).validate()


def test_prompt_options_and_generation_settings():
    defaults = GenerationSettings(max_denoising_steps=12)
    assert AppConfig().generation_settings(defaults) is defaults
    options = AppConfig(thinking=True, image_tokens=70, video_fps=0.5, video_max_frames=10).prompt_options()
    assert options.enable_thinking and options.media.image_tokens == 70
    assert (options.media.video_fps, options.media.video_max_frames) == (0.5, 10)

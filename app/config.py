"""The user's preferences, persisted as versioned JSON.

Qt-free on purpose: the settings dialog edits an :class:`AppConfig`, the
window reads one, and tests round-trip one without a display.  The file
carries a ``schema`` number so a later release can migrate it; an unreadable
or future file is set aside (renamed ``.bad``), never silently overwritten
while being read, and never fatal.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from app import paths
from app.atomic_file import write_text_atomically
from engine.errors import SettingsError
from engine.inputs.conversation import IMAGE_TOKEN_BUDGETS, MAX_VIDEO_FRAMES, MediaOptions, PromptOptions
from engine.inputs.overflow import OVERFLOW_POLICIES
from engine.settings import GenerationSettings
from engine.threads import MAX_THREADS

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FILE_NAME = "settings.json"

SendKey = Literal["enter", "ctrl+enter"]
SEND_KEYS: tuple[SendKey, ...] = ("enter", "ctrl+enter")
Theme = Literal["system", "light", "dark"]
THEMES: tuple[Theme, ...] = ("system", "light", "dark")
FONT_SIZES: tuple[int, ...] = (9, 10, 11, 12, 13, 14, 16, 18, 20)
DEFAULT_FONT_SIZE = 11
MIN_FONT_SIZE, MAX_FONT_SIZE = 8, 32


@dataclass(frozen=True, slots=True)
class AppConfig:
    """Everything the user can set; ``generation`` is None until they change the model's defaults."""

    generation: GenerationSettings | None = None
    thinking: bool = False
    system_prompt: str = ""
    # A chat longer than the context: "drop_oldest" leaves out its oldest messages, "stop" refuses.
    context_overflow: str = "drop_oldest"
    image_tokens: int = 280
    video_fps: float = 1.0
    video_max_frames: int = 60
    # "enter": Enter sends, Shift+Enter is a new line; "ctrl+enter": Enter is a new line (long prompts).
    send_key: SendKey = "enter"
    theme: Theme = "system"
    font_size: int = DEFAULT_FONT_SIZE
    model: str = ""  # empty: the bundled demo model
    recent_models: tuple[str, ...] = field(default_factory=tuple)
    # Checkpoint folders the user added in the models dialog (the HF cache is scanned, not stored).
    model_folders: tuple[str, ...] = field(default_factory=tuple)
    # The first-run dialog was shown once; it never comes back on its own.
    first_run_done: bool = False
    # CPU threads the engine computes with; 0: automatic (the cores less one, engine.threads).
    engine_threads: int = 0
    # View ▸ Show uncertainty: tint the words of finished replies the model was unsure of.
    show_uncertainty: bool = False

    def validate(self) -> AppConfig:
        """Raise SettingsError naming the first bad value (generation settings included)."""
        if self.generation is not None:
            self.generation.validate()
        if self.image_tokens not in IMAGE_TOKEN_BUDGETS:
            raise SettingsError(
                f"Image token budget {self.image_tokens} is not one of "
                f"{', '.join(map(str, IMAGE_TOKEN_BUDGETS))}",
                fix="Pick one of the listed budgets",
            )
        if not 0.1 <= self.video_fps <= 10:
            raise SettingsError(
                "Video frames per second must be between 0.1 and 10", fix="Use 1 for most videos"
            )
        if not 1 <= self.video_max_frames <= MAX_VIDEO_FRAMES:
            raise SettingsError(
                f"Video frame cap must be between 1 and {MAX_VIDEO_FRAMES}", fix="60 covers a minute at 1 fps"
            )
        if self.context_overflow not in OVERFLOW_POLICIES:
            raise SettingsError(
                f"Unknown choice for long chats {self.context_overflow!r}",
                fix="Use " + " or ".join(OVERFLOW_POLICIES),
            )
        if self.send_key not in SEND_KEYS:
            raise SettingsError(f"Unknown send key {self.send_key!r}", fix="Use enter or ctrl+enter")
        if self.theme not in THEMES:
            raise SettingsError(f"Unknown theme {self.theme!r}", fix="Use system, light or dark")
        if not MIN_FONT_SIZE <= self.font_size <= MAX_FONT_SIZE:
            raise SettingsError(
                f"Font size must be between {MIN_FONT_SIZE} and {MAX_FONT_SIZE} points",
                fix=f"{DEFAULT_FONT_SIZE} is the default",
            )
        if not all(isinstance(folder, str) and folder.strip() for folder in self.model_folders):
            raise SettingsError(
                "A model folder in the settings is not a folder path",
                fix="Remove it in Model ▸ Models…, or delete the settings file",
            )
        if not isinstance(self.engine_threads, int) or not 0 <= self.engine_threads <= MAX_THREADS:
            raise SettingsError(
                f"Engine threads must be between 0 (automatic) and {MAX_THREADS}",
                fix="Use 0 to let the engine choose",
            )
        if not isinstance(self.first_run_done, bool):
            raise SettingsError("first_run_done must be true or false", fix="Delete the settings file")
        if not isinstance(self.show_uncertainty, bool):
            raise SettingsError("show_uncertainty must be true or false", fix="Delete the settings file")
        return self

    def with_changes(self, **changes: Any) -> AppConfig:
        return replace(self, **changes)

    def generation_settings(self, model_defaults: GenerationSettings) -> GenerationSettings:
        """What to generate with: the user's settings, else the loaded model's defaults."""
        return self.generation if self.generation is not None else model_defaults

    def prompt_options(self) -> PromptOptions:
        return PromptOptions(
            enable_thinking=self.thinking,
            context_overflow=self.context_overflow,
            media=MediaOptions(
                image_tokens=self.image_tokens,
                video_fps=self.video_fps,
                video_max_frames=self.video_max_frames,
            ),
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["generation"] = self.generation.to_dict() if self.generation is not None else None
        data["recent_models"] = list(self.recent_models)
        data["model_folders"] = list(self.model_folders)
        return {"schema": SCHEMA_VERSION, **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppConfig:
        """Read a saved file; unknown keys are ignored, missing ones take defaults."""
        schema = data.get("schema")
        if not isinstance(schema, int) or schema > SCHEMA_VERSION:
            raise SettingsError(
                f"The settings file has schema {schema!r}, this version reads up to {SCHEMA_VERSION}",
                fix="Update DiffusionGemma Chat, or delete the settings file",
            )
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        generation = values.get("generation")
        values["generation"] = GenerationSettings.from_dict(generation) if generation else None
        values["recent_models"] = tuple(str(m) for m in values.get("recent_models", ()))
        folders = values.get("model_folders", ())
        if not isinstance(folders, list | tuple):
            raise SettingsError("model_folders must be a list of folders", fix="Delete the settings file")
        values["model_folders"] = tuple(folders)
        return cls(**values).validate()


def config_path() -> Path:
    return paths.config_dir() / FILE_NAME


def load_config(path: Path | None = None) -> AppConfig:
    """The saved config, or defaults when there is none or it cannot be read (a bad file is kept aside)."""
    try:
        path = path or config_path()  # creates the folder: a full disk or a file in the way refuses
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return AppConfig()
    except OSError:
        log.exception("cannot read %s", path)
        return AppConfig()
    try:
        return AppConfig.from_json(json.loads(text))
    except (ValueError, TypeError, SettingsError):
        log.exception("settings file %s is not usable; keeping it as .bad and starting from defaults", path)
        try:
            path.replace(path.with_suffix(".json.bad"))
        except OSError:
            log.exception("cannot move the bad settings file aside")
        return AppConfig()


def save_config(config: AppConfig, path: Path | None = None) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves half a settings file."""
    path = path or config_path()
    payload = json.dumps(config.validate().to_json(), indent=2, ensure_ascii=False)
    write_text_atomically(path, payload + "\n", make_folder=True)
    return path

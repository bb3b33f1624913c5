"""DiffusionGemma engine: loading, prompts, and a denoising loop that reports every step.

Plain Python + torch; it never imports Qt or the ``app`` package (a test enforces it).
"""

from engine.cancel import CancelToken
from engine.errors import (
    AttachmentError,
    DeviceError,
    EngineError,
    ModelAccessError,
    ModelFilesError,
    ModelTooLargeError,
    OutOfMemoryError,
    PromptTooLongError,
    SettingsError,
)
from engine.events import Canvas, Done, Event, LoadProgress, PromptEncoded, PromptProgress, Stats, Step
from engine.inputs.conversation import Attachment, Conversation, MediaOptions, PromptOptions, Turn
from engine.settings import GenerationSettings

__all__ = [
    "Attachment",
    "AttachmentError",
    "CancelToken",
    "Canvas",
    "Conversation",
    "DeviceError",
    "Done",
    "EngineError",
    "Event",
    "GenerationSettings",
    "LoadProgress",
    "MediaOptions",
    "ModelAccessError",
    "ModelFilesError",
    "ModelTooLargeError",
    "OutOfMemoryError",
    "PromptEncoded",
    "PromptOptions",
    "PromptProgress",
    "PromptTooLongError",
    "SettingsError",
    "Stats",
    "Step",
    "Turn",
]

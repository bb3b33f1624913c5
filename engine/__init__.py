"""DiffusionGemma engine: loading, prompts, and a denoising loop that reports every step.

Plain Python + torch; it never imports Qt or the ``app`` package (a test enforces it).
"""

import os

# Before torch loads (its OpenMP reads this once): waiting threads sleep instead of spinning, so a
# core taken by another process does not stall every step. 2 threads on a busy 2-core machine:
# 82 s spinning, 21 s sleeping, 20 s with one thread (engine/threads.py). A user's value is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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

"""One exception family for everything a user can cause or fix.

Every error carries a short ``title`` (what went wrong), the ``path`` it concerns
when there is one, and a ``fix`` (what to do).  ``str(error)`` is the full
user-facing sentence; callers (the CLI, the GUI) show that and send the
traceback to the log only.
"""

from __future__ import annotations

from pathlib import Path


class EngineError(Exception):
    """Base class: a problem the user can understand and act on."""

    def __init__(self, title: str, fix: str = "", path: str | Path | None = None) -> None:
        self.title = title
        self.fix = fix
        self.path = str(path) if path is not None else None
        super().__init__(self.user_message())

    def user_message(self) -> str:
        parts = [self.title.rstrip(".") + "."]
        if self.path:
            parts.append(f"File: {self.path}.")
        if self.fix:
            parts.append(self.fix.rstrip(".") + ".")
        return " ".join(parts)


class AttachmentError(EngineError):
    """An image or video that cannot be used (missing, empty, corrupt, unsupported, too big)."""


class ModelFilesError(EngineError):
    """The model folder or repo is missing, incomplete, or not a DiffusionGemma checkpoint."""


class ModelAccessError(EngineError):
    """A gated or private model that needs a Hugging Face token, or a model not in the cache while offline."""


class PromptTooLongError(EngineError):
    """The conversation does not fit in the model's context."""


class DeviceError(EngineError):
    """No usable CUDA device when one was required."""


class ModelTooLargeError(EngineError):
    """The model cannot fit the GPU's free memory: refused before loading, with the numbers."""


class OutOfMemoryError(EngineError):
    """The GPU ran out of memory; caches were freed and the engine is still usable."""


class SettingsError(EngineError):
    """A generation setting is out of range."""

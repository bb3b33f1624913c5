"""Where the bundled demo model lives.

The demo model is a small checkpoint of the DiffusionGemma architecture that
ships inside the package (``resources/demo_model``) so the app opens on any machine, GPU or not.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from engine.errors import ModelFilesError

# Model names that are not paths or repo ids. Kept here, free of torch, so the GUI can
# name them at start-up without importing the engine's heavy modules.
DEMO = "demo"  # the bundled demo model
AUTO = "auto"  # the real model when it can run here, else the demo (engine.model.loader.preferred_model)


def demo_model_path() -> Path:
    """The demo checkpoint folder (``DGCHAT_DEMO_MODEL`` overrides it, for tests)."""
    override = os.environ.get("DGCHAT_DEMO_MODEL")
    path = Path(override) if override else Path(str(resources.files("resources").joinpath("demo_model")))
    if not (path / "config.json").is_file():
        raise ModelFilesError(
            "The bundled demo model is missing from this installation",
            fix="Reinstall DiffusionGemma Chat, or choose a model folder",
            path=path,
        )
    return path

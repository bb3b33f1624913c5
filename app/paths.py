"""Where the app keeps its settings, logs and pasted images.

Standard per-user folders from platformdirs; ``DGCHAT_CONFIG_DIR``,
``DGCHAT_LOG_DIR`` and ``DGCHAT_CACHE_DIR`` override them so tests (and portable
installs) never touch the real home folder.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import platformdirs

from engine.identity import APP_NAME

log = logging.getLogger(__name__)


def _folder(env: str, default: str) -> Path:
    """The folder, created when missing.  One that cannot be (a full disk, a file in the way) is
    only logged: the window must still start, and each save there then says what failed."""
    override = os.environ.get(env)
    path = Path(override) if override else Path(default)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        log.warning("cannot create the folder %s (%s)", path, error)
    return path


def config_dir() -> Path:
    return _folder("DGCHAT_CONFIG_DIR", platformdirs.user_config_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    return _folder("DGCHAT_LOG_DIR", platformdirs.user_log_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    return _folder("DGCHAT_CACHE_DIR", platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def pasted_dir() -> Path:
    """Images pasted from the clipboard are written here so the engine can read them by path."""
    path = cache_dir() / "pasted"
    path.mkdir(parents=True, exist_ok=True)
    return path

"""Where the conversation database and its attachment blobs live.

One folder holds everything (``conversations.db`` plus ``blobs/``), so a user
can back up, move or delete their history as a unit.  ``DGCHAT_DATA_DIR``
overrides the platform's per-user data folder; tests and portable installs
use it.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.identity import APP_NAME

DATA_DIR_ENV = "DGCHAT_DATA_DIR"
DB_NAME = "conversations.db"
BLOBS_DIR = "blobs"


def data_dir() -> Path:
    """The data folder: ``$DGCHAT_DATA_DIR`` if set, else platformdirs' user data dir for the app."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_db_path() -> Path:
    return data_dir() / DB_NAME


def blobs_dir_for(db_path: Path) -> Path:
    """Blobs sit beside the database they belong to, so a test's temporary db gets its own."""
    return db_path.parent / BLOBS_DIR

"""Conversation storage for DiffusionGemma Chat: one SQLite file plus content-addressed attachments.

Plain Python (stdlib ``sqlite3`` and the engine's dataclasses); it never
imports Qt, so it is usable from the CLI, tests and worker threads.  See
docs/storage.md for the API, the schema and the guarantees.
"""

from app.store.database import Recovery
from app.store.errors import (
    DatabaseCorruptError,
    DiskFullError,
    ImportFormatError,
    NewerDatabaseError,
    StoreError,
)
from app.store.models import (
    ConversationGroup,
    ConversationInfo,
    Message,
    SearchHit,
    Siblings,
    StoredAttachment,
    StoredCanvas,
)
from app.store.paths import DATA_DIR_ENV, data_dir, default_db_path
from app.store.replies import ReplyWriter
from app.store.store import Store, to_turns

__all__ = [
    "DATA_DIR_ENV",
    "ConversationGroup",
    "ConversationInfo",
    "DatabaseCorruptError",
    "DiskFullError",
    "ImportFormatError",
    "Message",
    "NewerDatabaseError",
    "Recovery",
    "ReplyWriter",
    "SearchHit",
    "Siblings",
    "Store",
    "StoreError",
    "StoredAttachment",
    "StoredCanvas",
    "data_dir",
    "default_db_path",
    "to_turns",
]

"""The added model servers (app.servers) as rows of the models dialog, beside the local models."""

from __future__ import annotations

from app.model_choice import ModelEntry
from app.servers import load_servers, remove_server


def server_entries() -> list[ModelEntry]:
    """One row per added server: its name, then "server: URL · model" (no size: nothing is on disk)."""
    return [
        ModelEntry(s.name, s.source, "server", 0, complete=True, where=f"server: {s.url} · {s.model}")
        for s in load_servers()
    ]


def remove_server_entry(entry: ModelEntry) -> None:
    remove_server(entry.name)

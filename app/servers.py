"""The model servers the user added (Model ▸ Models… ▸ Add a server…), and loading one as the engine.

A server is listed like a local model and chosen by the source ``server:NAME``
(what ``app.worker.load_engine`` receives).  Its name, address and model are kept
in ``servers.json`` in the config folder; its API key is not: that goes to
:mod:`app.server_keys` (the system keyring, or a private file), so no key is ever
in the chat database, an export or a log line.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from app.atomic_file import write_text_atomically
from app.paths import config_dir
from app.server_keys import KeyStore
from engine.errors import EngineError
from engine.server.client import ServerAddress
from engine.server.engine import ServerEngine

log = logging.getLogger(__name__)

PREFIX = "server:"
FILE_NAME = "servers.json"


@dataclass(frozen=True, slots=True)
class ServerProfile:
    """One added server: a name the user knows it by, its base URL and the model it serves."""

    name: str
    url: str
    model: str

    @property
    def source(self) -> str:
        return PREFIX + self.name


def is_server_source(source: str) -> bool:
    return source.startswith(PREFIX)


def load_servers(folder: Path | None = None) -> list[ServerProfile]:
    """The added servers; an unreadable file is logged and read as none (the app must still start)."""
    path = (folder or config_dir()) / FILE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [ServerProfile(str(s["name"]), str(s["url"]), str(s["model"])) for s in data["servers"]]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("cannot read the server list %s: %s", path, error)
        return []


def save_servers(servers: list[ServerProfile], folder: Path | None = None) -> None:
    path = (folder or config_dir()) / FILE_NAME
    text = json.dumps({"servers": [asdict(s) for s in servers]}, indent=2)
    write_text_atomically(path, text, make_folder=True)


def add_server(profile: ServerProfile, api_key: str, folder: Path | None = None) -> None:
    """Add (or replace, by name) a server; its key goes to the key store, never to servers.json."""
    servers = [s for s in load_servers(folder) if s.name != profile.name]
    save_servers([*servers, profile], folder)
    keys = KeyStore(folder)
    if api_key:
        keys.set(profile.name, api_key)
    else:
        keys.delete(profile.name)


def remove_server(name: str, folder: Path | None = None) -> None:
    save_servers([s for s in load_servers(folder) if s.name != name], folder)
    KeyStore(folder).delete(name)


def address_of(profile: ServerProfile, folder: Path | None = None) -> ServerAddress:
    return ServerAddress(profile.url, profile.model, KeyStore(folder).get(profile.name))


def connect_source(source: str, folder: Path | None = None) -> ServerEngine:
    """The engine for ``server:NAME``: the server checked to answer and serve a DiffusionGemma model."""
    name = source.removeprefix(PREFIX)
    for profile in load_servers(folder):
        if profile.name == name:
            engine = ServerEngine.connect(address_of(profile, folder))
            engine.info = replace(engine.info, source=source)  # what the settings remember and load next time
            return engine
    raise EngineError(
        f"There is no server named {name!r} any more",
        fix="Add it again in Model ▸ Models… ▸ Add a server…, or pick another model",
    )

"""Where a model server's API key is kept: the system keyring when there is one, else a private file.

The ``keyring`` package (optional: ``pip install "diffusiongemma-chat[keyring]"``)
stores secrets in the desktop's keychain (Secret Service, macOS Keychain,
Windows Credential Locker).  Without it, or without a working backend (a
headless Linux box), keys go to ``server-keys.json`` in the config folder,
created with mode 0600 so other users cannot read it.  Never anywhere else: not
in ``servers.json``, the chat database, exports or logs.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from app.atomic_file import write_text_atomically
from app.paths import config_dir

log = logging.getLogger(__name__)

SERVICE = "DiffusionGemma Chat server"
FILE_NAME = "server-keys.json"


def _keyring() -> Any | None:
    """The keyring module when it is installed and has a real backend; None otherwise."""
    if os.environ.get("DGCHAT_NO_KEYRING"):
        return None
    try:
        keyring = importlib.import_module("keyring")  # optional: imported only where it is installed
        backend = keyring.get_keyring()
    except Exception:  # not installed, or a broken backend: the file is the fallback
        return None
    if "fail" in type(backend).__module__ or getattr(backend, "priority", 1) <= 0:
        return None  # keyring.backends.fail / null: no keychain on this system
    return keyring


class KeyStore:
    """API keys by server name."""

    def __init__(self, folder: Path | None = None) -> None:
        self.path = (folder or config_dir()) / FILE_NAME
        self._keyring = _keyring()

    @property
    def where(self) -> str:
        return "the system keyring" if self._keyring is not None else f"{self.path} (readable by you only)"

    def get(self, name: str) -> str:
        if self._keyring is not None:
            return self._keyring.get_password(SERVICE, name) or ""
        return str(self._read().get(name, ""))

    def set(self, name: str, key: str) -> None:
        if self._keyring is not None:
            self._keyring.set_password(SERVICE, name, key)
            return
        keys = self._read()
        keys[name] = key
        self._write(keys)

    def delete(self, name: str) -> None:
        if self._keyring is not None:
            with contextlib.suppress(Exception):  # keyring.errors.PasswordDeleteError: there was none
                self._keyring.delete_password(SERVICE, name)
            return
        keys = self._read()
        if keys.pop(name, None) is not None:
            self._write(keys)

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            log.warning("cannot read the server keys file %s: %s", self.path, type(error).__name__)
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, keys: dict[str, str]) -> None:
        """Replaced atomically through a temporary file mkstemp creates 0600: never readable by others."""
        write_text_atomically(self.path, json.dumps(keys), make_folder=True)
        os.chmod(self.path, 0o600)  # what mkstemp gave it; said again in case that ever changes

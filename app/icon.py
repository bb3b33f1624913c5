"""The window icon, drawn as SVG in ``resources/icons/dgchat.svg`` (shipped as package data)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from app.qt import QIcon


def icon_path() -> Path:
    return Path(str(resources.files("resources").joinpath("icons", "dgchat.svg")))


def app_icon() -> QIcon:
    path = icon_path()
    return QIcon(str(path)) if path.is_file() else QIcon()

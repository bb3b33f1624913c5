"""The installed package's version, for About and ``dgchat --version``."""

from __future__ import annotations

from importlib import metadata


def app_version() -> str:
    try:
        return metadata.version("diffusiongemma-chat")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "unknown"

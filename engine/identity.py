"""The application's one name, for every per-user folder on every OS, and its desktop ID.

platformdirs builds folders from (appname, appauthor); on Windows an appauthor adds a
second level, so every caller passes ``appauthor=False`` and this one name: settings,
logs, chats, pasted images and 4-bit copies then sit under one root per kind on each OS.
"""

from __future__ import annotations

APP_NAME = "diffusiongemma-chat"

# Desktop file ID = AppStream component ID = QGuiApplication.desktopFileName (packaging/).
APP_ID = "io.github.diffusiongemma_chat"

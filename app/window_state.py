"""Where the window was and how it was laid out, so the next launch opens the same way.

A desktop user resizes the window, moves it to the second screen, widens the
chat list or hides it, and expects to find it so next time.  This is state, not
a preference: it lives in its own file (``window.json`` beside the settings),
is written when the window closes, and a missing or unreadable file simply
gives the default layout.  The geometry is Qt's own ``saveGeometry()`` blob
(screen, position, size, maximised), kept as base64 so this module stays Qt-free;
``restoreGeometry`` moves a window whose screen is gone back onto a visible one.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from app import paths
from app.atomic_file import write_text_atomically

log = logging.getLogger(__name__)

FILE_NAME = "window.json"
SCHEMA_VERSION = 1
MIN_SIDEBAR_PX, MAX_SIDEBAR_PX = 180, 600


@dataclass(frozen=True, slots=True)
class WindowState:
    geometry: bytes = b""  # QWidget.saveGeometry(); empty: the default size, placed by the desktop
    sidebar_width: int | None = None  # None: the default width
    sidebar_visible: bool = True

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA_VERSION,
            "geometry": base64.b64encode(self.geometry).decode("ascii"),
            "sidebar_width": self.sidebar_width,
            "sidebar_visible": self.sidebar_visible,
        }

    @classmethod
    def from_json(cls, data: dict) -> WindowState:
        """Read what :meth:`to_json` wrote; a value out of range falls back to its default."""
        if data.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"window state schema {data.get('schema')!r}")
        geometry = base64.b64decode(str(data.get("geometry", "")), validate=True)
        width = data.get("sidebar_width")
        if not isinstance(width, int) or not MIN_SIDEBAR_PX <= width <= MAX_SIDEBAR_PX:
            width = None
        visible = data.get("sidebar_visible", True)
        return cls(geometry, width, visible if isinstance(visible, bool) else True)


def window_state_path() -> Path:
    return paths.config_dir() / FILE_NAME


def load_window_state(path: Path | None = None) -> WindowState:
    """The saved layout, or the default one when there is none or it cannot be read."""
    path = path or window_state_path()
    try:
        return WindowState.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return WindowState()
    except (OSError, ValueError, TypeError, AttributeError, binascii.Error):
        log.warning("window layout %s is unreadable; using the default layout", path, exc_info=True)
        return WindowState()


def save_window_state(state: WindowState, path: Path | None = None) -> None:
    """Write the layout; failing is logged, never raised (losing it costs the user a resize)."""
    path = path or window_state_path()
    try:
        write_text_atomically(path, json.dumps(state.to_json(), indent=2) + "\n", make_folder=True)
    except OSError:
        log.exception("cannot save the window layout to %s", path)

"""The window's size, position and chat list as the user left them (the file is app/window_state.py's).

Restored when the window is built and saved when it closes.  Qt accepts a
cut-off geometry blob and reads zeros for the rest, giving a 1 × 1 window, so a
restored size too small to use counts as unreadable and the default size is used.
"""

from __future__ import annotations

import logging
from pathlib import Path

from app.qt import QByteArray, QMainWindow, Qt
from app.ui.chat_splitter import ChatSplitter
from app.window_state import FILE_NAME, WindowState, load_window_state, save_window_state

log = logging.getLogger(__name__)

DEFAULT_SIZE = (1180, 820)
MIN_USABLE = (400, 300)  # a restored window smaller than this was not saved whole


def layout_path(config_dir: Path) -> Path:
    """Where the layout is kept: beside the settings file."""
    return config_dir / FILE_NAME


def restore_layout(window: QMainWindow, splitter: ChatSplitter, path: Path) -> None:
    state = load_window_state(path)
    if not restore_geometry(window, state.geometry):
        window.resize(*DEFAULT_SIZE)
    splitter.restore(state)


def restore_geometry(window: QMainWindow, geometry: bytes) -> bool:
    """Size and place the window as it was saved; False (and no change) when it cannot be."""
    if not geometry:
        return False
    if (
        window.restoreGeometry(QByteArray(geometry))
        and window.width() >= MIN_USABLE[0]
        and window.height() >= MIN_USABLE[1]
    ):
        return True
    log.warning("the saved window size is unusable; using the default size")
    window.setWindowState(Qt.WindowState.WindowNoState)
    return False


def save_layout(window: QMainWindow, splitter: ChatSplitter, path: Path) -> None:
    state = WindowState(geometry=bytes(window.saveGeometry().data()))
    save_window_state(splitter.layout_state(state), path)

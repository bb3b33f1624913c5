"""Help: the keyboard shortcuts (read from the window's own actions), the log folder, About.

The shortcut list is built from the QActions themselves, so it can never
disagree with what the keys do.  "Show the log file" is there for bug reports:
tracebacks go to the log, never to the user (docs/app.md, Errors).
"""

from __future__ import annotations

import html
import platform
import sys
from collections.abc import Iterable

from app.logs import log_file
from app.qt import QT_VERSION, QAction, QDesktopServices, QKeySequence, QMessageBox, Qt, QUrl, QWidget
from app.version import app_version

APP_TITLE = "DiffusionGemma Chat"


def shortcut_rows(actions: Iterable[QAction]) -> list[tuple[str, str]]:
    """(what, keys) for every action that has a shortcut, in menu wording without the & markers."""
    rows = []
    for action in actions:
        keys = [
            s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts() if not s.isEmpty()
        ]
        if keys:
            rows.append((action.text().replace("&", "").rstrip("…"), " or ".join(keys)))
    return rows


def show_shortcuts(parent: QWidget, actions: Iterable[QAction], send_key: str = "enter") -> QMessageBox:
    table = "".join(
        f"<tr><td style='padding-right:18px'>{html.escape(what)}</td><td><b>{html.escape(keys)}</b></td></tr>"
        for what, keys in shortcut_rows(actions)
    )
    send = "Ctrl+Enter / Enter" if send_key == "ctrl+enter" else "Enter / Shift+Enter"
    extra = (
        f"<tr><td style='padding-right:18px'>Send / new line</td><td><b>{send}</b></td></tr>"
        "<tr><td style='padding-right:18px'>Edit the last message sent (empty message box)</td>"
        "<td><b>Up</b></td></tr>"
        "<tr><td style='padding-right:18px'>In the find bar: next / previous</td>"
        "<td><b>Enter / Shift+Enter</b></td></tr>"
    )
    box = QMessageBox(
        QMessageBox.Icon.NoIcon, "Keyboard shortcuts", "", QMessageBox.StandardButton.Close, parent
    )
    box.setText(f"<table>{table}{extra}</table>")
    box.open()
    return box


def about_text(model: str | None) -> str:
    torch = sys.modules.get("torch")  # imported on the engine thread once a model loads; never here
    versions = [
        f"Python {platform.python_version()}",
        f"Qt {'.'.join(map(str, QT_VERSION))}",
        *([f"torch {torch.__version__}"] if torch is not None else []),
    ]
    return (
        f"<h3>{APP_TITLE} {html.escape(app_version())}</h3>"
        "<p>A local chat window for DiffusionGemma, the block-diffusion language model: watch each "
        "256-token canvas refine, live.</p>"
        f"<p>Model: {html.escape(model or 'none loaded')}<br>{html.escape(' · '.join(versions))}</p>"
        f"<p>Log file: {html.escape(str(log_file()))}</p>"
    )


def show_about(parent: QWidget, model: str | None) -> QMessageBox:
    box = QMessageBox(
        QMessageBox.Icon.NoIcon, f"About {APP_TITLE}", "", QMessageBox.StandardButton.Close, parent
    )
    box.setText(about_text(model))
    box.setIconPixmap(parent.windowIcon().pixmap(64, 64))
    box.open()
    return box


def show_error(parent: QWidget, message: str, log_path: str) -> QMessageBox:
    """An unexpected error, said plainly; the traceback is in the log file it names."""
    box = QMessageBox(QMessageBox.Icon.Critical, APP_TITLE, message, parent=parent)
    box.setInformativeText(f"Details were written to {log_path}")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setAccessibleName("Unexpected error")
    box.open()
    return box


def open_log_folder() -> bool:
    """Show the folder of the log file in the file manager (an explicit click: nothing opens on its own)."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_file().parent)))

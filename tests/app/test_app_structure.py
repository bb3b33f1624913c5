"""Structure rules: one Qt import module, naming conventions, the icon and desktop files."""

from __future__ import annotations

import ast
import configparser
import mimetypes
import xml.etree.ElementTree as ET
from pathlib import Path

from app.icon import icon_path
from app.qt import QIcon, QSize, QtCore
from app.worker import EngineWorker
from engine.inputs.documents import is_document_name
from engine.inputs.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_app_qt_imports_pyside6():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "app").rglob("*.py")
        if path.name != "qt.py" or path.parent != ROOT / "app"
        if any(m == "PySide6" or m.startswith("PySide6.") for m in imported_modules(path))
    ]
    assert not offenders, offenders


def test_engine_never_imports_the_app():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "engine").rglob("*.py")
        if any(m == "app" or m.startswith("app.") or m.startswith("PySide6") for m in imported_modules(path))
    ]
    assert not offenders, offenders


def test_worker_signals_are_past_tense_and_slots_are_on_signal():
    signals = [name for name, value in vars(EngineWorker).items() if isinstance(value, QtCore.Signal)]
    assert {
        "step_ready",
        "canvas_committed",
        "reply_finished",
        "reply_failed",
        "model_loaded",
        "load_progressed",
    } <= set(signals)
    slots = [name for name in vars(EngineWorker) if name.startswith("on_")]
    assert slots and all(name.endswith("_requested") for name in slots)


def test_no_module_calls_qthread_terminate():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "app").rglob("*.py")
        if ".terminate(" in p.read_text(encoding="utf-8")
    ]
    assert not offenders


def test_icon_renders():
    path = icon_path()
    assert path == ROOT / "resources" / "icons" / "dgchat.svg"
    pixmap = QIcon(str(path)).pixmap(QSize(64, 64))
    assert not pixmap.isNull() and pixmap.width() == 64


def test_desktop_entry_and_metainfo_reference_the_icon():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(ROOT / "packaging" / "io.github.diffusiongemma_chat.desktop", encoding="utf-8")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application" and section["Exec"].startswith("dgchat")
    assert section["Icon"] == "io.github.diffusiongemma_chat" and "Chat" in section["Categories"]
    # "Open with" passes files (%F) of these types: each must be one the app attaches.
    assert section["Exec"] == "dgchat %F"
    for mime in filter(None, section["MimeType"].split(";")):
        extension = mimetypes.guess_extension(mime) or {"text/markdown": ".md"}.get(mime)
        assert extension is not None, mime
        name = Path("file" + extension)
        assert extension in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS or is_document_name(name), mime
    tree = ET.parse(ROOT / "packaging" / "io.github.diffusiongemma_chat.metainfo.xml")
    component = tree.getroot()
    assert component.tag == "component" and component.get("type") == "desktop-application"
    assert component.findtext("launchable") == "io.github.diffusiongemma_chat.desktop"
    assert component.findtext("metadata_license") and component.findtext("project_license") == "Apache-2.0"
    icon = component.find("icon")
    assert icon is not None and icon.text == "io.github.diffusiongemma_chat"

"""Structure rules: one Qt import module, names (every signal, every slot), the icon and desktop files."""

from __future__ import annotations

import ast
import configparser
import mimetypes
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from app.icon import icon_path
from app.qt import QIcon, QSize
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


# Past participles that do not end in -ed, and "ready" (the house style's own example, ``step_ready``:
# a state reached).  Keep it short: a new word here should be a real participle.
IRREGULAR_PARTICIPLES = frozenset(
    {"built", "chosen", "drawn", "hidden", "ready", "sent", "shown", "told", "withdrawn", "written"}
)


def declared_signals() -> dict[str, str]:
    """Every ``name = Signal(...)`` in a class body under app/: name → where."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "app").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            for statement in node.body:
                value = getattr(statement, "value", None)
                if (
                    isinstance(statement, ast.Assign)
                    and isinstance(value, ast.Call)
                    and getattr(value.func, "id", getattr(value.func, "attr", None)) == "Signal"
                ):
                    for target in statement.targets:
                        found[target.id] = f"{path.relative_to(ROOT)}:{statement.lineno} ({node.name})"
    return found


def is_past_participle(word: str) -> bool:
    return word.endswith("ed") or word in IRREGULAR_PARTICIPLES


def test_every_signal_in_the_app_is_named_in_the_past_tense():
    signals = declared_signals()
    assert {"step_ready", "canvas_committed", "reply_finished", "model_loaded", "probed"} <= set(signals)
    assert len(signals) > 60  # the scan sees every module's signals, not only the worker's
    offenders = [
        f"{name} at {where}" for name, where in signals.items() if not is_past_participle(name.split("_")[-1])
    ]
    assert not offenders, "signals say what happened (…_clicked, …_failed, …_chosen):\n" + "\n".join(
        offenders
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _connections() -> list[tuple[str, str, str]]:
    """``(signal, slot, where)`` for each ``<expr>.<signal>.connect(self.<slot>)`` under app/."""
    found = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != "connect" or not isinstance(node.func.value, ast.Attribute) or not node.args:
                continue
            slot = node.args[0]
            if (
                isinstance(slot, ast.Attribute)
                and isinstance(slot.value, ast.Name)
                and slot.value.id == "self"
            ):
                found.append(
                    (_snake(node.func.value.attr), slot.attr, f"{path.relative_to(ROOT)}:{node.lineno}")
                )
    return found


def test_slots_are_named_on_the_signal_they_handle():
    connections = _connections()
    signals_of: dict[str, set[str]] = {}
    for signal, slot, _where in connections:
        signals_of.setdefault(slot, set()).add(signal)
    checked = [
        (signal, slot, where)
        for signal, slot, where in connections
        if slot.lstrip("_").startswith("on_")
        and len(signals_of[slot]) == 1  # one handler for two: named for both
    ]
    assert len(checked) > 40
    offenders = [
        f"{slot} handles {signal} at {where}" for signal, slot, where in checked if not slot.endswith(signal)
    ]
    assert not offenders, "a slot is on_<signal> (or _on_<sender>_<signal>):\n" + "\n".join(offenders)
    # The worker's slots are the ``…_requested`` signals the window emits to it.
    requested = [name for name in vars(EngineWorker) if name.startswith("on_")]
    assert requested and all(name.endswith("_requested") for name in requested)


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

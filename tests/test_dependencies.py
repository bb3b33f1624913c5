"""Dependency hygiene: what app/ and engine/ import is declared, public, and named once."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for folder in ("app", "engine") for p in sorted((ROOT / folder).rglob("*.py"))]
OURS = {"app", "engine", "resources", "tools"}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_every_directly_imported_package_is_declared():
    project = _project()
    declared = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["gpu"]}
    distributions = packages_distributions()
    undeclared: dict[str, str] = {}
    for path in SOURCES:
        for module in _imports(path):
            top = module.split(".")[0]
            if top in OURS or top in sys.stdlib_module_names or top == "__future__":
                continue
            owners = {d.lower().replace("_", "-") for d in distributions.get(top, [])}
            if not owners & declared:
                undeclared[top] = f"{path.relative_to(ROOT)} (from {sorted(owners) or 'nothing installed'})"
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_no_private_huggingface_hub_module_is_used():
    private = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in SOURCES
        for module in _imports(path)
        if module.startswith("huggingface_hub.") and any(p.startswith("_") for p in module.split(".")[1:])
    ]
    assert not private


def test_pins_caps_and_extras():
    project = _project()
    requirements = {_name(r): r for r in project["dependencies"]}
    assert "<6" in requirements["transformers"], "transformers is capped below its next major"
    assert ">=2.4" in requirements["huggingface-hub"]
    for extra in ("gpu", "test"):
        assert any(_name(r) == "triton" for r in project["optional-dependencies"][extra]), extra
    assert project["scripts"] == {"dgchat": "app.main:main", "dgchat-engine": "engine.cli:main"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_per_user_folder_uses_the_one_app_name_without_an_author(path: Path):
    text = path.read_text(encoding="utf-8")
    for call in re.findall(r"platformdirs\.user_\w+_dir\(([^)]*)\)", text):
        assert call.replace(" ", "") == "APP_NAME,appauthor=False", f"{path}: {call}"
    if path.name != "identity.py":
        assert not re.search(r"^APP_NAME\s*=", text, flags=re.M), "the name comes from engine.identity"


def test_messages_that_name_the_hub_follow_hf_endpoint(monkeypatch: pytest.MonkeyPatch):
    from engine.hub.names import licence_url, tokens_url

    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.org/")
    assert licence_url("google/x") == "https://hub.example.org/google/x"
    assert tokens_url() == "https://hub.example.org/settings/tokens"
    monkeypatch.delenv("HF_ENDPOINT")
    assert licence_url("google/x") == "https://huggingface.co/google/x"
    hard_coded = [
        str(p.relative_to(ROOT))
        for p in SOURCES
        if "https://huggingface.co" in p.read_text(encoding="utf-8") and p.name != "names.py"
    ]
    assert not hard_coded, "use engine.hub.names, which honours HF_ENDPOINT"

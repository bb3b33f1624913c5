"""Layering: no import cycles among the modules of app/ and engine/, deferred imports included.

A cycle means two modules can only be understood (and changed) together, and a
function-level import that "breaks" one at run time only hides it.  So every
import statement counts wherever it is: at the top, inside a function, under
``if TYPE_CHECKING:`` too (an annotation is still a dependency of the reader,
and keeping those one-way costs nothing).  A package's ``__init__`` is a module
of its own: ``from pkg import name`` reads the package's namespace, so it
depends on the ``__init__`` — unless ``name`` is a submodule, which it then
names directly; ``import pkg.sub`` depends on ``pkg.sub`` only.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "engine")


def project_modules() -> dict[str, tuple[Path, bool]]:
    """Dotted name → (file, is a package ``__init__``) for every module under PACKAGES."""
    modules: dict[str, tuple[Path, bool]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def _imported_names(node: ast.Import | ast.ImportFrom, package: str, modules: dict) -> list[str]:
    """The dotted names one import statement depends on (possibly deeper than a module: trimmed later)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = package.split(".")
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
    return submodules if len(submodules) == len(node.names) else [*submodules, base]


def _owning_module(name: str, modules: dict) -> str | None:
    """``name`` trimmed to the module that defines it (``app.store.Store`` → ``app.store``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for imported in _imported_names(node, package, modules):
                    target = _owning_module(imported, modules)
                    if target is not None and target != name:
                        graph[name].add(target)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the components with more than one module are the cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_deferred_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    tree = ast.parse("def f():\n    from engine.model import loader\n")
    modules = {"engine.model": None, "engine.model.loader": None}
    (node,) = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert _imported_names(node, "engine.x", modules) == ["engine.model.loader"]


def test_the_graph_sees_imports_inside_functions():
    # engine.model.loader imports the 4-bit cache inside load_model (it needs torch): still an edge.
    assert "engine.model.quant.cache" in import_graph()["engine.model.loader"]


def test_app_and_engine_have_no_import_cycles():
    cycles = strongly_connected(import_graph())
    listed = "\n".join(" ↔ ".join(cycle) for cycle in cycles)
    assert not cycles, f"import cycles (move the shared piece down into a module both import):\n{listed}"

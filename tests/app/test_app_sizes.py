"""Size rules that keep the GUI readable: the window wires its parts, and no app function is a wall.

The live reply, the reply requests, the chat shown, the view settings and the
menus each have their own module (docs/architecture.md); these checks fail as
soon as one of them grows back into the window, or a function grows past what
reads on one screen.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WINDOW_LIMIT = 450  # lines of the MainWindow class
FUNCTION_LIMIT = 100  # lines of any one function under app/


def _functions(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


def test_the_main_window_wires_and_does_not_run_replies():
    tree = ast.parse((ROOT / "app" / "ui" / "window.py").read_text(encoding="utf-8"))
    (window,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "MainWindow"]
    assert window.end_lineno - window.lineno + 1 <= WINDOW_LIMIT
    methods = {n.name for n in window.body if isinstance(n, ast.FunctionDef)}
    reply_handlers = {"on_step_ready", "on_canvas_committed", "on_reply_finished", "on_reply_failed"}
    assert not methods & reply_handlers, "the engine's reply events go to app/ui/live_reply.py"


def test_no_app_function_is_longer_than_a_hundred_lines():
    long = [
        f"{where} ({lines} lines)"
        for path in sorted((ROOT / "app").rglob("*.py"))
        for where, lines in _functions(path)
        if lines > FUNCTION_LIMIT
    ]
    assert not long, "split these into functions that each do one step:\n" + "\n".join(long)

"""Entry points: ``python -m app`` and ``dgchat``."""

from __future__ import annotations

import errno
import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from media_files import write_png

import app.main as app_main
from app.qt import QApplication
from app.ui.messages import Notice
from app.ui.window import MainWindow

ROOT = Path(__file__).resolve().parents[2]


def test_python_m_app_help_runs_without_a_display():
    result = subprocess.run(
        [sys.executable, "-m", "app", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--model DIR|REPO|demo" in result.stdout


def test_main_opens_the_window_and_explains_a_model_that_cannot_load(qtbot, monkeypatch, tmp_path, app_dirs):
    seen: dict[str, object] = {}

    def fake_exec() -> int:
        window = next(
            w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()
        )
        seen["focus"] = window.composer.edit
        qtbot.waitUntil(lambda: window.model_switcher.load_notice is not None, timeout=10_000)
        seen["notice"] = window.model_switcher.load_notice.message
        seen["buttons"] = [b.text() for b in window.model_switcher.load_notice.buttons]
        seen["focused"] = QApplication.focusWidget() is window.composer.edit or not window.isActiveWindow()
        seen["icon"] = not window.windowIcon().isNull()
        # A second launch (double-clicking the icon again) hands over to this window and exits.
        second = subprocess.Popen(
            [sys.executable, "-m", "app", "--model", "demo", str(clip)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            qtbot.waitUntil(lambda: second.poll() is not None, timeout=60_000)  # the window answers meanwhile
        finally:
            if second.poll() is None:
                second.kill()  # it opened a window of its own: the assertions below say so
                second.wait()
        seen["second"] = (second.returncode, second.stdout.read(), second.stderr.read())
        second.stdout.close()
        second.stderr.close()
        seen["switched_to"] = window.model_source
        qtbot.waitUntil(lambda: not window.composer.pending_probes())
        seen["attached"] = sorted(p.name for p, _ in window.composer.attachments())
        window.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", staticmethod(fake_exec))
    missing = tmp_path / "no-model-here"
    picture = write_png(tmp_path / "opened-with.png")  # the desktop's "Open with" passes files
    clip = write_png(tmp_path / "second-launch.png")
    try:
        assert app_main.main(["--model", str(missing), "--theme", "dark", str(picture)]) == 0
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if getattr(h, "dgchat", False)]:
            root.removeHandler(handler)
            handler.close()
    assert "could not be loaded" in seen["notice"] and "no-model-here" in seen["notice"]
    assert seen["buttons"][0] == "Choose model folder…"
    assert seen["icon"] and seen["focused"]
    assert (app_dirs / "log" / "dgchat.log").is_file()
    assert not isinstance(seen["focus"], Notice)
    code, out, err = seen["second"]
    assert code == 0, err
    assert "already open" in out
    assert seen["switched_to"] == "demo"  # the second launch's --model is loaded in the first window
    assert seen["attached"] == ["opened-with.png", "second-launch.png"]  # and its files attached


def test_a_later_launch_hands_over_its_model_and_absolute_file_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = app_main.build_parser().parse_args(["--model", "demo", "notes.pdf", "~/x.png"])
    assert app_main._launch_arguments(args) == [
        "--model",
        "demo",
        str(tmp_path / "notes.pdf"),
        str(Path("~/x.png").expanduser()),
    ]
    assert app_main._launch_arguments(app_main.build_parser().parse_args([])) == []


def test_subcommands_go_to_the_conversation_tools(monkeypatch):
    import app.cli

    calls: list[list[str]] = []
    monkeypatch.setattr(app.cli, "main", lambda argv: calls.append(argv) or 0)
    assert app_main.main(["export", "--help"]) == 0
    assert calls == [["export", "--help"]]


def test_dgchat_version_prints_the_installed_version(capsys):
    with pytest.raises(SystemExit) as done:
        app_main.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == "dgchat 0.1.0"


def _remove_log_handlers() -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "dgchat", False)]:
        root.removeHandler(handler)
        handler.close()


def test_a_full_disk_at_launch_opens_the_window_and_says_the_disk_is_full(qtbot, monkeypatch, app_dirs):
    """No room for the database nor a temporary one: the window opens anyway, chats kept in memory.

    The faults are the ones a full disk gives, injected where they happen: SQLite answers
    SQLITE_FULL on the first page it writes, and no temporary folder can be made.
    """
    connect = sqlite3.connect

    def connect_on_a_full_disk(database, *args, **kwargs):
        conn = connect(database, *args, **kwargs)
        if database != ":memory:":
            conn.execute("PRAGMA max_page_count = 1")  # the next page SQLite writes: SQLITE_FULL
        return conn

    def no_temporary_folder(*_args, **_kwargs):
        raise FileNotFoundError(errno.ENOENT, "No usable temporary directory found")

    monkeypatch.setattr("app.store.database.sqlite3.connect", connect_on_a_full_disk)
    monkeypatch.setattr("app.store_startup.tempfile.mkdtemp", no_temporary_folder)
    monkeypatch.setattr("app.store.errors.free_disk_bytes", lambda folder: 4096)
    seen: dict[str, object] = {}

    def fake_exec() -> int:
        window = next(
            w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()
        )
        seen["notices"] = [n.message for n in window._notices()]
        window.store.create_conversation("kept in memory")  # the session still works
        seen["titles"] = [c.title for c in window.store.list_conversations()]
        window.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", staticmethod(fake_exec))
    try:
        assert app_main.main(["--model", "demo"]) == 0
    finally:
        _remove_log_handlers()
    data = app_dirs / "data"
    assert seen["notices"] == [
        f"The disk is full (4.1 kB free in {data}): free some space and restart the app. "
        "Until then this session's chats will not be saved."
    ]
    assert "kept in memory" in seen["titles"]


def test_folders_that_cannot_be_created_do_not_stop_the_window(qtbot, monkeypatch, tmp_path, capsys):
    """Settings, log and cache folders refused (a full disk, a file in the way): the window opens."""
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("", encoding="utf-8")
    for name in ("CONFIG", "LOG", "CACHE"):
        monkeypatch.setenv(f"DGCHAT_{name}_DIR", str(in_the_way / name.lower()))
    shown: list[bool] = []

    def fake_exec() -> int:
        window = next(
            w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()
        )
        shown.append(True)
        window.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", staticmethod(fake_exec))
    try:
        assert app_main.main(["--model", "demo"]) == 0
    finally:
        _remove_log_handlers()
    assert shown == [True]
    err = capsys.readouterr().err
    assert f"dgchat: cannot write the log file {in_the_way / 'log' / 'dgchat.log'}" in err
    assert "Traceback" not in err

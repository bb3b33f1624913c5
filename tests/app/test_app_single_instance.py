"""One window per user and store: the name, a crashed window's socket, and bad messages."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import app.main as app_main
import app.single_instance as single_instance
from app.qt import QApplication, QLocalServer, QLocalSocket
from app.single_instance import InstanceServer, ProfileLock, server_name

CHILD = Path(__file__).with_name("instance_child.py")
ROOT = Path(__file__).resolve().parents[2]


def test_the_name_belongs_to_the_data_folder(tmp_path: Path):
    assert server_name(tmp_path / "a") == server_name(tmp_path / "a" / ".." / "a")
    assert server_name(tmp_path / "a") != server_name(tmp_path / "b")
    assert server_name(tmp_path).startswith("dgchat-") and len(server_name(tmp_path)) < 40


@pytest.mark.skipif(sys.platform == "win32", reason="a named pipe leaves no file behind")
def test_a_socket_left_by_a_crashed_window_is_taken_over(qtbot, tmp_path: Path):
    name = server_name(tmp_path)
    probe = QLocalServer()
    assert probe.listen(name)
    path = probe.fullServerName()
    probe.close()  # a clean close removes the socket file …
    crashed = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    crashed.bind(path)  # … a crash leaves one that nobody listens on
    crashed.close()
    assert Path(path).exists()
    server = InstanceServer(name)
    try:
        assert server.listen()
        got: list[list[str]] = []
        server.launched.connect(got.append)
        client = QLocalSocket()
        client.connectToServer(name)
        assert client.waitForConnected(1000)
        client.write(b'["--model", "demo"]\n')
        client.flush()
        qtbot.waitUntil(lambda: got == [["--model", "demo"]])
        qtbot.waitUntil(lambda: client.bytesAvailable() > 0)
        assert bytes(client.readAll().data()) == b"ok\n"
        client.abort()
    finally:
        server.close()
        server.deleteLater()


def test_a_malformed_message_is_ignored(qtbot, tmp_path: Path):
    server = InstanceServer(server_name(tmp_path))
    try:
        assert server.listen()
        got: list[list[str]] = []
        server.launched.connect(got.append)
        client = QLocalSocket()
        client.connectToServer(server.name)
        assert client.waitForConnected(1000)
        client.write(b'{"not": "a list"}\n')
        client.flush()
        qtbot.waitUntil(lambda: client.state() == QLocalSocket.LocalSocketState.UnconnectedState)
        assert got == [] and client.bytesAvailable() == 0  # no acknowledgement: the launch goes on alone
    finally:
        server.close()
        server.deleteLater()


@pytest.fixture
def first_window(monkeypatch):
    """Start a first window stand-in (tests/app/instance_child.py) on the test's data folder."""
    started: list[subprocess.Popen] = []

    def start(busy_s: float) -> subprocess.Popen:
        child = subprocess.Popen(
            [sys.executable, str(CHILD), os.environ["DGCHAT_DATA_DIR"], str(busy_s)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        started.append(child)
        assert child.stdout.readline() == "ready\n"
        return child

    # A launch that gets past the hand-over would open a second window here: it must not.
    monkeypatch.setattr(QApplication, "exec", staticmethod(lambda: pytest.fail("a second window opened")))
    yield start
    for child in started:
        child.kill()
        child.wait()
        child.stdout.close()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "dgchat", False)]:
        root.removeHandler(handler)
        handler.close()


def test_a_later_launch_waits_for_a_busy_window_instead_of_opening_a_second(first_window, capsys):
    child = first_window(busy_s=3.0)  # longer than a launch used to wait for the answer
    assert app_main.main(["--model", "demo"]) == 0
    assert child.stdout.readline() == 'launched ["--model", "demo"]\n'
    assert "already open" in capsys.readouterr().out


def test_a_window_that_never_answers_is_reported_and_no_second_one_opens(first_window, monkeypatch, capsys):
    child = first_window(busy_s=60.0)
    monkeypatch.setattr(single_instance, "ANSWER_WAIT_MS", 1000)
    assert app_main.main(["--model", "demo"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: DiffusionGemma Chat is already open on these conversations")
    assert f"(process {child.pid})" in err and "did not answer" in err
    probe = QLocalSocket()  # the first window's socket was left alone, not taken over
    probe.connectToServer(server_name(Path(os.environ["DGCHAT_DATA_DIR"])))
    assert probe.waitForConnected(1000)
    probe.abort()


def test_the_lock_of_a_killed_window_is_taken_over(first_window):
    data = Path(os.environ["DGCHAT_DATA_DIR"])
    child = first_window(busy_s=60.0)
    lock = ProfileLock(data)
    assert lock.acquire() is False and lock.owner_pid() == child.pid
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert lock.acquire() is True  # its process is gone: the lock is stale
    lock.release()

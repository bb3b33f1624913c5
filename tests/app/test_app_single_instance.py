"""One window per user and store: the name, a crashed window's socket, and bad messages."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from app.qt import QLocalServer, QLocalSocket
from app.single_instance import InstanceServer, server_name


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

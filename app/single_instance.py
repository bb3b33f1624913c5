"""One window per user and conversation store: a second launch hands over to the first and exits.

Double-clicking the icon twice must not load a 26 B model twice: the second
copy would find the GPU full and fail with an out-of-memory error, and two
windows would write the same chats.  So the first window listens on a local
socket (``QLocalServer``: a named pipe on Windows, a socket file on Linux and
macOS) named after the user and the data folder; a later launch connects,
sends its arguments, waits for the first window to acknowledge them, and exits.
The first window comes to the front and, when the launch named a model,
switches to it.  A socket file left by a crashed window is removed and taken over.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
from pathlib import Path

from app.qt import QLocalServer, QLocalSocket, QObject, Signal

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_MS = 500
ACK = b"ok\n"


def server_name(data_dir: Path) -> str:
    """A name unique to this user and data folder (a test's own folder gets its own)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        user = "user"
    digest = hashlib.sha256(f"{user}\0{data_dir.resolve()}".encode()).hexdigest()[:20]
    return f"dgchat-{digest}"


def hand_over(name: str, args: list[str], timeout_ms: int = CONNECT_TIMEOUT_MS) -> bool:
    """Give ``args`` to the window already running under ``name``; False when there is none.

    Blocking, with short time-outs: it runs once at start-up, before any window exists.
    """
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(timeout_ms):
        return False
    socket.write(json.dumps(args).encode("utf-8") + b"\n")
    socket.flush()  # (waitForBytesWritten would say False once flush has written everything)
    acknowledged = socket.waitForReadyRead(timeout_ms * 4) and bytes(socket.readAll().data()).startswith(ACK)
    socket.disconnectFromServer()
    return acknowledged


class InstanceServer(QObject):
    """Listens for later launches; ``launched`` carries each one's arguments (GUI thread)."""

    launched = Signal(list)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_server_new_connection)
        self._sockets: set[QLocalSocket] = set()  # launches talking to us now

    def listen(self) -> bool:
        """Start listening; a name left behind by a crashed window is taken over."""
        if self._server.listen(self.name):
            return True
        QLocalServer.removeServer(self.name)  # nobody answered on it (hand_over failed): stale
        if self._server.listen(self.name):
            return True
        log.warning("cannot listen for other launches: %s", self._server.errorString())
        return False

    def close(self) -> None:
        """Stop listening and drop any launch still talking to us."""
        self._server.close()
        for socket in list(self._sockets):
            self._drop(socket)

    def _on_server_new_connection(self) -> None:
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            self._sockets.add(socket)
            socket.readyRead.connect(self._on_socket_ready_read)
            socket.disconnected.connect(self._on_socket_disconnected)

    def _on_socket_disconnected(self) -> None:
        socket = self.sender()
        if isinstance(socket, QLocalSocket):
            self._drop(socket)

    def _drop(self, socket: QLocalSocket) -> None:
        if socket in self._sockets:
            self._sockets.discard(socket)
            socket.readyRead.disconnect(self._on_socket_ready_read)
            socket.disconnected.disconnect(self._on_socket_disconnected)
            socket.abort()
            socket.deleteLater()

    def _on_socket_ready_read(self) -> None:
        socket = self.sender()
        if not isinstance(socket, QLocalSocket) or not socket.canReadLine():
            return
        line = bytes(socket.readLine().data())
        try:
            args = json.loads(line.decode("utf-8"))
            if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                raise ValueError("not a list of strings")
        except ValueError:
            log.warning("ignored a malformed message from another launch: %r", line[:200])
            self._drop(socket)
            return
        socket.write(ACK)
        socket.flush()  # the launch reads it and disconnects, which drops the socket here
        self.launched.emit(args)

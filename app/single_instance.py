"""One window per user and conversation store: a second launch hands over to the first and exits.

Double-clicking the icon twice must not load a 26 B model twice: the second
copy would find the GPU full and fail with an out-of-memory error, and two
windows would write the same chats.  So the first window listens on a local
socket (``QLocalServer``: a named pipe on Windows, a socket file on Linux and
macOS) named after the user and the data folder; a later launch connects,
sends its arguments, waits for the first window to acknowledge them, and exits.
The first window comes to the front and, when the launch named a model,
switches to it.  A socket file left by a crashed window is removed and taken over.

Who is first is decided by a lock file in the data folder (``ProfileLock``), held
for the window's whole life, not by who answers on the socket: a window whose GUI
thread is busy for seconds (loading, a long paint) cannot answer at once, and a
later launch that took its silence for absence would open a second window on the
same chats.  So a later launch that finds the lock held keeps knocking for a while
and, if the window never answers, exits saying so.
"""

from __future__ import annotations

import enum
import getpass
import hashlib
import json
import logging
import time
from pathlib import Path

from app.qt import QLocalServer, QLocalSocket, QLockFile, QObject, Signal

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_MS = 500
# How long a later launch waits for a busy window to answer before it gives up (and says so).
ANSWER_WAIT_MS = 15_000
RETRY_MS = 100
ACK = b"ok\n"
LOCK_NAME = "window.lock"


class Claim(enum.Enum):
    """What a launch found: it is the window for its data folder, or another one is."""

    FIRST = "first"  # no other window: open one
    HANDED_OVER = "handed over"  # the open window took this launch's arguments
    UNANSWERED = "unanswered"  # a window holds the folder but did not answer in time


def server_name(data_dir: Path) -> str:
    """A name unique to this user and data folder (a test's own folder gets its own)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        user = "user"
    digest = hashlib.sha256(f"{user}\0{data_dir.resolve()}".encode()).hexdigest()[:20]
    return f"dgchat-{digest}"


class ProfileLock:
    """A lock file in the data folder, held by its one window for as long as the process lives.

    ``QLockFile`` records the owner's process id, program name and boot id, so a lock left
    by a crashed window (or from before a reboot) is taken over; its age-based staleness is
    switched off, because a window open for days still owns its folder.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._lock = QLockFile(str(self.path))
        self._lock.setStaleLockTime(0)

    def acquire(self) -> bool | None:
        """True: this process holds it now.  False: another running window does.  None: no lock can be
        made there (a read-only or full disk); then the socket alone decides."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            log.warning("cannot create %s for the window lock", self.path.parent, exc_info=True)
            return None
        if self._lock.tryLock(0):
            return True
        if self._lock.error() == QLockFile.LockError.LockFailedError:
            return False
        log.warning("cannot create the window lock %s (%s)", self.path, self._lock.error())
        return None

    def owner_pid(self) -> int | None:
        """The process id of the window holding the lock, when it can be read."""
        info = self._lock.getLockInfo()  # PySide6: (pid, host, app), or a false value when unreadable
        pid = info[0] if isinstance(info, tuple) and info else 0
        return int(pid) if pid else None

    def release(self) -> None:
        if self._lock.isLocked():
            self._lock.unlock()


def claim(lock: ProfileLock, name: str, args: list[str], wait_ms: int | None = None) -> Claim:
    """Become the window for the data folder, or hand ``args`` to the one that is; never both.

    Blocking: it runs once at start-up, before any window exists.  While another window
    holds the lock, this knocks on its socket until it answers or ``wait_ms`` pass
    (default ``ANSWER_WAIT_MS``); a window that closes meanwhile lets go of the lock,
    and this launch becomes the first.
    """
    held = lock.acquire()
    if held is None:  # no lock file possible: whoever answers on the socket is the window
        return Claim.HANDED_OVER if hand_over(name, args) else Claim.FIRST
    deadline = time.monotonic() + (ANSWER_WAIT_MS if wait_ms is None else wait_ms) / 1000
    while not held:
        left_ms = int((deadline - time.monotonic()) * 1000)
        if left_ms <= 0:
            return Claim.UNANSWERED
        socket = _connect(name, min(CONNECT_TIMEOUT_MS, left_ms))
        if socket is not None:  # connected: send once (twice would attach its files twice) and wait
            answered = _send(socket, args, max(left_ms, CONNECT_TIMEOUT_MS))
            return Claim.HANDED_OVER if answered else Claim.UNANSWERED
        time.sleep(RETRY_MS / 1000)  # not listening yet (still starting), or closing: look again
        held = lock.acquire()
    return Claim.FIRST


def hand_over(name: str, args: list[str], timeout_ms: int = CONNECT_TIMEOUT_MS) -> bool:
    """Give ``args`` to the window already running under ``name``; False when there is none.

    Blocking, with short time-outs: it runs once at start-up, before any window exists.
    """
    socket = _connect(name, timeout_ms)
    return socket is not None and _send(socket, args, timeout_ms * 4)


def _connect(name: str, timeout_ms: int) -> QLocalSocket | None:
    socket = QLocalSocket()
    socket.connectToServer(name)
    return socket if socket.waitForConnected(timeout_ms) else None


def _send(socket: QLocalSocket, args: list[str], answer_ms: int) -> bool:
    """Send one launch's arguments; True once the window acknowledged them within ``answer_ms``."""
    socket.write(json.dumps(args).encode("utf-8") + b"\n")
    socket.flush()  # (waitForBytesWritten would say False once flush has written everything)
    acknowledged = socket.waitForReadyRead(answer_ms) and bytes(socket.readAll().data()).startswith(ACK)
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

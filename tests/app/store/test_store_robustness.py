"""Crashes, a second instance, damaged files, full disks and read-only folders."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from history_samples import fake_reply

from app.store import DatabaseCorruptError, Store, StoreError
from engine.events import Canvas

CHILD = Path(__file__).with_name("store_child.py")


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        conn.execute("INSERT INTO message_fts (message_fts) VALUES ('integrity-check')")
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


# -- a crash mid-reply -------------------------------------------------------------------------------


@pytest.mark.parametrize("kill_after", [1, 6])
def test_sigkill_mid_reply_keeps_every_committed_canvas(tmp_path, kill_after):
    db = tmp_path / "conversations.db"
    child = subprocess.Popen(
        [sys.executable, str(CHILD), "reply", str(db)], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        reply_id = int(child.stdout.readline().split()[1])
        for _ in range(kill_after):
            assert child.stdout.readline().startswith("canvas")
        child.send_signal(signal.SIGKILL)  # while it is already writing the next canvas
    finally:
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    with Store.open(db) as store:
        assert store.interrupted == (reply_id,)
        message = store.message(reply_id)
        assert (message.status, message.stop_reason) == ("incomplete", "interrupted")
        canvases = store.canvases(reply_id)
        blocks = [c.block for c in canvases]
        assert len(blocks) >= kill_after and blocks == list(range(len(blocks)))
        # The reply's text and its canvases were committed together, canvas by canvas.
        assert message.text == " ".join(f"block{b}" for b in blocks)
        for canvas in canvases:
            frames = store.replay(reply_id, canvas.block)
            assert len(frames) == 16 and frames[-1].draft == canvas.tokens
    assert integrity(db) == "ok"


# -- two instances at once ---------------------------------------------------------------------------


def test_two_processes_write_the_same_database_at_once(tmp_path):
    db = tmp_path / "data" / "conversations.db"  # neither exists yet: both create and migrate it
    go = tmp_path / "go"
    children = [
        subprocess.Popen(
            [sys.executable, str(CHILD), "writer", str(db), name, "25", str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alpha", "beta")
    ]
    for child in children:
        assert child.stdout.readline() == "ready\n"
    go.touch()
    results = [child.communicate(timeout=120) for child in children]
    for child, (out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
        assert out.strip() == "done"
    with Store.open(db) as store:
        titles = sorted(c.title for c in store.list_conversations())
        assert titles == sorted([f"alpha {i}" for i in range(25)] + [f"beta {i}" for i in range(25)])
        for info in store.list_conversations():
            _, reply = store.active_path(info.id)
            assert reply.status == "complete" and reply.text.startswith(
                info.title.replace(" ", " answer ", 1)
            )
            assert len(store.replay(reply.id)) == 6
        assert len(store.search("alpha answer")) == 25
    assert integrity(db) == "ok"


def test_a_second_instance_sees_the_first_ones_writes(data_dir, clock):
    with Store.open(clock=clock) as first, Store.open(clock=clock) as second:
        first.create_conversation("from the first window")
        assert [c.title for c in second.list_conversations()] == ["from the first window"]


def test_the_gui_thread_can_read_while_a_worker_thread_writes(store):
    cid = store.create_conversation()
    user = store.send_user_message(cid, "threads")
    errors: list[BaseException] = []

    def worker():
        try:
            for n in range(20):
                with store.begin_reply(user.id) as writer:
                    for event in fake_reply(n, canvases=2):
                        writer.on_event(event)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    thread = threading.Thread(target=worker)
    thread.start()
    while thread.is_alive():
        store.active_path(cid)
        store.search("part0")
        store.grouped_conversations()
    thread.join()
    assert errors == []
    assert len(store.siblings(store.active_path(cid)[1].id).ids) == 20


# -- damaged files -----------------------------------------------------------------------------------


def make_store_with_data(data_dir, clock) -> Path:
    with Store.open(clock=clock) as store:
        for i in range(30):
            cid = store.create_conversation(f"chat {i}")
            store.send_user_message(cid, f"message {i} " + "padding " * 200)
        return store.path


def test_a_file_that_is_not_a_database_is_moved_aside_and_replaced(data_dir, clock):
    data_dir.mkdir()
    db = data_dir / "conversations.db"
    garbage = b"this was overwritten by something else\n" * 100
    db.write_bytes(garbage)
    with Store.open(clock=clock) as store:
        assert store.recovery is not None
        moved = store.recovery.moved_to
        assert re.fullmatch(r"conversations-corrupt-\d{8}-\d{6}\.db", moved.name)
        assert moved.read_bytes() == garbage
        assert str(moved) in store.recovery.message and "not an SQLite database" in store.recovery.message
        assert store.list_conversations() == []
        store.create_conversation("fresh start")
    with Store.open(clock=clock) as store:
        assert store.recovery is None and [c.title for c in store.list_conversations()] == ["fresh start"]


def test_damaged_pages_are_detected_and_the_file_moved_aside(data_dir, clock):
    db = make_store_with_data(data_dir, clock)
    page = sqlite3.connect(db).execute("PRAGMA page_size").fetchone()[0]
    with db.open("r+b") as file:
        for n in range(2, 12):
            file.seek(n * page + 8)
            file.write(os.urandom(page - 64))
    with Store.open(clock=clock) as store:
        assert store.recovery is not None
        assert store.recovery.moved_to.exists()
        assert store.list_conversations() == []


def test_without_recovery_a_damaged_file_raises_and_is_left_alone(data_dir, clock):
    data_dir.mkdir()
    db = data_dir / "conversations.db"
    db.write_bytes(b"garbage" * 50)
    with pytest.raises(DatabaseCorruptError, match="damaged"):
        Store.open(clock=clock, recover=False)
    assert db.read_bytes() == b"garbage" * 50


# -- failed writes -----------------------------------------------------------------------------------


def test_a_full_disk_fails_the_write_cleanly(store):
    cid = store.create_conversation()
    user = store.send_user_message(cid, "before the disk filled up")
    writer = store.begin_reply(user.id)
    writer.on_event(Canvas(0, (1, 2, 3), "first ", 1, False))
    conn = store._db.conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite now reports SQLITE_FULL on growth
    with pytest.raises(StoreError, match="disk is full"):
        store.send_user_message(cid, "big " * 50_000)
    with pytest.raises(StoreError, match="disk is full"):
        writer.on_event(Canvas(1, tuple(range(256)) * 40, "second " * 20_000, 1, False))
    # Nothing half-written: no new message, the reply as it was after its first canvas.
    assert [m.text for m in store.active_path(cid)] == ["before the disk filled up", "first"]
    assert [c.block for c in store.canvases(writer.message_id)] == [0]
    conn.execute("PRAGMA max_page_count = 1073741823")
    writer.on_event(Canvas(2, (4,), "third ", 1, True))  # the writer is still usable afterwards
    assert store.message(writer.message_id).text.startswith("first second")
    assert integrity(store.path) == "ok"


def test_an_io_error_on_a_nearly_full_disk_is_named_disk_full(tmp_path, monkeypatch):
    """A full disk met while growing the -wal/-shm file reaches SQLite as an I/O error, not SQLITE_FULL."""
    from app.store.errors import DiskFullError, from_sqlite

    error = sqlite3.OperationalError("disk I/O error")
    error.sqlite_errorcode = 10 | (3 << 8)  # SQLITE_IOERR_WRITE
    db = tmp_path / "conversations.db"
    monkeypatch.setattr("app.store.errors.free_disk_bytes", lambda folder: 12_000)
    full = from_sqlite(error, db, "open the conversation database")
    assert isinstance(full, DiskFullError)
    assert (full.free, full.folder) == (12_000, tmp_path)
    assert str(full).startswith(f"The disk is full (12.0 kB free in {tmp_path}): could not open")
    monkeypatch.setattr("app.store.errors.free_disk_bytes", lambda folder: 50 * 10**9)
    plenty = from_sqlite(error, db, "open the conversation database")
    assert str(plenty).startswith("The disk reported an error")


def test_a_failed_attachment_copy_leaves_nothing_behind(store, tmp_path, monkeypatch):
    cid = store.create_conversation()
    image = tmp_path / "photo.png"
    image.write_bytes(b"pixels")

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("app.store.blobs.os.fsync", no_space)
    with pytest.raises(StoreError, match="disk is full"):
        store.send_user_message(cid, "with a photo", [image])
    assert store.active_path(cid) == []
    assert [p for p in store.blobs_dir.rglob("*") if p.is_file()] == []


def run_unprivileged(fn):
    """Run ``fn`` as an ordinary user (root ignores permissions): ["ok", value] or ["raised", type, text]."""
    if os.geteuid() != 0:
        try:
            return ["ok", fn()]
        except Exception as error:
            return ["raised", type(error).__name__, str(error)]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_end)
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            result = ["ok", fn()]
        except BaseException as error:
            result = ["raised", type(error).__name__, str(error)]
        os.write(write_end, json.dumps(result).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(data)


@pytest.fixture
def shared_dir():
    """A folder an unprivileged user can reach (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="dgchat-ro-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_read_only_folder_gives_a_clear_error(shared_dir, clock):
    fresh = shared_dir / "fresh"
    fresh.mkdir(mode=0o555)
    fresh.chmod(0o555)
    result = run_unprivileged(lambda: str(Store.open(fresh / "conversations.db").path))
    assert result[:2] == ["raised", "StoreError"]
    assert "read-only or cannot be opened" in result[2] and "DGCHAT_DATA_DIR" in result[2]
    assert list(fresh.iterdir()) == []

    existing = shared_dir / "existing"
    with Store.open(existing / "conversations.db", clock=clock) as store:
        store.create_conversation("precious")
    before = (existing / "conversations.db").read_bytes()
    existing.chmod(0o555)
    (existing / "conversations.db").chmod(0o444)
    result = run_unprivileged(
        lambda: [c.title for c in Store.open(existing / "conversations.db").list_conversations()]
    )
    assert result[:2] == ["raised", "StoreError"], result
    assert (existing / "conversations.db").read_bytes() == before


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_read_only_database_names_every_file_and_works_again_once_the_database_is_fixed(shared_dir):
    db = shared_dir / "conversations.db"
    shared_dir.chmod(0o777)

    def open_titles():
        with Store.open(db) as store:
            modes = sorted({oct(Path(f"{db}{end}").stat().st_mode & 0o777) for end in ("-wal", "-shm")})
            return [c.title for c in store.list_conversations()], modes

    def make():
        with Store.open(db) as store:
            store.create_conversation("precious")

    assert run_unprivileged(make)[0] == "ok"
    db.chmod(0o444)  # read-only: opening it now leaves its -wal and -shm read-only too
    result = run_unprivileged(open_titles)
    assert result[:2] == ["raised", "StoreError"], result
    for name in ("conversations.db", "conversations.db-wal", "conversations.db-shm"):
        assert str(shared_dir / name) + ("," if name != "conversations.db-shm" else ", or") in result[2]
    assert oct(Path(f"{db}-shm").stat().st_mode & 0o777) == "0o444"

    db.chmod(0o644)  # the user fixes the database; the app repairs the files it made
    assert run_unprivileged(open_titles) == ["ok", [["precious"], ["0o644"]]]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_read_only_blob_folder_fails_the_send_and_saves_nothing(shared_dir, clock):
    db = shared_dir / "data" / "conversations.db"
    with Store.open(db, clock=clock) as store:
        cid = store.create_conversation("chat")
    for path in (shared_dir / "data", db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        if path.exists():
            path.chmod(0o777 if path.is_dir() else 0o666)
    blobs = shared_dir / "data" / "blobs"
    blobs.mkdir(mode=0o555)
    blobs.chmod(0o555)
    image = shared_dir / "photo.png"
    image.write_bytes(b"pixels")
    image.chmod(0o644)

    def send():
        with Store.open(db) as store:
            try:
                store.send_user_message(cid, "photo", [image])
            except StoreError as error:
                return ["error", str(error), len(store.active_path(cid))]
            return ["sent"]

    result = run_unprivileged(send)
    assert result[0] == "ok" and result[1][0] == "error", result
    assert "No permission to write" in result[1][1] and result[1][2] == 0


def test_the_store_never_imports_qt_or_torch():
    code = (
        "import sys, app.store, app.cli, app.store.commands; "
        "roots = ('PySide6', 'PyQt5', 'PyQt6', 'shiboken6', 'torch'); "
        "bad = [m for m in sys.modules if m.split('.')[0] in roots]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

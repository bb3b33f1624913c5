"""A fake Hugging Face Hub on 127.0.0.1, for download tests without internet.

It speaks the small part of the Hub protocol that huggingface_hub and
``engine.hub.download`` use, with the same headers as the real Hub:

* ``GET /api/models/<repo>[/revision/<rev>]?blobs=true``: the model info with
  every file's size, git blob id and LFS sha256 (``model_info(files_metadata=True)``);
* ``HEAD|GET /<repo>/resolve/<rev>/<file>``: plain git files answer directly with
  ``ETag`` (git blob sha1) and ``X-Repo-Commit``; LFS files answer ``302`` to a
  second server on another port (the "CDN", a different origin, so the
  Authorization header must not follow) with ``X-Linked-Etag`` (sha256) and
  ``X-Linked-Size``;
* ``GET /api/whoami-v2``: token validation for ``huggingface_hub.login``;
* ``Range: bytes=N-`` answered with ``206`` and ``Content-Range``.

Failure modes tests switch on: a gate (401 without a token, 403 for a token
that has not accepted the licence), a connection dropped after N bytes of a
file (once), Range requests ignored, and a per-chunk delay.  It counts the body bytes it sent per file
and logs every request so tests can prove what a resume fetched.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors",)
SEND_CHUNK = 64 * 1024


@dataclass(frozen=True)
class RepoFile:
    name: str
    data: bytes
    lfs: bool

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def git_sha1(self) -> str:
        return hashlib.sha1(b"blob %d\0" % len(self.data) + self.data).hexdigest()


@dataclass
class FakeRepo:
    repo_id: str
    files: dict[str, RepoFile]
    commit: str = ""

    def __post_init__(self) -> None:
        if not self.commit:
            digest = hashlib.sha1(self.repo_id.encode())
            for name in sorted(self.files):
                digest.update(name.encode() + self.files[name].sha256.encode())
            self.commit = digest.hexdigest()

    @classmethod
    def from_folder(cls, repo_id: str, folder: Path, extra: dict[str, bytes] | None = None) -> FakeRepo:
        files = {
            p.relative_to(folder).as_posix(): RepoFile(
                p.relative_to(folder).as_posix(), p.read_bytes(), p.name.endswith(LFS_SUFFIXES)
            )
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }
        for name, data in (extra or {}).items():
            files[name] = RepoFile(name, data, name.endswith(LFS_SUFFIXES))
        return cls(repo_id, files)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files.values())


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    range: str | None
    authorization: str | None
    cdn: bool


@dataclass
class Gate:
    """A gated repo: ``granted`` tokens accepted the licence, ``known`` tokens exist but did not."""

    granted: set[str] = field(default_factory=set)
    known: set[str] = field(default_factory=set)


class FakeHub:
    """Two threaded HTTP servers (Hub API and CDN) serving ``repos``."""

    def __init__(self, repos: list[FakeRepo]) -> None:
        self.repos = {r.repo_id: r for r in repos}
        self.gate: Gate | None = None
        self.drop_after: dict[str, int] = {}  # file name -> bytes to send before dropping (once)
        self.chunk_delay_s = 0.0
        self.ignore_range = False  # answer 200 with the whole file, like some proxies
        self.sent_bytes: Counter[str] = Counter()
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._api = _Server(self, cdn=False)
        self._cdn = _Server(self, cdn=True)
        self.url = self._api.url
        self.cdn_url = self._cdn.url

    def __enter__(self) -> FakeHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop both servers; afterwards connections are refused, as with no network."""
        self._api.close()
        self._cdn.close()

    def reset_counters(self) -> None:
        with self._lock:
            self.sent_bytes.clear()
            self.requests.clear()

    def file_requests(self, name: str) -> list[Request]:
        """The GET requests that fetched ``name``'s bytes (from the CDN for LFS files, else from the Hub)."""
        lfs = any(repo.files[name].lfs for repo in self.repos.values() if name in repo.files)
        return [
            r for r in self.requests if r.method == "GET" and r.path.endswith("/" + name) and r.cdn == lfs
        ]

    # -- used by the handler --
    def log(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def count(self, name: str, n: int) -> None:
        with self._lock:
            self.sent_bytes[name] += n

    def take_drop(self, name: str) -> int | None:
        with self._lock:
            return self.drop_after.pop(name, None)

    def find_blob(self, sha256: str) -> RepoFile | None:
        for repo in self.repos.values():
            for f in repo.files.values():
                if f.sha256 == sha256:
                    return f
        return None


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request, client_address) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Cut kept-alive connections too, or a pooled client would not notice the server is gone."""
        with self.connections_lock:
            for conn in list(self.connections):
                with suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address) -> None:
        """Clients that hang up (a cancelled download) are normal here, not tracebacks."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Server:
    def __init__(self, hub: FakeHub, *, cdn: bool) -> None:
        handler = type("Handler", (_Handler,), {"hub": hub, "cdn": cdn})
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.02,), name="fake-hub", daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd.drop_connections()
            self.thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: FakeHub
    cdn: bool

    def log_message(self, format: str, *args: object) -> None:
        pass

    # -- dispatch --
    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def _dispatch(self, *, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        self.hub.log(
            Request(
                "HEAD" if head else "GET",
                path,
                self.headers.get("Range"),
                self.headers.get("Authorization"),
                self.cdn,
            )
        )
        try:
            if self.cdn:
                self._cdn(path, head)
            elif path == "/api/whoami-v2":
                self._whoami()
            elif path.startswith("/api/models/"):
                self._model_info(path[len("/api/models/") :], urlsplit(self.path).query)
            elif (m := re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)) is not None:
                self._resolve(m.group(1), m.group(2), m.group(3), head)
            else:
                self._error(404, "Not found")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- helpers --
    def _send(self, status: int, headers: dict[str, str], body: bytes = b"", *, head: bool = False) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head:
            self.wfile.write(body)

    def _error(self, status: int, message: str, code: str | None = None, extra: dict | None = None) -> None:
        headers = {"Content-Type": "application/json", "X-Error-Message": message, **(extra or {})}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, headers, json.dumps({"error": message}).encode(), head=self.command == "HEAD")

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        return auth.removeprefix("Bearer ").strip() or None

    def _check_gate(self, repo_id: str) -> bool:
        """Answer like the Hub for a gated repo; True when the request may proceed."""
        gate = self.hub.gate
        if gate is None:
            return True
        token = self._token()
        if token is None:
            self._error(
                401,
                f"Access to model {repo_id} is restricted. You must have access to it and be "
                "authenticated to access it. Please log in.",
                "GatedRepo",
            )
            return False
        if token not in gate.granted | gate.known:
            self._error(401, "Invalid credentials in Authorization header")
            return False
        if token not in gate.granted:
            self._error(
                403,
                f"Access to model {repo_id} is restricted and you are not in the authorized list. "
                f"Visit https://huggingface.co/{repo_id} to ask for access.",
                "GatedRepo",
            )
            return False
        return True

    def _repo(self, repo_id: str) -> FakeRepo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "Repository not found", "RepoNotFound")
        return repo

    # -- endpoints --
    def _whoami(self) -> None:
        token = self._token()
        gate = self.hub.gate
        if token is None or (gate is not None and token not in gate.granted | gate.known):
            self._error(401, "Invalid credentials in Authorization header")
            return
        body = {
            "type": "user",
            "name": "tester",
            "auth": {"accessToken": {"displayName": "test", "role": "read"}},
        }
        self._send(200, {"Content-Type": "application/json"}, json.dumps(body).encode())

    def _model_info(self, rest: str, query: str) -> None:
        repo_id, _, revision = rest.partition("/revision/")
        repo = self._repo(repo_id)
        if repo is None or not self._check_gate(repo_id):
            return
        if revision and revision not in ("main", repo.commit):
            self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            return
        blobs = "blobs=" in query
        siblings = []
        for f in repo.files.values():
            entry: dict = {"rfilename": f.name}
            if blobs:
                entry["size"] = f.size
                entry["blobId"] = f.git_sha1
                if f.lfs:
                    entry["lfs"] = {"size": f.size, "sha256": f.sha256, "pointerSize": 134}
            siblings.append(entry)
        body = {
            "id": repo_id,
            "modelId": repo_id,
            "sha": repo.commit,
            "private": False,
            "gated": "manual" if self.hub.gate else False,
            "siblings": siblings,
        }
        self._send(200, {"Content-Type": "application/json"}, json.dumps(body).encode())

    def _resolve(self, repo_id: str, revision: str, name: str, head: bool) -> None:
        repo = self._repo(repo_id)
        if repo is None or not self._check_gate(repo_id):
            return
        if revision not in ("main", repo.commit):
            self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            return
        f = repo.files.get(name)
        if f is None:
            self._error(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": repo.commit})
            return
        common = {"X-Repo-Commit": repo.commit, "Accept-Ranges": "bytes"}
        if f.lfs:
            location = f"{self.hub.cdn_url}/blobs/{f.sha256}/{name}"
            headers = {
                **common,
                "ETag": f'"{f.git_sha1}"',
                "X-Linked-Etag": f'"{f.sha256}"',
                "X-Linked-Size": str(f.size),
                "Location": location,
            }
            self._send(302, headers, head=head)
            return
        self._body(f, {**common, "ETag": f'"{f.git_sha1}"'}, head)

    def _cdn(self, path: str, head: bool) -> None:
        m = re.fullmatch(r"/blobs/([0-9a-f]{64})/.+", path)
        f = self.hub.find_blob(m.group(1)) if m else None
        if f is None:
            self._send(404, {}, b"no such blob", head=head)
            return
        self._body(f, {"Accept-Ranges": "bytes", "ETag": f'"{f.sha256}"'}, head)

    def _body(self, f: RepoFile, headers: dict[str, str], head: bool) -> None:
        start = 0
        status = 200
        wanted = self.headers.get("Range")
        if wanted and not self.hub.ignore_range and (m := re.fullmatch(r"bytes=(\d+)-(\d*)", wanted.strip())):
            start = int(m.group(1))
            if start >= f.size:
                self._send(416, {"Content-Range": f"bytes */{f.size}"}, head=head)
                return
            status = 206
            headers = {**headers, "Content-Range": f"bytes {start}-{f.size - 1}/{f.size}"}
        body = f.data[start:]
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if head:
            return
        drop = self.hub.take_drop(f.name)
        limit = len(body) if drop is None else min(drop, len(body))
        sent = 0
        while sent < limit:
            piece = body[sent : min(limit, sent + SEND_CHUNK)]
            self.wfile.write(piece)
            self.wfile.flush()
            sent += len(piece)
            self.hub.count(f.name, len(piece))
            if self.hub.chunk_delay_s:
                time.sleep(self.hub.chunk_delay_s)
        if drop is not None:
            # Cut the connection mid-body, like a flaky network.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)


_TINY: dict[str, Path] = {}


def tiny_repo_folder() -> Path:
    """A sharded tiny DiffusionGemma checkpoint, built once per test process (it takes seconds)."""
    if "path" not in _TINY:
        from engine.model.tiny import make_tiny

        root = Path(tempfile.mkdtemp(prefix="fake-hub-"))
        atexit.register(shutil.rmtree, root, True)
        _TINY["path"] = make_tiny(root / "ckpt", max_shard_size="3MB")
    return _TINY["path"]


def tiny_repo(repo_id: str) -> FakeRepo:
    """The tiny checkpoint as a Hub repo, with the README and .gitattributes a real repo has."""
    extra = {
        "README.md": b"---\nlicense: gemma\n---\n# tiny DiffusionGemma for tests\n",
        ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
    }
    return FakeRepo.from_folder(repo_id, tiny_repo_folder(), extra)


@contextmanager
def serving(monkeypatch, home: Path, repos: list[FakeRepo]) -> Iterator[FakeHub]:
    """A running FakeHub with huggingface_hub pointed at it (see :func:`use_hub`)."""
    with FakeHub(repos) as hub:
        use_hub(monkeypatch, hub.url, home)
        yield hub


def use_hub(monkeypatch, endpoint: str, home: Path) -> Path:
    """Point huggingface_hub at ``endpoint`` with its home and cache under ``home``; returns the cache.

    huggingface_hub reads its settings once at import, so besides the environment
    (for subprocesses) the module constants are patched too.  HF_HUB_OFFLINE,
    which the test suite sets by default, is switched off, and no ambient token
    can leak in.
    """
    from huggingface_hub import constants, hf_api

    cache = home / "hub"
    for var in (
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_TOKEN_PATH",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(home / ".agent_harnesses.json"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(hf_api.api, "endpoint", endpoint)
    return cache


def bytes_before(plan, name: str) -> int:
    """Bytes of the files a DownloadPlan fetches before ``name``."""
    names = [f.name for f in plan.files]
    return sum(f.size for f in plan.files[: names.index(name)])


def cancel_inside(plan, name: str, into: int, cancel):
    """A progress callback that cancels once ``into`` bytes of file ``name`` are on disk.

    Needs ``engine.hub.download.PROGRESS_INTERVAL_S`` at 0 so every piece reports.
    """
    threshold = bytes_before(plan, name) + into

    def on_progress(event) -> None:
        if event.current_file == name and event.done_bytes >= threshold:
            cancel.cancel()

    return on_progress

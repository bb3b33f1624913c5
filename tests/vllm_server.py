"""A stand-in for vLLM's OpenAI-compatible server on 127.0.0.1, for ServerEngine tests without a GPU.

It speaks what ``vllm serve`` speaks for DiffusionGemma (CONTEXT.md §7):
``GET /v1/models`` (id, root, max_model_len) and ``POST /v1/chat/completions``
with ``stream: true`` as server-sent events: a first chunk with the role, **one
chunk per committed canvas** (nothing per denoising step), the last with its
``finish_reason``, a usage chunk (``stream_options.include_usage``), then
``data: [DONE]``.  Errors are vLLM's JSON (``{"error": {"message", "type",
"code"}}``).

Faults a test switches on through :class:`Behaviour`: an API key (401 without
it), a request size limit (413), the connection closed after N canvases, a
silence after N canvases (until the test stops it: "slow server with stop"), no
answer at all, a malformed SSE line, a huge chunk, structured outputs refused
(400).  Like vLLM it refuses ``continue_final_message`` with a generation prompt or
without a final assistant message (400).  Every request body is recorded.  Each server stops itself after
``LIFETIME_S`` whatever happens, so a failing test cannot leave it running.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LIFETIME_S = 30.0
MODEL = "google/diffusiongemma-26B-A4B-it"


@dataclass
class Behaviour:
    models: list[dict[str, Any]] = field(
        default_factory=lambda: [{"id": MODEL, "root": MODEL, "max_model_len": 131072}]
    )
    canvases: list[str] = field(default_factory=lambda: ["Hello from ", "the server."])
    finish_reason: str = "stop"
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 17, "completion_tokens": 300, "total_tokens": 317}
    )
    api_key: str = ""  # required when set (401 otherwise)
    max_body_bytes: int = 0  # 413 above it when set
    close_after: int | None = None  # close the connection after this many canvases
    silent_after: int | None = None  # send nothing more after this many canvases, until stopped
    silent_before_headers: bool = False
    malformed_line_after: int | None = None
    error_after: int | None = None  # vLLM's error JSON as a data line after this many canvases
    reasoning: list[str] = field(default_factory=list)  # sent as delta.reasoning_content before the canvases


@dataclass
class FakeVllm:
    url: str
    behaviour: Behaviour
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)
    disconnected: threading.Event = field(default_factory=threading.Event)  # a stream's client went away


def _error(handler: BaseHTTPRequestHandler, status: int, message: str, kind: str) -> None:
    body = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": status}}).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _handler(fake: FakeVllm) -> type[BaseHTTPRequestHandler]:
    behaviour = fake.behaviour

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the body ends when the connection closes, as a dropped stream's does

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _authorised(self) -> bool:
            if behaviour.api_key and self.headers.get("Authorization") != f"Bearer {behaviour.api_key}":
                _error(self, 401, "Unauthorized", "Unauthorized")
                return False
            return True

        def do_GET(self) -> None:
            if not self._authorised():
                return
            if self.path != "/v1/models":
                _error(self, 404, "Not Found", "NotFoundError")
                return
            data = [{"object": "model", "owned_by": "vllm", **m} for m in behaviour.models]
            body = json.dumps({"object": "list", "data": data}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fake.headers.append(dict(self.headers))
            if behaviour.silent_before_headers:
                fake.stopped.wait(LIFETIME_S)
                return
            if not self._authorised():
                return
            if self.path != "/v1/chat/completions":
                _error(self, 404, "Not Found", "NotFoundError")
                return
            if behaviour.max_body_bytes and len(raw) > behaviour.max_body_bytes:
                _error(self, 413, "Request Entity Too Large", "PayloadTooLarge")
                return
            request = json.loads(raw)
            fake.requests.append(request)
            if request.get("model") not in {m["id"] for m in behaviour.models}:
                _error(self, 404, f"The model `{request.get('model')}` does not exist.", "NotFoundError")
                return
            if request.get("response_format") or request.get("guided_json"):
                _error(self, 400, "Structured outputs are not supported", "BadRequestError")
                return
            if request.get("continue_final_message") and (
                request.get("add_generation_prompt", True) or request["messages"][-1]["role"] != "assistant"
            ):  # vLLM's own checks: an open final message, and no generation prompt after it
                _error(self, 400, "continue_final_message needs a final assistant message", "BadRequestError")
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            try:
                self._stream()
            except (BrokenPipeError, ConnectionResetError):
                fake.disconnected.set()

        def _send(self, payload: dict[str, Any] | str) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            self.wfile.write(f"data: {data}\n\n".encode())
            self.wfile.flush()

        def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "model": MODEL,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        def _stream(self) -> None:
            self._send(self._chunk({"role": "assistant", "content": ""}))
            for text in behaviour.reasoning:
                self._send(self._chunk({"reasoning_content": text}))
            last = len(behaviour.canvases) - 1
            for index, text in enumerate(behaviour.canvases):
                if index == behaviour.close_after:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if index == behaviour.silent_after:
                    while not fake.stopped.wait(0.02):
                        if _peer_closed(self.connection):
                            fake.disconnected.set()
                            return
                    return
                if index == behaviour.error_after:
                    self._send(
                        {"error": {"message": "engine dead", "type": "InternalServerError", "code": 500}}
                    )
                    return
                if index == behaviour.malformed_line_after:
                    self.wfile.write(b"data: {not json\n\n: a comment line\n\nevent: ping\n\n")
                self._send(self._chunk({"content": text}, behaviour.finish_reason if index == last else None))
            self._send({"id": "chatcmpl-1", "choices": [], "usage": behaviour.usage})
            self._send("[DONE]")

    return Handler


def _peer_closed(connection: socket.socket) -> bool:
    """The client closed its end (a read would return end of file), seen without blocking."""
    try:
        return connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


@contextmanager
def fake_vllm(behaviour: Behaviour | None = None) -> Iterator[FakeVllm]:
    """A running fake vLLM server; stopped (and every stalled stream released) on exit or after LIFETIME_S."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    fake = FakeVllm(f"http://127.0.0.1:{server.server_address[1]}", behaviour or Behaviour())
    server.RequestHandlerClass = _handler(fake)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    timer = threading.Timer(LIFETIME_S, fake.stopped.set)
    timer.daemon = True
    timer.start()
    try:
        yield fake
    finally:
        timer.cancel()
        fake.stopped.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

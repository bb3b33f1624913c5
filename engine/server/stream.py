"""The chat stream on a thread of its own, so that a Stop ends it at once whatever the server does.

A read blocked on a silent server cannot be interrupted from the thread that
waits for it, so :class:`ChunkStream` reads on a daemon thread and hands over
what arrives through a queue; the consumer waits at most :data:`POLL_SECONDS`
at a time and checks its cancel token in between.  :meth:`ChunkStream.abort`
shuts the socket down (which wakes the blocked read) and returns at once.

What arrives: vLLM's server-sent events, one ``data: {json}`` line per chunk,
``data: [DONE]`` at the end.  Lines are split here, each bounded, because a
server is untrusted and one endless line must not fill the memory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx

from engine.cancel import CancelToken
from engine.server.client import ServerAddress
from engine.server.errors import ServerError, http_status_error, server_says, transport_error

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05
MAX_LINE_BYTES = 16 * 1024 * 1024  # a 256-token canvas is a few KB; 16 MiB is a broken or hostile server


@dataclass(frozen=True, slots=True)
class Chunk:
    """One parsed ``data:`` line: the text it adds, why the reply ended (if it did), token usage."""

    content: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None


class StreamCancelledError(Exception):
    """The cancel token was set while waiting for the stream."""


class StreamDroppedError(Exception):
    """The stream ended without ``[DONE]``: the server closed or the connection broke."""

    def __init__(self, error: ServerError) -> None:
        super().__init__(str(error))
        self.error = error


_END = object()


class ChunkStream:
    """``POST /v1/chat/completions`` with ``stream: true``, read on a daemon thread."""

    def __init__(self, address: ServerAddress, body: dict[str, Any]) -> None:
        self.address = address
        self._body = body
        self._queue: queue.Queue[Any] = queue.Queue()
        self._response: httpx.Response | None = None
        self._aborted = threading.Event()
        self._thread = threading.Thread(target=self._read, name="server-stream", daemon=True)
        self._thread.start()

    def chunks(self, cancel: CancelToken | None) -> Iterator[Chunk]:
        """The chunks in order, until ``[DONE]``.

        Raises ServerError (refused, unreachable, timeout before any chunk), :class:`StreamDroppedError` (the
        stream broke off) or :class:`StreamCancelledError` (within POLL_SECONDS of the token being set).
        """
        while True:
            try:
                item = self._queue.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if cancel is not None and cancel.cancelled:
                    self.abort()
                    raise StreamCancelledError from None
                continue
            if cancel is not None and cancel.cancelled:
                self.abort()
                raise StreamCancelledError
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def abort(self) -> None:
        """End the stream now: shut the socket down so a blocked read returns, without waiting for it."""
        self._aborted.set()
        response = self._response
        if response is None:
            return
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)

    def _read(self) -> None:
        address = self.address
        try:
            with (
                address.client() as client,
                client.stream("POST", address.api + "/chat/completions", json=self._body) as response,
            ):
                self._response = response
                self._follow(response)
        except httpx.TransportError as error:
            if not self._aborted.is_set():
                log.info("chat stream from %s failed: %r", address.shown, error)
                self._queue.put(StreamDroppedError(transport_error(error, address.shown, address.timeouts)))
        except ServerError as error:
            self._queue.put(error)
        except Exception as error:  # a bug must not leave the consumer waiting for ever
            log.exception("chat stream reader failed")
            self._queue.put(error)

    def _follow(self, response: httpx.Response) -> None:
        """Queue the response's chunks, then _END; an error answer or an early end as an error."""
        address = self.address
        if response.status_code != 200:
            body = response.read()
            self._queue.put(http_status_error(response.status_code, body, address.shown, address.model))
            return
        for line in _lines(response.iter_bytes()):
            if self._aborted.is_set():
                return
            chunk = _parse(line)
            if chunk is _END:
                self._queue.put(_END)
                return
            if chunk is not None:
                self._queue.put(chunk)
        ended = ServerError(f"The server at {address.shown} ended the reply without finishing it")
        self._queue.put(StreamDroppedError(ended))


def _lines(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """The body's lines (without their line ends), each at most MAX_LINE_BYTES."""
    buffer = b""
    for piece in pieces:
        buffer += piece
        *complete, buffer = buffer.split(b"\n")
        yield from (line.rstrip(b"\r") for line in complete)
        if len(buffer) > MAX_LINE_BYTES:
            raise ServerError(
                f"The server sent a line of more than {MAX_LINE_BYTES // 2**20} MiB",
                fix="This is not how a vLLM server streams: check the address, or look at the server's log",
            )
    if buffer:
        yield buffer.rstrip(b"\r")


def _parse(line: bytes) -> Chunk | object | None:
    """One SSE line as a Chunk, _END for ``[DONE]``, None for what carries no chunk."""
    if not line.startswith(b"data:"):
        return None  # blank separators, ": keep-alive" comments, "event:" lines
    payload = line[5:].strip()
    if payload == b"[DONE]":
        return _END
    try:
        data = json.loads(payload)
    except ValueError:
        log.warning("skipped a malformed line from the server: %r", payload[:200])
        return None
    if not isinstance(data, dict):
        return None
    if "error" in data:
        raise ServerError(
            f"The server stopped the reply with an error: {server_says(payload)}",
            fix="Try again; if it keeps failing, look at the server's log",
        )
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
    choices = data.get("choices") or []
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
    return Chunk(
        content=_text(delta.get("content")),
        reasoning=_text(delta.get("reasoning_content") or delta.get("reasoning")),
        finish_reason=choice.get("finish_reason") if isinstance(choice.get("finish_reason"), str) else None,
        usage=usage,
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""

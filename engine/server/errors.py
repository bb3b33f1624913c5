"""What went wrong talking to a model server, in words a user can act on.

Every failure of the HTTP layer becomes a :class:`ServerError` naming the
server, the problem and the fix; whatever the server itself says (its error
JSON) is untrusted text, so it is cut short and stripped of control characters
before it reaches a message.
"""

from __future__ import annotations

import json
import re
import ssl

import httpx2 as httpx

from engine.errors import EngineError

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MAX_SERVER_TEXT = 300


class ServerError(EngineError):
    """The model server cannot be used: unreachable, refused, too slow, or not serving DiffusionGemma."""


def server_says(body: bytes | str) -> str:
    """The message in vLLM's error JSON (``{"error": {"message": …}}`` or ``{"message": …}``), made safe."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        message = text
    else:
        error = data.get("error", data) if isinstance(data, dict) else data
        message = error.get("message", "") if isinstance(error, dict) else str(error)
        message = message if isinstance(message, str) else json.dumps(message)
    message = _CONTROL.sub(" ", message).strip()
    if len(message) > _MAX_SERVER_TEXT:
        message = message[:_MAX_SERVER_TEXT].rstrip() + "…"
    return message


def http_status_error(status: int, body: bytes, url: str, model: str) -> ServerError:
    """An error answer (4xx/5xx) as the problem and its fix."""
    said = server_says(body)
    quoted = f" (the server says: {said})" if said else ""
    if status in (401, 403):
        return ServerError(
            f"The server at {url} refused the API key (HTTP {status}){quoted}",
            fix="Check the key (Model ▸ Models…, or --api-key-env), or ask the server's owner for one",
        )
    if status == 404:
        return ServerError(
            f"The server at {url} has no model {model!r} (HTTP 404){quoted}",
            fix="Pick a model the server lists (GET /v1/models), or check the address ends where the API is",
        )
    if status == 413:
        return ServerError(
            f"The request is too large for the server at {url} (HTTP 413){quoted}",
            fix="Attach fewer or smaller files, lower the image token budget or the video frame cap, "
            "or raise the server's request size limit",
        )
    if 400 <= status < 500:
        return ServerError(
            f"The server at {url} refused the request (HTTP {status}){quoted}",
            fix="Shorten the chat or its attachments if it is too long, or change the setting it names",
        )
    return ServerError(
        f"The server at {url} failed (HTTP {status}){quoted}",
        fix="Try again; if it keeps failing, look at the server's log",
    )


def transport_error(error: httpx.TransportError, url: str, timeouts: httpx.Timeout) -> ServerError:
    """A network failure (no answer, TLS, timeout, dropped connection) as the problem and its fix."""
    if _is_tls(error):
        return ServerError(
            f"A secure connection to {url} failed ({error})",
            fix="Check that the address's http/https matches the server, and that its certificate is valid "
            "for that name",
        )
    if isinstance(error, httpx.ConnectTimeout):
        return ServerError(
            f"The server at {url} did not answer within {timeouts.connect:g} s",
            fix="Check the address and that the server is running and reachable from this computer",
        )
    if isinstance(error, httpx.TimeoutException):
        return ServerError(
            f"The server at {url} sent nothing for {timeouts.read:g} s",
            fix="The server may be overloaded or stuck: try again, or look at the server's log",
        )
    if isinstance(error, httpx.ConnectError):
        return ServerError(
            f"The server at {url} cannot be reached ({error})",
            fix="Check the address and port, and that the server is running (vllm serve …) and reachable "
            "from this computer",
        )
    return ServerError(
        f"The connection to the server at {url} failed ({type(error).__name__}: {error})",
        fix="Try again; if it keeps failing, look at the server's log",
    )


def _is_tls(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False

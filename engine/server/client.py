"""The model server's address and the small part of its API that is not the chat stream: ``/v1/models``."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import httpx2 as httpx

from engine.server.errors import ServerError, http_status_error, transport_error

log = logging.getLogger(__name__)

DEFAULT_TIMEOUTS = httpx.Timeout(connect=10.0, read=300.0, write=60.0, pool=10.0)
"""Read: the first chunk of a reply comes only after its first canvas (and the whole prompt) is done."""

_DIFFUSIONGEMMA = re.compile(r"diffusion[-_ ]?gemma", re.IGNORECASE)


@dataclass(frozen=True)
class ServerAddress:
    """Where the model runs: the API's base URL (``http://host:8000`` or ``…/v1``), the model, the key."""

    url: str
    model: str
    api_key: str = field(default="", repr=False)  # never in a repr, a log line or an error message
    timeouts: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUTS)

    @property
    def api(self) -> str:
        """The base of the API's paths, ending in ``/v1``."""
        base = self.url.strip().rstrip("/")
        return base if base.endswith("/v1") else base + "/v1"

    @property
    def shown(self) -> str:
        """The address as people wrote it (without ``/v1``), for messages and the status bar."""
        return self.url.strip().rstrip("/").removesuffix("/v1")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def client(self) -> httpx.Client:
        if not self.url.strip().lower().startswith(("http://", "https://")):
            raise ServerError(
                f"{self.url!r} is not a server address",
                fix="Write it as http://host:8000 or https://host (the vLLM server's address)",
            )
        return httpx.Client(headers=self.headers(), timeout=self.timeouts, follow_redirects=False)


@dataclass(frozen=True)
class ServedModel:
    """One entry of ``/v1/models``: its id, and the checkpoint it was served from (vLLM's ``root``)."""

    id: str
    root: str = ""
    max_model_len: int = 0

    @property
    def is_diffusiongemma(self) -> bool:
        return bool(_DIFFUSIONGEMMA.search(self.id) or _DIFFUSIONGEMMA.search(self.root))


def list_models(address: ServerAddress) -> list[ServedModel]:
    """The models the server serves (``GET /v1/models``), or a ServerError naming what is wrong."""
    url = address.api + "/models"
    try:
        with address.client() as client:
            response = client.get(url)
    except httpx.TransportError as error:
        log.info("GET %s failed: %r", url, error)
        raise transport_error(error, address.shown, address.timeouts) from None
    if response.status_code != 200:
        if response.status_code == 404:
            raise ServerError(
                f"{address.shown} has no /v1/models: it is not an OpenAI-compatible server",
                fix="Check the address and port of the vLLM server (vllm serve listens on port 8000)",
            )
        raise http_status_error(response.status_code, response.content, address.shown, address.model)
    try:
        entries = response.json()["data"]
        return [
            ServedModel(str(entry["id"]), str(entry.get("root") or ""), int(entry.get("max_model_len") or 0))
            for entry in entries
        ]
    except (ValueError, KeyError, TypeError):
        raise ServerError(
            f"{address.shown} answered /v1/models with something that is not a model list",
            fix="Check the address: it must be the vLLM (OpenAI-compatible) server's",
        ) from None


def check_model(address: ServerAddress) -> ServedModel:
    """The served model ``address.model``, checked to exist and to be DiffusionGemma."""
    served = list_models(address)
    for model in served:
        if model.id == address.model:
            if not model.is_diffusiongemma:
                raise ServerError(
                    f"{model.id!r} on {address.shown} is not a DiffusionGemma model"
                    + (f" (served from {model.root})" if model.root else ""),
                    fix="Serve google/diffusiongemma-26B-A4B-it (or its FP8/NVFP4 variant) with vllm serve, "
                    "or pick a DiffusionGemma model on this server",
                )
            return model
    names = ", ".join(m.id for m in served[:8]) or "none"
    raise ServerError(
        f"The server at {address.shown} has no model {address.model!r}",
        fix=f"Pick one it serves: {names}",
    )

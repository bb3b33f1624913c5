"""Hub addresses and size wording, free of torch and of any network library.

``engine.hub.download`` uses them for its messages and the GUI's first-run and
models dialogs for theirs; both must say the same thing in the same units,
and the GUI must not import the download machinery just to print a size.
"""

from __future__ import annotations

import os

DEFAULT_HUB_URL = "https://huggingface.co"


def hub_url() -> str:
    """The Hub this process talks to: ``$HF_ENDPOINT`` (a mirror, a private Hub) or huggingface.co.

    Read at each call, as huggingface_hub reads it, so a message never sends a person to
    a Hub other than the one the download used.
    """
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_HUB_URL).rstrip("/")


def tokens_url() -> str:
    """Where a person makes an access token."""
    return f"{hub_url()}/settings/tokens"


def licence_url(repo_id: str) -> str:
    """The model's page on the Hub, where its licence is accepted."""
    return f"{hub_url()}/{repo_id}"


def format_bytes(n: float) -> str:
    """Decimal units, as the Hub shows sizes ("51.7 GB")."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"

"""Hub addresses and size wording, free of torch and of any network library.

``engine.hub.download`` uses them for its messages and the GUI's first-run and
models dialogs for theirs; both must say the same thing in the same units,
and the GUI must not import the download machinery just to print a size.
"""

from __future__ import annotations

HUB_URL = "https://huggingface.co"
TOKENS_URL = f"{HUB_URL}/settings/tokens"


def licence_url(repo_id: str) -> str:
    """The model's page on the Hub, where its licence is accepted."""
    return f"{HUB_URL}/{repo_id}"


def format_bytes(n: float) -> str:
    """Decimal units, as the Hub shows sizes ("51.7 GB")."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"

"""Keep what users and files supply apart from what the chat template writes.

Only the chat template may produce control tokens (``<|turn>``, ``<eos>``,
``<|image|>``…).  If a message, the system prompt or an attached document is
templated as is and the whole prompt tokenized with special tokens recognised,
a typed ``<turn|>`` closes the turn and a pasted ``<|turn>model`` forges a
reply.  So each user-supplied string goes into the template as a unique marker
(:meth:`UserTexts.mark`); after rendering, :meth:`UserTexts.pieces` splits the
result back into template pieces and user pieces, and the processor tokenizes
the user pieces with special tokens *not* recognised.

A marker keeps the string's leading and trailing whitespace around it, so a
template that trims content (``| trim``) trims it as it would the string
itself, and an ordinary prompt keeps exactly the text, and so the token ids,
it had before.  The marker carries a random nonce: a string cannot forge one.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

# Private-use characters, which no tokenizer treats as a control token.
_START = "\U000f0e00"
_END = "\U000f0e01"


@dataclass(frozen=True, slots=True)
class Piece:
    """A run of the templated prompt: written by the template, or supplied by the user (``user``)."""

    text: str
    user: bool


class UserTexts:
    """The user-supplied strings of one prompt, by marker."""

    def __init__(self) -> None:
        self._nonce = secrets.token_hex(8)
        self._texts: list[str] = []
        self._pattern = re.compile(f"{_START}{self._nonce}\\.(\\d+){_END}")

    def mark(self, text: str) -> str:
        """The marker to template in place of ``text`` (its outer whitespace kept outside the marker)."""
        core = text.strip()
        if not core:
            return text  # whitespace holds no token to hide
        start = len(text) - len(text.lstrip())
        self._texts.append(core)
        return f"{text[:start]}{_START}{self._nonce}.{len(self._texts) - 1}{_END}{text[start + len(core) :]}"

    def pieces(self, rendered: str) -> list[Piece]:
        """``rendered`` (templated with markers) as template and user pieces, in order."""
        out: list[Piece] = []
        position = 0
        for match in self._pattern.finditer(rendered):
            if match.start() > position:
                out.append(Piece(rendered[position : match.start()], user=False))
            out.append(Piece(self._texts[int(match.group(1))], user=True))
            position = match.end()
        if position < len(rendered):
            out.append(Piece(rendered[position:], user=False))
        return out


def joined(pieces: list[Piece]) -> str:
    """The prompt's text as the model reads it."""
    return "".join(piece.text for piece in pieces)

"""What kind of reply to write: one value that travels unchanged from the window to the loop.

A diffusion model can do more than answer from noise: go on after a reply that
was cut short, start its canvases from an earlier answer (revise), or write
only a selected part of a reply again (rewrite).  Each of these used to be a
separate argument threaded through the GUI, the worker, the engine and the
loop; a ``ReplyPlan`` names the mode once and carries what it needs, so a new
mode (filling gaps, forking at a step) adds a constructor here and a case in
:func:`engine.generation.seeding.resolve`, not a parameter at every layer.

The plan is what the user asked for, in the user's terms (token ids the store
holds, text the user selected); :func:`engine.generation.seeding.resolve` turns it,
with the tokenizer, into what the loop reads (the canvases' starting tokens and
kept positions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from engine.errors import EngineError

PlanKind = Literal["fresh", "continue", "revise", "rewrite", "fill", "fork"]
ALL_PLANS: frozenset[str] = frozenset(get_args(PlanKind))
"""What a local model carries out; a backend says what it does in its info's ``plans``."""

PLAN_WORDS = {
    "continue": "continue a reply that was cut short",
    "revise": "revise an answer in place",
    "rewrite": "rewrite a selected part of a reply",
    "fill": "fill the gaps of a draft",
    "fork": "go on from a step of a replay",
}


def plan_refused(kind: str, where: str) -> EngineError:
    """The error for a reply mode that the model ``where`` runs (e.g. "on a server") cannot carry out."""
    return EngineError(
        f"A model {where} cannot {PLAN_WORDS.get(kind, kind)}: it writes fresh replies and continues text",
        fix="Send the message again for a new reply, or load a model on this computer for this",
    )


@dataclass(frozen=True, slots=True)
class ReplyPlan:
    """One reply's mode and its inputs; build it with the named constructors."""

    kind: PlanKind = "fresh"
    tokens: tuple[int, ...] = ()  # continue, fork: the committed tokens; rewrite: the whole reply's ids
    text: str = (
        ""  # continue: the reply so far; revise: the earlier answer; rewrite: the selection; fill: draft
    )
    draft: tuple[int, ...] = ()  # fork: the recorded step's draft (one canvas)
    accepted: tuple[bool, ...] = ()  # fork: the positions that step accepted

    @classmethod
    def fresh(cls) -> ReplyPlan:
        """Canvases start from uniform noise: an ordinary reply."""
        return cls()

    @classmethod
    def continuing(cls, tokens: Sequence[int], text: str = "") -> ReplyPlan:
        """Go on after a reply's committed canvases (the model reads them after the prompt).

        ``text`` is the reply so far as shown: a model on a server continues from
        text, and a reply a server wrote has no token ids (the local model then
        tokenizes the text).
        """
        if not tokens and not text:
            return cls()
        return cls("continue", tokens=tuple(int(t) for t in tokens), text=text)

    @classmethod
    def revising(cls, answer: str) -> ReplyPlan:
        """Canvases start from an earlier answer's tokens, not noise: the old text visibly changes."""
        return cls("revise", text=answer) if answer else cls()

    @classmethod
    def rewriting(cls, reply_ids: Sequence[int], selection: str) -> ReplyPlan:
        """Keep every token of a reply except those under ``selection``, which are denoised again in place."""
        return cls("rewrite", tokens=tuple(int(t) for t in reply_ids), text=selection)

    @classmethod
    def filling(cls, draft: str) -> ReplyPlan:
        """The user's ``draft`` kept token for token; only its gaps (``[...]``, ``[...N]``) are denoised."""
        return cls("fill", text=draft)

    @classmethod
    def forking(
        cls, committed: Sequence[int], step_draft: Sequence[int], step_accepted: Sequence[bool]
    ) -> ReplyPlan:
        """Go on from a recorded step: after the ``committed`` canvases, a canvas that starts from that step.

        The step's accepted positions start from its draft, the others from noise,
        as the sampler leaves a canvas between two steps; nothing is frozen (see
        :func:`engine.generation.seeding.resolve`), and a new seed makes it a new version.
        """
        return cls(
            "fork",
            tokens=tuple(int(t) for t in committed),
            draft=tuple(int(t) for t in step_draft),
            accepted=tuple(bool(a) for a in step_accepted),
        )

    def describe(self) -> str:
        """A few words for logs and the CLI."""
        if self.kind == "fresh":
            return "fresh reply"
        if self.kind == "continue":
            return f"continue after {len(self.tokens)} tokens" if self.tokens else "continue a served reply"
        if self.kind == "revise":
            return f"revise a {len(self.text)}-character answer in place"
        if self.kind == "fill":
            return f"fill the gaps of a {len(self.text)}-character draft"
        if self.kind == "fork":
            return f"go on from a step after {len(self.tokens)} tokens"
        return f"rewrite {len(self.text)} selected characters of a {len(self.tokens)}-token reply"

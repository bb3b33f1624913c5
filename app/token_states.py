"""Each canvas position's state in a denoising step, for the token-state view.

DiffusionGemma has no mask token: every position always holds a token.  A
position is *accepted* when the sampler kept its sample this step (low
entropy); every other position is re-randomised.  For display:

* ``NOISE``: not accepted and the model is still unsure (high entropy), so
  what sits there is effectively random;
* ``DRAFT``: not accepted, but the model already leans to a token;
* ``ACCEPTED``: accepted in this step, newly or with a changed token;
* ``STABLE``: accepted now and in the previous step with the same token.
"""

from __future__ import annotations

import math
from enum import IntEnum

from engine.events import Step

NOISE_ENTROPY = 2.0  # nats; above this the argmax is little better than a guess


class TokenState(IntEnum):
    NOISE = 0
    DRAFT = 1
    ACCEPTED = 2
    STABLE = 3


STATE_LABELS = {
    TokenState.NOISE: "random noise",
    TokenState.DRAFT: "draft",
    TokenState.ACCEPTED: "accepted this step",
    TokenState.STABLE: "stable",
}


def classify(step: Step, previous: Step | None) -> list[TokenState]:
    """States of ``step``'s positions; ``previous`` is the step before it in the same block, if any."""
    same_block = previous is not None and previous.block == step.block
    states: list[TokenState] = []
    for i, (token, accepted, entropy) in enumerate(
        zip(step.draft, step.accepted, step.entropy, strict=False)
    ):
        if accepted or step.finished:
            was_same = same_block and previous.accepted[i] and previous.draft[i] == token  # type: ignore[union-attr]
            states.append(TokenState.STABLE if (was_same or step.finished) else TokenState.ACCEPTED)
        else:
            states.append(TokenState.NOISE if entropy >= NOISE_ENTROPY else TokenState.DRAFT)
    return states


def entropy_level(entropy: float, scale: float = 8.0) -> float:
    """0 (certain) … 1 (scale nats or more), log-compressed so small differences near 0 stay visible."""
    if not math.isfinite(entropy) or entropy <= 0:
        return 0.0 if entropy <= 0 else 1.0
    return min(1.0, math.log1p(entropy) / math.log1p(scale))

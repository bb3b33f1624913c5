"""When a chat outgrows the context: leave out its oldest messages, so the chat can go on.

Without this, a long chat ends in "the conversation is too long" and the
user must start over.  Local chat apps that keep chatting drop the oldest
turns (a rolling window); so do we, by default, with these rules:

* the system prompt and the last user message are always kept; turns are
  left out from the start, and what is kept starts at a user message (the
  chat template expects user/assistant alternation from a user turn);
* when the context overflows, the cut leaves a quarter of the room free
  (``SLACK``), and later replies keep the *same* cut while it still fits.
  The prompt then starts with the same tokens turn after turn, so the
  engine's prompt cache (``engine.generation.loop.PrefixCache``) is reused and only
  the new messages are encoded.  Cutting the minimum every time would shift
  the prompt's start on every reply and re-encode the whole context each time
  (tens of thousands of tokens);
* with the "stop" policy, or when the last message alone does not fit, the
  reply fails with ``PromptTooLongError`` naming the numbers and the fix.

The caller reports how many turns were left out (``PromptEncoded`` and the
reply's ``Stats``), so the user knows the model did not see them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.inputs.conversation import Conversation

# Share of the prompt budget left free when the oldest turns are cut (see the module docstring).
SLACK = 0.25

OVERFLOW_POLICIES = ("drop_oldest", "stop")


@dataclass(frozen=True, slots=True)
class Cut:
    """``turns`` leading turns were left out; ``key`` identifies them (and the system text)."""

    turns: int
    key: int

    @staticmethod
    def of(conversation: Conversation, turns: int) -> Cut:
        return Cut(turns, hash((conversation.system, conversation.turns[:turns])))

    def applies_to(self, conversation: Conversation) -> bool:
        """The conversation starts with the very turns this cut left out (the same chat, grown)."""
        return 0 < self.turns < len(conversation.turns) and Cut.of(conversation, self.turns) == self


def without_oldest(conversation: Conversation, turns: int) -> Conversation:
    return Conversation(turns=conversation.turns[turns:], system=conversation.system)


def fit_conversation(
    conversation: Conversation,
    count_from: Callable[[int], int],
    budget: int,
    *,
    previous: Cut | None = None,
) -> Cut | None:
    """The cut that makes the prompt fit ``budget`` tokens; None when even the last user message does not.

    ``count_from(start)`` is the prompt's length without the first ``start``
    turns (the caller templates and tokenizes it, so media count exactly as
    they will be encoded, and can keep what it encoded).  It is called
    O(log n) times: a binary search over the user turns that can start what is
    kept.
    """
    kept = previous is not None and previous.applies_to(conversation)
    if kept and count_from(previous.turns) <= budget:
        return previous
    starts = [i for i, turn in enumerate(conversation.turns) if turn.role == "user" and i > 0]
    if not starts or count_from(starts[-1]) > budget:
        return None

    def smallest_start(limit: int) -> int | None:
        """The first start whose remainder fits ``limit`` (token counts fall as the start moves on)."""
        low, high = 0, len(starts) - 1
        if count_from(starts[high]) > limit:
            return None
        while low < high:
            mid = (low + high) // 2
            if count_from(starts[mid]) <= limit:
                high = mid
            else:
                low = mid + 1
        return starts[low]

    start = smallest_start(int(budget * (1 - SLACK)))
    if start is None:  # the last message alone takes most of the room: keep what fits at all
        start = smallest_start(budget)
    assert start is not None  # the last start fits ``budget`` (checked above)
    return Cut.of(conversation, start)

"""What the GUI and the CLI need from an engine: the contract a second backend implements.

:class:`engine.engine.Engine` (the model in this process) is one implementation;
a client of a model server can be another, without a change to the window: the
GUI (``app/worker.py``) and the CLI (``engine/commands/generate.py``) talk only to
:class:`ChatEngine` and to a :data:`Loader` that makes one.

**The events of one reply** (:mod:`engine.events`), in this order::

    PromptProgress*  PromptEncoded?  (Step* Canvas)*  Step*  Done

* ``PromptProgress`` — zero or more while a long prompt is read (tokens done of
  total, time left); a backend that cannot tell sends none.
* ``PromptEncoded`` — at most one, once the prompt is read (its token count);
  absent when the reply is stopped before.
* ``Step`` — the current draft of canvas ``block`` at denoising step ``step``,
  with its accepted mask and entropy.  **Only a backend that sees the denoising
  sends Steps; one that only has whole canvases sends none — never fake ones.**
  The GUI then shows each canvas as it is committed.
* ``Canvas`` — canvas ``block`` (0, 1, …, in order) is final; its text follows the
  previous canvases' text.
* ``Done`` — exactly one, always last, also after a Stop (``incomplete``,
  ``stop_reason`` "cancelled", the text so far).  Its ``text`` is what the
  canvases say (for a continuation: the new part only).

Errors are raised from the iterator: :class:`engine.errors.EngineError` (and its
subclasses) carry a message for people and a fix; anything else is a bug, which
the GUI reports with the log file's name.  ``cancel`` is a flag another thread
sets; a backend checks it at least once per step (or per canvas) and ends with
an incomplete ``Done``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from engine.cancel import CancelToken
from engine.events import Event, LoadProgress, Step
from engine.generation.plan import ReplyPlan
from engine.inputs.conversation import Conversation, PromptOptions
from engine.settings import GenerationSettings

FRESH = ReplyPlan.fresh()


@runtime_checkable
class ChatEngine(Protocol):
    """A loaded model that answers conversations as a stream of events (see the module's contract)."""

    info: Any  # engine.engine.ModelInfo: name, device, canvas and context length, plans (modes it writes)
    default_settings: GenerationSettings  # the model's own defaults (Settings shows and resets to them)

    def generate(
        self,
        conversation: Conversation,
        settings: GenerationSettings | None = None,
        options: PromptOptions | None = None,
        cancel: CancelToken | None = None,
        *,
        plan: ReplyPlan = FRESH,
    ) -> Iterator[Event]:
        """Answer the last user turn; ``plan``: fresh, continue, revise, rewrite, fill or fork."""
        ...

    def decode_steps(self, frames: Sequence[Any]) -> list[Step]:
        """A stored refinement history as Step events, with this model's tokenizer (for replay)."""
        ...

    def forget_prompt_cache(self) -> None:
        """The chat changed: whatever is kept of the last prompt is of no further use."""
        ...

    def vram_in_use(self) -> int | None:
        """Bytes of GPU memory in use, or None when there is none to report."""
        ...

    def close(self) -> None:
        """Give the model's memory back now; the engine cannot generate afterwards."""
        ...


# Make an engine from a source (a model folder, a Hub id, "demo", a server address), reporting
# progress; blocking, so the GUI calls it on its engine thread.  Raises EngineError for people.
Loader = Callable[[str, Callable[[LoadProgress], None]], ChatEngine]

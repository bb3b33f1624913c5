""":class:`ServerEngine`: a DiffusionGemma model on a vLLM server, behind the same interface as a local one.

The server sends each committed canvas as one chunk and nothing per denoising
step, so a reply is ``Canvas`` events (one per chunk with text) and a ``Done``;
never ``Step`` events, and no per-step history to replay.  A Stop ends the
stream within :data:`engine.server.stream.POLL_SECONDS`; a stream that breaks
off after some text keeps it (``Done`` incomplete, ``stop_reason``
"disconnected"), as a stopped local reply keeps its canvases.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from engine.cancel import CancelToken
from engine.errors import EngineError
from engine.events import Canvas, Done, Event, Stats, Step
from engine.generation.plan import ReplyPlan, plan_refused
from engine.inputs.conversation import Conversation, PromptOptions
from engine.inputs.thinking import split_thinking
from engine.server.client import ServedModel, ServerAddress, check_model
from engine.server.errors import ServerError
from engine.server.request import chat_request
from engine.server.stream import Chunk, ChunkStream, StreamCancelledError, StreamDroppedError
from engine.settings import GenerationSettings

log = logging.getLogger(__name__)

FRESH = ReplyPlan.fresh()
CANVAS_LENGTH = 256
_OPEN_THOUGHT = "<|channel>thought\n"
_CLOSE_THOUGHT = "<channel|>"
_FINISH_REASONS = {"stop": "eos", "length": "length"}
SERVER_PLANS: frozenset[str] = frozenset({"fresh", "continue"})  # a server continues text, nothing more


@dataclass(frozen=True, slots=True)
class ServerModelInfo:
    """What the window shows of a served model: the fields of engine.engine.ModelInfo it reads."""

    name: str
    source: str
    path: str
    device: str  # where the model runs: "server: http://host:8000"
    dtype: str
    canvas_length: int
    context_length: int
    is_demo: bool = False
    model_context_length: int = 0
    context_limited_by_memory: bool = False
    plans: frozenset[str] = SERVER_PLANS  # the reply modes it carries out

    @property
    def where(self) -> str:
        return f"{self.device} · {self.name}"


class ServerEngine:
    """A served DiffusionGemma model (:class:`engine.interface.ChatEngine`)."""

    info: ServerModelInfo
    default_settings: GenerationSettings

    def __init__(self, address: ServerAddress, served: ServedModel) -> None:
        self.address = address
        self.info = ServerModelInfo(
            name=served.id,
            source=f"server: {address.shown}",
            path=address.shown,
            device=f"server: {address.shown}",
            dtype="vLLM",  # the status bar: "server: http://host:8000 · vLLM"
            canvas_length=CANVAS_LENGTH,
            context_length=served.max_model_len,
            model_context_length=served.max_model_len,
        )
        self.default_settings = GenerationSettings()

    @classmethod
    def connect(cls, address: ServerAddress) -> ServerEngine:
        """Check that the server answers and serves ``address.model`` as a DiffusionGemma model."""
        return cls(address, check_model(address))

    def generate(
        self,
        conversation: Conversation,
        settings: GenerationSettings | None = None,
        options: PromptOptions | None = None,
        cancel: CancelToken | None = None,
        *,
        plan: ReplyPlan = FRESH,
    ) -> Iterator[Event]:
        """Stream the reply from the server as Canvas events and a Done (see the module)."""
        if not conversation.turns or conversation.turns[-1].role != "user":
            raise EngineError("There is no user message to answer", fix="Type a message, then send it")
        continuation = _continuation(plan)
        settings = (settings or self.default_settings).validate()
        body = chat_request(
            self.address.model, conversation, settings, options or PromptOptions(), continuation
        )
        yield from _Reply(self.address, body, cancel, continuation).events()

    def decode_steps(self, frames: Sequence[Any]) -> list[Step]:
        """No replay here: a served reply has no steps, and a local reply's need the local tokenizer."""
        if frames:
            raise EngineError(
                "Replaying this reply needs the tokenizer of the model on this computer that wrote it",
                fix="Load that model (Model ▸ Models…) to replay it step by step",
            )
        raise EngineError(
            "This reply has no refinement steps to replay: a model on a server sends whole canvases",
            fix="Its text is complete as shown; replies of a model on this computer replay step by step",
        )

    def forget_prompt_cache(self) -> None:
        """The server keeps its own prefix cache; nothing is kept here."""

    def vram_in_use(self) -> int | None:
        return None

    def close(self) -> None:
        """Nothing to give back: each reply opens and closes its own connection."""


def _continuation(plan: ReplyPlan) -> str:
    """The text a served reply goes on from ("" for a fresh one); the plans a server cannot carry out refused.

    A server continues text (the reply so far, sent as an open assistant
    message); it cannot start canvases from chosen tokens, which the other
    modes need.
    """
    if plan.kind == "revise" and not plan.text:
        return ""  # nothing to revise: a fresh reply
    if plan.kind not in SERVER_PLANS:  # what the window is told (info.plans) is what is refused here
        raise plan_refused(plan.kind, "on a server")
    if plan.kind == "continue" and not plan.text:
        raise EngineError(
            "A model on a server cannot continue a reply from its tokens alone: it continues text",
            fix="Continue it from the window, which sends the reply's text, or regenerate it",
        )
    return plan.text if plan.kind == "continue" else ""


class _Reply:
    """One streamed reply: the text so far, its canvases and timing.

    A continued reply starts inside a thought when the text it goes on from
    opened one and did not close it, so the thought's markers stay balanced.
    """

    def __init__(
        self, address: ServerAddress, body: dict[str, Any], cancel: CancelToken | None, continuation: str = ""
    ) -> None:
        self.address = address
        self.body = body
        self.cancel = cancel
        self.text = ""
        self.in_thought = continuation.rfind(_OPEN_THOUGHT) > continuation.rfind(_CLOSE_THOUGHT)
        self.canvases = 0
        self.usage: dict[str, Any] = {}
        self.started = time.perf_counter()
        self.first_canvas = 0.0

    def events(self) -> Iterator[Event]:
        stream = ChunkStream(self.address, self.body)
        finish: str | None = None
        try:
            for chunk in stream.chunks(self.cancel):
                if chunk.usage:
                    self.usage = chunk.usage
                finish = chunk.finish_reason or finish
                canvas = self._canvas(chunk)
                if canvas is not None:
                    yield canvas
        except StreamCancelledError:
            yield self._done("cancelled", incomplete=True)
            return
        except (StreamDroppedError, ServerError) as failure:
            dropped = isinstance(failure, StreamDroppedError)
            error = failure.error if dropped else failure
            if not self.canvases:
                raise error from None
            log.info("the server broke off a reply after %d canvases: %s", self.canvases, error)
            yield self._done("disconnected" if dropped else "error", incomplete=True)
            return
        finally:
            stream.abort()
        if finish is None:
            yield self._done("disconnected", incomplete=True)
        else:
            yield self._done(_FINISH_REASONS.get(finish, finish), incomplete=finish != "stop")

    def _canvas(self, chunk: Chunk) -> Canvas | None:
        """The chunk's text as the next canvas (thought inside thinking markers); None if it has none."""
        added = ""
        if chunk.reasoning:
            if not self.in_thought:
                added += _OPEN_THOUGHT
                self.in_thought = True
            added += chunk.reasoning
        if chunk.content:
            if self.in_thought:
                added += _CLOSE_THOUGHT
                self.in_thought = False
            added += chunk.content
        if not added:
            return None
        if not self.canvases:
            self.first_canvas = time.perf_counter() - self.started
        self.text += added
        block = self.canvases
        self.canvases += 1
        return Canvas(block=block, tokens=(), text=added, steps=0, ended=chunk.finish_reason is not None)

    def _done(self, stop_reason: str, *, incomplete: bool) -> Done:
        seconds = time.perf_counter() - self.started
        generated = int(self.usage.get("completion_tokens") or 0)
        split = split_thinking(self.text)
        stats = Stats(
            prompt_tokens=int(self.usage.get("prompt_tokens") or 0),
            cached_prompt_tokens=_cached_tokens(self.usage),
            generated_tokens=generated,
            canvases=self.canvases,
            forwards=0,  # the server does not say how many denoising steps it ran
            max_denoising_steps=0,
            steps_per_canvas=(),
            tokens_per_forward=0.0,
            time_to_first_draft=self.first_canvas,
            seconds=seconds,
            tokens_per_second=generated / seconds if seconds > 0 else 0.0,
        )
        return Done(
            prompt_ids=(),
            token_ids=(),
            text=self.text,
            thought=split.thought,
            answer=split.answer,
            stats=stats,
            incomplete=incomplete,
            stop_reason=stop_reason,
        )


def _cached_tokens(usage: dict[str, Any]) -> int:
    """Prompt tokens the server reused from its prefix cache, when it says."""
    details = usage.get("prompt_tokens_details")
    return int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0

"""The engine facade: load a model once, then answer conversations as a stream of events.

This is the small API the GUI, the CLI and the benchmarks use.  Everything
here runs on the caller's thread (the GUI calls it from a worker QThread); the
only cross-thread interaction is the :class:`CancelToken`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from engine.cancel import CancelToken
from engine.errors import EngineError, OutOfMemoryError
from engine.events import Done, Event, LoadProgress, PromptEncoded, Step
from engine.generation import seeding as seeds
from engine.generation.codec import TokenCodec
from engine.generation.gaps import FillLayout, lay_out
from engine.generation.loop import denoise
from engine.generation.plan import ALL_PLANS, ReplyPlan
from engine.generation.prefill import PrefillOptions, PrefixCache
from engine.generation.replay import decode_steps
from engine.generation.seeding import Seeding
from engine.inputs.conversation import Conversation, PromptOptions
from engine.inputs.overflow import Cut
from engine.inputs.prompt import PromptInputs, build_prompt
from engine.model.demo import AUTO, DEMO, demo_model_path
from engine.model.fit import ContextLimit, context_limit
from engine.model.loader import (
    DEFAULT_MODEL,
    check_checkpoint,
    choose_device,
    is_quantized_checkpoint,
    load_model,
    preferred_model,
    resolve_source,
)
from engine.settings import DEFAULT_MAX_NEW_TOKENS, PREFILL_CHUNK, GenerationSettings
from engine.threads import make_reproducible, use_threads

log = logging.getLogger(__name__)

FRESH = ReplyPlan.fresh()


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    source: str
    path: str
    device: str
    dtype: str
    canvas_length: int
    context_length: int  # prompt + reply tokens allowed: the model's maximum, or less if GPU memory says so
    is_demo: bool
    model_context_length: int = 0  # the model's own maximum (max_position_embeddings)
    context_limited_by_memory: bool = False
    plans: frozenset[str] = ALL_PLANS  # the reply modes (ReplyPlan kinds) it carries out: all of them

    @property
    def context_limit(self) -> ContextLimit:
        return ContextLimit(
            self.context_length,
            self.model_context_length or self.context_length,
            self.context_limited_by_memory,
        )


def _with_omitted_turns(events: Iterator[Event], omitted: int) -> Iterator[Event]:
    """The events, with the number of turns the prompt left out on PromptEncoded and Done's stats."""
    for event in events:
        if omitted and isinstance(event, PromptEncoded):
            event = replace(event, omitted_turns=omitted)
        elif omitted and isinstance(event, Done):
            event = replace(event, stats=replace(event.stats, omitted_turns=omitted))
        yield event


def _with_filled_gaps(
    events: Iterator[Event], layout: FillLayout, decode: Callable[[list[int]], str]
) -> Iterator[Event]:
    """The events, with Done's text the draft as the user wrote it and each gap's filling.

    The texts between gaps come from the draft itself, not from decoding their
    tokens, so they come back exactly (a tokenizer may not round-trip every string).
    """
    for event in events:
        if isinstance(event, Done) and len(event.token_ids) >= len(layout.ids):
            fillings = layout.fillings(list(event.token_ids), decode)
            text = layout.draft.assemble(fillings)
            event = replace(event, text=text, thought="", answer=text, gaps=tuple(fillings))
        yield event


def _split_thinking(text: str) -> tuple[str, str]:
    from engine.inputs.thinking import split_thinking

    parts = split_thinking(text)
    return parts.thought, parts.answer


class Engine:
    """A loaded DiffusionGemma model with its processor (the in-process engine.interface.ChatEngine)."""

    info: ModelInfo
    default_settings: GenerationSettings

    def __init__(self, model, processor, info: ModelInfo) -> None:
        self.model = model
        self.processor = processor
        self.info = info
        gen_config = model.generation_config
        eos = gen_config.eos_token_id if gen_config.eos_token_id is not None else []
        tokenizer = processor.tokenizer
        self.codec = TokenCodec(
            decode=lambda ids: tokenizer.decode(ids, skip_special_tokens=False),
            pieces=lambda ids: [p.replace("▁", " ") for p in tokenizer.convert_ids_to_tokens(ids)],
            eos_ids=frozenset([eos] if isinstance(eos, int) else eos),
            pad_id=gen_config.pad_token_id,
        )
        self.default_settings = GenerationSettings.from_generation_config(gen_config, DEFAULT_MAX_NEW_TOKENS)
        # The encoder cache of the last prompt, so a follow-up only encodes what is new.
        self.reuse_prompt_cache = True
        self._prefix: PrefixCache | None = None
        # The oldest turns the last prompt left out (engine.inputs.overflow), kept while the chat still fits.
        self._cut: Cut | None = None
        # Prompt tokens per encoder call during prefill (bounds its transient memory: engine.model.planner).
        self.prefill_chunk = PREFILL_CHUNK

    @classmethod
    def load(
        cls,
        model: str | Path = DEFAULT_MODEL,
        *,
        device: str | None = None,
        require_cuda: bool = False,
        allow_download: bool = False,
        quantize: bool | None = None,
        progress: Callable[[LoadProgress], None] | None = None,
        threads: int | None = None,
    ) -> Engine:
        """Find, check and load a checkpoint. Blocking: call it off the GUI thread.

        ``quantize`` (default: on CUDA only) loads 4-bit weights through
        ``engine.model.quant``; see :func:`engine.model.loader.load_model`.
        ``threads`` (None: automatic) is set for the calling thread, which must be the one that
        generates; a seed reproduces a reply for a given thread count (engine.threads).
        """
        use_threads(threads)
        source = str(model)
        if source == AUTO:
            source = preferred_model()
        is_demo = source == DEMO
        folder = demo_model_path() if is_demo else resolve_source(source, allow_download=allow_download)
        check_checkpoint(folder)
        choice = choose_device(device, require_cuda=require_cuda)
        make_reproducible(choice.device.type)
        if quantize is None:
            quantize = choice.device.type == "cuda"  # the 26B model only fits a consumer GPU in 4 bits
        # Refuse a model that cannot fit before minutes of loading, and find the context that fits.
        limit = context_limit(
            folder, choice.device, choice.dtype, quantize=quantize or is_quantized_checkpoint(folder)
        )
        loaded, processor = load_model(folder, choice, progress, quantize=quantize)
        info = ModelInfo(
            name="Demo model" if is_demo else (folder.name if Path(source).exists() else source),
            source=source,
            path=str(folder),
            device=str(choice.device),
            dtype=str(choice.dtype).removeprefix("torch."),
            canvas_length=loaded.config.canvas_length,
            context_length=limit.tokens,
            is_demo=is_demo,
            model_context_length=limit.model_tokens,
            context_limited_by_memory=limit.by_memory,
        )
        return cls(loaded, processor, info)

    def prepare(
        self, conversation: Conversation, settings: GenerationSettings, options: PromptOptions
    ) -> PromptInputs:
        """Template, tokenize and check the prompt (loads and validates attachments)."""
        if not conversation.turns or conversation.turns[-1].role != "user":
            raise EngineError("There is no user message to answer", fix="Type a message, then send it")
        canvas = self.info.canvas_length
        reserve = -(-settings.max_new_tokens // canvas) * canvas
        return build_prompt(
            self.processor,
            conversation,
            options,
            limit=self.info.context_limit,
            reserve_tokens=reserve,
            previous=self._cut,
        )

    def generate(
        self,
        conversation: Conversation,
        settings: GenerationSettings | None = None,
        options: PromptOptions | None = None,
        cancel: CancelToken | None = None,
        *,
        plan: ReplyPlan = FRESH,
        with_pieces: bool = True,
    ) -> Iterator[Event]:
        """Answer the conversation's last user turn as events (:class:`engine.interface.ChatEngine`).

        A fixed ``settings.seed`` makes the reply reproducible; without one a
        fresh seed is drawn.  Raises EngineError subclasses for bad input and
        OutOfMemoryError (after freeing caches) when the GPU runs out.

        ``plan`` says what kind of reply to write (:class:`ReplyPlan`): fresh, continuing
        a reply cut short (events then cover only the new part, blocks numbered from 0,
        ``Done.text`` the new text; ``max_new_tokens`` still bounds the whole reply),
        revising an earlier answer in place (canvases start from its tokens), or
        rewriting the selected part of a reply (every other token kept; same length),
        filling the gaps of a user's draft (its text kept token for token; ``Done.text`` the
        filled draft, ``Done.gaps`` each gap's text; the draft sets the length, bounded by the
        context) or going on from a recorded step (like continue, its canvas starting there).
        """
        settings = (settings or self.default_settings).validate()
        settings, prompt, seeding = self._prompt_for(plan, conversation, settings, options or PromptOptions())
        torch.manual_seed(
            settings.seed if settings.seed is not None else random.SystemRandom().randrange(2**63)
        )
        try:
            events = denoise(
                self.model,
                prompt.tensors,
                settings,
                self.codec,
                seeding=seeding,
                cancel=cancel,
                with_pieces=with_pieces,
                split=_split_thinking,
                prefill_options=self._prefill_options(),
            )
            if plan.kind == "fill":
                events = _with_filled_gaps(events, self.fill_layout(plan.text), self.codec.decode)
            yield from _with_omitted_turns(events, prompt.omitted_turns)
        except torch.OutOfMemoryError:
            log.exception("out of memory during generation")
            self.free_memory()
            raise OutOfMemoryError(
                "The GPU ran out of memory while writing this reply",
                fix="Start a new chat or remove attachments (shorter context), lower the image token budget, "
                "or close other programs using the GPU; the model is still loaded",
            ) from None

    def _prompt_for(
        self,
        plan: ReplyPlan,
        conversation: Conversation,
        settings: GenerationSettings,
        options: PromptOptions,
    ) -> tuple[GenerationSettings, PromptInputs, Seeding]:
        """(settings, prompt, seeding) of a reply: the prompt leaves room for the reply the plan writes.

        A fill plan's draft sets the reply's length (bounded by the context only),
        so it is resolved first; every other plan is resolved within the budget.
        """
        if plan.kind == "fill":
            seeding = self.resolve(plan, self.info.context_length)
            settings = settings.with_changes(max_new_tokens=seeding.max_new_tokens)
        prompt = self.prepare(conversation, settings, options)
        self._cut = prompt.cut
        if plan.kind != "fill":
            seeding = self.resolve(plan, settings.max_new_tokens)
        return settings, prompt, seeding

    def _prefill_options(self) -> PrefillOptions:
        """How the prompt is read: in chunks; from and for the last turn's cache when reuse is on."""
        reuse = self.reuse_prompt_cache
        return PrefillOptions(
            self.prefill_chunk, self._prefix if reuse else None, self._keep if reuse else None
        )

    def resolve(self, plan: ReplyPlan, budget: int) -> Seeding:
        """``plan`` as the loop's starting point, with this model's tokenizer (engine.generation.seeding)."""
        encode = self._encode_user_text if plan.kind == "fill" else self._encode_text  # a draft is user text
        return seeds.resolve(plan, budget, self.codec, encode, self.info.canvas_length, self._end_of_turn())

    def fill_layout(self, draft: str) -> FillLayout:
        """A draft's ids and gap positions, as :meth:`resolve` lays them out for a fill plan."""
        return lay_out(draft, self._encode_user_text, self._end_of_turn())

    def _end_of_turn(self) -> int:
        """The id that ends a model turn (``<turn|>`` on Gemma 4), else the lowest EOS id."""
        turn_end = self.processor.tokenizer.convert_tokens_to_ids("<turn|>")
        return turn_end if turn_end in self.codec.eos_ids else min(self.codec.eos_ids)

    def start_tokens(self, text: str, limit: int) -> list[int]:
        """``text`` as the ids a revision's canvases start from (no special tokens), at most ``limit``."""
        return seeds.start_tokens(self._encode_text, text, limit)

    def rewrite_plan(self, reply_ids: Sequence[int], selection: str) -> tuple[list[int], list[bool]]:
        """The ids a rewrite starts from (whole canvases) and which of them it keeps."""
        return seeds.rewrite_positions(self.codec, self.info.canvas_length, reply_ids, selection)

    def _encode_text(self, text: str) -> list[int]:
        return self.processor.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _encode_user_text(self, text: str) -> list[int]:
        """User text as the prompt reads it: a typed ``<turn|>`` is text, never a control token."""
        tokenizer = self.processor.tokenizer
        return tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]

    def decode_steps(self, frames: Iterable[Step]) -> list[Step]:
        """A stored refinement history as Step events, decoded with this model's tokenizer (for replay)."""
        return decode_steps(frames, self.codec)

    def _keep(self, prefix: PrefixCache) -> None:
        self._prefix = prefix

    def forget_prompt_cache(self) -> None:
        """Drop the cached prompt (a new chat, or memory pressure)."""
        self._prefix = None

    def close(self) -> None:
        """Give the model's memory back now, whatever still refers to this engine.

        Python frees a model only when nothing refers to it any more, and a
        loaded model sits in reference cycles (the frames of the lazy imports
        that ran while it loaded keep it, measured on the demo model), which
        only the cyclic garbage collector breaks: in the app that runs on the
        GUI thread at its own pace, so switching models on a GPU would start
        loading the next one beside the old one's weights (and the VRAM check
        would refuse it).  Moving every parameter and buffer to the meta device
        frees their storage at once.  The engine cannot generate afterwards.
        """
        self._prefix = None
        self._cut = None
        self.model.to("meta")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def free_memory(self) -> None:
        self._prefix = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def vram_in_use(self) -> int | None:
        if self.model.device.type != "cuda":
            return None
        return int(torch.cuda.memory_allocated(self.model.device))

"""From a conversation to model inputs, through the checkpoint's own chat template.

Images go before the text of their message (as the model card asks); a video
becomes its sampled frames, each an image at the per-frame budget (70 soft
tokens) preceded by its "mm:ss" timestamp.  Assistant turns carry only their
final answers: any thought that slipped into the history is stripped here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from engine.errors import PromptTooLongError, SettingsError
from engine.inputs.conversation import IMAGE_TOKEN_BUDGETS, Conversation, PromptOptions, Turn
from engine.inputs.documents import document_prompt_text, load_document
from engine.inputs.media import format_timestamp, load_image, load_video_frames
from engine.inputs.overflow import OVERFLOW_POLICIES, Cut, fit_conversation, without_oldest
from engine.inputs.thinking import split_thinking
from engine.inputs.user_text import UserTexts, joined

if TYPE_CHECKING:
    from engine.model.fit import ContextLimit


@dataclass
class PromptInputs:
    """Model inputs for one prompt plus what the UI and stats want to know about it."""

    tensors: dict[str, Any]
    text: str
    num_images: int
    num_frames: int
    cut: Cut | None = None  # the oldest turns left out because the whole chat did not fit

    @property
    def omitted_turns(self) -> int:
        return self.cut.turns if self.cut is not None else 0

    @property
    def num_tokens(self) -> int:
        return int(self.tensors["input_ids"].shape[1])


def _history_text(turn: Turn) -> str:
    if turn.role != "assistant":
        return turn.text
    return split_thinking(turn.text).answer


@dataclass
class PromptMedia:
    """Chat-template messages, the images in prompt order, and each image's token budget."""

    messages: list[dict]
    images: list
    budgets: list[int]
    num_images: int = 0
    num_frames: int = 0


def build_messages(
    conversation: Conversation, options: PromptOptions, user_texts: UserTexts | None = None
) -> PromptMedia:
    """Turn the conversation into chat-template messages, loading every attachment.

    With ``user_texts``, every string a user or file supplied goes into the messages as a
    marker, so that it is tokenized as text (``engine.inputs.user_text``).
    """
    mark = user_texts.mark if user_texts is not None else str
    media = options.media
    if media.image_tokens not in IMAGE_TOKEN_BUDGETS:
        raise SettingsError(
            f"Image token budget {media.image_tokens} is not supported",
            fix=f"Choose one of {', '.join(map(str, IMAGE_TOKEN_BUDGETS))}",
        )
    out = PromptMedia(messages=[], images=[], budgets=[])
    messages, images, budgets = out.messages, out.images, out.budgets
    if conversation.system.strip():
        messages.append({"role": "system", "content": mark(conversation.system.strip())})
    for turn in conversation.turns:
        parts: list[dict] = []
        for attachment in turn.attachments:
            if attachment.kind == "document":
                document = replace(load_document(attachment.path), name=attachment.display_name)
                parts.append({"type": "text", "text": mark(document_prompt_text(document))})
            elif attachment.kind == "image":
                images.append(load_image(attachment.path))
                budgets.append(media.image_tokens)
                out.num_images += 1
                parts.append({"type": "image"})
            else:
                frames = load_video_frames(
                    attachment.path, fps=media.video_fps, max_frames=media.video_max_frames
                )
                for frame in frames:
                    parts.append({"type": "text", "text": f"{format_timestamp(frame.timestamp)} "})
                    parts.append({"type": "image"})
                    images.append(frame.image)
                    budgets.append(media.video_frame_tokens)
                    out.num_frames += 1
        parts.append({"type": "text", "text": mark(_history_text(turn))})
        messages.append({"role": turn.role, "content": parts})
    return out


def encode_prompt(processor: Any, conversation: Conversation, options: PromptOptions) -> PromptInputs:
    """Template and tokenize ``conversation`` (loading its attachments), whatever its length."""
    user_texts = UserTexts()
    media = build_messages(conversation, options, user_texts)
    rendered = processor.apply_chat_template(
        media.messages,
        tokenize=False,
        add_generation_prompt=True,
        enable_thinking=options.enable_thinking,
    )
    pieces = user_texts.pieces(rendered)
    tensors = dict(processor.encode(pieces, media.images, media.budgets))
    return PromptInputs(
        tensors=tensors, text=joined(pieces), num_images=media.num_images, num_frames=media.num_frames
    )


def build_prompt(
    processor: Any,
    conversation: Conversation,
    options: PromptOptions,
    *,
    limit: ContextLimit,
    reserve_tokens: int,
    previous: Cut | None = None,
) -> PromptInputs:
    """Template and tokenize ``conversation`` so that it leaves room for the reply.

    A conversation too long for ``limit`` loses its oldest turns
    (``engine.inputs.overflow``; ``previous`` is the last reply's cut, kept while it
    fits) or, with the "stop" policy, raises PromptTooLongError.
    """
    if options.context_overflow not in OVERFLOW_POLICIES:
        raise SettingsError(
            f"Unknown context overflow policy {options.context_overflow!r}",
            fix="Use " + " or ".join(OVERFLOW_POLICIES),
        )
    budget = limit.tokens - reserve_tokens
    encoded: dict[int, PromptInputs] = {}

    def encode_from(start: int) -> PromptInputs:
        """The prompt without the first ``start`` turns, encoded once (images are the costly part)."""
        if start not in encoded:
            encoded[start] = encode_prompt(processor, without_oldest(conversation, start), options)
        return encoded[start]

    dropping = options.context_overflow == "drop_oldest"
    if not (dropping and previous is not None and previous.applies_to(conversation)):
        prompt = encode_from(0)
        if prompt.num_tokens <= budget:
            return prompt
        previous = None
    # else the chat outgrew the context before and has only grown since: fit_conversation tries
    # the last reply's cut first, without encoding the whole chat (which cannot fit).
    if not dropping:
        raise _conversation_too_long(prompt.num_tokens, reserve_tokens, limit)
    cut = fit_conversation(
        conversation, lambda start: encode_from(start).num_tokens, budget, previous=previous
    )
    if cut is None:
        last = len(conversation.turns) - 1
        raise _message_too_long(encode_from(last).num_tokens, conversation.turns[last], reserve_tokens, limit)
    kept = encode_from(cut.turns)
    kept.cut = cut
    return kept


def _conversation_too_long(tokens: int, reserve_tokens: int, limit: ContextLimit) -> PromptTooLongError:
    return PromptTooLongError(
        f"The conversation is {tokens:,} tokens and the reply needs {reserve_tokens:,} more, "
        f"but {_room(limit)}",
        fix="Start a new chat, remove attachments or earlier messages, lower the image token budget "
        "or video frame cap, or lower 'max new tokens'; or let the app leave out the oldest messages "
        "(Settings ▸ Prompt)" + _more_room(limit),
    )


def _message_too_long(
    tokens: int, turn: Turn, reserve_tokens: int, limit: ContextLimit
) -> PromptTooLongError:
    """The newest message alone (with its attachments) leaves no room for the reply."""
    media = " with its attachments" if turn.attachments else ""
    return PromptTooLongError(
        f"Your message is {tokens:,} tokens{media} and the reply needs {reserve_tokens:,} more, "
        f"but {_room(limit)}",
        fix="Shorten the message or remove attachments, lower the image token budget or video frame "
        "cap, or lower 'max new tokens'" + _more_room(limit),
    )


def _room(limit: ContextLimit) -> str:
    if limit.by_memory:
        return (
            f"this GPU's memory has room for {limit.tokens:,} tokens of context "
            f"(the model's maximum is {limit.model_tokens:,})"
        )
    return f"the model's context holds {limit.tokens:,}"


def _more_room(limit: ContextLimit) -> str:
    if not limit.by_memory:
        return ""
    return "; closing other programs that use the GPU, then reloading the model, gives more room"

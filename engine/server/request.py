"""A conversation as an OpenAI chat-completions request, built as the local prompt is.

The messages come from :func:`engine.inputs.prompt.build_messages`, the local
prompt builder's own, so history (final answers only), the system prompt,
documents (as text) and video frames (with their "mm:ss" labels) are what the
local model would read; each image placeholder becomes a data URL of that image
scaled to the pixels its token budget uses (the server would scale it anyway,
and a smaller upload keeps requests under its size limit).
"""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

from engine.inputs.conversation import Conversation, PromptOptions
from engine.inputs.prompt import build_messages
from engine.settings import GenerationSettings

PIXELS_PER_TOKEN = (3 * 16) ** 2
"""Gemma 4's image processor: one soft token per 3x3 pool of 16-pixel patches."""

JPEG_QUALITY = 92


def image_data_url(image: Image.Image, budget: int) -> str:
    """``image`` as a JPEG data URL, downscaled (never up) to ``budget`` soft tokens' worth of pixels."""
    width, height = image.size
    limit = budget * PIXELS_PER_TOKEN
    if width * height > limit:
        scale = (limit / (width * height)) ** 0.5
        size = (max(1, int(width * scale)), max(1, int(height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def chat_messages(conversation: Conversation, options: PromptOptions) -> list[dict[str, Any]]:
    """The OpenAI ``messages``: images as ``image_url`` parts in the local prompt's order."""
    media = build_messages(conversation, options)
    pairs = zip(media.images, media.budgets, strict=True)
    urls = iter([image_data_url(image, budget) for image, budget in pairs])
    messages: list[dict[str, Any]] = []
    for message in media.messages:
        content = message["content"]
        if isinstance(content, list):
            content = [
                {"type": "image_url", "image_url": {"url": next(urls)}} if part["type"] == "image" else part
                for part in content
            ]
            if message["role"] == "assistant":  # history: its text only
                content = "".join(part.get("text", "") for part in content)
        messages.append({"role": message["role"], "content": content})
    return messages


def chat_request(
    model: str,
    conversation: Conversation,
    settings: GenerationSettings,
    options: PromptOptions,
    continuation: str = "",
) -> dict[str, Any]:
    """The request body: streamed, usage in the last chunk, thinking through the chat template.

    ``skip_special_tokens: false`` keeps the thinking markers in the text, so the reply is split into
    thought and answer as a local one is (engine.inputs.thinking).  The denoising settings stay
    local-only: the server runs its own sampler.  A ``continuation`` (the reply so far) goes last
    as an open assistant message that the model continues (vLLM's ``continue_final_message``).
    """
    body: dict[str, Any] = {
        "model": model,
        "messages": chat_messages(conversation, options),
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": settings.max_new_tokens,
        "chat_template_kwargs": {"enable_thinking": options.enable_thinking},
        "skip_special_tokens": False,
    }
    if settings.seed is not None:
        body["seed"] = settings.seed
    if continuation:
        body["messages"].append({"role": "assistant", "content": continuation})
        body["add_generation_prompt"] = False  # vLLM refuses it together with continue_final_message
        body["continue_final_message"] = True
    return body

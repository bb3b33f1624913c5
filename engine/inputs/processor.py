"""The checkpoint's processor, adapted so it loads without torchvision and mixes image budgets.

DiffusionGemma checkpoints name ``Gemma4Processor``, which also wants a video
processor and an audio feature extractor.  transformers' Gemma 4 video
processor needs torchvision, which cannot be imported beside the CPU build of
torch, and DiffusionGemma takes video as frames anyway (CONTEXT.md §1), so
:class:`DiffusionGemmaProcessor` keeps only the tokenizer and the image
processor, read from the checkpoint's own files, and reuses everything else of
``Gemma4Processor``: the chat template, placeholder expansion and
``mm_token_type_ids``.

It adds a token budget per image.  Video frames use 70 soft tokens
while a photo in the same message may use 280; Gemma's image processor takes
one budget per call, so images are processed one budget at a time and their
patches padded to a common length with ``(-1, -1)`` positions, which the
vision tower drops (checked by a test: padded and unpadded features are equal).

And it tokenizes what users and files supply as text: :meth:`encode` takes the
templated prompt as template and user pieces (``engine.inputs.user_text``), so
only the chat template produces control tokens.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch
from transformers.feature_extraction_utils import BatchFeature
from transformers.models.gemma4 import Gemma4Processor
from transformers.processing_utils import ProcessorMixin

from engine.inputs.user_text import Piece


class DiffusionGemmaProcessor(Gemma4Processor):
    """Image + text processor for DiffusionGemma (no video/audio sub-processors)."""

    def __init__(self, image_processor, tokenizer, chat_template=None, image_seq_length: int = 280, **kwargs):
        self.image_seq_length = image_seq_length
        self.image_token_id = tokenizer.image_token_id
        self.image_token = tokenizer.image_token
        self.boi_token = tokenizer.boi_token
        self.eoi_token = tokenizer.eoi_token
        # Gemma4Processor.validate_inputs reads these even when no audio is given.
        self.audio_token = getattr(tokenizer, "audio_token", None)
        self.audio_token_id = getattr(tokenizer, "audio_token_id", None)
        self.boa_token = getattr(tokenizer, "boa_token", None)
        self.eoa_token = getattr(tokenizer, "eoa_token", None)
        self.video_token = None
        self.video_token_id = None
        self._budgets: list[int] | None = None
        kwargs.pop("audio_seq_length", None)
        kwargs.pop("audio_ms_per_token", None)
        ProcessorMixin.__init__(
            self, image_processor=image_processor, tokenizer=tokenizer, chat_template=chat_template, **kwargs
        )

    def encode(self, pieces: Sequence[Piece], images: Sequence[Any], budgets: Sequence[int]) -> BatchFeature:
        """Tokenize a templated prompt with ``images[i]`` at ``budgets[i]`` soft tokens.

        Template pieces are tokenized as the tokenizer always does, control tokens included;
        user pieces (messages, the system prompt, documents) with special tokens not
        recognised, so a typed ``<turn|>`` or ``<|image|>`` stays text.  Text between two
        control tokens is tokenized as one run, as it would be in the whole prompt, so an
        ordinary prompt gets exactly the ids it always had.
        """
        if len(images) != len(budgets):
            raise ValueError("one budget per image is required")
        image_data, expansions = self._image_inputs(images, budgets)
        ids = self._token_ids(pieces, expansions)
        input_ids = torch.tensor([ids], dtype=torch.long)
        return BatchFeature(
            {
                "input_ids": input_ids,
                "attention_mask": torch.ones_like(input_ids),
                "mm_token_type_ids": torch.tensor(self.create_mm_token_type_ids([ids]), dtype=torch.long),
                **image_data,
            }
        )

    def _image_inputs(self, images: Sequence[Any], budgets: Sequence[int]) -> tuple[dict, list[list[int]]]:
        """The vision inputs, and each image's ids in the prompt (begin, soft tokens, end)."""
        if not images:
            return {}, []
        self._budgets = list(budgets)
        try:
            out = self(
                text=[self.image_token * len(images)],
                images=[list(images)],
                return_tensors="pt",
                text_kwargs={"add_special_tokens": False},
            )
        finally:
            self._budgets = None
        expansions: list[list[int]] = []
        eoi = self.tokenizer.convert_tokens_to_ids(self.eoi_token)
        for token in out["input_ids"][0].tolist():
            if not expansions or expansions[-1][-1] == eoi:
                expansions.append([])
            expansions[-1].append(token)
        text_keys = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")
        return {k: v for k, v in out.items() if k not in text_keys}, expansions

    def _token_ids(self, pieces: Sequence[Piece], expansions: list[list[int]]) -> list[int]:
        tokenizer = self.tokenizer
        control = _special_tokens_pattern(tokenizer)
        images = iter(expansions)
        ids: list[int] = []
        run: list[str] = []

        def flush() -> None:
            text = "".join(run)
            run.clear()
            if text:
                ids.extend(tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])

        for piece in pieces:
            if piece.user:
                run.append(piece.text)
                continue
            position = 0
            for match in control.finditer(piece.text):
                run.append(piece.text[position : match.start()])
                flush()
                if match.group() == self.image_token:
                    expansion = next(images, None)
                    if expansion is None:
                        raise ValueError("the template wrote more image placeholders than there are images")
                    ids.extend(expansion)
                else:
                    ids.append(tokenizer.convert_tokens_to_ids(match.group()))
                position = match.end()
            run.append(piece.text[position:])
        flush()
        if next(images, None) is not None:
            raise ValueError("the template wrote fewer image placeholders than there are images")
        return ids

    def _process_images(self, images, **kwargs):
        if self._budgets is None:
            return super()._process_images(images, **kwargs)
        flat = (
            [image for group in images for image in group]
            if images and isinstance(images[0], list)
            else images
        )
        parts = []
        for image, budget in zip(flat, self._budgets, strict=True):
            call_kwargs = {**kwargs, "max_soft_tokens": budget, "return_tensors": "pt"}
            parts.append(self.image_processor([image], **call_kwargs))
        merged = _concat_padded(parts)
        replacements = [self.replace_image_token(merged, image_idx=i) for i in range(len(flat))]
        return merged, replacements


def _special_tokens_pattern(tokenizer: Any) -> re.Pattern[str]:
    """A pattern matching the tokenizer's special added tokens, longest first (as the tokenizer splits)."""
    tokens = sorted(
        (t.content for t in tokenizer.added_tokens_decoder.values() if t.special), key=len, reverse=True
    )
    return re.compile("|".join(map(re.escape, tokens)) or "(?!)")


def _concat_padded(parts: list[BatchFeature]) -> BatchFeature:
    """Concatenate per-image outputs, padding patches (zeros) and positions (-1) to the longest."""
    longest = max(p["pixel_values"].shape[1] for p in parts)
    pixels, positions, counts = [], [], []
    for p in parts:
        pv, pos = p["pixel_values"], p["image_position_ids"]
        pad = longest - pv.shape[1]
        if pad:
            pv = torch.cat([pv, pv.new_zeros(pv.shape[0], pad, pv.shape[2])], dim=1)
            pos = torch.cat([pos, pos.new_full((pos.shape[0], pad, pos.shape[2]), -1)], dim=1)
        pixels.append(pv)
        positions.append(pos)
        counts.append(torch.as_tensor(p["num_soft_tokens_per_image"]).reshape(-1))
    return BatchFeature(
        {
            "pixel_values": torch.cat(pixels),
            "image_position_ids": torch.cat(positions),
            "num_soft_tokens_per_image": torch.cat(counts),
        }
    )


def load_processor(path: str, **kwargs: Any) -> DiffusionGemmaProcessor:
    """Read the checkpoint's tokenizer, image processor and chat template from ``path``."""
    return DiffusionGemmaProcessor.from_pretrained(path, **kwargs)

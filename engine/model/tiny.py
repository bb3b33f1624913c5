"""Tiny checkpoints of the real DiffusionGemma architecture, built and saved by this project.

Model weights cannot be downloaded in CI, so tests and smoke benchmarks need a
checkpoint that exercises exactly the code path of the real 26B model: the same
``DiffusionGemmaForBlockDiffusion`` class, a 256-token canvas, sliding *and*
full attention layers (with the full layers' own KV-head count and head size),
fused MoE experts, a Gemma 4 vision tower, a Gemma tokenizer carrying the
Gemma 4 special tokens, a chat template that supports thinking, a processor
config and a ``generation_config.json`` with the real defaults.  It is saved
with ``save_pretrained`` and read back by the same loader as the real model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

# Gemma 4 special tokens. pad/eos/bos/unk/mask keep the real ids 0..4.
SPECIAL_TOKENS: tuple[str, ...] = (
    "<pad>",
    "<eos>",
    "<bos>",
    "<unk>",
    "<mask>",
    "<|turn>",
    "<turn|>",
    "<|think|>",
    "<|channel>",
    "<channel|>",
    "<|tool>",
    "<tool|>",
    "<|tool_call>",
    "<tool_call|>",
    "<|tool_response>",
    "<tool_response|>",
    "<|image>",
    "<|image|>",
    "<image|>",
    "<|audio>",
    "<|audio|>",
    "<audio|>",
    "<|video|>",
)

# The names Gemma4Processor reads off the tokenizer.
MULTIMODAL_TOKEN_NAMES: dict[str, str] = {
    "image_token": "<|image|>",
    "boi_token": "<|image>",
    "eoi_token": "<image|>",
    "audio_token": "<|audio|>",
    "boa_token": "<|audio>",
    "eoa_token": "<audio|>",
}

# The checkpoint's generation_config.json (CONTEXT.md §1), minus the token ids,
# which depend on the tokenizer.
REAL_GENERATION_DEFAULTS: dict[str, object] = {
    "max_new_tokens": 256,
    "max_denoising_steps": 48,
    "sampler_config": {"entropy_bound": 0.1, "_cls_name": "EntropyBoundSamplerConfig"},
    "t_max": 0.8,
    "t_min": 0.4,
    "stability_threshold": 1,
    "confidence_threshold": 0.005,
}


@dataclass(frozen=True, slots=True)
class TinyShape:
    """Dimensions of a tiny checkpoint. Multiples of 64 so 4-bit blockwise quantization applies."""

    vocab_size: int = 1024
    hidden_size: int = 128
    intermediate_size: int = 128
    layer_types: tuple[str, ...] = (
        "sliding_attention",
        "sliding_attention",
        "sliding_attention",
        "full_attention",
    )
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 32
    global_head_dim: int = 64
    num_global_key_value_heads: int = 1
    sliding_window: int = 128
    num_experts: int = 4
    top_k_experts: int = 2
    moe_intermediate_size: int = 64
    vision_hidden_size: int = 32
    vision_layers: int = 2


def chat_template() -> str:
    """The Gemma 4 style chat template shipped with our checkpoints (thinking via ``enable_thinking``)."""
    return (
        resources.files("engine.model").joinpath("templates/chat_template.jinja").read_text(encoding="utf-8")
    )


def default_corpus() -> str:
    return resources.files("engine.model").joinpath("corpus/tokenizer_corpus.txt").read_text(encoding="utf-8")


def build_tokenizer(corpus: str, vocab_size: int, *, atomic_special_tokens: bool = True):
    """Train a small byte-fallback BPE on ``corpus`` and wrap it as a ``GemmaTokenizer``.

    Training uses the Gemma normalisation (spaces become "▁"), so the merges are
    valid for ``GemmaTokenizer``'s own pipeline; the 256 byte tokens make any
    text (CJK, emoji) encodable.

    With ``atomic_special_tokens`` every Gemma 4 special token (``<|turn>``,
    ``<turn|>``, ``<|channel>`` …) is registered as a special added token, so
    text containing it encodes to its single id, as with the real tokenizer.
    This is the default: without it only the multimodal tokens are atomic and
    ``<turn|>`` in a rendered chat splits into characters, unlike the real
    tokenizer, so prompts would not exercise the real token layout.
    """
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer
    from transformers import GemmaTokenizer

    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    fixed = list(SPECIAL_TOKENS) + byte_tokens
    if vocab_size < len(fixed) + 64:
        raise ValueError(f"vocab_size must be at least {len(fixed) + 64}")
    trainer_tok = Tokenizer(BPE(unk_token="<unk>", byte_fallback=True))
    trainer_tok.normalizer = normalizers.Replace(" ", "▁")
    trainer_tok.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")
    trainer = BpeTrainer(vocab_size=vocab_size, special_tokens=fixed, show_progress=False, min_frequency=2)
    trainer_tok.train_from_iterator(corpus.splitlines(keepends=True), trainer=trainer)
    model = json.loads(trainer_tok.to_str())["model"]
    vocab: dict[str, int] = model["vocab"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in model["merges"]]
    # Pad to the exact size so the embedding matrix matches the tokenizer.
    for i in range(len(vocab), vocab_size):
        vocab[f"<unused{i}>"] = i
    tokenizer = GemmaTokenizer(
        vocab=vocab,
        merges=merges,
        extra_special_tokens=dict(MULTIMODAL_TOKEN_NAMES),
        chat_template=chat_template(),
    )
    if atomic_special_tokens:
        # Already in the vocabulary, so they keep their ids 0..22 and the size is unchanged.
        missing = [t for t in SPECIAL_TOKENS if t not in tokenizer.all_special_tokens]
        tokenizer.add_special_tokens(
            {"additional_special_tokens": missing}, replace_extra_special_tokens=False
        )
    return tokenizer


def build_config(tokenizer, shape: TinyShape):
    from transformers import DiffusionGemmaConfig
    from transformers.models.gemma4 import Gemma4VisionConfig

    ids = tokenizer.convert_tokens_to_ids
    text_config = {
        "vocab_size": shape.vocab_size,
        "hidden_size": shape.hidden_size,
        "intermediate_size": shape.intermediate_size,
        "num_hidden_layers": len(shape.layer_types),
        "layer_types": list(shape.layer_types),
        "num_attention_heads": shape.num_attention_heads,
        "num_key_value_heads": shape.num_key_value_heads,
        "head_dim": shape.head_dim,
        "global_head_dim": shape.global_head_dim,
        "num_global_key_value_heads": shape.num_global_key_value_heads,
        "sliding_window": shape.sliding_window,
        "num_experts": shape.num_experts,
        "top_k_experts": shape.top_k_experts,
        "moe_intermediate_size": shape.moe_intermediate_size,
        "use_bidirectional_attention": "vision",
        "max_position_embeddings": 131_072,
        "pad_token_id": ids("<pad>"),
        "bos_token_id": ids("<bos>"),
        "eos_token_id": [ids("<eos>"), ids("<turn|>")],
    }
    vision_config = Gemma4VisionConfig(
        hidden_size=shape.vision_hidden_size,
        intermediate_size=2 * shape.vision_hidden_size,
        num_hidden_layers=shape.vision_layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=shape.vision_hidden_size // 2,
    )
    return DiffusionGemmaConfig(
        text_config=text_config,
        vision_config=vision_config.to_dict(),
        boi_token_id=ids("<|image>"),
        eoi_token_id=ids("<image|>"),
        image_token_id=ids("<|image|>"),
        canvas_length=256,
    )


def generation_config_dict(tokenizer, overrides: dict[str, object] | None = None) -> dict[str, object]:
    """The real checkpoint's generation defaults with this tokenizer's ids; ``overrides`` replace defaults."""
    ids = tokenizer.convert_tokens_to_ids
    return {
        **REAL_GENERATION_DEFAULTS,
        **(overrides or {}),
        "bos_token_id": ids("<bos>"),
        "pad_token_id": ids("<pad>"),
        "eos_token_id": [ids("<eos>"), ids("<turn|>"), ids("<|tool_response>")],
    }


def save_processor_files(out: Path, tokenizer) -> None:
    """Write tokenizer, image processor and processor config in the real checkpoint's layout."""
    from transformers.models.gemma4.image_processing_pil_gemma4 import Gemma4ImageProcessorPil

    tokenizer.save_pretrained(out)
    image_processor = Gemma4ImageProcessorPil()
    image_processor.save_pretrained(out)
    # Real checkpoints name Gemma4Processor; our loader adapts it (see engine/inputs/processor.py).
    processor_config = {"processor_class": "Gemma4Processor", "image_seq_length": 280}
    (out / "processor_config.json").write_text(
        json.dumps(processor_config, indent=2) + "\n", encoding="utf-8"
    )
    (out / "chat_template.jinja").write_text(chat_template(), encoding="utf-8")


def make_tiny(
    out: str | Path,
    *,
    shape: TinyShape | None = None,
    corpus: str | None = None,
    seed: int = 0,
    max_shard_size: str | None = None,
) -> Path:
    """Write a tiny random-weight DiffusionGemma checkpoint to ``out`` and return its path."""
    from transformers import DiffusionGemmaForBlockDiffusion

    shape = shape or TinyShape()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(corpus if corpus is not None else default_corpus(), shape.vocab_size)
    config = build_config(tokenizer, shape)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DiffusionGemmaForBlockDiffusion(config)
    model.eval()
    save_kwargs = {"max_shard_size": max_shard_size} if max_shard_size else {}
    model.save_pretrained(out, **save_kwargs)
    (out / "generation_config.json").write_text(
        json.dumps(generation_config_dict(tokenizer), indent=2) + "\n", encoding="utf-8"
    )
    save_processor_files(out, tokenizer)
    return out

"""The VRAM planner against exact byte counts, real tensors, a measured peak, and the published shape."""

from __future__ import annotations

import argparse
import copy
import json

import pytest
import torch

from engine.model.planner import (
    GIB,
    PlanOptions,
    Shape,
    kv_cache_bytes,
    largest_context,
    make_plan,
    prefill_peak,
    prefill_transient_bytes,
    real_shape_config,
    step_transient_bytes,
    weight_bytes,
)
from engine.model.quant import QuantExperts, QuantSettings, quantize_model
from engine.model.quant.modules import EXPERTS_PER_GROUP

pytest.importorskip("bitsandbytes")


@pytest.fixture(scope="module")
def dense(tiny_checkpoint):
    from transformers import DiffusionGemmaForBlockDiffusion

    torch.set_num_threads(1)
    return DiffusionGemmaForBlockDiffusion.from_pretrained(str(tiny_checkpoint), dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def real():
    config = real_shape_config()
    return config, Shape.from_config(config)


def unique_bytes(model) -> int:
    """Bytes of every distinct storage among parameters and persistent buffers (tied ones once)."""
    storages: dict[int, int] = {}
    for module in model.modules():
        tensors = list(module._parameters.values()) + [
            b for n, b in module._buffers.items() if n not in module._non_persistent_buffers_set
        ]
        for tensor in tensors:
            if tensor is not None:
                storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
    return sum(storages.values())


def test_weight_bytes_are_exact(dense):
    assert sum(weight_bytes(dense.config, None, torch.float32).values()) == unique_bytes(dense)
    quantized = quantize_model(copy.deepcopy(dense), QuantSettings())
    planned = weight_bytes(dense.config, QuantSettings(), torch.float32)
    assert sum(planned.values()) == unique_bytes(quantized)
    assert planned["experts"] < weight_bytes(dense.config, None, torch.float32)["experts"] / 5


def test_real_shape_matches_the_published_arithmetic(real):
    """CONTEXT.md §2: experts ≈ 12 GiB at NF4, embeddings 1.4 GiB, attention+MLP ≈ 3 / 0.9 GiB, vision 0.3."""
    config, shape = real
    bf16 = weight_bytes(config, None)
    params = sum(bf16.values()) / 2
    assert 25.2e9 <= params <= 25.5e9
    assert bf16["experts"] / 2 == pytest.approx(22.8e9, rel=0.01)
    nf4 = weight_bytes(config, QuantSettings(double_quant=False))
    assert nf4["experts"] / GIB == pytest.approx(12.0, abs=0.1)  # 4 bits + an fp32 scale per 64
    dq = weight_bytes(config, QuantSettings())
    assert dq["experts"] / GIB == pytest.approx(11.0, abs=0.1)  # double-quantized scales: ~1 GiB less
    assert dq["embeddings"] / GIB == pytest.approx(1.4, abs=0.05)  # tied with the LM head, kept bf16
    assert (bf16["attention"] + bf16["dense_mlp"]) / GIB == pytest.approx(3.0, abs=0.35)
    assert (nf4["attention"] + nf4["dense_mlp"]) / GIB == pytest.approx(0.9, abs=0.1)
    assert dq["vision"] / GIB == pytest.approx(0.3, abs=0.03)
    assert 13.0 < sum(dq.values()) / GIB < 14.0
    # One canvas of logits: 256 × 262,144 = 134 MB bf16, 268 MB fp32; the sampler holds 10 such bf16 units:
    # two fp32 tensors (the logits, then the probabilities) and the bf16 self-conditioning copy.
    logits = shape.canvas * shape.vocab
    assert logits * 4 == 268_435_456
    assert step_transient_bytes(shape, 4096)["sampler"] == 10 * logits
    # KV cache is small: sliding layers stop at the window, full layers hold 2 heads of 512.
    assert kv_cache_bytes(shape, 8192) == 25 * 2 * 1023 * 8 * 256 * 2 + 5 * 2 * 8192 * 2 * 512 * 2


def test_18_gib_card_holds_a_useful_context(real):
    config, shape = real
    whole = make_plan(config, vram_bytes=18 * GIB, options=PlanOptions(prefill_chunk=None))
    chunked = make_plan(config, vram_bytes=18 * GIB)  # the engine's default: 2,048-token prefill chunks
    assert chunked.prefill_chunk == 2048 and any("whole prompt" in n for n in whole.notes)
    assert whole.fits and chunked.fits
    assert 8192 <= whole.max_context < chunked.max_context
    assert whole.max_context % shape.canvas == 0
    data = whole.to_json()
    assert {"weights_gib", "kv_cache_gib", "transient_gib", "total_gib"} <= set(data)
    assert data["total_gib"] <= 18


def test_largest_context_is_the_boundary(real):
    config, shape = real
    options = PlanOptions(prefill_chunk=1024)
    weights = weight_bytes(config, options.settings)
    vram = 17 * GIB
    best = largest_context(shape, weights, vram, options)
    assert make_plan(config, context=best, vram_bytes=vram, options=options).fits
    assert not make_plan(config, context=best + shape.canvas, vram_bytes=vram, options=options).fits
    tiny_budget = make_plan(config, vram_bytes=4 * GIB)
    assert tiny_budget.max_context == 0 and not tiny_budget.fits
    assert any("do not fit" in note for note in tiny_budget.notes)


def _prefill(model, length: int, cache=None):
    """Encode ``length`` random tokens the way engine.generation.loop does; return the cache."""
    from engine.generation.kv_cache import new_cache

    ids = torch.randint(0, model.config.text_config.vocab_size, (1, length))
    cache = cache if cache is not None else new_cache(model.config.get_text_config(decoder=True))
    encoder = model.model.encoder
    positions = torch.arange(length).unsqueeze(0)
    mask = encoder.create_masks_for_generate(
        config=model.config,
        inputs_embeds=torch.empty((1, length, 0)),
        attention_mask=torch.ones((1, length), dtype=torch.bool),
        cache=cache,
        position_ids=positions,
    )
    with torch.no_grad():
        encoder(input_ids=ids, attention_mask=mask, cache=cache, position_ids=positions)
    return cache, mask


def _storage_bytes(cache) -> int:
    """Memory the cache's tensors hold: whole storages (a slice keeps its base alive), each once."""
    storages = {}
    for layer in cache.layers:
        for tensor in (layer.keys, layer.values):
            storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
    return sum(storages.values())


@pytest.mark.parametrize("length", [40, 300])  # below and above the tiny sliding window (128)
def test_kv_cache_bytes_match_a_real_cache(dense, length):
    from transformers.cache_utils import DynamicCache

    cache, mask = _prefill(dense, length)
    planned = kv_cache_bytes(Shape.from_config(dense.config), length, dtype_bytes=4)
    assert _storage_bytes(cache) == planned
    # transformers' own cache keeps each sliding layer's window as a slice of all 300 tokens.
    plain, _ = _prefill(dense, length, DynamicCache(config=dense.config.get_text_config(decoder=True)))
    assert (_storage_bytes(plain) > planned) == (length > 128)
    # The planner's mask term (two bool [tokens, context] masks) bounds the real masks.
    real_masks = sum(m.numel() * m.element_size() for m in mask.values() if m is not None)
    planned = prefill_transient_bytes(Shape.from_config(dense.config), length, length, dtype_bytes=4)["masks"]
    assert real_masks <= planned


def _two_layer_model(**text):
    """A random 2-layer DiffusionGemma (one sliding, one full-attention layer) with ``text`` dimensions."""
    from transformers import DiffusionGemmaConfig, DiffusionGemmaForBlockDiffusion
    from transformers.models.gemma4 import Gemma4VisionConfig

    text = {
        "num_hidden_layers": 2,
        "layer_types": ["sliding_attention", "full_attention"],
        "num_global_key_value_heads": 1,
        "sliding_window": 128,
        **text,
    }
    vision = Gemma4VisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
    )
    config = DiffusionGemmaConfig(text_config=text, vision_config=vision.to_dict(), canvas_length=256)
    torch.manual_seed(0)
    return DiffusionGemmaForBlockDiffusion(config).eval()


def _vocab_heavy_model():
    """256 × 32768 logits dominate everything else, as the real model's do."""
    return _two_layer_model(
        vocab_size=32768,
        hidden_size=64,
        intermediate_size=64,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        global_head_dim=64,
        num_experts=4,
        top_k_experts=2,
        moe_intermediate_size=64,
    )


def test_step_transient_matches_the_measured_peak_of_the_real_loop():
    """engine.generation.loop on CPU, every allocation tracked: the planner's step peak is within 5 %."""
    from engine.benchmarks.memory import AllocationTracker
    from engine.generation.codec import TokenCodec
    from engine.generation.loop import denoise
    from engine.settings import GenerationSettings

    model = _vocab_heavy_model()
    shape = Shape.from_config(model.config)
    context = 40
    codec = TokenCodec(decode=lambda ids: "", pieces=lambda ids: [], eos_ids=frozenset([10**9]), pad_id=None)
    settings = GenerationSettings(max_new_tokens=256, max_denoising_steps=3, seed=0)
    inputs = {"input_ids": torch.randint(0, shape.vocab, (1, context))}
    with AllocationTracker() as tracker:
        events = list(denoise(model, inputs, settings, codec, with_pieces=False))
    assert events[-1].stats.forwards == 3
    step = step_transient_bytes(shape, context, dtype_bytes=4)
    assert max(step.values()) == step["sampler"]  # the logits dominate, as on the real model
    predicted = kv_cache_bytes(shape, context, dtype_bytes=4) + step["sampler"]
    assert abs(predicted - tracker.peak) / tracker.peak < 0.05, (predicted, tracker.peak)


def _moe_heavy_model():
    """4-bit, and its prompt encoding is dominated by the experts, as the real model's is."""
    dense = _two_layer_model(
        vocab_size=512,
        hidden_size=512,
        intermediate_size=256,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=64,
        global_head_dim=128,
        num_experts=32,
        top_k_experts=8,
        moe_intermediate_size=256,
    )
    model = quantize_model(dense, QuantSettings())
    for module in model.modules():
        if isinstance(module, QuantExperts):
            module.experts_per_group = EXPERTS_PER_GROUP["cuda"]  # measure what a GPU would run
    return model


@pytest.mark.parametrize(("context", "chunk"), [(1024, 1024), (2048, 512)])
def test_prefill_transient_matches_the_measured_peak_of_the_real_encoder(context, chunk):
    """The loop's chunked prefill on CPU, every allocation tracked: the planner is within 5 %."""
    from engine.benchmarks.memory import AllocationTracker
    from engine.generation.kv_cache import new_cache
    from engine.generation.prefill import _encode

    model = _moe_heavy_model()
    shape = Shape.from_config(model.config)
    ids = torch.randint(0, shape.vocab, (1, context))
    cache = new_cache(model.config.get_text_config(decoder=True))
    with torch.no_grad(), AllocationTracker() as tracker:
        for start in range(0, context, chunk):
            cache = _encode(model, ids[:, start : start + chunk], cache, {}, start)
    parts = prefill_transient_bytes(shape, context, chunk, dtype_bytes=4)
    assert parts["mlp"] > parts["attention"]  # the experts' grouped buffers decide the peak
    predicted = kv_cache_bytes(shape, context, dtype_bytes=4) + prefill_peak(parts)
    assert abs(predicted - tracker.peak) / tracker.peak < 0.05, (predicted, tracker.peak)


def test_plan_command(tiny_checkpoint, capsys):
    from engine.commands import plan

    parser = argparse.ArgumentParser()
    plan.add_parser(parser.add_subparsers())
    args = parser.parse_args(["plan", "--model", str(tiny_checkpoint), "--context", "512", "--json"])
    assert args.func(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["context"] == 512 and data["fits"] is None
    for key in ("weights_gib", "kv_cache_gib", "transient_gib", "total_gib"):
        assert isinstance(data[key], float)
    args = parser.parse_args(["plan", "--model", "real-shape", "--vram-gib", "18", "--prefill-chunk", "2048"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "fits in 18.0 GiB; largest context that fits:" in out and "experts 10.97" in out

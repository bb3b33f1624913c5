"""The bundled demo model: it loads like any checkpoint, converges, and writes markdown-shaped English.

The demo model (``resources/demo_model``, trained by ``python -m tools.demo_model.train``)
is what the app runs on machines without a GPU, so these tests hold it to what
the app needs from it: the real denoising loop stops adaptively before the step
cap, entropy falls as the canvas refines, and the reply reads as English with
markdown structure, ending its turn.  A smoke test checks the training code
itself on a throwaway model: finite loss, gradients reaching the MoE experts,
and a saved checkpoint that loads through the same path as the real model.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from engine.events import Done, Step
from engine.inputs.conversation import Conversation, PromptOptions, Turn

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo_model"

# A line that starts a markdown block: heading, bullet, numbered item, table row or code fence.
MARKDOWN_LINE = re.compile(r"^(#{1,6} |[-*] |\d+\. |\|.*\||```)", re.M)


@pytest.fixture(scope="module")
def demo_engine():
    from engine.engine import Engine

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DGCHAT_DEMO_MODEL", raising=False)  # the bundled model, not an override
        engine = Engine.load("demo", device="cpu")
    assert Path(engine.info.path).resolve() == DEMO.resolve()
    return engine


@pytest.fixture(scope="module")
def reply(demo_engine) -> tuple[list[Step], Done]:
    conversation = Conversation(turns=(Turn("user", "How do I keep my houseplants alive?", ()),), system="")
    # A fixed seed makes this a regression test of one reply.  (With 4 seeds on 8 prompts every
    # reply ended, 28 of 32 with <turn|> itself and the rest at <pad>; see docs/demo_model.md.)
    settings = demo_engine.default_settings.with_changes(seed=2, max_new_tokens=512)
    steps: list[Step] = []
    done = None
    for event in demo_engine.generate(conversation, settings, PromptOptions(), with_pieces=False):
        if isinstance(event, Step):
            steps.append(event)
        elif isinstance(event, Done):
            done = event
    assert done is not None
    return steps, done


def test_demo_checkpoint_is_small_and_fp32():
    weights = DEMO / "model.safetensors"
    assert weights.stat().st_size <= 25 * 1024 * 1024
    header_len = int.from_bytes(weights.read_bytes()[:8], "little")
    header = json.loads(weights.read_bytes()[8 : 8 + header_len])
    assert {v["dtype"] for k, v in header.items() if k != "__metadata__"} == {"F32"}


def test_demo_model_uses_the_real_classes_and_special_tokens(demo_engine):
    assert type(demo_engine.model).__name__ == "DiffusionGemmaForBlockDiffusion"
    assert demo_engine.info.is_demo
    assert demo_engine.model.config.canvas_length == 256
    tokenizer = demo_engine.processor.tokenizer
    ids = tokenizer("<|turn>model\nHi<turn|>", add_special_tokens=False)["input_ids"]
    assert ids[0] == tokenizer.convert_tokens_to_ids("<|turn>")
    assert ids[-1] == tokenizer.convert_tokens_to_ids("<turn|>")
    assert ids[-1] in demo_engine.codec.eos_ids


def test_first_canvas_stops_adaptively_before_the_cap(reply):
    steps, done = reply
    first = [s for s in steps if s.block == 0]
    assert first[-1].finished, "the stable-and-confident stop did not fire"
    assert len(first) < first[-1].max_steps
    assert done.stats.steps_per_canvas[0] == len(first)


def test_entropy_falls_while_the_canvas_refines(reply):
    steps, _ = reply
    means = [sum(s.entropy) / len(s.entropy) for s in steps if s.block == 0]
    quarter = max(1, len(means) // 4)
    early = sum(means[:quarter]) / quarter
    late = sum(means[-quarter:]) / quarter
    assert late < 0.2 * early, means
    assert means[-1] < means[0]


def test_reply_is_markdown_shaped_english_that_ends_its_turn(demo_engine, reply):
    _, done = reply
    text = done.answer
    assert len(text) > 40
    letters = sum(ch.isascii() and (ch.isalpha() or ch.isspace()) for ch in text)
    assert letters / len(text) > 0.75, text
    assert MARKDOWN_LINE.search(text), text
    assert done.stop_reason == "eos", text
    tokenizer = demo_engine.processor.tokenizer
    assert tokenizer.convert_tokens_to_ids("<turn|>") in done.token_ids


def _tiny_config(**changes):
    from dataclasses import replace

    from engine.model.tiny import TinyShape
    from tools.demo_model.training import TrainConfig

    shape = TinyShape(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=64,
        layer_types=("sliding_attention", "full_attention"),
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        global_head_dim=32,
        num_global_key_value_heads=1,
        sliding_window=1024,
        num_experts=4,
        top_k_experts=2,
        moe_intermediate_size=32,
        vision_hidden_size=16,
        vision_layers=1,
    )
    config = TrainConfig(
        minutes=5,
        max_steps=2,
        batch_size=2,
        tokenizer_conversations=150,
        log_every=1,
        eval_every=1000,
        shape=shape,
    )
    return replace(config, **changes)


def test_training_step_reaches_the_experts_through_both_passes():
    from tools.demo_model.training import ExampleStream, build_demo, diffusion_loss

    config = _tiny_config()
    model, tokenizer = build_demo(config)
    model.train()
    batch = ExampleStream(tokenizer, seed=1, max_prefix=config.max_prefix).batch(2)
    assert batch.canvas_ids.shape == (2, 256)
    loss = diffusion_loss(model, batch, torch.Generator().manual_seed(0), self_conditioning_prob=1.0)
    assert math.isfinite(loss.item())
    loss.backward()
    for layer in model.model.decoder.layers:
        for weight in (layer.experts.gate_up_proj, layer.experts.down_proj):
            assert weight.grad is not None and torch.isfinite(weight.grad).all()
            assert weight.grad.abs().sum() > 0
    # Encoder and decoder layers are tied: the encoder's experts are the same tensors.
    encoder_layer = model.model.encoder.language_model.layers[0]
    assert encoder_layer.experts.gate_up_proj is model.model.decoder.layers[0].experts.gate_up_proj
    assert model.model.decoder.self_conditioning.gate_proj.weight.grad.abs().sum() > 0


def test_two_training_steps_save_a_loadable_checkpoint(tmp_path: Path):
    from engine.engine import Engine
    from tools.demo_model.training import train

    lines: list[str] = []
    record = train(tmp_path / "demo", _tiny_config(), report=lines.append)
    assert record["final"]["steps"] == 2
    losses = [p["loss"] for p in record["log"]]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    assert all(0 < v < 2 * math.log(512) for v in losses)
    assert all(math.isfinite(v) for k, v in record["final"].items() if k.startswith("eval_"))
    engine = Engine.load(tmp_path / "demo", device="cpu")
    assert engine.processor.tokenizer.convert_tokens_to_ids("<turn|>") in engine.codec.eos_ids


def test_left_padded_training_batch_matches_single_sequence_inference():
    """Batching pads prefixes on the left; each row must see what inference on it alone would see."""
    from tools.demo_model.training import CANVAS, ExampleStream, build_demo, collate, corrupt, encode_prefix

    config = _tiny_config()
    model, tokenizer = build_demo(config)
    model.eval()
    stream = ExampleStream(tokenizer, seed=3, max_prefix=config.max_prefix)
    examples = [next(stream) for _ in range(3)]
    assert len({len(e.prefix) for e in examples}) > 1, "need prefixes of different lengths"
    generator = torch.Generator().manual_seed(0)
    noisy = corrupt(collate(examples, 0).canvas_ids, 512, torch.full((3,), 0.5), generator)

    def logits(rows: list[int]) -> torch.Tensor:
        batch = collate([examples[i] for i in rows], 0)
        cache, positions, mask, _ = encode_prefix(model, batch)
        return model(
            decoder_input_ids=noisy[rows],
            cache=cache,
            decoder_attention_mask=mask,
            decoder_position_ids=positions,
        ).logits

    with torch.no_grad():
        batched = logits([0, 1, 2])
        assert batched.shape == (3, CANVAS, 512)
        for i in range(3):
            torch.testing.assert_close(batched[i], logits([i])[0], atol=1e-4, rtol=1e-4)

"""Train the bundled demo model: a small DiffusionGemma that answers in markdown on any CPU.

The demo checkpoint is built with the real transformers classes
(``DiffusionGemmaForBlockDiffusion``) by :mod:`engine.model.tiny`, with its own small
BPE tokenizer, and trained here with the objective DiffusionGemma is trained
with, so the app's whole pipeline — our denoising loop, the entropy-bound
sampler, the adaptive stop, streaming of drafts — behaves on it the way it does
on the 26B model, only smaller:

* The **encoder** reads the clean prefix (chat prompt, plus the earlier canvases
  of a long answer) causally into a fresh ``DynamicCache``, exactly as
  ``engine/generation/loop.py`` does at inference.
* The **decoder** sees a *corrupted* 256-token canvas: each position is replaced
  by a uniformly random token with probability ``t ~ U(0, 1)`` (one ``t`` per
  example; uniform-state diffusion, no mask token), and attends
  bidirectionally to the cache and the canvas, through the same mask builder
  the inference loop uses.
* The loss is the cross-entropy of the clean tokens at *every* canvas position,
  including the padding after ``<turn|>``: the model must learn where a reply
  ends, or the adaptive stop could never fire on a short answer.
* **Self-conditioning**: for half of the examples a first, gradient-free
  decoder pass on the same corrupted canvas produces logits which, divided by a
  temperature drawn from the sampler's schedule range ``[t_min, t_max]``, are
  fed to the second pass as ``self_conditioning_logits``.  At inference the
  decoder receives the previous step's *temperature-scaled* logits (see
  ``_denoising_step`` in transformers), so training on scaled logits keeps the
  soft-embedding input in the range it will see.  The other half get a zeroed
  signal via ``self_conditioning_mask``, which is what the first denoising
  step sees.

Training is time-boxed (``minutes``): the learning rate follows a warmup and a
cosine decay over *elapsed time*, so a run of any length ends annealed.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from transformers.cache_utils import DynamicCache

from engine.model.tiny import (
    TinyShape,
    build_config,
    build_tokenizer,
    generation_config_dict,
    save_processor_files,
)
from tools.demo_model.corpus import conversations, corpus_text, thought

log = logging.getLogger(__name__)

CANVAS = 256

# Small enough that one denoising step over a 256-token canvas costs ~15 ms on two CPU
# cores (so 48 steps stay well under a second), big enough to learn the templated
# markdown in half an hour of single-thread training.  Same layer pattern as the real
# model (sliding layers, then a full-attention layer with its own KV heads and head
# size), fused MoE experts, a token vision tower (the architecture needs one).
DEMO_SHAPE = TinyShape(
    vocab_size=2048,
    hidden_size=128,
    intermediate_size=256,
    layer_types=("sliding_attention", "sliding_attention", "sliding_attention", "full_attention"),
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=32,
    global_head_dim=64,
    num_global_key_value_heads=1,
    sliding_window=1024,
    num_experts=4,
    top_k_experts=2,
    moe_intermediate_size=128,
    vision_hidden_size=16,
    vision_layers=1,
)

# The demo checkpoint's own generation_config.json values, where they differ from the
# real checkpoint's.  A 2 M-parameter model trained for half an hour has much flatter
# per-token distributions than the 26B model: at the real 0.8 -> 0.4 temperature
# schedule the sampler keeps drawing different tokens at the ~40 positions it is unsure
# of, the argmax canvas never holds still for one step, and every canvas runs to the
# 48-step cap.  A sharper 0.3 -> 0.1 schedule lets it commit: the stable-and-confident
# stop fires after ~20 steps with the real confidence threshold (0.005) and entropy
# bound (0.1) unchanged, and the text reads better (docs/demo_model.md has the sweep).
DEMO_GENERATION_OVERRIDES: dict[str, object] = {"t_max": 0.3, "t_min": 0.1}

# Token names that end a demo reply besides the real ones (<eos>, <turn|>, <|tool_response>).
# In the training data <pad> only ever fills the canvas after <turn|>; the small model now
# and then drops the <turn|> itself yet pads the rest, and without this the reply would run
# on through further all-<pad> canvases until max_new_tokens.
DEMO_EXTRA_EOS_TOKENS: tuple[str, ...] = ("<pad>",)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything that determines a training run (recorded next to the weights)."""

    minutes: float = 30.0
    batch_size: int = 8
    peak_lr: float = 3e-3
    final_lr_fraction: float = 0.05
    warmup_steps: int = 60
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    self_conditioning_prob: float = 0.5
    t_min: float = 0.4  # the sampler's temperature range, for scaling self-conditioning logits
    t_max: float = 0.8
    max_prefix: int = 768
    tokenizer_conversations: int = 4000
    seed: int = 0
    log_every: int = 25
    eval_every: int = 200
    save_every_minutes: float = 10.0
    max_steps: int | None = None  # stop early after this many steps (tests); None: time budget only
    shape: TinyShape = field(default_factory=lambda: DEMO_SHAPE)


@dataclass(frozen=True, slots=True)
class Example:
    """One training example: a clean prefix and the clean 256-token canvas that follows it."""

    prefix: list[int]
    canvas: list[int]


@dataclass(frozen=True, slots=True)
class Batch:
    prefix_ids: torch.Tensor  # (B, P) left-padded
    prefix_mask: torch.Tensor  # (B, P) bool, False on padding
    canvas_ids: torch.Tensor  # (B, 256) clean targets


class ExampleStream:
    """Turns generated conversations into (prefix, canvas) examples, canvas by canvas.

    A reply of n tokens (``<turn|>`` included) spans ceil(n / 256) canvases; one
    canvas index is drawn per conversation and its prefix is the prompt plus
    the earlier canvases, exactly what the encoder has read when inference
    reaches that canvas.  Canvas positions after ``<turn|>`` hold ``<pad>``,
    which is what the engine commits there.
    """

    def __init__(self, tokenizer: Any, seed: int, max_prefix: int, thinking_prob: float = 0.1) -> None:
        self.tokenizer = tokenizer
        self.thinking_prob = thinking_prob
        self.rng = random.Random(seed)
        self.source = conversations(seed)
        self.max_prefix = max_prefix
        self.end_id = tokenizer.convert_tokens_to_ids("<turn|>")
        self.pad_id = tokenizer.convert_tokens_to_ids("<pad>")

    def encode(self, messages: list[dict[str, str]], thinking: bool = False) -> tuple[list[int], list[int]]:
        """Prompt ids (chat template with the generation prompt) and reply ids ending in ``<turn|>``.

        With ``thinking`` the prompt asks for it (``enable_thinking``) and the reply
        opens with a Gemma 4 thought channel, as the real model's replies do.
        """
        prompt = self.tokenizer.apply_chat_template(
            messages[:-1], add_generation_prompt=True, tokenize=False, enable_thinking=thinking
        )
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        reply = messages[-1]["content"].strip()  # the template trims assistant turns
        if thinking:
            reply = f"<|channel>thought\n{thought(self.rng, messages)}<channel|>{reply}"
        reply_ids = self.tokenizer(reply, add_special_tokens=False)["input_ids"] + [self.end_id]
        return prompt_ids, reply_ids

    def __iter__(self) -> Iterator[Example]:
        return self

    def __next__(self) -> Example:
        while True:
            thinking = self.rng.random() < self.thinking_prob
            prompt_ids, reply_ids = self.encode(next(self.source), thinking)
            block = self.rng.randrange(math.ceil(len(reply_ids) / CANVAS))
            prefix = prompt_ids + reply_ids[: block * CANVAS]
            if len(prefix) > self.max_prefix:
                continue
            canvas = reply_ids[block * CANVAS : (block + 1) * CANVAS]
            canvas = canvas + [self.pad_id] * (CANVAS - len(canvas))
            return Example(prefix, canvas)

    def batch(self, size: int) -> Batch:
        return collate([next(self) for _ in range(size)], self.pad_id)


def collate(examples: list[Example], pad_id: int) -> Batch:
    """Left-pad prefixes to a common length so every canvas starts right after its prefix."""
    length = max(len(e.prefix) for e in examples)
    ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), length), dtype=torch.bool)
    for row, example in enumerate(examples):
        n = len(example.prefix)
        ids[row, length - n :] = torch.tensor(example.prefix)
        mask[row, length - n :] = True
    canvas = torch.tensor([e.canvas for e in examples], dtype=torch.long)
    return Batch(ids, mask, canvas)


def corrupt(
    canvas: torch.Tensor, vocab_size: int, t: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Uniform-state corruption: each position becomes a uniformly random token with probability t.

    ``t`` has one value per example.  Random tokens are drawn from the whole
    vocabulary, as ``EntropyBoundSampler.initialize_canvas`` draws the first canvas.
    """
    noise = torch.randint(0, vocab_size, canvas.shape, generator=generator)
    replace = torch.rand(canvas.shape, generator=generator) < t[:, None]
    return torch.where(replace, noise, canvas)


def encode_prefix(model: Any, batch: Batch) -> tuple[DynamicCache, torch.Tensor, dict, torch.Tensor]:
    """Run the encoder over the prefix into a fresh cache, as ``engine/generation/loop.py`` does for a prompt.

    Returns the cache (keys/values keep their autograd history, so the decoder's
    loss trains the encoder's use of the tied layers too), the decoder position
    ids, the decoder's attention-mask mapping and the 2D decoder mask.
    """
    config = model.config
    batch_size, length = batch.prefix_ids.shape
    cache = DynamicCache(config=config.get_text_config(decoder=True))
    positions = torch.arange(length, dtype=torch.long).unsqueeze(0)
    encoder = model.model.encoder
    encoder_mask = encoder.create_masks_for_generate(
        config=config,
        inputs_embeds=torch.empty((batch_size, length, 0), dtype=model.dtype),
        attention_mask=batch.prefix_mask,
        cache=cache,
        position_ids=positions,
    )
    cache = encoder(
        input_ids=batch.prefix_ids, attention_mask=encoder_mask, cache=cache, position_ids=positions
    ).cache
    decoder_mask_2d = F.pad(batch.prefix_mask, (0, CANVAS), value=True)
    decoder_positions = torch.arange(length, length + CANVAS, dtype=torch.long).unsqueeze(0)
    mask_mapping = model.model.decoder.create_diffusion_decoder_attention_mask(
        config=config,
        inputs_embeds=torch.empty((batch_size, CANVAS, 0), dtype=model.dtype),
        cache=cache,
        decoder_attention_mask=decoder_mask_2d,
    )
    return cache, decoder_positions, mask_mapping, decoder_mask_2d


def diffusion_loss(
    model: Any,
    batch: Batch,
    generator: torch.Generator,
    *,
    self_conditioning_prob: float = 0.5,
    t_range: tuple[float, float] = (0.4, 0.8),
    t: torch.Tensor | None = None,
) -> torch.Tensor:
    """The block-diffusion training loss for one batch (mean cross-entropy over all canvas positions).

    ``t`` (one corruption rate per example) defaults to ``U(0, 1)`` draws;
    pass it to evaluate at fixed noise levels.
    """
    vocab_size = model.config.text_config.vocab_size
    batch_size = batch.canvas_ids.shape[0]
    cache, positions, mask_mapping, _ = encode_prefix(model, batch)
    if t is None:
        t = torch.rand(batch_size, generator=generator)
    noisy = corrupt(batch.canvas_ids, vocab_size, t, generator)
    use_sc = torch.rand(batch_size, generator=generator) < self_conditioning_prob
    sc_logits = None
    if bool(use_sc.any()):
        with torch.no_grad():
            first = model(
                decoder_input_ids=noisy,
                cache=cache,
                decoder_attention_mask=mask_mapping,
                decoder_position_ids=positions,
            ).logits
            low, high = t_range
            temperature = low + (high - low) * torch.rand(batch_size, generator=generator)
            sc_logits = (first / temperature[:, None, None]).to(model.dtype)
    logits = model(
        decoder_input_ids=noisy,
        cache=cache,
        decoder_attention_mask=mask_mapping,
        decoder_position_ids=positions,
        self_conditioning_logits=sc_logits,
        self_conditioning_mask=use_sc if sc_logits is not None else None,
    ).logits
    return F.cross_entropy(logits.reshape(-1, vocab_size).float(), batch.canvas_ids.reshape(-1))


def learning_rate(config: TrainConfig, step: int, progress: float) -> float:
    """Linear warmup over steps, then cosine decay over the fraction of the time budget used."""
    if step < config.warmup_steps:
        return config.peak_lr * (step + 1) / config.warmup_steps
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    floor = config.final_lr_fraction
    return config.peak_lr * (floor + (1 - floor) * cosine)


def make_optimizer(model: Any, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW without weight decay on norms, scales and other vectors (standard for transformers)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.dim() < 2 or "norm" in name else decay).append(p)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.peak_lr,
        betas=(0.9, 0.98),
    )


def optimisation_step(
    model: Any,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    generator: torch.Generator,
    config: TrainConfig,
    lr: float,
) -> float:
    """One step: diffusion loss, backward, gradient clipping, AdamW update. Returns the loss."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss = diffusion_loss(
        model,
        batch,
        generator,
        self_conditioning_prob=config.self_conditioning_prob,
        t_range=(config.t_min, config.t_max),
    )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    return loss.item()


def build_demo(config: TrainConfig) -> tuple[Any, Any]:
    """A fresh, untrained demo model and its tokenizer (trained on the generated corpus)."""
    from transformers import DiffusionGemmaForBlockDiffusion

    tokenizer = build_tokenizer(
        corpus_text(config.tokenizer_conversations, seed=config.seed + 1),
        config.shape.vocab_size,
        atomic_special_tokens=True,
    )
    model_config = build_config(tokenizer, config.shape)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = DiffusionGemmaForBlockDiffusion(model_config)
    return model, tokenizer


def demo_generation_config(tokenizer: Any) -> dict[str, object]:
    """The demo's generation_config.json: real defaults, the demo's overrides, its extra end tokens."""
    config = generation_config_dict(tokenizer, DEMO_GENERATION_OVERRIDES)
    extra = [tokenizer.convert_tokens_to_ids(t) for t in DEMO_EXTRA_EOS_TOKENS]
    config["eos_token_id"] = [*config["eos_token_id"], *extra]
    return config


def save_demo(model: Any, tokenizer: Any, out: Path, record: dict[str, Any]) -> None:
    """Write the checkpoint the way ``make_tiny`` does, plus the training record."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    (out / "generation_config.json").write_text(
        json.dumps(demo_generation_config(tokenizer), indent=2) + "\n", encoding="utf-8"
    )
    save_processor_files(out, tokenizer)
    (out / "training_log.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def evaluate(model: Any, batches: list[Batch], seed: int) -> dict[str, float]:
    """Held-out loss at fixed corruption rates (0.25, 0.5, 0.75, 1.0), with self-conditioning off."""
    model.eval()
    out: dict[str, float] = {}
    with torch.no_grad():
        for rate in (0.25, 0.5, 0.75, 1.0):
            generator = torch.Generator().manual_seed(seed)
            losses = [
                diffusion_loss(
                    model,
                    b,
                    generator,
                    self_conditioning_prob=0.0,
                    t=torch.full((b.canvas_ids.shape[0],), rate),
                ).item()
                for b in batches
            ]
            out[f"t={rate}"] = sum(losses) / len(losses)
    model.train()
    return out


def train(
    out: str | Path,
    config: TrainConfig | None = None,
    *,
    report: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build, train for ``config.minutes`` and save the demo model to ``out``; return the training record.

    Logs every ``log_every`` steps through ``report``, evaluates on held-out
    conversations every ``eval_every`` steps and saves a checkpoint every
    ``save_every_minutes`` so an interrupted run still leaves a usable model.
    """
    config = config or TrainConfig()
    report = report or log.info
    out = Path(out)
    start = time.perf_counter()
    model, tokenizer = build_demo(config)
    params = sum(p.numel() for p in model.parameters())
    report(f"model: {params / 1e6:.2f} M parameters; tokenizer: {len(tokenizer)} tokens")
    stream = ExampleStream(tokenizer, seed=config.seed + 2, max_prefix=config.max_prefix)
    held_out = ExampleStream(tokenizer, seed=config.seed + 10_000, max_prefix=config.max_prefix)
    eval_batches = [held_out.batch(config.batch_size) for _ in range(2)]
    generator = torch.Generator().manual_seed(config.seed + 3)

    optimizer = make_optimizer(model, config)
    record: dict[str, Any] = {
        "config": asdict(config),
        "parameters": params,
        "torch_threads": torch.get_num_threads(),
        "log": [],
        "eval": [],
    }
    budget = config.minutes * 60
    train_start = time.perf_counter()
    last_save = train_start
    model.train()
    step = 0
    examples = 0
    window: list[float] = []
    while config.max_steps is None or step < config.max_steps:
        elapsed = time.perf_counter() - train_start
        if elapsed >= budget:
            break
        lr = learning_rate(config, step, elapsed / budget)
        loss = optimisation_step(model, optimizer, stream.batch(config.batch_size), generator, config, lr)
        if not math.isfinite(loss):
            raise FloatingPointError(f"loss became {loss} at step {step}")
        step += 1
        examples += config.batch_size
        window.append(loss)
        if step % config.log_every == 0:
            mean = sum(window) / len(window)
            window.clear()
            minutes = (time.perf_counter() - train_start) / 60
            record["log"].append(
                {"step": step, "minutes": round(minutes, 3), "loss": round(mean, 4), "lr": lr}
            )
            report(f"step {step:5d}  {minutes:6.2f} min  loss {mean:.4f}  lr {lr:.2e}  {examples} examples")
        if step % config.eval_every == 0:
            scores = evaluate(model, eval_batches, config.seed)
            minutes = (time.perf_counter() - train_start) / 60
            record["eval"].append({"step": step, "minutes": round(minutes, 3), **scores})
            report("eval " + "  ".join(f"{k} {v:.3f}" for k, v in scores.items()))
        if time.perf_counter() - last_save >= config.save_every_minutes * 60:
            save_demo(model, tokenizer, out, record)
            last_save = time.perf_counter()

    scores = evaluate(model, eval_batches, config.seed)
    train_minutes = (time.perf_counter() - train_start) / 60
    record["eval"].append({"step": step, "minutes": round(train_minutes, 3), **scores})
    record["final"] = {
        "steps": step,
        "examples": examples,
        "train_minutes": round(train_minutes, 2),
        "total_minutes": round((time.perf_counter() - start) / 60, 2),
        "train_loss_last_window": record["log"][-1]["loss"] if record["log"] else None,
        **{f"eval_{k}": round(v, 4) for k, v in scores.items()},
    }
    model.eval()
    save_demo(model, tokenizer, out, record)
    report(f"saved the demo model to {out}: {json.dumps(record['final'])}")
    return record


def plot_loss(record: dict[str, Any], png: str | Path, *, width: int = 900, height: int = 520) -> Path:
    """Draw the training-loss curve (and held-out points) as a PNG with Pillow.

    matplotlib is not a dependency of the app, and a line chart needs little:
    axes, ticks, a polyline per series and a legend.
    """
    from PIL import Image, ImageDraw, ImageFont

    png = Path(png)
    train_pts = [(p["minutes"], p["loss"]) for p in record["log"]]
    eval_pts = [(p["minutes"], p["t=0.5"]) for p in record["eval"]]
    eval_full = [(p["minutes"], p["t=1.0"]) for p in record["eval"]]
    series = [
        ("training loss (t ~ U(0,1), mean of 25 steps)", (31, 119, 180), train_pts),
        ("held-out loss, t = 0.5", (214, 39, 40), eval_pts),
        ("held-out loss, t = 1.0 (pure noise canvas)", (44, 160, 44), eval_full),
    ]
    values = [y for _, _, pts in series for _, y in pts]
    x_max = max([x for _, _, pts in series for x, _ in pts] + [1e-3])
    y_max = max(values) * 1.05 if values else 1.0
    y_min = 0.0
    try:
        font = ImageFont.load_default(size=14)
    except TypeError:  # Pillow without FreeType
        font = ImageFont.load_default()
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 70, width - 20, 50, height - 60

    def to_px(x: float, y: float) -> tuple[float, float]:
        return (
            left + (right - left) * x / x_max,
            bottom - (bottom - top) * (y - y_min) / (y_max - y_min),
        )

    draw.text(
        (left, 15), "Demo model training: block-diffusion cross-entropy (nats/token)", fill="black", font=font
    )
    for i in range(6):
        y = y_min + (y_max - y_min) * i / 5
        _, py = to_px(0, y)
        draw.line([(left, py), (right, py)], fill=(225, 225, 225))
        draw.text((10, py - 8), f"{y:.2f}", fill="black", font=font)
    for i in range(6):
        x = x_max * i / 5
        px, _ = to_px(x, 0)
        draw.line([(px, top), (px, bottom)], fill=(235, 235, 235))
        draw.text((px - 12, bottom + 8), f"{x:.0f}" if x_max >= 5 else f"{x:.1f}", fill="black", font=font)
    draw.rectangle([left, top, right, bottom], outline="black")
    draw.text(((left + right) / 2 - 60, bottom + 30), "training time (minutes)", fill="black", font=font)
    legend_y = top + 10
    for label, colour, pts in series:
        if len(pts) >= 2:
            draw.line([to_px(x, y) for x, y in pts], fill=colour, width=2)
        for x, y in pts if len(pts) < 40 else []:
            px, py = to_px(x, y)
            draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
        draw.line([(right - 330, legend_y + 8), (right - 305, legend_y + 8)], fill=colour, width=3)
        draw.text((right - 300, legend_y), label, fill="black", font=font)
        legend_y += 20
    png.parent.mkdir(parents=True, exist_ok=True)
    image.save(png)
    return png

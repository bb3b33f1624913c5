"""VRAM planner: will DiffusionGemma fit, and with how much context? From config.json alone.

Four parts, each computed the way the code that allocates it does:

* **weights** — exact: the model is built on the meta device with the quantized
  modules installed (the same code the loader runs) and its tensors counted,
  each tied tensor once;
* **KV cache** — DynamicCache: sliding layers keep ``window - 1`` tokens (in
  storage of their own: engine/generation/kv_cache.py), full
  layers every token with their own KV-head count and head size; plus what the
  engine keeps of the prompt for the next turn (its sliding layers' last window);
* **transients** — the largest short-lived set of tensors at any moment: a
  denoising step (the sampler's fp32 ``canvas × vocab`` tensors, measured on
  CPU by tracking every allocation; the decoder's KV concat and repeated KV
  heads) or the prefill of the prompt (activations, masks, KV concat);
* **overhead** — CUDA context, cuBLAS workspace and allocator fragmentation.

Attention is assumed to run in fused SDPA kernels (flash / memory-efficient on
CUDA, flash on CPU: no ``q × k`` score matrix).  transformers repeats the KV
heads to the query-head count whenever a mask is passed or the head size
exceeds 256 (the 512-wide full-attention layers), and the planner counts that
copy.  docs/benchmarks.md says how to check these estimates on a GPU.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.model.quant.modules import EXPERTS_PER_GROUP
from engine.model.quant.settings import QuantSettings
from engine.settings import PREFILL_CHUNK

GIB = 2**30
REAL_MODEL = "google/diffusiongemma-26B-A4B-it"

# Per denoising step, the live canvas × vocab tensors at the sampler's peak: the
# temperature-scaled logits (overwritten in place by engine.generation.sampling.token_entropy)
# and the probabilities (fp32 each), plus the self-conditioning copy in the compute
# dtype.  Categorical.entropy() held five fp32 copies and a bool mask here.
# Measured on CPU: tests/engine/test_planner.py.
SAMPLER_FP32_COPIES = 2
SAMPLER_BOOL_COPIES = 0
FUSED_SDPA_MAX_GQA_HEAD_DIM = 256
ROUTER_WEIGHT_BYTES = 4  # the router's softmax is fp32, and the experts' weighted outputs with it
CUDA_CONTEXT_BYTES = GIB // 2
FRAGMENTATION = 0.05


@dataclass(frozen=True)
class Shape:
    """The dimensions the planner needs, read from a DiffusionGemma config."""

    vocab: int
    hidden: int
    dense_intermediate: int
    moe_intermediate: int
    experts: int
    top_k: int
    heads: int
    layer_types: tuple[str, ...]
    sliding_kv_heads: int
    sliding_head_dim: int
    full_kv_heads: int
    full_head_dim: int
    window: int
    canvas: int
    max_positions: int

    @classmethod
    def from_config(cls, config) -> Shape:
        text = config.text_config
        types = tuple(text.layer_types)
        full = types.index("full_attention") if "full_attention" in types else 0
        sliding = types.index("sliding_attention") if "sliding_attention" in types else 0
        per_layer = text.per_layer_config
        return cls(
            vocab=text.vocab_size,
            hidden=text.hidden_size,
            dense_intermediate=text.intermediate_size,
            moe_intermediate=text.moe_intermediate_size,
            experts=text.num_experts,
            top_k=text.top_k_experts,
            heads=text.num_attention_heads,
            layer_types=types,
            sliding_kv_heads=per_layer[sliding].num_key_value_heads,
            sliding_head_dim=per_layer[sliding].head_dim,
            full_kv_heads=per_layer[full].num_key_value_heads,
            full_head_dim=per_layer[full].head_dim,
            window=text.sliding_window,
            canvas=config.canvas_length,
            max_positions=text.max_position_embeddings,
        )

    def kv_dims(self, layer_type: str) -> tuple[int, int]:
        if layer_type == "full_attention":
            return self.full_kv_heads, self.full_head_dim
        return self.sliding_kv_heads, self.sliding_head_dim


# -- the model's config ---------------------------------------------------------------------------


REAL_LAYERS = 30


def real_layer_types(layers: int = REAL_LAYERS) -> list[str]:
    """The real model's attention pattern (5 sliding : 1 full) cut to ``layers`` layers.

    The last layer is always full attention, as transformers requires (the
    real 30th is): a benchmark of a few layers still runs both kinds.
    """
    types = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(layers)]
    types[-1] = "full_attention"
    return types


def real_shape_config(layers: int = REAL_LAYERS):
    """The 26B-A4B shape as published (CONTEXT.md §1), for planning and benchmarks without the files.

    Built from public facts: 30 layers (5 sliding-window-1024 : 1 full), hidden
    2816, 16 heads, 8 KV heads of 256 (2 of 512 on full layers), dense MLP 2112,
    128 experts top-8 of 704, vocab 262,144, 256K context, and the default
    Gemma 4 vision tower.  It reproduces the published totals: 25.4 B
    parameters, 22.8 B of them experts, 1.4 GiB of embeddings.  ``layers``
    keeps only the first layers (see :func:`real_layer_types`), for
    benchmarks that cannot afford all 30.
    """
    from transformers import DiffusionGemmaConfig
    from transformers.models.gemma4 import Gemma4VisionConfig

    text = {
        "vocab_size": 262_144,
        "hidden_size": 2816,
        "intermediate_size": 2112,
        "num_hidden_layers": layers,
        "layer_types": real_layer_types(layers),
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "head_dim": 256,
        "global_head_dim": 512,
        "num_global_key_value_heads": 2,
        "sliding_window": 1024,
        "num_experts": 128,
        "top_k_experts": 8,
        "moe_intermediate_size": 704,
        "max_position_embeddings": 262_144,
        "use_bidirectional_attention": "vision",
    }
    return DiffusionGemmaConfig(
        text_config=text, vision_config=Gemma4VisionConfig().to_dict(), canvas_length=256
    )


def load_config(model: str | Path):
    """A config from ``"real-shape"``, a folder or config.json file, or a downloaded Hub repo id."""
    from transformers import AutoConfig

    text = str(model)
    if text == "real-shape":
        return real_shape_config()
    from engine.errors import ModelFilesError
    from engine.model.loader import resolve_source

    path = Path(text).expanduser()
    if path.is_file():
        if path.name != "config.json":
            raise ModelFilesError("Pass a model folder or its config.json", path=path)
        return AutoConfig.from_pretrained(str(path.parent))

    return AutoConfig.from_pretrained(str(resolve_source(text)))


# -- the four parts -------------------------------------------------------------------------------


def _group(name: str) -> str:
    if ".experts." in name:
        return "experts"
    if "vision_tower" in name or "embed_vision" in name:
        return "vision"
    if "self_conditioning" in name:
        return "self_conditioning"
    if "embed_tokens" in name:
        return "embeddings"
    if "router" in name:
        return "router"
    if ".self_attn." in name and "_proj" in name:
        return "attention"
    if ".mlp." in name:
        return "dense_mlp"
    return "norms_and_scalars"


def weight_bytes(
    config, settings: QuantSettings | None, dtype: torch.dtype = torch.bfloat16
) -> dict[str, int]:
    """Exact bytes of every weight group, each tied tensor counted once (``settings=None``: unquantized)."""
    from engine.model.quant.apply import install_empty
    from engine.model.quant.skeleton import empty_model, persistent_tensors

    model = empty_model(config, dtype)
    if settings is not None:
        install_empty(model, settings, "meta")
    groups: dict[str, int] = {}
    for name, tensor in persistent_tensors(model).items():
        key = _group(name)
        groups[key] = groups.get(key, 0) + tensor.numel() * tensor.element_size()
    return dict(sorted(groups.items()))


def kv_cache_bytes(shape: Shape, context: int, dtype_bytes: int = 2, *, sliding_only: bool = False) -> int:
    """Bytes of the encoder's DynamicCache holding ``context`` tokens (or of its sliding layers alone)."""
    total = 0
    for layer_type in shape.layer_types:
        if sliding_only and layer_type == "full_attention":
            continue
        heads, head_dim = shape.kv_dims(layer_type)
        tokens = context if layer_type == "full_attention" else min(context, shape.window - 1)
        total += 2 * tokens * heads * head_dim * dtype_bytes
    return total


def _repeats_kv(head_dim: int, masked: bool) -> bool:
    """Whether transformers' SDPA path materializes KV repeated to the query heads."""
    return masked or head_dim > FUSED_SDPA_MAX_GQA_HEAD_DIM


def experts_transient_bytes(shape: Shape, tokens: int, dtype_bytes: int = 2, group: int | None = None) -> int:
    """The peak short-lived bytes of one layer's ``QuantExperts.forward`` over ``tokens`` tokens.

    ``group`` is the number of experts dequantized together (default: CUDA's).

    Counted for the grouped dequantize-then-matmul path; the fused kernel holds
    less (two rows per pair and no dense weights), so the plan stays safe when
    the kernel is used.

    Live throughout: the routed inputs and the weighted outputs, one row per
    (token, slot) pair; the outputs in fp32, the router weights' dtype (as
    transformers weighs them).  Then the largest of three moments of a group: its
    dequantized gate/up weights with their output; that output with the
    activation and the gated product; the dequantized down weights with their
    input and output (then that output with its weighted copy).  ``rows``
    assumes the worst routing, every token sending all its slots it can into
    one group.
    """
    hidden, inter, d = shape.hidden, shape.moe_intermediate, dtype_bytes
    group = min(group or EXPERTS_PER_GROUP["cuda"], shape.experts)
    pairs = tokens * shape.top_k
    rows = tokens * min(group, shape.top_k)  # a token meets a group at most once per expert in it
    both_ends = pairs * hidden * (d + ROUTER_WEIGHT_BYTES)
    scales = group * (2 * inter * hidden // 64) * 4  # the group's fp32 block scales, during dequantization
    gate_up = group * 2 * inter * hidden * d + scales + rows * 2 * inter * d
    gated = rows * 2 * inter * d + 2 * rows * inter * d
    down = max(group * hidden * inter * d + rows * inter * d, rows * hidden * d) + rows * hidden * d
    return both_ends + max(gate_up, gated, down)


def step_transient_bytes(
    shape: Shape, context: int, dtype_bytes: int = 2, group: int | None = None
) -> dict[str, int]:
    """The peak short-lived bytes of one denoising step with ``context`` tokens cached."""
    canvas, logits = shape.canvas, shape.canvas * shape.vocab
    self_conditioning = logits * dtype_bytes  # the previous step's logits, kept for the next forward
    sampler = (SAMPLER_FP32_COPIES * 4 + SAMPLER_BOOL_COPIES) * logits + self_conditioning
    # In the forward: the self-conditioning softmax (fp32 + compute-dtype copy), the soft-capped logits.
    forward = self_conditioning + max(logits * (4 + dtype_bytes), 2 * 4 * logits)
    attention = 0
    for layer_type in set(shape.layer_types):
        heads, head_dim = shape.kv_dims(layer_type)
        cached = context if layer_type == "full_attention" else min(context, shape.window - 1)
        keys = cached + canvas
        concat = 2 * keys * heads * head_dim * dtype_bytes  # append_to_cache: cache ++ canvas, K and V
        repeat = 2 * keys * shape.heads * head_dim * dtype_bytes if _repeats_kv(head_dim, masked=False) else 0
        qkv = canvas * (shape.heads + 2 * heads) * head_dim * dtype_bytes
        attention = max(attention, self_conditioning + concat + repeat + qkv)
    experts = self_conditioning + experts_transient_bytes(shape, canvas, dtype_bytes, group)
    return {"sampler": sampler, "forward": forward, "attention": attention, "experts": experts}


def prefill_transient_bytes(
    shape: Shape, context: int, chunk: int, dtype_bytes: int = 2, group: int | None = None
) -> dict[str, int]:
    """The short-lived bytes of encoding the last ``chunk`` prompt tokens of ``context``, by kind.

    ``residual`` (the hidden states, their norms and the layer outputs) and
    ``masks`` live through the whole encoder call; ``attention`` and ``mlp``
    (the dense MLP, the router and the experts) take turns inside each layer.
    :func:`prefill_peak` combines them that way.
    """
    chunk = min(chunk, context)
    past = context - chunk
    residual = chunk * shape.hidden * 5 * dtype_bytes
    mlp = (
        chunk * shape.dense_intermediate * 3 * dtype_bytes
        + chunk * shape.experts * 4 * 2  # router probabilities and scores
        + experts_transient_bytes(shape, chunk, dtype_bytes, group)
    )
    masks = 2 * chunk * context  # bool [chunk, context] for full and sliding attention
    attention = 0
    for layer_type in set(shape.layer_types):
        heads, head_dim = shape.kv_dims(layer_type)
        cached = past if layer_type == "full_attention" else min(past, shape.window - 1)
        keys = cached + chunk
        concat = 2 * keys * heads * head_dim * dtype_bytes
        repeat = 2 * keys * shape.heads * head_dim * dtype_bytes if _repeats_kv(head_dim, masked=True) else 0
        qkv = chunk * (shape.heads + 2 * heads) * head_dim * dtype_bytes
        attention = max(attention, concat + repeat + qkv)
    return {"residual": residual, "masks": masks, "attention": attention, "mlp": mlp}


def prefill_peak(parts: dict[str, int]) -> int:
    """The peak of :func:`prefill_transient_bytes`: what lives throughout plus the larger of the two turns."""
    return parts["residual"] + parts["masks"] + max(parts["attention"], parts["mlp"])


# -- the plan -------------------------------------------------------------------------------------


@dataclass
class Plan:
    context: int
    prefill_chunk: int
    weights: dict[str, int]
    kv_cache: int
    kv_prompt_copy: int
    step: dict[str, int]
    prefill: dict[str, int]
    overhead: int
    vram: int | None = None
    max_context: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def weights_total(self) -> int:
        return sum(self.weights.values())

    @property
    def transient(self) -> int:
        return max(max(self.step.values()), prefill_peak(self.prefill))

    @property
    def total(self) -> int:
        return self.weights_total + self.kv_cache + self.kv_prompt_copy + self.transient + self.overhead

    def phases(self) -> dict[str, int]:
        """The planned peak of each phase, weights included: encoding the prompt, and a denoising step.

        The prompt's copy kept for the next turn is made after the prefill, so
        only the step counts it; :attr:`total` takes the larger phase and adds both.
        """
        base = self.weights_total + self.kv_cache
        return {
            "prefill": base + prefill_peak(self.prefill),
            "step": base + self.kv_prompt_copy + max(self.step.values()),
        }

    @property
    def fits(self) -> bool | None:
        return None if self.vram is None else self.total <= self.vram

    def to_json(self) -> dict[str, Any]:
        gib = lambda n: round(n / GIB, 3)  # noqa: E731
        return {
            "weights_gib": gib(self.weights_total),
            "kv_cache_gib": gib(self.kv_cache),
            "transient_gib": gib(self.transient),
            "total_gib": gib(self.total),
            "kv_prompt_copy_gib": gib(self.kv_prompt_copy),
            "overhead_gib": gib(self.overhead),
            "context": self.context,
            "prefill_chunk": self.prefill_chunk,
            "vram_gib": gib(self.vram) if self.vram is not None else None,
            "fits": self.fits,
            "max_context": self.max_context,
            "weights_by_group_gib": {k: gib(v) for k, v in self.weights.items()},
            "step_gib": {k: gib(v) for k, v in self.step.items()},
            "prefill_gib": {k: gib(v) for k, v in self.prefill.items()},
            "phase_peak_gib": {k: gib(v) for k, v in self.phases().items()},
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class PlanOptions:
    settings: QuantSettings | None = field(default_factory=QuantSettings)
    dtype_bytes: int = 2  # bf16 on CUDA
    prefill_chunk: int | None = PREFILL_CHUNK  # as the loop does; None: the whole prompt in one call
    prompt_cache_copy: bool = True  # the engine keeps the prompt's sliding-window state for the next turn
    device: str = "cuda"  # "cpu": no CUDA context or allocator overhead (for benchmarks traced on a CPU)
    experts_per_group: int | None = None  # experts dequantized together; None: the device's default

    @property
    def group(self) -> int:
        return self.experts_per_group or EXPERTS_PER_GROUP.get(self.device, EXPERTS_PER_GROUP["cuda"])

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32 if self.dtype_bytes == 4 else torch.bfloat16

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["settings"] = self.settings.to_dict() if self.settings else None
        return out


def _plan_parts(shape: Shape, weights: dict[str, int], context: int, options: PlanOptions) -> Plan:
    chunk = options.prefill_chunk or context
    kv = kv_cache_bytes(shape, context, options.dtype_bytes)
    # The prompt's state kept for the next turn (loop.PrefixCache): full-attention layers are
    # cut back in place; the sliding layers' last window is held by reference while the reply moves on.
    prompt_tokens = max(context - shape.canvas, 0)
    prompt_copy = kv_cache_bytes(shape, prompt_tokens, options.dtype_bytes, sliding_only=True)
    step = step_transient_bytes(shape, context, options.dtype_bytes, options.group)
    prefill = prefill_transient_bytes(shape, context, chunk, options.dtype_bytes, options.group)
    plan = Plan(
        context=context,
        prefill_chunk=min(chunk, context),
        weights=weights,
        kv_cache=kv,
        kv_prompt_copy=prompt_copy if options.prompt_cache_copy else 0,
        step=step,
        prefill=prefill,
        overhead=0,
    )
    if options.device == "cuda":
        plan.overhead = CUDA_CONTEXT_BYTES + int(FRAGMENTATION * (plan.transient + kv))
    return plan


def make_plan(
    config,
    *,
    context: int | None = None,
    vram_bytes: int | None = None,
    options: PlanOptions | None = None,
) -> Plan:
    """The memory plan for ``context`` tokens; with ``vram_bytes``, also the largest context that fits.

    Without ``context`` the plan is for that largest context (or the model's
    maximum when no VRAM figure is given).
    """
    options = options or PlanOptions()
    shape = Shape.from_config(config)
    weights = weight_bytes(config, options.settings, options.dtype)
    best = None
    if vram_bytes is not None:
        best = largest_context(shape, weights, vram_bytes, options)
    chosen = context if context is not None else (best if best else shape.max_positions)
    plan = _plan_parts(shape, weights, max(chosen, 1), options)
    plan.vram = vram_bytes
    plan.max_context = best
    if vram_bytes is not None and not best:
        plan.notes.append("even the weights and one denoising step do not fit")
    if options.prefill_chunk is None:
        plan.notes.append(
            "planned for the whole prompt in one encoder call; the engine prefills in "
            f"{PREFILL_CHUNK:,}-token chunks, which allows longer contexts"
        )
    return plan


def largest_context(shape: Shape, weights: dict[str, int], vram_bytes: int, options: PlanOptions) -> int:
    """The largest context (a multiple of the canvas, at most the model's maximum) that fits; 0 if none."""
    step = shape.canvas

    def fits(tokens: int) -> bool:
        return _plan_parts(shape, weights, tokens, options).total <= vram_bytes

    low, high = 0, shape.max_positions // step
    if not fits(step):
        return 0
    while low < high:  # total grows with the context: binary search over multiples of the canvas
        mid = (low + high + 1) // 2
        if fits(mid * step):
            low = mid
        else:
            high = mid - 1
    return low * step


def free_vram_bytes(device: str | torch.device | None = None) -> int | None:
    """Free memory on the CUDA device, or None without one."""
    if not torch.cuda.is_available():
        return None
    free, _total = torch.cuda.mem_get_info(torch.device(device or "cuda"))
    return int(free)


def plan_json(plan: Plan, options: PlanOptions) -> str:
    return json.dumps({**plan.to_json(), "options": options.to_dict()}, indent=2)

"""Which modules of a DiffusionGemma model are quantized, and swapping them in place.

The encoder and decoder text layers share every weight (``_tied_weights_keys``
in transformers).  A quantized module is therefore built once from the decoder
layer and installed at *both* paths: one object, one copy of the 4-bit data.
The same policy drives :func:`quantize_model` (quantize a loaded model),
:func:`install_empty` (a skeleton that streaming and the cache fill in) and the
VRAM planner (which counts the skeleton's bytes on the meta device).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from engine.events import LoadProgress
from engine.model.quant.modules import QuantExperts, QuantLinear
from engine.model.quant.settings import QuantSettings

log = logging.getLogger(__name__)

DECODER_LAYERS = "model.decoder.layers"
ENCODER_LAYERS = "model.encoder.language_model.layers"
ATTENTION = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")
DENSE_MLP = ("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
SELF_CONDITIONING = tuple(
    f"model.decoder.self_conditioning.{n}" for n in ("gate_proj", "up_proj", "down_proj")
)
VISION_ROOT = "model.encoder.vision_tower"


@dataclass(frozen=True)
class Target:
    """One module to quantize, and every path where the model uses it (decoder first)."""

    kind: str  # "linear" | "experts"
    paths: tuple[str, ...]
    module: nn.Module


def get_module(root: nn.Module, path: str) -> nn.Module | None:
    module: nn.Module | None = root
    for part in path.split("."):
        module = getattr(module, part, None)
        if module is None:
            return None
    return module


def set_module(root: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, name = path.rpartition(".")
    parent = get_module(root, parent_path) if parent_path else root
    setattr(parent, name, module)


def _tied(a: nn.Module | None, b: nn.Module | None, attr: str) -> bool:
    return a is not None and b is not None and getattr(a, attr, None) is getattr(b, attr, object())


def _text_layer_count(model: nn.Module) -> int:
    return len(get_module(model, DECODER_LAYERS))


def targets(model: nn.Module, settings: QuantSettings) -> Iterator[Target]:
    """The modules ``settings`` quantizes, in checkpoint order (layer by layer)."""
    relative: list[str] = []
    if settings.attention:
        relative += ATTENTION
    if settings.dense_mlp:
        relative += DENSE_MLP
    if settings.experts:
        relative.append("experts")
    for index in range(_text_layer_count(model)):
        for rel in relative:
            dec_path = f"{DECODER_LAYERS}.{index}.{rel}"
            enc_path = f"{ENCODER_LAYERS}.{index}.{rel}"
            dec = get_module(model, dec_path)
            if dec is None or isinstance(dec, QuantLinear | QuantExperts):
                continue  # v_proj is absent on full-attention layers; already quantized modules are skipped
            enc = get_module(model, enc_path)
            kind = "experts" if rel == "experts" else "linear"
            attr = "gate_up_proj" if kind == "experts" else "weight"
            if _tied(dec, enc, attr):
                yield Target(kind, (dec_path, enc_path), dec)
            else:
                log.warning("%s is not tied to %s: quantizing both", enc_path, dec_path)
                yield Target(kind, (dec_path,), dec)
                if enc is not None:
                    yield Target(kind, (enc_path,), enc)
    if settings.self_conditioning:
        for path in SELF_CONDITIONING:
            module = get_module(model, path)
            if isinstance(module, nn.Linear):
                yield Target("linear", (path,), module)
    if settings.vision:
        vision = get_module(model, VISION_ROOT)
        if vision is not None:
            for name, module in vision.named_modules():
                if isinstance(module, nn.Linear):
                    yield Target("linear", (f"{VISION_ROOT}.{name}",), module)


def _install(model: nn.Module, target: Target, module: nn.Module) -> None:
    for path in target.paths:
        set_module(model, path, module)


@torch.no_grad()
def quantize_model(
    model: nn.Module,
    settings: QuantSettings | None = None,
    *,
    device: torch.device | str | None = None,
    progress: Callable[[LoadProgress], None] | None = None,
) -> nn.Module:
    """Quantize ``model`` in place, one module at a time, and return it.

    Each dense module is released as soon as its quantized twin is installed,
    so peak memory is the model plus one module.  ``device`` puts the quantized
    data there (and quantizes there: pass ``"cuda"`` to use the GPU kernels);
    by default it stays where each weight is.
    """
    settings = (settings or QuantSettings()).validate()
    todo = list(targets(model, settings))
    for done, target in enumerate(todo):
        if target.kind == "experts":
            quantized: nn.Module = QuantExperts.from_experts(target.module, settings, device=device)
        else:
            quantized = QuantLinear.from_linear(target.module, settings, device=device)
        _install(model, target, quantized)
        if progress is not None:
            progress(LoadProgress("quantize", done + 1, len(todo), target.paths[0]))
    mark_quantized(model, settings)
    return model


def install_empty(model: nn.Module, settings: QuantSettings, device: torch.device | str) -> list[Target]:
    """Replace every target by an unfilled quantized module on ``device``; returns the targets.

    Works on a model whose parameters are on the meta device: nothing dense is allocated.
    """
    settings = settings.validate()
    todo = list(targets(model, settings))
    for target in todo:
        kind = QuantExperts if target.kind == "experts" else QuantLinear
        _install(model, target, kind.empty_like(target.module, settings, device=device))
    mark_quantized(model, settings)
    return todo


def tie_text_weights(model: nn.Module) -> None:
    """Re-establish transformers' encoder↔decoder and embedding↔LM-head ties by object identity.

    Loading assigns fresh tensors to the decoder's parameters; the encoder's
    copies (and the LM head) must then point at the very same objects.  Buffers
    (``layer_scalar``) are not tied, as in transformers.
    """
    decoder_layers = get_module(model, DECODER_LAYERS)
    encoder_layers = get_module(model, ENCODER_LAYERS)
    for dec_layer, enc_layer in zip(decoder_layers, encoder_layers, strict=True):
        for name, param in dec_layer.named_parameters():
            owner_path, _, attr = name.rpartition(".")
            enc_owner = get_module(enc_layer, owner_path) if owner_path else enc_layer
            if enc_owner is not None and attr in enc_owner._parameters:
                enc_owner._parameters[attr] = param
    embed = model.model.decoder.embed_tokens.weight
    model.model.encoder.language_model.embed_tokens.weight = embed
    model.model.encoder.language_model.norm.weight = model.model.decoder.norm.weight
    model.lm_head.weight = embed


def mark_quantized(model: nn.Module, settings: QuantSettings) -> None:
    model.dgchat_quant_settings = settings


def quant_settings_of(model: nn.Module) -> QuantSettings | None:
    """The settings a model was quantized with, or None for a dense model."""
    return getattr(model, "dgchat_quant_settings", None)


def quantized_modules(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """Each distinct quantized module once (shared encoder/decoder modules are not repeated)."""
    for name, module in model.named_modules():
        if isinstance(module, QuantLinear | QuantExperts):
            yield name, module

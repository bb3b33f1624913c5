"""An empty DiffusionGemma on the meta device, and filling it tensor by tensor.

Streaming quantization and the quantized cache both build the model without
allocating a single dense weight (``torch.device("meta")``), install empty
quantized modules on the target device, and then assign each tensor as it is
read.  The few buffers that no checkpoint stores (rotary frequencies, the
embedding scale) are computed on the CPU exactly as the constructor would.

Checkpoint names are mapped to *canonical* names: the decoder's for every
weight the encoder shares, and the decoder embedding for the LM head, which is
what ``save_pretrained`` writes (it drops tied copies).  A checkpoint that
stores the encoder copies too is read once, not twice.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from engine.errors import ModelFilesError
from engine.model.quant.apply import DECODER_LAYERS, ENCODER_LAYERS, get_module, tie_text_weights
from engine.model.quant.modules import QuantExperts, QuantLinear

_ENCODER_LAYER = re.compile(rf"^{re.escape(ENCODER_LAYERS)}\.(\d+)\.(.+)$")
_ALIASES = {
    "lm_head.weight": "model.decoder.embed_tokens.weight",
    "model.encoder.language_model.embed_tokens.weight": "model.decoder.embed_tokens.weight",
    "model.encoder.language_model.norm.weight": "model.decoder.norm.weight",
}


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def empty_model(config, dtype: torch.dtype, folder: Path | None = None) -> nn.Module:
    """``DiffusionGemmaForBlockDiffusion(config)`` with every parameter on the meta device.

    Built under ``dtype`` as the default dtype, as ``from_pretrained(dtype=...)``
    does, so that every parameter and buffer gets the dtype it would have there.
    """
    from transformers import DiffusionGemmaForBlockDiffusion

    # As from_pretrained does: sub-models (the vision tower) are built in their config's dtype.
    config = copy.deepcopy(config)
    config.dtype = dtype
    for key in config.sub_configs:
        if (sub_config := getattr(config, key, None)) is not None:
            sub_config.dtype = dtype
    with torch.device("meta"), default_dtype(dtype):
        model = DiffusionGemmaForBlockDiffusion(config)
    with default_dtype(dtype):
        _compute_unsaved_buffers(model)
    if folder is not None:
        # Exactly what from_pretrained does with the folder's generation_config.json.
        model.adjust_generation_fn(
            generation_config=None,
            from_auto_class=False,
            from_pipeline=False,
            pretrained_model_name_or_path=str(folder),
            cache_dir=None,
            force_download=False,
            proxies=None,
            local_files_only=True,
            token=None,
            revision=None,
            subfolder="",
            trust_remote_code=False,
        )
    return model.eval()


def _compute_unsaved_buffers(model: nn.Module) -> None:
    """Materialize the non-persistent buffers (absent from checkpoints) on the CPU."""
    for name, module in model.named_modules():
        missing = [
            b
            for b, t in module._buffers.items()
            if t is not None and t.is_meta and b in module._non_persistent_buffers_set
        ]
        if not missing:
            continue
        if not list(module.parameters(recurse=False)) and hasattr(module, "config"):
            fresh = type(module)(module.config)  # rotary embeddings: buffers only, derived from config
            for buffer in missing:
                module._buffers[buffer] = fresh._buffers[buffer]
        elif missing == ["embed_scale"] and hasattr(module, "scalar_embed_scale"):
            module._buffers["embed_scale"] = torch.tensor(module.scalar_embed_scale)
        else:
            raise NotImplementedError(f"cannot compute the buffers {missing} of {name}")


def canonical_name(name: str, decoder: nn.Module | None = None) -> str:
    """The name under which a checkpoint tensor is stored once (see module docstring)."""
    if name in _ALIASES:
        return _ALIASES[name]
    match = _ENCODER_LAYER.match(name)
    if match and not name.endswith(".layer_scalar"):  # buffers are not tied
        return f"{DECODER_LAYERS}.{match.group(1)}.{match.group(2)}"
    return name


@dataclass(frozen=True)
class Slot:
    """Where a canonical tensor goes: a quantized module's weight, or a dense parameter/buffer."""

    kind: str  # "experts" | "linear" | "dense"
    module: nn.Module
    attr: str
    shape: tuple[int, ...]
    dtype: torch.dtype


def resolve(model: nn.Module, name: str) -> Slot | None:
    """The slot for a canonical name, or None when the model has no such tensor."""
    owner_path, _, attr = name.rpartition(".")
    owner = get_module(model, owner_path) if owner_path else model
    if owner is None:
        return None
    if isinstance(owner, QuantExperts) and attr in ("gate_up_proj", "down_proj"):
        weight = owner.gate_up if attr == "gate_up_proj" else owner.down
        return Slot("experts", owner, attr, (weight.rows, *weight.shape), torch.float32)
    if isinstance(owner, QuantLinear) and attr == "weight":
        return Slot("linear", owner, attr, owner.weight_q.shape, torch.float32)
    tensor = owner._parameters.get(attr)
    if tensor is None:
        tensor = owner._buffers.get(attr)
    if tensor is None:
        return None
    return Slot("dense", owner, attr, tuple(tensor.shape), tensor.dtype)


def assign_dense(slot: Slot, tensor: torch.Tensor, device: torch.device | str) -> None:
    """Put a dense tensor in place, converted to the dtype the model declares for it.

    The tensor is used as is when it already has that dtype and device: callers
    hand over fresh tensors (``get_tensor``, the cache reader), never views.
    """
    value = tensor.to(device=device, dtype=slot.dtype)
    if slot.attr in slot.module._parameters:
        slot.module._parameters[slot.attr] = nn.Parameter(value, requires_grad=False)
    else:
        slot.module._buffers[slot.attr] = value


def persistent_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every tensor a checkpoint must hold, once, under its canonical name.

    Tied tensors are reported under the decoder's name; non-persistent buffers
    (computed at construction) are left out.
    """
    out: dict[str, torch.Tensor] = {}
    for module_name, module in model.named_modules(remove_duplicate=False):
        prefix = f"{module_name}." if module_name else ""
        items = list(module._parameters.items()) + [
            (n, b) for n, b in module._buffers.items() if n not in module._non_persistent_buffers_set
        ]
        for attr, tensor in items:
            if tensor is None:
                continue
            name = canonical_name(prefix + attr)
            if out.setdefault(name, tensor) is not tensor:
                raise ValueError(f"{prefix + attr} should be tied to {name} but is a separate tensor")
    return dict(sorted(out.items()))


def missing_tensors(model: nn.Module) -> list[str]:
    """Canonical names of parameters or buffers still on the meta device (never filled)."""
    names = [n for n, p in model.named_parameters(remove_duplicate=False) if p.is_meta]
    names += [n for n, b in model.named_buffers(remove_duplicate=False) if b.is_meta]
    return sorted({canonical_name(n) for n in names})


def finish(model: nn.Module, folder: Path | str) -> nn.Module:
    """Tie, check nothing was left unfilled, and switch to inference mode."""
    tie_text_weights(model)
    missing = missing_tensors(model)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ModelFilesError(
            f"The checkpoint lacks {len(missing)} weights the model needs ({shown})",
            fix="Download the model again, or choose another folder",
            path=folder,
        )
    return model.eval()

"""The models a benchmark runs: the real 26B-A4B shape with random 4-bit weights, or a checkpoint.

``real-shape`` must be cheap to build on any machine, a CPU included: the
dense model (47 GiB in bf16) never exists, and quantizing 3,840 random experts
one by one takes most of an hour on two CPU cores.  So the weights are *drawn
straight into 4-bit*: each quantized weight's first row is a real N(0, 0.02)
draw quantized by bitsandbytes, and every other row gets uniformly random
codes with that row's block scales.  NF4's sixteen levels are the quantiles
of a normal distribution, so uniform codes dequantize to normal-looking
values of the same spread (off zero by ~5 % of it: NF4 has one more
positive level than negative) — and the layout, the bytes and the arithmetic are
exactly those of a quantized checkpoint.  Results are labelled "random
weights".
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _random_value(name: str, meta: torch.Tensor, device, generator: torch.Generator) -> torch.Tensor:
    """A plausible random value for a dense tensor: N(0, 0.02) matrices, neutral scales and clamps."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf in ("input_min", "output_min"):
        return torch.full(meta.shape, -math.inf, dtype=meta.dtype, device=device)
    if leaf in ("input_max", "output_max"):
        return torch.full(meta.shape, math.inf, dtype=meta.dtype, device=device)
    if leaf in ("std_bias",):
        return torch.zeros(meta.shape, dtype=meta.dtype, device=device)
    if meta.dim() <= 1 or "position_embedding" in name:
        return torch.ones(meta.shape, dtype=meta.dtype, device=device)
    out = torch.empty(meta.shape, dtype=meta.dtype, device=device)
    return out.normal_(0.0, 0.02, generator=generator)


@torch.no_grad()
def draw_random_rows(weight, dtype: torch.dtype, generator: torch.Generator, std: float = 0.02) -> None:
    """Fill a ``QuantizedWeight`` with random weights without quantizing more than its first row.

    Row 0 is N(0, ``std``) quantized for real; the other rows take random
    codes and row 0's scales (see the module docstring for why that is a fair
    random weight).
    """
    first = torch.empty(weight.shape, dtype=dtype, device=weight.device)
    weight.set_row(0, first.normal_(0.0, std, generator=generator))
    if weight.rows == 1:
        return
    weight.packed[1:].random_(0, 256, generator=generator)
    scales = ["absmax", "absmax2", "offset"] if weight.double_quant else ["absmax"]
    for name in scales:
        buffer = getattr(weight, name)
        buffer[1:].copy_(buffer[:1].expand_as(buffer[1:]))


@torch.no_grad()
def random_quantized_model(config, *, device, dtype: torch.dtype, settings=None, seed: int = 0) -> nn.Module:
    """A quantized model of ``config``'s shape with random weights, never dense as a whole.

    Each quantized weight is drawn straight into 4-bit (:func:`draw_random_rows`);
    the rest is drawn in place.
    """
    from engine.model.quant import QuantizedWeight, QuantSettings, install_empty
    from engine.model.quant.skeleton import assign_dense, empty_model, finish, persistent_tensors, resolve

    settings = settings or QuantSettings()
    device = torch.device(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    model = empty_model(config, dtype)
    install_empty(model, settings, device)
    for module in model.modules():
        if isinstance(module, QuantizedWeight):
            draw_random_rows(module, dtype, generator)
    for name, tensor in persistent_tensors(model).items():
        if tensor.is_meta:
            assign_dense(resolve(model, name), _random_value(name, tensor, device, generator), device)
    return finish(model, "random weights")


def load_bench_model(
    model: str, *, device, dtype, settings=None, quantize: bool = True, layers: int | None = None
) -> tuple[nn.Module, str]:
    """(model, weights label) for ``model``: a folder/repo id (quantized by streaming) or "real-shape".

    ``layers`` keeps the first layers of the real shape (all 30 by default).
    """
    from engine.model.planner import REAL_LAYERS, real_shape_config

    if model == "real-shape":
        config = real_shape_config(layers or REAL_LAYERS)
        model = random_quantized_model(config, device=device, dtype=dtype, settings=settings)
        return _with_experts_path(model, device, dtype), "random weights"
    from engine.model.loader import check_checkpoint, resolve_source

    folder = resolve_source(model)
    check_checkpoint(folder)
    if quantize:
        from engine.model.quant.stream import stream_quantize

        model = stream_quantize(folder, settings, device=device, dtype=dtype)
        return _with_experts_path(model, device, dtype), "checkpoint"
    from transformers import DiffusionGemmaForBlockDiffusion

    dense = DiffusionGemmaForBlockDiffusion.from_pretrained(str(folder), dtype=dtype).to(device).eval()
    return dense, "checkpoint (unquantized)"


def _with_experts_path(model: nn.Module, device, dtype) -> nn.Module:
    """The experts path the product would use on this device (timed on CUDA, as the loader does)."""
    if torch.device(device).type == "cuda":
        from engine.model.quant.experts_path import choose_experts_path

        choose_experts_path(model, torch.device(device), dtype)
    return model

"""Drop-in 4-bit replacements for ``nn.Linear`` and ``DiffusionGemmaTextExperts``.

Both dequantize to the dtype of their input (bf16 on CUDA, fp32 on the CPU)
right before the matmul and drop the dense copy right after (on CUDA with
Triton the experts skip that: see :mod:`engine.model.quant.fused`).  The experts go
in groups (:data:`EXPERTS_PER_GROUP`, by device): one bitsandbytes call
dequantizes a group and one grouped matmul runs all of its experts, so on
CUDA a forward launches a few kernels per group instead of ~10 per expert,
while at most one group (an eighth of a layer's experts on the real model)
exists in 16/32-bit at any moment.  That is why the experts are not handed to
``bitsandbytes.nn.parametrize``: its parametrization dequantizes the whole
fused ``[E, 2I, H]`` tensor on access, which on the real model is a 1.5 GiB
bf16 transient per layer and per forward.
"""

from __future__ import annotations

import functools
import logging

import torch
from torch import nn

from engine.model.quant.grouped import grouped_linear
from engine.model.quant.packed import QuantizedWeight
from engine.model.quant.settings import QuantSettings

# Experts dequantized together, by device.  On CUDA every op is a kernel launch (~5-10 µs), and the
# per-expert loop made ~1,170 per layer: a group of 16 (190 MB in bf16 on the real model, an eighth
# of the layer) needs ~160.  On the CPU ops run inline and smaller groups are faster (cache-sized
# weights): `python -m engine bench-experts` measured 0.43 s per real-shape layer with 1, 1.08 s with 16.
EXPERTS_PER_GROUP = {"cuda": 16, "cpu": 1}
DEFAULT_EXPERTS_PER_GROUP = 16


def experts_per_group_on(device: torch.device) -> int:
    """The group size :class:`QuantExperts` uses on ``device`` unless told otherwise."""
    return EXPERTS_PER_GROUP.get(device.type, DEFAULT_EXPERTS_PER_GROUP)


@functools.cache
def fused_kernel():
    """engine.model.quant.fused, or None without Triton (it ships with CUDA torch on Linux)."""
    try:
        import engine.model.quant.fused as fused
    except ImportError:
        return None
    except Exception:  # a broken Triton install must cost the fast path, never the model
        logging.getLogger(__name__).warning("Triton could not be imported", exc_info=True)
        return None
    return fused


class QuantLinear(nn.Module):
    """``nn.Linear`` with a 4-bit weight (bias, if any, stays dense)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        settings: QuantSettings,
        *,
        bias: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight_q = QuantizedWeight(1, (out_features, in_features), settings, device=device)
        if bias:
            self.bias = nn.Parameter(
                torch.empty(out_features, device=device, dtype=dtype), requires_grad=False
            )
        else:
            self.register_parameter("bias", None)

    @classmethod
    def empty_like(cls, linear: nn.Linear, settings: QuantSettings, device=None) -> QuantLinear:
        """An unfilled module of ``linear``'s shape (``linear`` may live on the meta device)."""
        return cls(
            linear.in_features,
            linear.out_features,
            settings,
            bias=linear.bias is not None,
            device=device if device is not None else linear.weight.device,
            dtype=linear.weight.dtype,
        )

    @classmethod
    @torch.no_grad()
    def from_linear(cls, linear: nn.Linear, settings: QuantSettings, device=None) -> QuantLinear:
        device = device if device is not None else linear.weight.device
        out = cls.empty_like(linear, settings, device)
        out.weight_q.set_row(0, linear.weight)
        if linear.bias is not None:
            out.bias.copy_(linear.bias.to(device))
        return out

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight_q.dequantize(0, x.dtype)
        bias = self.bias.to(x.dtype) if self.bias is not None else None
        return nn.functional.linear(x, weight, bias)


class QuantExperts(nn.Module):
    """The MoE experts of one layer, each expert's gate/up and down weights quantized on its own.

    ``forward`` has ``DiffusionGemmaTextExperts.forward``'s contract: routed
    tokens go through ``down(act(gate) * up)`` of each selected expert, are
    scaled by their routing weight and summed per token; index
    ``num_experts`` (the "no expert" sentinel) is skipped.  It follows
    transformers' default ``grouped_mm`` path step by step (pairs sorted by
    expert, grouped matmuls, weighted outputs put back in (token, slot) order
    and summed over the slots with one rounding), so given the same weights it
    gives the same bits as that path on the CPU.  No atomics: the result does
    not depend on thread scheduling on CUDA either.

    Where Triton compiles for the GPU and its self-check passes, both
    projections go through the fused 4-bit kernel of :mod:`engine.model.quant.fused`
    instead (codes dequantized in registers, no dense weights, no host sync);
    ``fused`` forces either path.
    """

    def __init__(
        self,
        num_experts: int,
        hidden_dim: int,
        intermediate_dim: int,
        act_fn: nn.Module,
        settings: QuantSettings,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.num_experts = num_experts
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.act_fn = act_fn
        self.experts_per_group: int | None = None  # None: experts_per_group_on(the device)
        self.fused: bool | None = None  # None: the Triton kernel where it is available and checked
        self.gate_up = QuantizedWeight(
            num_experts, (2 * intermediate_dim, hidden_dim), settings, device=device
        )
        self.down = QuantizedWeight(num_experts, (hidden_dim, intermediate_dim), settings, device=device)

    @classmethod
    def empty_like(cls, experts: nn.Module, settings: QuantSettings, device=None) -> QuantExperts:
        """An unfilled module with the shape of a ``DiffusionGemmaTextExperts``."""
        return cls(
            experts.num_experts,
            experts.hidden_dim,
            experts.intermediate_dim,
            experts.act_fn,
            settings,
            device=device,
        )

    @classmethod
    @torch.no_grad()
    def from_experts(cls, experts: nn.Module, settings: QuantSettings, device=None) -> QuantExperts:
        """Quantize a ``DiffusionGemmaTextExperts`` expert by expert (its fused tensors are only sliced)."""
        device = device if device is not None else experts.gate_up_proj.device
        out = cls.empty_like(experts, settings, device=device)
        out.gate_up.set_rows(experts.gate_up_proj)
        out.down.set_rows(experts.down_proj)
        return out

    def load_dense(self, name: str, row: int, weight: torch.Tensor) -> None:
        """Quantize one expert's slice of a checkpoint tensor (``gate_up_proj`` or ``down_proj``)."""
        target = {"gate_up_proj": self.gate_up, "down_proj": self.down}[name]
        target.set_row(row, weight)

    def extra_repr(self) -> str:
        return (
            f"num_experts={self.num_experts}, hidden={self.hidden_dim}, intermediate={self.intermediate_dim}"
        )

    def forward(
        self, hidden_states: torch.Tensor, top_k_index: torch.Tensor, top_k_weights: torch.Tensor
    ) -> torch.Tensor:
        tokens, top_k = top_k_index.shape
        flat_experts = top_k_index.reshape(-1)
        # (token, slot) pairs sorted by expert; the sentinel sorts last and falls outside every expert.
        order = torch.argsort(flat_experts, stable=True)
        per_expert = torch.bincount(flat_experts, minlength=self.num_experts + 1)[: self.num_experts]
        ends = torch.cumsum(per_expert, dim=0, dtype=torch.int32)
        weights = top_k_weights.reshape(-1)[order, None]
        # As transformers: weighted and summed in the router weights' dtype (fp32), then cast back.
        if self.uses_fused_kernel(hidden_states.device):
            weighted = self._fused(hidden_states[order // top_k], per_expert, ends) * weights
            out = torch.empty_like(weighted)
            out[order] = weighted
            del weighted
        else:
            out = self._grouped(hidden_states[order // top_k], per_expert, ends, order, weights)
        return out.view(tokens, top_k, self.hidden_dim).sum(dim=1).to(hidden_states.dtype)

    def uses_fused_kernel(self, device: torch.device) -> bool:
        """``fused`` if set, else whether the Triton kernel is available and checked on ``device``."""
        if self.fused is not None:
            return self.fused
        fused = fused_kernel()
        return bool(fused and fused.fused_available(device) and fused.supports(self.gate_up))

    def _fused(self, routed: torch.Tensor, per_expert: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        """Both projections through the fused 4-bit kernel: two launches, no host sync."""
        fused = fused_kernel()
        if fused is None:
            raise RuntimeError("the fused 4-bit experts kernel needs Triton")
        pairs, dtype, device = routed.shape[0], routed.dtype, routed.device
        tiles = fused.tile_table(per_expert, ends, pairs)
        gate, up = fused.grouped_matmul(routed, self.gate_up, tiles, ends).chunk(2, dim=-1)
        del routed  # the caller passed its only reference: freed before the next buffers
        hidden = self.act_fn(gate) * up  # rows of sentinel pairs hold garbage the next kernel never reads
        del gate, up
        zeros = torch.zeros((pairs, self.hidden_dim), dtype=dtype, device=device)
        return fused.grouped_matmul(hidden, self.down, tiles, ends, out=zeros)

    def _grouped(self, routed, per_expert, ends, order, weights) -> torch.Tensor:
        """Dequantize a group of experts at a time and run it with one grouped matmul."""
        counts = per_expert.tolist()  # the one host sync of the layer: group boundaries
        dtype = routed.dtype
        out_dtype = torch.promote_types(dtype, weights.dtype)
        out = torch.zeros((routed.shape[0], self.hidden_dim), dtype=out_dtype, device=routed.device)
        group = self.experts_per_group or experts_per_group_on(routed.device)
        start = 0
        for first in range(0, self.num_experts, group):
            last = min(first + group, self.num_experts)
            group_counts = counts[first:last]
            stop = start + sum(group_counts)
            if stop == start:
                continue
            group_ends = ends[first:last] - start
            # Scales are decoded per group too: for a whole real-shape layer they take ~170 MB.
            gate_up = self.gate_up.dequantize_rows(first, last, dtype)
            gate, up = grouped_linear(routed[start:stop], gate_up, group_ends, group_counts).chunk(2, dim=-1)
            del gate_up
            hidden = self.act_fn(gate) * up
            del gate, up
            down = self.down.dequantize_rows(first, last, dtype)
            hidden = grouped_linear(hidden, down, group_ends, group_counts)
            del down
            out[order[start:stop]] = hidden * weights[start:stop]
            start = stop
        return out

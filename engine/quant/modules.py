"""Drop-in 4-bit replacements for ``nn.Linear`` and ``DiffusionGemmaTextExperts``.

Both dequantize to the dtype of their input (bf16 on CUDA, fp32 on the CPU)
right before the matmul and drop the dense copy right after, so at most one
expert's gate/up and down weights exist in 16/32-bit at any moment.  That is
why the experts are not handed to ``bitsandbytes.nn.parametrize``: its
parametrization dequantizes the whole fused ``[E, 2I, H]`` tensor on access,
which on the real model is a 1 GiB bf16 transient per layer and per forward.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.quant.packed import QuantizedWeight
from engine.quant.settings import QuantSettings


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
    scaled by their routing weight and summed per token.  As in transformers'
    eager loop, experts are visited in ascending order and index
    ``num_experts`` (the "no expert" sentinel) is skipped; the sum is kept in
    fp32 and rounded once, like transformers' default ``grouped_mm`` path, so
    bf16 runs do not round after every expert.  In fp32 the result is
    bit-identical to the eager loop given the same weights.
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
        final = torch.zeros(hidden_states.shape, dtype=torch.float32, device=hidden_states.device)
        top_k = top_k_index.shape[-1]
        flat_experts = top_k_index.reshape(-1)
        # Group the (token, slot) pairs by expert: a stable sort keeps token order inside each expert,
        # which is the order transformers' one-hot/where loop visits them in.
        order = torch.argsort(flat_experts, stable=True)
        counts = torch.bincount(flat_experts, minlength=self.num_experts + 1)[: self.num_experts].tolist()
        token_of = order // top_k
        weight_of = top_k_weights.reshape(-1)[order]
        dtype = hidden_states.dtype
        gate_up_scales = self.gate_up.scales()
        down_scales = self.down.scales()
        start = 0
        for expert, count in enumerate(counts):
            if count == 0:
                continue
            tokens = token_of[start : start + count]
            weights = weight_of[start : start + count]
            start += count
            state = hidden_states[tokens]
            gate_up = self.gate_up.dequantize(expert, dtype, gate_up_scales[expert])
            gate, up = nn.functional.linear(state, gate_up).chunk(2, dim=-1)
            del gate_up
            hidden = self.act_fn(gate) * up
            down = self.down.dequantize(expert, dtype, down_scales[expert])
            hidden = nn.functional.linear(hidden, down)
            del down
            hidden = hidden * weights[:, None]
            final.index_add_(0, tokens, hidden.float())
        return final.to(hidden_states.dtype)

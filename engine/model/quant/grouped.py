"""One matmul per group of experts, rows sorted by expert: the dense path both expert modules share.

It sits below :mod:`engine.model.quant.modules` (which runs it after dequantizing a
group) and :mod:`engine.model.quant.fused` (whose self-check compares its kernel
against it), so neither of those has to import the other.
"""

from __future__ import annotations

import torch
from torch import nn


def grouped_linear(inputs: torch.Tensor, weights: torch.Tensor, ends: torch.Tensor, counts: list[int]):
    """``linear(inputs[rows of e], weights[e])`` for every expert ``e`` of a group, rows sorted by expert.

    ``ends`` (int32, on the device) and ``counts`` (on the host) both give the
    row boundaries.  One ``torch.nn.functional.grouped_mm`` call where the
    device has the kernel (the CPU, and CUDA from compute capability 8.0 in
    bf16), else one ``linear`` per expert with rows.
    """
    if _has_grouped_mm(inputs):
        return nn.functional.grouped_mm(inputs, weights.transpose(-2, -1), offs=ends)
    parts, start = [], 0
    for expert, count in enumerate(counts):
        if count:
            parts.append(nn.functional.linear(inputs[start : start + count], weights[expert]))
            start += count
    return torch.cat(parts)


def _has_grouped_mm(inputs: torch.Tensor) -> bool:
    if not hasattr(nn.functional, "grouped_mm"):
        return False
    if inputs.device.type == "cpu":
        return True
    if inputs.device.type == "cuda":
        return inputs.dtype == torch.bfloat16 and torch.cuda.get_device_capability(inputs.device) >= (8, 0)
    return False

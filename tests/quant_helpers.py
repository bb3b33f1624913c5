"""Helpers of the quantization tests: trained-like gains for the tiny model, exact model comparison."""

from __future__ import annotations

import torch


def set_trained_gains(model) -> None:
    """Small residual updates and soft attention, in place.

    With its random init the tiny model is chaotic — bf16 rounding of the
    weights alone moves its logits by 27 % — so no quantizer could be judged on
    it. A trained model's post-norm gains are small and its q/k norms soft.
    """
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "post_attention_layernorm" in name or "post_feedforward_layernorm" in name:
                param.fill_(0.1)
            elif "q_norm" in name or "k_norm" in name:
                param.fill_(0.3)


def all_tensors(model) -> dict[str, torch.Tensor]:
    """Every parameter and buffer by name, tied ones under each of their names."""
    out = dict(model.named_parameters(remove_duplicate=False))
    out.update(model.named_buffers(remove_duplicate=False))
    return out


def assert_same_model(a, b) -> None:
    """Same module tree, same tensor names, dtypes and values, bit for bit."""
    ta, tb = all_tensors(a), all_tensors(b)
    assert set(ta) == set(tb)
    for name in ta:
        assert ta[name].dtype == tb[name].dtype, name
        assert torch.equal(ta[name], tb[name]), name
    assert [(n, type(m)) for n, m in a.named_modules()] == [(n, type(m)) for n, m in b.named_modules()]

"""Give the tiny random model the gains of a trained one, so quantization error can be judged on it."""

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

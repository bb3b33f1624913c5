"""transformers' sampler pieces, extended to share one entropy computation per step.

``EntropyBoundSampler.accept_canvas`` and ``StableAndConfidentStoppingCriteria``
each compute the entropy of the 256 × vocab temperature-scaled logits, and the
GUI wants that same entropy per position.  These subclasses compute it once
(with the same ``Categorical(logits=...).entropy()`` call, so every decision is
bit-identical to ``model.generate``) and keep it for the step event.
"""

from __future__ import annotations

import torch
from transformers.models.diffusion_gemma.generation_diffusion_gemma import (
    EntropyBoundSampler,
    EntropyBoundSamplerConfig,
    LinearTemperatureScheduleLogitsProcessor,
    StableAndConfidentStoppingCriteria,
)

__all__ = [
    "EntropyBoundSamplerConfig",
    "LinearTemperatureScheduleLogitsProcessor",
    "ReportingSampler",
    "ReportingStoppingCriteria",
    "token_entropy",
]


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-position entropy (nats), exactly as transformers' sampler and stopping criteria compute it."""
    return torch.distributions.Categorical(logits=logits).entropy()


class ReportingSampler(EntropyBoundSampler):
    """The entropy-bound sampler, taking a precomputed entropy instead of recomputing it."""

    def accept_with_entropy(
        self, current_canvas: torch.LongTensor, denoiser_canvas: torch.LongTensor, entropy: torch.Tensor
    ) -> torch.LongTensor:
        """Accept the lowest-entropy tokens whose entropy sum minus max stays under the bound.

        Same arithmetic as ``EntropyBoundSampler.accept_canvas``; sets ``accepted_token_mask``,
        which ``renoise_canvas`` then uses to re-randomise every other position.
        """
        sorted_entropy, sorted_indices = torch.sort(entropy, dim=-1, descending=False)
        cumulative = torch.cumsum(sorted_entropy, dim=-1)
        sorted_selection = cumulative - sorted_entropy <= self.entropy_bound
        self.accepted_token_mask = torch.scatter(
            input=torch.zeros_like(sorted_selection), dim=-1, index=sorted_indices, src=sorted_selection
        )
        return torch.where(self.accepted_token_mask, denoiser_canvas, current_canvas)


class ReportingStoppingCriteria(StableAndConfidentStoppingCriteria):
    """Stable-and-confident adaptive stop, taking a precomputed entropy."""

    def check(self, argmax_canvas: torch.LongTensor, entropy: torch.Tensor) -> torch.BoolTensor:
        if self.stability_threshold == 0:
            stable = torch.ones((entropy.shape[0],), device=entropy.device, dtype=torch.bool)
        else:
            if self.argmax_canvas_history is None:
                self.argmax_canvas_history = torch.full(
                    (self.stability_threshold, *argmax_canvas.shape),
                    -1,
                    dtype=argmax_canvas.dtype,
                    device=argmax_canvas.device,
                )
            stable = (self.argmax_canvas_history == argmax_canvas[None, :, :]).all(dim=-1).all(dim=0)
            self.argmax_canvas_history = torch.roll(self.argmax_canvas_history, shifts=-1, dims=0)
            self.argmax_canvas_history[-1] = argmax_canvas
        confident = torch.mean(entropy, dim=-1) < self.confidence_threshold
        return stable & confident

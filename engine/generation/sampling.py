"""transformers' sampler pieces, as pure functions sharing one entropy computation per step.

``EntropyBoundSampler.accept_canvas`` and ``StableAndConfidentStoppingCriteria``
each compute the entropy of the 256 × vocab temperature-scaled logits, and the
GUI wants that same entropy per position.  Here it is computed once and passed
in; :func:`accept` returns the accepted mask instead of keeping it on a sampler
object for :func:`renoise` to read back.  :func:`token_entropy` runs the very operations of
``Categorical(logits=...).entropy()`` on tensors of the same shapes, so every
decision stays bit-identical to ``model.generate``, but in place: it holds two
canvas × vocab fp32 tensors at its peak instead of five (on the real model,
0.5 GiB instead of 1.3 GiB, which the VRAM planner turns into context).
"""

from __future__ import annotations

import torch
from transformers.models.diffusion_gemma.generation_diffusion_gemma import (
    LinearTemperatureScheduleLogitsProcessor,
    StableAndConfidentStoppingCriteria,
)

__all__ = [
    "LinearTemperatureScheduleLogitsProcessor",
    "ReportingStoppingCriteria",
    "accept",
    "noise",
    "renoise",
    "token_entropy",
]


def token_entropy(logits: torch.Tensor, *, consume: bool = False) -> torch.Tensor:
    """Per-position entropy (nats), bit for bit what transformers' sampler and stopping criteria compute.

    ``torch.distributions.Categorical(logits=x).entropy()`` normalizes ``x`` by its
    logsumexp, takes the softmax of that, clamps the normalized logits to the
    dtype's minimum and sums their product with the probabilities.  Each of
    those steps allocates a fresh ``x``-sized tensor (plus a bool one for
    argument validation).  Here the reductions run on the same shapes and the
    elementwise steps write in place, which produces the same bits with two
    live tensors.  ``consume=True`` lets the normalization overwrite ``logits``
    itself, for callers that are done with them.
    """
    normalized = (
        logits.sub_(logits.logsumexp(dim=-1, keepdim=True))
        if consume
        else (logits - logits.logsumexp(dim=-1, keepdim=True))
    )
    probs = torch.softmax(normalized, dim=-1)
    normalized.clamp_(min=torch.finfo(normalized.dtype).min).mul_(probs)
    del probs
    return normalized.sum(-1).neg_()


def noise(length: int, vocab_size: int, device: torch.device) -> torch.Tensor:
    """A canvas of uniformly random tokens: ``EntropyBoundSampler.initialize_canvas``'s very draw."""
    return torch.randint(low=0, high=vocab_size, size=(1, length), device=device)


def accept(entropy: torch.Tensor, entropy_bound: float) -> torch.Tensor:
    """The accepted mask: the lowest-entropy positions whose entropy sum minus max stays under the bound.

    The arithmetic of ``EntropyBoundSampler.accept_canvas``, on a precomputed
    entropy, returning the mask that transformers keeps on the sampler object.
    """
    sorted_entropy, sorted_indices = torch.sort(entropy, dim=-1, descending=False)
    cumulative = torch.cumsum(sorted_entropy, dim=-1)
    sorted_selection = cumulative - sorted_entropy <= entropy_bound
    return torch.scatter(
        input=torch.zeros_like(sorted_selection), dim=-1, index=sorted_indices, src=sorted_selection
    )


def renoise(
    canvas: torch.Tensor, sampled: torch.Tensor, accepted: torch.Tensor, vocab_size: int
) -> torch.Tensor:
    """The next canvas: accepted positions take the sampled token, every other one fresh noise.

    ``EntropyBoundSampler.accept_canvas`` then ``renoise_canvas``, with the same random draw.
    """
    kept = torch.where(accepted, sampled, canvas)
    return torch.where(~accepted, noise(canvas.shape[1], vocab_size, canvas.device), kept)


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

"""The in-place entropy gives the bits of ``Categorical(logits=...).entropy()`` with fewer live tensors."""

from __future__ import annotations

import pytest
import torch
from transformers.models.diffusion_gemma.generation_diffusion_gemma import (
    EntropyBoundSampler,
    EntropyBoundSamplerConfig,
)

from engine.benchmarks.memory import AllocationTracker
from engine.generation.sampling import accept, noise, renoise, token_entropy


def reference(logits: torch.Tensor) -> torch.Tensor:
    """What transformers' EntropyBoundSampler and stopping criteria compute."""
    return torch.distributions.Categorical(logits=logits).entropy()


def logits_like_the_sampler_sees(dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Temperature-scaled logits: wide range, some peaked rows, masked (-inf) entries, exact ties."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(1, 64, 3000, generator=g) * 6
    logits[0, ::5] *= 40  # near one-hot rows: entropies close to 0, where acceptance decisions happen
    logits[0, :, :7] = float("-inf")  # masked vocabulary entries give 0 · -inf in the naive formula
    logits[0, 3] = logits[0, 2]  # identical rows must give identical entropies
    return logits.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bit_identical_to_categorical(dtype, seed):
    logits = logits_like_the_sampler_sees(dtype, seed)
    expected = reference(logits)
    assert torch.equal(token_entropy(logits), expected)
    consumed = logits.clone()
    assert torch.equal(token_entropy(consumed, consume=True), expected)
    assert torch.isfinite(expected).all()


def test_the_input_survives_unless_consumed():
    logits = logits_like_the_sampler_sees(torch.float32, 0)
    before = logits.clone()
    token_entropy(logits)
    assert torch.equal(logits, before)
    token_entropy(logits, consume=True)
    assert not torch.equal(logits, before)


def test_lower_peak_than_categorical():
    """At the peak: the logits and two more such tensors (one when consuming), against Categorical's five."""
    size = 256 * 20000 * 4

    def peak(entropy) -> float:
        with AllocationTracker() as tracker:  # the logits are made inside, so they count once
            entropy(torch.randn(1, 256, 20000))
        return tracker.peak / size

    assert peak(reference) >= 5
    assert peak(token_entropy) < 3.05
    assert peak(lambda logits: token_entropy(logits, consume=True)) < 2.05


@pytest.mark.parametrize(("seed", "bound"), [(0, 0.1), (1, 0.5), (2, 3.0), (3, 1e-6)])
def test_pure_acceptance_and_renoise_are_transformers_sampler_bit_for_bit(seed, bound):
    """accept() returns the mask EntropyBoundSampler keeps on itself; renoise() draws the same noise."""
    vocab = 3000
    logits = logits_like_the_sampler_sees(torch.float32, seed)
    width = logits.shape[1]
    sampler = EntropyBoundSampler(EntropyBoundSamplerConfig(entropy_bound=bound), width, vocab, 8)
    torch.manual_seed(seed)
    cpu = torch.device("cpu")
    canvas, sampled = sampler.initialize_canvas(1, cpu), sampler.initialize_canvas(1, cpu)
    expected = sampler.renoise_canvas(sampler.accept_canvas(canvas, sampled, logits, 8), 8)

    torch.manual_seed(seed)
    ours_canvas, ours_sampled = (
        noise(width, vocab, torch.device("cpu")),
        noise(width, vocab, torch.device("cpu")),
    )
    assert torch.equal(ours_canvas, canvas) and torch.equal(ours_sampled, sampled)
    mask = accept(token_entropy(logits), bound)
    assert torch.equal(mask, sampler.accepted_token_mask)
    assert 0 < int(mask.sum()) <= width
    assert torch.equal(renoise(ours_canvas, ours_sampled, mask, vocab), expected)

"""The in-place entropy gives the bits of ``Categorical(logits=...).entropy()`` with fewer live tensors."""

from __future__ import annotations

import pytest
import torch

from engine.benchmarks.forward import AllocationTracker
from engine.generation.sampling import token_entropy


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

"""The fused NF4 grouped matmul (Triton), run in Triton's interpreter on the CPU (tests/conftest.py).

Its arithmetic is checked against dequantize + matmul; the GPU-only tests in
tests/engine/test_quant_gpu.py run the compiled kernel, and bench-experts times it.
"""

from __future__ import annotations

import copy
import logging

import pytest
import torch

pytest.importorskip("bitsandbytes")
pytest.importorskip("triton")

from engine.model.quant import (
    QuantExperts,
    QuantizedWeight,
    QuantSettings,
    fused,
)

pytestmark = pytest.mark.skipif(
    torch.cuda.is_available() or not fused.interpreting(),
    reason="the CPU checks run under TRITON_INTERPRET=1 (set by conftest.py when there is no GPU)",
)


def reference(inputs: torch.Tensor, weight: QuantizedWeight, counts: list[int]) -> torch.Tensor:
    dense = weight.dequantize_all(inputs.dtype)
    start, parts = 0, []
    for expert, count in enumerate(counts):
        parts.append(torch.nn.functional.linear(inputs[start : start + count], dense[expert]))
        start += count
    return torch.cat(parts)


@pytest.mark.parametrize("double_quant", [True, False])
def test_kernel_equals_dequantize_then_matmul(double_quant):
    """Empty experts, experts spanning several tiles, N not a multiple of the tile, sentinel rows."""
    g = torch.Generator().manual_seed(0)
    weight = QuantizedWeight.from_dense(
        torch.randn(5, 80, 192, generator=g), QuantSettings(double_quant=double_quant), rows=5
    )
    counts = [3, 17, 0, 16, 40]
    per_expert = torch.tensor(counts)
    ends = torch.cumsum(per_expert, 0)
    inputs = torch.randn(sum(counts) + 6, 192, generator=g)  # 6 sentinel rows after the last expert
    out = torch.zeros(inputs.shape[0], 80)
    fused.grouped_matmul(inputs, weight, fused.tile_table(per_expert, ends, inputs.shape[0]), ends, out=out)
    expected = reference(inputs, weight, counts)
    assert torch.allclose(out[: sum(counts)], expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(out[sum(counts) :], torch.zeros(6, 80))  # rows of no expert are not written


def test_kernel_in_half_precision():
    """16-bit inputs: the dequantized values are rounded to the input's dtype before the dot, as on a GPU.

    fp16 stands in for bf16 here: Triton's interpreter multiplies bf16 as raw integers (its numpy
    has no bf16), which tests/engine/test_quant_gpu.py covers on a GPU instead.
    """
    g = torch.Generator().manual_seed(1)
    weight = QuantizedWeight.from_dense(torch.randn(5, 80, 192, generator=g), QuantSettings(), rows=5)
    counts = [3, 17, 0, 16, 40]
    per_expert = torch.tensor(counts)
    ends = torch.cumsum(per_expert, 0)
    inputs = torch.randn(sum(counts), 192, generator=g).to(torch.float16)
    out = fused.grouped_matmul(inputs, weight, fused.tile_table(per_expert, ends, inputs.shape[0]), ends)
    assert out.dtype == torch.float16
    expected = reference(inputs.float(), weight, counts)  # fp32 products of the same fp16 values
    rounded = reference(inputs, weight, counts).float()
    assert ((out.float() - expected).norm() / expected.norm()).item() < 1e-3
    assert ((out.float() - rounded).norm() / expected.norm()).item() < 1e-3


def test_tile_table_covers_every_routed_row_once():
    per_expert = torch.tensor([0, 33, 16, 1, 0, 47])
    ends = torch.cumsum(per_expert, 0)
    pairs = int(ends[-1]) + 3
    experts, first_rows = fused.tile_table(per_expert, ends, pairs)
    assert experts.shape[0] >= -(-pairs // fused.BLOCK_M)  # the bound never runs short
    covered = []
    for expert, first in zip(experts.tolist(), first_rows.tolist(), strict=True):
        if expert < 0:
            continue
        end = int(ends[expert])
        assert int(ends[expert] - per_expert[expert]) <= first < end
        covered += range(first, min(first + fused.BLOCK_M, end))
    assert sorted(covered) == list(range(int(ends[-1])))


@pytest.fixture(scope="module")
def experts():
    torch.manual_seed(0)
    module = QuantExperts(12, 128, 64, torch.nn.GELU(approximate="tanh"), QuantSettings())
    module.gate_up.set_rows(torch.randn(12, 128, 128) * 0.1)
    module.down.set_rows(torch.randn(12, 128, 64) * 0.1)
    return module


def _routing(tokens: int, experts: int, top_k: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    index = torch.stack([torch.randperm(experts, generator=g)[:top_k] for _ in range(tokens)])
    return index, torch.rand(tokens, top_k, generator=g)


def test_experts_through_the_kernel_match_the_grouped_path(experts):
    hidden = torch.randn(100, 128)
    index, weights = _routing(100, 12, 4)
    index[::9, 2] = 12  # the "no expert" sentinel
    module = copy.copy(experts)
    with torch.no_grad():
        module.fused = False
        expected = module(hidden, index, weights)
        module.fused = True
        got = module(hidden, index, weights)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_the_quantized_tiny_model_through_the_kernel(tiny_checkpoint):
    """A whole prefill + denoising forward of the 4-bit tiny model, kernel against grouped path."""
    from transformers import DiffusionGemmaForBlockDiffusion
    from transformers.cache_utils import DynamicCache

    from engine.model.quant import quantize_model

    torch.set_num_threads(1)
    dense = DiffusionGemmaForBlockDiffusion.from_pretrained(str(tiny_checkpoint), dtype=torch.float32).eval()
    model = quantize_model(dense, QuantSettings())
    g = torch.Generator().manual_seed(0)
    ids, canvas = torch.randint(0, 1024, (1, 24), generator=g), torch.randint(0, 1024, (1, 256), generator=g)

    def logits(use_kernel: bool) -> torch.Tensor:
        for module in model.modules():
            if isinstance(module, QuantExperts):
                module.fused = use_kernel
        cache = DynamicCache(config=model.config.get_text_config(decoder=True))
        with torch.no_grad():
            return model(input_ids=ids, decoder_input_ids=canvas, cache=cache).logits

    expected, got = logits(False), logits(True)
    assert ((got - expected).norm() / expected.norm()).item() < 1e-5
    assert torch.equal(got.argmax(-1), expected.argmax(-1))


def test_cpu_never_picks_the_kernel_by_itself(experts):
    assert not fused.fused_available(torch.device("cpu"))
    module = copy.copy(experts)
    module.fused = None
    assert not module.uses_fused_kernel(torch.device("cpu"))


def test_a_failing_self_check_falls_back_with_a_logged_warning(monkeypatch, caplog):
    def broken(device, dtype=None):
        raise RuntimeError("PTX compile failed")

    monkeypatch.setattr(fused, "self_check", broken)
    with caplog.at_level(logging.WARNING, logger="engine.model.quant.fused"):
        assert not fused.fused_available.__wrapped__(torch.device("cuda"))
    assert "self-check" in caplog.text and "PTX compile failed" in caplog.text
    monkeypatch.setattr(fused, "self_check", lambda device, dtype=None: 0.5)
    assert not fused.fused_available.__wrapped__(torch.device("cuda"))  # disagreeing kernel: not used


def test_self_check_passes_in_the_interpreter():
    assert fused.self_check(torch.device("cpu")) < 1e-5


@pytest.fixture
def quantized_tiny(tiny_checkpoint):
    from transformers import DiffusionGemmaForBlockDiffusion

    from engine.model.quant import quantize_model

    dense = DiffusionGemmaForBlockDiffusion.from_pretrained(str(tiny_checkpoint), dtype=torch.float32).eval()
    return quantize_model(dense, QuantSettings())


@pytest.mark.parametrize(("grouped_ms", "fused_ms", "expected"), [(5.0, 1.0, True), (1.0, 5.0, False)])
def test_the_loader_keeps_the_faster_path(quantized_tiny, monkeypatch, grouped_ms, fused_ms, expected):
    """Both paths are timed on one layer of the loaded model; every experts module gets the winner."""
    from engine.model.quant.experts_path import choose_experts_path, experts_modules

    monkeypatch.delenv("DGCHAT_EXPERTS_PATH", raising=False)
    monkeypatch.setattr(fused, "fused_available", lambda device: True)  # as on a GPU that passed its check
    modules = experts_modules(quantized_tiny)
    timed: list[bool] = []

    def timer(run, device) -> float:
        run()  # really runs the layer (the kernel in Triton's interpreter)
        timed.append(modules[0].fused)
        return fused_ms if modules[0].fused else grouped_ms

    choice = choose_experts_path(quantized_tiny, torch.device("cpu"), torch.float32, timer=timer)
    assert timed == [False, True]
    assert choice.fused is expected and choice.grouped_ms == grouped_ms and choice.fused_ms == fused_ms
    assert len(modules) == 4  # the tiny model's layers; the encoder's experts are the decoder's
    every = [m for m in quantized_tiny.modules() if isinstance(m, QuantExperts)]
    assert all(module.fused is expected for module in every)


def test_the_experts_path_can_be_forced_and_is_never_guessed(quantized_tiny, monkeypatch):
    from engine.benchmarks.forward import experts_path_note
    from engine.model.quant.experts_path import choose_experts_path

    def no_timing(run, device):
        raise AssertionError("nothing is timed when the path is forced or the kernel is unavailable")

    monkeypatch.setenv("DGCHAT_EXPERTS_PATH", "fused")
    assert choose_experts_path(quantized_tiny, torch.device("cpu"), torch.float32, timer=no_timing).fused
    assert experts_path_note(quantized_tiny) == "experts path: fused 4-bit Triton kernel"
    monkeypatch.setenv("DGCHAT_EXPERTS_PATH", "grouped")
    assert not choose_experts_path(quantized_tiny, torch.device("cpu"), torch.float32, timer=no_timing).fused
    assert experts_path_note(quantized_tiny).endswith("grouped matmul, 1 expert per group")
    monkeypatch.delenv("DGCHAT_EXPERTS_PATH")
    choice = choose_experts_path(quantized_tiny, torch.device("cpu"), torch.float32, timer=no_timing)
    assert not choice.fused and "unavailable" in choice.reason  # no CUDA: the kernel is not a candidate


def test_a_kernel_failing_on_the_model_shape_leaves_the_grouped_path(quantized_tiny, monkeypatch, caplog):
    from engine.model.quant.experts_path import choose_experts_path, experts_modules

    monkeypatch.delenv("DGCHAT_EXPERTS_PATH", raising=False)
    monkeypatch.setattr(fused, "fused_available", lambda device: True)
    modules = experts_modules(quantized_tiny)

    def timer(run, device) -> float:
        run()
        if modules[0].fused:
            raise RuntimeError("out of shared memory")
        return 1.0

    with caplog.at_level(logging.WARNING, logger="engine.model.quant.experts_path"):
        choice = choose_experts_path(quantized_tiny, torch.device("cpu"), torch.float32, timer=timer)
    assert not choice.fused and "failed" in choice.reason
    assert "out of shared memory" in caplog.text
    assert all(module.fused is False for module in modules)

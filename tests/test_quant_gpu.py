"""CUDA checks of the 4-bit path (skipped without a GPU): GPU kernels agree with the CPU ones.

Run on a GPU machine with ``pytest -m gpu tests/test_quant_gpu.py`` (under a minute).
"""

from __future__ import annotations

import pytest
import torch
from quant_helpers import set_trained_gains

from engine.quant import QuantizedWeight, QuantSettings

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_cuda_quantization_agrees_with_cpu():
    torch.manual_seed(0)
    fused = torch.randn(8, 1408, 256) * 0.02
    cpu = QuantizedWeight.from_dense(fused, QuantSettings(), rows=8)
    gpu = QuantizedWeight.from_dense(fused.cuda(), QuantSettings(), rows=8)
    same_codes = (cpu.packed == gpu.packed.cpu()).float().mean().item()
    assert same_codes > 0.999  # only values exactly between two NF4 levels may round differently
    for row in (0, 7):
        dense_gpu = gpu.dequantize(row, torch.bfloat16).float().cpu()
        dense_cpu = cpu.dequantize(row, torch.float32)
        assert torch.allclose(dense_gpu, dense_cpu, rtol=0.02, atol=1e-4)


def test_cuda_streamed_model_matches_cpu(tiny_checkpoint):
    from transformers.cache_utils import DynamicCache

    from engine.quant.stream import stream_quantize

    cpu = stream_quantize(tiny_checkpoint, QuantSettings(), device="cpu", dtype=torch.float32)
    gpu = stream_quantize(tiny_checkpoint, QuantSettings(), device="cuda", dtype=torch.bfloat16)
    assert gpu.model.decoder.layers[0].experts.gate_up.packed.is_cuda
    set_trained_gains(cpu)
    set_trained_gains(gpu)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 1024, (1, 40), generator=g)
    canvas = torch.randint(0, 1024, (1, 256), generator=g)

    def logits(model, device):
        cache = DynamicCache(config=model.config.get_text_config(decoder=True))
        with torch.no_grad():
            out = model(input_ids=ids.to(device), decoder_input_ids=canvas.to(device), cache=cache)
        return out.logits.float().cpu()

    reference, got = logits(cpu, "cpu"), logits(gpu, "cuda")
    assert ((got - reference).norm() / reference.norm()).item() < 0.05  # bf16 compute vs fp32


def test_cuda_bench_smoke(tiny_checkpoint):
    from engine.bench import load_bench_model, run_bench

    model, weights = load_bench_model(str(tiny_checkpoint), device="cuda", dtype=torch.bfloat16)
    result = run_bench(model, label="tiny", weights=weights, context=64, canvases=2, steps=4)
    assert result.peak_reserved_bytes >= result.peak_allocated_bytes > result.weight_bytes
    assert result.forward_ms > 0 and result.decode_tok_s > 0
    assert not [n for n in result.notes if "early" in n]

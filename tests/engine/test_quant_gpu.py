"""CUDA checks of the 4-bit path (skipped without a GPU): GPU kernels agree with the CPU ones.

Run on a GPU machine with ``pytest -m gpu tests/engine/test_quant_gpu.py`` (under a minute).
"""

from __future__ import annotations

import pytest
import torch
from quant_helpers import set_trained_gains

from engine.model.quant import QuantizedWeight, QuantSettings

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

    from engine.model.quant.stream import stream_quantize

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
    from engine.benchmarks.forward import run_bench
    from engine.benchmarks.models import load_bench_model

    model, weights = load_bench_model(str(tiny_checkpoint), device="cuda", dtype=torch.bfloat16)
    result = run_bench(model, label="tiny", weights=weights, context=64, canvases=2, steps=4)
    assert result.peak_reserved_bytes >= result.peak_allocated_bytes > result.weight_bytes
    phases = result.phase_peak_bytes  # the allocator's peak of each phase, what was resident included
    assert set(phases) == {"prefill", "step"} and max(phases.values()) == result.peak_allocated_bytes
    assert result.forward_ms > 0 and result.decode_tok_s > 0
    assert not [n for n in result.notes if "early" in n]


def test_cuda_entropy_is_bit_identical_to_categorical():
    """The in-place entropy at the real canvas × vocab size gives Categorical's bits on the GPU too."""
    from engine.generation.sampling import token_entropy

    g = torch.Generator(device="cuda").manual_seed(0)
    logits = torch.randn(1, 256, 262_144, device="cuda", generator=g) * 8
    logits[0, ::5] *= 40
    expected = torch.distributions.Categorical(logits=logits).entropy()
    assert torch.equal(token_entropy(logits), expected)
    assert torch.equal(token_entropy(logits.clone(), consume=True), expected)


@pytest.mark.parametrize("group", [1, 8, 16, 32, "fused"])
def test_cuda_grouped_experts_match_transformers(group):
    """Real-shape routing of one canvas: our grouped 4-bit experts against transformers' grouped_mm path
    holding the same dequantized bf16 weights, with fp32 routing weights as the real router gives."""
    from transformers import DiffusionGemmaTextConfig
    from transformers.models.diffusion_gemma.modeling_diffusion_gemma import DiffusionGemmaTextExperts

    from engine.benchmarks.experts import random_experts
    from engine.model.quant.experts_path import routed_canvas

    hidden, inter, experts = 512, 256, 64
    quant = random_experts(
        hidden=hidden, intermediate=inter, experts=experts, device="cuda", dtype=torch.bfloat16
    )
    quant.fused = group == "fused"
    quant.experts_per_group = None if quant.fused else group
    config = DiffusionGemmaTextConfig(
        hidden_size=hidden, moe_intermediate_size=inter, num_experts=experts, top_k_experts=8
    )
    reference = DiffusionGemmaTextExperts(config).to("cuda", torch.bfloat16)
    with torch.no_grad():
        reference.gate_up_proj.copy_(quant.gate_up.dequantize_all(torch.bfloat16))
        reference.down_proj.copy_(quant.down.dequantize_all(torch.bfloat16))
    reference.config._experts_implementation = "grouped_mm"
    states, index, weights = routed_canvas(256, hidden, experts, 8, device="cuda", dtype=torch.bfloat16)
    weights = weights.float()  # the real router's softmax is fp32, and so are its weights
    with torch.no_grad():
        got, expected = quant(states, index, weights).float(), reference(states, index, weights).float()
    assert ((got - expected).norm() / expected.norm()).item() < 1e-2
    with torch.no_grad():
        assert torch.equal(quant(states, index, weights).float(), got)  # no atomics: deterministic


def test_cuda_loop_matches_generate(tiny_checkpoint):
    """The engine loop on CUDA writes transformers' generate tokens (unquantized tiny model, fp32)."""
    import dataclasses

    from engine.engine import Engine
    from engine.generation.loop import denoise
    from engine.inputs.conversation import Conversation, PromptOptions, Turn

    engine = Engine.load(tiny_checkpoint, device="cuda", quantize=False)
    conversation = Conversation(turns=(Turn("user", "Write a table of three fruits."),))
    inputs = engine.prepare(conversation, engine.default_settings, PromptOptions()).tensors
    eos = sorted(engine.codec.eos_ids)
    torch.manual_seed(1)
    out = engine.model.generate(
        inputs["input_ids"], max_new_tokens=512, max_denoising_steps=8, eos_token_id=eos
    )
    expected = out.sequences[0, inputs["input_ids"].shape[1] :].tolist()
    settings = engine.default_settings.with_changes(max_new_tokens=512, max_denoising_steps=8)
    torch.manual_seed(1)
    done = list(
        denoise(engine.model, inputs, settings, dataclasses.replace(engine.codec, eos_ids=frozenset(eos)))
    )
    assert list(done[-1].token_ids) == expected


def test_cuda_fused_kernel_passes_its_self_check_and_is_chosen():
    """On a GPU with Triton the experts pick the fused kernel by themselves (engine/model/quant/fused.py)."""
    pytest.importorskip("triton")
    from engine.model.quant import QuantExperts
    from engine.model.quant.fused import fused_available, self_check

    device = torch.device("cuda")
    assert self_check(device) < 0.02
    assert fused_available(device)
    experts = QuantExperts(8, 256, 128, torch.nn.GELU(approximate="tanh"), QuantSettings(), device=device)
    assert experts.uses_fused_kernel(device)

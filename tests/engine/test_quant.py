"""NF4 quantization of the tiny real-architecture checkpoint: layout, semantics, ties and error.

The tiny checkpoint (engine/model/tiny.py) has hidden 128, dense MLP 128, expert MLP
64, head dims 32/64: every quantized row holds a multiple of 64 values, so
bitsandbytes' 64-value blocks tile each expert exactly, as on the real model
(2816 × 1408 and 2816 × 704 are multiples of 64 too).
"""

from __future__ import annotations

import copy
import weakref

import pytest
import torch
from quant_helpers import set_trained_gains

from engine.model.quant import QuantExperts, QuantizedWeight, QuantLinear, QuantSettings, quantize_model
from engine.model.quant.apply import ATTENTION, DENSE_MLP, get_module
from engine.model.quant.packed import NESTED_BLOCKSIZE

bnb = pytest.importorskip("bitsandbytes.functional")

# NF4 error bounds for the well-conditioned tiny model (see docs/quantization.md, "Error analysis").
# Measured on this fixed model and input (deterministic): NF4 0.049 / 0.89, bf16 rounding 0.008 / 0.99,
# two experts swapped in every layer 0.117 / 0.74.
MAX_LOGIT_REL_ERROR = 0.07
MIN_ARGMAX_AGREEMENT = 0.85
CONFIDENT_MARGIN_SIGMAS = 4.0


@pytest.fixture(scope="module")
def dense(tiny_checkpoint):
    from transformers import DiffusionGemmaForBlockDiffusion

    torch.set_num_threads(1)
    return DiffusionGemmaForBlockDiffusion.from_pretrained(str(tiny_checkpoint), dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def quantized(dense):
    return quantize_model(copy.deepcopy(dense), QuantSettings())


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 1024, (1, 40), generator=g), torch.randint(0, 1024, (1, 256), generator=g)


def full_forward(model, inputs) -> torch.Tensor:
    """Encoder prefill of the prompt, then one decoder step on a fixed canvas: the logits."""
    from transformers.cache_utils import DynamicCache

    ids, canvas = inputs
    cache = DynamicCache(config=model.config.get_text_config(decoder=True))
    with torch.no_grad():
        return model(input_ids=ids, decoder_input_ids=canvas, cache=cache).logits


def rel_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out - ref).norm() / ref.norm()).item()


# -- storage layout ------------------------------------------------------------------------------


@pytest.mark.parametrize("double_quant", [False, True])
def test_rows_are_bitsandbytes_blocks_of_each_expert(double_quant):
    torch.manual_seed(0)
    fused = torch.randn(4, 128, 64) * 0.02
    settings = QuantSettings(double_quant=double_quant)
    rows = QuantizedWeight.from_dense(fused, settings, rows=4)
    # Quantizing the fused tensor in one call gives the same codes and scales:
    # no 64-value block straddles two experts.
    whole, state = bnb.quantize_4bit(fused, blocksize=64, quant_type="nf4")
    assert torch.equal(rows.packed, whole.view(4, -1))
    scales = rows.scales()
    if double_quant:
        assert rows.absmax.dtype == torch.uint8
        assert torch.allclose(scales, state.absmax.view(4, -1), rtol=0.01)
        assert not torch.equal(scales, state.absmax.view(4, -1))  # really 8-bit
    else:
        assert torch.equal(scales, state.absmax.view(4, -1))
    reference = bnb.dequantize_4bit(whole, state).view(4, 128, 64)
    for expert in range(4):
        got = rows.dequantize(expert, torch.float32)
        assert got.shape == (128, 64)
        assert torch.allclose(got, reference[expert], rtol=0.01, atol=1e-6)
    # NF4 with 64-value blocks: ~9 % relative RMS error on Gaussian weights.
    err = rel_error(rows.dequantize_all(torch.float32), fused)
    assert 0.05 < err < 0.12


def test_rows_need_not_fill_whole_blocks():
    weight = torch.randn(3, 10, 10)  # 100 values: one full and one partial block per row
    rows = QuantizedWeight.from_dense(weight, QuantSettings(), rows=3)
    assert rows.packed.shape == (3, 50)
    assert rows.absmax.shape == (3, 2)
    assert rel_error(rows.dequantize_all(torch.float32), weight) < 0.15


def test_bytes_per_weight_of_real_expert_shapes():
    settings = QuantSettings()
    gate_up = QuantizedWeight(128, (1408, 2816), settings, device="meta")
    n = 128 * 1408 * 2816
    # 4 bits + an 8-bit scale per 64 values + an fp32 scale per 256 scales + an fp32 offset per expert.
    expected = n // 2 + n // 64 + 4 * 128 * (n // 128 // 64 // NESTED_BLOCKSIZE) + 4 * 128 + 4 * 256
    assert gate_up.nbytes() == expected
    assert 4.12 < 8 * gate_up.nbytes() / n < 4.13
    plain = QuantizedWeight(128, (1408, 2816), QuantSettings(double_quant=False), device="meta")
    assert 8 * plain.nbytes() / n == 4.5


# -- module semantics ----------------------------------------------------------------------------


def _routing(tokens: int, experts: int, top_k: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    index = torch.stack([torch.randperm(experts, generator=g)[:top_k] for _ in range(tokens)])
    weights = torch.rand(tokens, top_k, generator=g)
    return index, weights


@pytest.fixture(scope="module")
def twelve_experts(dense):
    """transformers' experts module with 12 experts and our 4-bit copy; it holds our dequantized weights."""
    from transformers.models.diffusion_gemma.modeling_diffusion_gemma import DiffusionGemmaTextExperts

    config = copy.deepcopy(dense.config.text_config)
    config.num_experts = 12
    torch.manual_seed(0)
    hf = DiffusionGemmaTextExperts(config)
    with torch.no_grad():
        hf.gate_up_proj.normal_(0, 0.1)
        hf.down_proj.normal_(0, 0.1)
    quant = QuantExperts.from_experts(hf, QuantSettings())
    with torch.no_grad():
        hf.gate_up_proj.copy_(quant.gate_up.dequantize_all(torch.float32))
        hf.down_proj.copy_(quant.down.dequantize_all(torch.float32))
    return hf, quant


@pytest.mark.parametrize("group", [1, 5, 12, 16])
def test_experts_forward_equals_transformers_with_the_same_weights(twelve_experts, group):
    """Bit for bit transformers' default grouped_mm path, whatever the group size; the eager loop to 1e-6."""
    hf, quant = twelve_experts
    quant.experts_per_group = group
    hidden = torch.randn(300, 128)
    index, weights = _routing(300, 12, 4, seed=group)
    with torch.no_grad():
        hf.config._experts_implementation = "grouped_mm"
        assert torch.equal(quant(hidden, index, weights), hf(hidden, index, weights))
        # The eager loop adds the experts in a different order (and rounds after each in bf16).
        hf.config._experts_implementation = "eager"
        index[::7, 1] = 12  # transformers' "no expert" sentinel must be skipped (grouped_mm does not take it)
        assert torch.allclose(quant(hidden, index, weights), hf(hidden, index, weights), rtol=1e-5, atol=1e-6)
        # Tokens routed to no expert at all get zeros.
        none = torch.full((5, 4), 12)
        assert torch.equal(quant(hidden[:5], none, weights[:5]), torch.zeros(5, 128))


@pytest.mark.parametrize("weights_dtype", [torch.bfloat16, torch.float32])
def test_experts_in_bf16_match_transformers(twelve_experts, weights_dtype):
    """In bf16, routing weights in bf16 or fp32 (what the real router returns: its softmax is fp32)."""
    hf, quant = twelve_experts
    quant.experts_per_group = 5
    hf16 = copy.deepcopy(hf).to(torch.bfloat16)
    hf16.config._experts_implementation = "grouped_mm"
    hidden = torch.randn(256, 128).to(torch.bfloat16)
    index, weights = _routing(256, 12, 4)
    weights = weights.to(weights_dtype)
    with torch.no_grad():
        out = quant(hidden, index, weights)
        assert out.dtype == torch.bfloat16
        assert torch.equal(out, hf16(hidden, index, weights))


def test_experts_without_a_grouped_kernel_loop_over_experts(twelve_experts, monkeypatch):
    """Devices without grouped_mm (CUDA before compute capability 8.0) run one matmul per expert."""
    from engine.model.quant import grouped

    _hf, quant = twelve_experts
    quant.experts_per_group = 5
    hidden = torch.randn(300, 128)
    index, weights = _routing(300, 12, 4)
    with torch.no_grad():
        with_kernel = quant(hidden, index, weights)
        monkeypatch.setattr(grouped, "_has_grouped_mm", lambda inputs: False)
        assert torch.allclose(quant(hidden, index, weights), with_kernel, rtol=1e-6, atol=1e-7)


def test_experts_hold_at_most_one_dense_group_at_a_time(monkeypatch):
    torch.manual_seed(0)
    experts = QuantExperts(8, 64, 64, torch.nn.GELU(approximate="tanh"), QuantSettings())
    experts.experts_per_group = 3
    experts.gate_up.set_rows(torch.randn(8, 128, 64))
    experts.down.set_rows(torch.randn(8, 64, 64))
    alive: set[int] = set()
    peak = 0
    groups: list[int] = []
    original = QuantizedWeight.dequantize_rows

    def tracking(self, start, stop, dtype, scales=None):
        nonlocal peak
        out = original(self, start, stop, dtype, scales)
        groups.append(out.shape[0])
        key = id(out)
        alive.add(key)
        weakref.finalize(out, alive.discard, key)
        peak = max(peak, len(alive))
        return out

    monkeypatch.setattr(QuantizedWeight, "dequantize_rows", tracking)
    index, weights = _routing(64, 8, 2)
    with torch.no_grad():
        experts(torch.randn(64, 64), index, weights)
        assert groups == [3, 3, 3, 3, 2, 2]  # every expert was hit: gate/up and down once per group
        assert peak == 1
        groups.clear()
        experts(torch.randn(4, 64), torch.tensor([[0, 1], [1, 2], [2, 0], [0, 1]]), torch.ones(4, 2))
        assert groups == [3, 3]  # groups with no routed token are never dequantized


def test_a_run_of_rows_dequantizes_in_one_call_like_row_by_row():
    torch.manual_seed(0)
    for settings in (QuantSettings(), QuantSettings(double_quant=False)):
        weight = QuantizedWeight.from_dense(torch.randn(6, 128, 64), settings, rows=6)
        every = weight.dequantize_all(torch.float32)
        assert torch.equal(weight.dequantize_rows(1, 4, torch.float32), every[1:4])
        assert torch.equal(weight.dequantize_rows(0, 6, torch.bfloat16), every.to(torch.bfloat16))
    ragged = QuantizedWeight.from_dense(torch.randn(3, 10, 10), QuantSettings(), rows=3)  # 100 % 64 != 0
    assert torch.equal(ragged.dequantize_rows(0, 3, torch.float32), ragged.dequantize_all(torch.float32))


def test_quant_linear_matches_linear_with_dequantized_weight():
    torch.manual_seed(0)
    linear = torch.nn.Linear(128, 64, bias=True)
    quant = QuantLinear.from_linear(linear, QuantSettings())
    x = torch.randn(5, 128)
    exact = torch.nn.functional.linear(x, quant.weight_q.dequantize(0, torch.float32), linear.bias)
    with torch.no_grad():
        assert torch.equal(quant(x), exact)
        assert 0.05 < rel_error(quant(x), linear(x)) < 0.15


# -- the quantized model ---------------------------------------------------------------------------


def test_no_dense_expert_or_projection_weight_remains(quantized):
    text_layers = [*quantized.model.decoder.layers, *quantized.model.encoder.language_model.layers]
    for layer in text_layers:
        assert isinstance(layer.experts, QuantExperts)
        for name in ("q_proj", "k_proj", "o_proj"):
            assert isinstance(getattr(layer.self_attn, name), QuantLinear)
        for name in ("gate_proj", "up_proj", "down_proj"):
            assert isinstance(getattr(layer.mlp, name), QuantLinear)
    tensors = dict(quantized.named_parameters(remove_duplicate=False))
    tensors.update(dict(quantized.named_buffers(remove_duplicate=False)))
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not name.startswith("model.encoder.vision_tower"):
            assert tensor.dim() < 3, f"{name} is a dense {tuple(tensor.shape)} tensor"
        if ".experts." in name and tensor.is_floating_point():
            assert name.rsplit(".", 1)[1] in ("absmax", "absmax2", "offset", "code2"), name
    packed = [n for n, t in tensors.items() if t.dtype == torch.uint8 and n.endswith(".packed")]
    assert packed, "no 4-bit data found"
    # What stays 16/32-bit: embeddings (tied with the LM head), norms, routers, self-conditioning, vision.
    quant_state = ("absmax", "absmax2", "offset", "code2")
    dense_2d = {
        n
        for n, t in tensors.items()
        if t.is_floating_point() and t.dim() == 2 and n.rsplit(".", 1)[1] not in quant_state
    }
    assert all(
        any(
            k in n
            for k in ("embed_tokens", "lm_head", "router.proj", "self_conditioning", "vision", "embed_vision")
        )
        for n in dense_2d
    ), sorted(dense_2d)


def test_encoder_and_decoder_share_one_quantized_copy(quantized):
    decoder = quantized.model.decoder.layers
    encoder = quantized.model.encoder.language_model.layers
    for dec, enc in zip(decoder, encoder, strict=True):
        assert enc.experts is dec.experts
        assert enc.experts.gate_up.packed.data_ptr() == dec.experts.gate_up.packed.data_ptr()
        assert enc.self_attn.q_proj is dec.self_attn.q_proj
        assert enc.mlp.down_proj is dec.mlp.down_proj
        assert enc.input_layernorm.weight is dec.input_layernorm.weight
        assert enc.router.proj.weight is dec.router.proj.weight
    assert quantized.lm_head.weight is quantized.model.decoder.embed_tokens.weight
    # One copy: the distinct packed buffers are exactly the decoder's.
    distinct = {id(b) for n, b in quantized.named_buffers() if n.endswith(".packed")}
    per_decoder = {id(b) for n, b in quantized.model.decoder.named_buffers() if n.endswith(".packed")}
    assert distinct == per_decoder
    quant_bytes = sum(b.numel() for n, b in quantized.named_buffers() if n.endswith(".packed"))
    dense_elems = sum(
        p.numel()
        for n, p in quantized.model.decoder.layers.named_parameters()
        if "norm" not in n and "router" not in n
    )
    assert dense_elems == 0  # all matrices of the text layers are 4-bit
    assert quant_bytes > 0


def test_quantized_logits_equal_dense_model_with_dequantized_weights(dense, quantized, inputs):
    """Our modules add no error of their own: only NF4's rounding of the weights."""
    reference = copy.deepcopy(dense)
    with torch.no_grad():
        for dec_q, dec_ref in zip(
            quantized.model.decoder.layers, reference.model.decoder.layers, strict=True
        ):
            dec_ref.experts.gate_up_proj.copy_(dec_q.experts.gate_up.dequantize_all(torch.float32))
            dec_ref.experts.down_proj.copy_(dec_q.experts.down.dequantize_all(torch.float32))
            for path in (*ATTENTION, *DENSE_MLP):
                quant = get_module(dec_q, path)
                if quant is None:
                    continue  # no v_proj on full-attention layers
                assert isinstance(quant, QuantLinear)
                get_module(dec_ref, path).weight.copy_(quant.weight_q.dequantize(0, torch.float32))
    expected = full_forward(reference, inputs)
    got = full_forward(quantized, inputs)
    assert torch.allclose(got, expected, rtol=0, atol=1e-5), (got - expected).abs().max()
    assert torch.equal(got.argmax(-1), expected.argmax(-1))


def _conditioned(model):
    """A copy of the tiny model with the gains of a trained one (tests/trained_gains.py says why)."""
    model = copy.deepcopy(model)
    set_trained_gains(model)
    return model


def _error_stats(out, ref, canvas):
    """Relative L2 error, argmax agreement and the confident-position check (see docs)."""
    masked_ref = ref[0].scatter(1, canvas[0][:, None], float("-inf"))
    masked_out = out[0].scatter(1, canvas[0][:, None], float("-inf"))
    # The canvas token's own logit dominates through the tied embedding; judge the rest.
    agree = masked_ref.argmax(-1) == masked_out.argmax(-1)
    top2 = masked_ref.topk(2, dim=-1).values
    margin = top2[:, 0] - top2[:, 1]
    sigma = (out - ref).pow(2).mean().sqrt()
    confident = margin > CONFIDENT_MARGIN_SIGMAS * (2**0.5) * sigma
    return rel_error(out, ref), agree.float().mean().item(), confident, agree


def test_nf4_logit_error_is_within_the_stated_bounds(dense, inputs):
    model = _conditioned(dense)
    reference = full_forward(model, inputs)
    quantized = full_forward(quantize_model(copy.deepcopy(model), QuantSettings()), inputs)
    bf16 = copy.deepcopy(model)
    with torch.no_grad():
        for param in bf16.parameters():
            param.copy_(param.bfloat16().float())
    bf16_error = rel_error(full_forward(bf16, inputs), reference)

    error, agreement, confident, agree = _error_stats(quantized, reference, inputs[1])
    assert error < MAX_LOGIT_REL_ERROR
    assert error > 2 * bf16_error  # it really is 4-bit, not a 16-bit copy
    assert agreement >= MIN_ARGMAX_AGREEMENT
    assert confident.float().mean() > 0.1  # the check below is not vacuous
    assert agree[confident].all(), "a position whose reference margin exceeds the error flipped"


def test_the_error_bound_catches_a_wiring_bug(dense, inputs):
    """Swapping two experts' 4-bit rows — a plausible layout bug — fails the bound by far."""
    model = _conditioned(dense)
    reference = full_forward(model, inputs)
    broken = quantize_model(copy.deepcopy(model), QuantSettings())
    with torch.no_grad():
        for layer in broken.model.decoder.layers:
            for weight in (layer.experts.gate_up, layer.experts.down):
                weight.packed[[0, 1]] = weight.packed[[1, 0]]
    error, agreement, _, _ = _error_stats(full_forward(broken, inputs), reference, inputs[1])
    assert error > MAX_LOGIT_REL_ERROR
    assert agreement < MIN_ARGMAX_AGREEMENT


def test_settings_choose_what_is_quantized(dense):
    model = quantize_model(copy.deepcopy(dense), QuantSettings(experts=False, attention=False, vision=True))
    layer = model.model.decoder.layers[0]
    assert not isinstance(layer.experts, QuantExperts)
    assert isinstance(layer.self_attn.q_proj, torch.nn.Linear)
    assert isinstance(layer.mlp.gate_proj, QuantLinear)
    vision = model.model.encoder.vision_tower
    assert any(isinstance(m, QuantLinear) for m in vision.modules())
    assert not any(type(m) is torch.nn.Linear for m in vision.modules())
    assert isinstance(model.model.decoder.self_conditioning.gate_proj, torch.nn.Linear)

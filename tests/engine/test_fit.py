"""Before loading on a GPU: refuse a model that cannot fit, else find the context that fits."""

from __future__ import annotations

import json

import pytest
import torch

from engine.errors import ModelTooLargeError
from engine.model.fit import GpuMemory, checkpoint_quant_settings, context_limit, plan_context
from engine.model.planner import GIB, PlanOptions, make_plan, real_shape_config
from engine.model.quant.settings import QuantSettings


@pytest.fixture(scope="module")
def real_config():
    return real_shape_config()


def test_an_18_gib_gpu_gets_the_planners_largest_context(real_config):
    limit = plan_context(real_config, GpuMemory(free=18 * GIB, total=24 * GIB), PlanOptions())
    assert limit.tokens == make_plan(real_config, vram_bytes=18 * GIB).max_context
    assert 8192 <= limit.tokens < limit.model_tokens == 262_144 and limit.by_memory
    assert limit.tokens % 256 == 0


def test_a_gpu_with_plenty_of_memory_is_limited_by_the_model(real_config):
    limit = plan_context(real_config, GpuMemory(free=200 * GIB, total=200 * GIB), PlanOptions())
    assert limit.tokens == limit.model_tokens == 262_144 and not limit.by_memory


def test_a_busy_gpu_is_refused_with_what_other_programs_hold(real_config):
    with pytest.raises(ModelTooLargeError) as info:
        plan_context(real_config, GpuMemory(free=8 * GIB, total=24 * GIB), PlanOptions())
    message = str(info.value)
    assert "only 8.0 GiB of the GPU's 24.0 GiB is free" in message
    assert "Close other programs that use the GPU (they hold 16.0 GiB" in message and "demo model" in message


def test_a_small_gpu_is_refused_as_too_small(real_config):
    needed = make_plan(real_config, context=256, options=PlanOptions()).total
    with pytest.raises(ModelTooLargeError) as info:
        plan_context(real_config, GpuMemory(free=8 * GIB, total=8 * GIB), PlanOptions())
    message = str(info.value)
    assert f"needs about {needed / GIB:.1f} GiB" in message and "This GPU is too small" in message


def test_unquantized_weights_need_far_more(real_config):
    """bf16 experts (~46 GiB, CONTEXT.md §2) do not fit 24 GiB; the 4-bit model does."""
    memory = GpuMemory(free=24 * GIB, total=24 * GIB)
    assert plan_context(real_config, memory, PlanOptions()).tokens > 0
    with pytest.raises(ModelTooLargeError, match="too small"):
        plan_context(real_config, memory, PlanOptions(settings=None))


def test_on_the_cpu_the_models_own_maximum_applies(tiny_checkpoint):
    limit = context_limit(tiny_checkpoint, torch.device("cpu"), torch.float32, quantize=False)
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    assert limit.tokens == limit.model_tokens == config["text_config"]["max_position_embeddings"]
    assert not limit.by_memory


def test_a_quantized_checkpoint_is_planned_with_its_own_settings(tmp_path):
    settings = QuantSettings(blocksize=128, attention=False)
    (tmp_path / "manifest.json").write_text(json.dumps({"settings": settings.to_dict()}))
    assert checkpoint_quant_settings(tmp_path, quantize=False) == settings
    assert checkpoint_quant_settings(tmp_path.parent, quantize=True) == QuantSettings()
    assert checkpoint_quant_settings(tmp_path.parent, quantize=False) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_loading_on_cuda_sets_the_context_from_free_memory(tiny_checkpoint):
    from engine.engine import Engine

    engine = Engine.load(str(tiny_checkpoint), device="cuda")
    assert 0 < engine.info.context_length <= engine.info.model_context_length

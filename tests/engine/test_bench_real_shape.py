"""The real-shape benchmark on the CPU: the published dimensions, traced against the planner by phase."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from engine.benchmarks.against_plan import planned_phases, weights_by_kind
from engine.benchmarks.estimate import Rates, estimate_run
from engine.benchmarks.forward import weight_bytes_of
from engine.benchmarks.memory import PhaseMemory
from engine.benchmarks.models import draw_random_rows, random_quantized_model
from engine.model.planner import PlanOptions, Shape, make_plan, real_layer_types, real_shape_config
from engine.model.quant import QuantizedWeight, QuantSettings

pytest.importorskip("bitsandbytes")


def _bench(argv: list[str], capsys) -> tuple[dict, str]:
    from engine.commands import bench

    parser = argparse.ArgumentParser()
    bench.add_parser(parser.add_subparsers())
    args = parser.parse_args(["bench", *argv, "--json"])
    assert args.func(args) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_one_real_shape_layer_in_bf16_matches_the_planner_phase_by_phase(capsys):
    """Hidden 2816, 128 experts of 704, vocab 262,144 in bf16 on the CPU, through the product's loop.

    Two canvases, so the commit between them is traced too; 16 experts per
    group, as a GPU runs them.  Each phase's traced peak is within 3 % of the
    planner's prediction for exactly this run.
    """
    torch.set_num_threads(2)
    argv = ["--model", "real-shape", "--layers", "1", "--device", "cpu", "--dtype", "bfloat16"]
    argv += ["--context", "300", "--steps", "1", "--canvases", "2", "--experts-per-group", "16"]
    data, err = _bench(argv, capsys)
    assert "real-shape, 1 layers, 300-token prompt, 2 × 1 steps: about" in err  # said before the run
    assert data["dtype"] == "bfloat16" and data["layers"] == 1 and data["experts_per_group"] == 16
    assert data["tokens_per_forward"] == 256.0  # both canvases ran their one step
    kinds = data["weights_by_kind_gib"]
    assert sum(kinds.values()) == pytest.approx(data["weights_gib"], abs=0.003)
    assert kinds["dense_bfloat16"] > 1.4  # the 262,144 × 2816 embedding alone is 1.375 GiB
    for phase in ("prefill", "step"):
        ratio = data["phases"][phase]["traced_over_planned"]
        assert 0.97 < ratio < 1.03, (phase, data["phases"])
    assert data["peak_traced_gib"] == max(p["traced_gib"] for p in data["phases"].values())
    assert data["planned_total_gib"] == max(p["planned_gib"] for p in data["phases"].values())
    assert data["estimate_s"]["total_s"] > 0 and data["elapsed_s"]["total_s"] > data["elapsed_s"]["build_s"]


def test_layers_apply_to_the_real_shape_only(tiny_checkpoint, capsys):
    from engine.commands import bench

    parser = argparse.ArgumentParser()
    bench.add_parser(parser.add_subparsers())
    args = parser.parse_args(["bench", "--model", str(tiny_checkpoint), "--layers", "2"])
    with pytest.raises(SystemExit, match="real-shape only"):
        args.func(args)
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "--layers", "0"])


def test_a_cut_real_shape_keeps_the_pattern_and_ends_on_full_attention():
    assert real_layer_types(30).count("full_attention") == 5 and real_layer_types(30)[5] == "full_attention"
    assert real_layer_types(2) == ["sliding_attention", "full_attention"]
    assert real_layer_types(7)[-2:] == ["full_attention", "full_attention"]
    config = real_shape_config(3)
    assert config.text_config.num_hidden_layers == 3
    assert config.text_config.layer_types == real_layer_types(3)


def test_planner_for_a_cpu_run_has_no_cuda_overhead_and_takes_the_group_size():
    config = real_shape_config(2)
    cuda = make_plan(config, context=1024)
    cpu = make_plan(config, context=1024, options=PlanOptions(device="cpu", experts_per_group=16))
    assert cuda.overhead > 2**29 and cpu.overhead == 0
    assert cpu.step == cuda.step and cpu.prefill == cuda.prefill  # 16 per group is CUDA's default
    one = make_plan(config, context=1024, options=PlanOptions(device="cpu"))  # the CPU's own: 1 per group
    assert one.step["experts"] < cpu.step["experts"]
    phases = planned_phases(
        config,
        context=1024,
        canvases=3,
        dtype=torch.bfloat16,
        device=torch.device("cpu"),
        experts_per_group=16,
    )
    bench = PlanOptions(device="cpu", experts_per_group=16, prompt_cache_copy=False)
    later = make_plan(config, context=1024 + 2 * 256, options=bench)
    first = make_plan(config, context=1024, options=bench)
    assert phases["step"] >= later.phases()["step"] > first.phases()["step"]  # the last canvas sees the most
    assert phases["total"] == max(phases["prefill"], phases["step"])


def test_random_rows_drawn_straight_into_4bit_look_like_quantized_normals():
    generator = torch.Generator().manual_seed(0)
    weight = QuantizedWeight(6, (96, 256), QuantSettings())
    draw_random_rows(weight, torch.float32, generator)
    rows = weight.dequantize_all(torch.float32)
    assert all(0.015 < float(row.std()) < 0.03 for row in rows)
    assert abs(float(rows.mean())) < 0.1 * float(rows.std())  # NF4 has one more positive level: ~0.05 std
    assert not torch.equal(rows[1], rows[2])  # random codes per row
    assert torch.equal(weight.scales()[1], weight.scales()[0])  # the first row's scales


def test_weights_by_kind_split_the_exact_total(tiny_checkpoint):
    from transformers import AutoConfig

    model = random_quantized_model(
        AutoConfig.from_pretrained(str(tiny_checkpoint)), device="cpu", dtype=torch.float32
    )
    kinds = weights_by_kind(model)
    assert sum(kinds.values()) == weight_bytes_of(model)
    assert kinds["experts_4bit"] > 0 and kinds["linears_4bit"] > 0 and kinds["dense_float32"] > 0


def test_phase_memory_keeps_each_phase_peak_apart():
    with PhaseMemory(torch.device("cpu")) as memory:
        memory.start("prefill")
        big = torch.ones(1_000_000)  # 4 MB
        del big
        memory.start("step")
        small = torch.ones(1000) * 2  # 4 KB + 4 KB
        del small
    assert memory.peaks == {"prefill": 4_000_000, "step": 8_000}
    assert memory.peak == 4_000_000


def test_the_estimate_grows_with_the_work():
    rates = Rates(
        random_bytes_s=4e8, normal_s=2e8, quantize_s=7e7, dequantize_s=1.4e9,
        matmul_flops=4e11, large_matmul_flops=4e11, softmax_s=0.1,
    )  # fmt: skip
    shape = lambda layers: Shape.from_config(real_shape_config(layers))  # noqa: E731
    base = estimate_run(shape(2), rates, context=2048, canvases=1, steps=4, dense_elements=10**9)
    assert (
        estimate_run(shape(4), rates, context=2048, canvases=1, steps=4, dense_elements=10**9).total_s
        > base.total_s
    )
    more = estimate_run(shape(2), rates, context=2048, canvases=2, steps=4, dense_elements=10**9)
    assert more.steps_s > 2 * base.steps_s  # a second canvas, and the commit of the first
    assert base.build_s > 10**9 / 2e8
    assert base.upper_s > base.total_s
    assert base.describe().startswith("about ") and " to " in base.describe()

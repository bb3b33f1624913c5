"""Benchmark smoke tests on the CPU (seconds): the real loop at fixed steps, memory tracking, random 4-bit."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from engine.benchmarks.forward import bytes_per_forward, weight_bytes_of
from engine.benchmarks.memory import AllocationTracker
from engine.benchmarks.models import random_quantized_model
from engine.model.quant import QuantExperts, QuantizedWeight

pytest.importorskip("bitsandbytes")


def test_allocation_tracker_counts_live_storage_once():
    outside = torch.randn(1000, 1000)  # 4 MB allocated before tracking: not counted
    with AllocationTracker() as tracker:
        a = outside * 2  # +4 MB
        b = a + 1  # +4 MB: 8 MB live
        del a
        view = b.view(-1)  # a view shares b's storage
        b.add_(1)  # in place: nothing new
        outside.t().mul_(1)  # a view and an in-place update of a tensor made before: nothing new
        c = torch.softmax(b, -1)  # a was freed: still 8 MB
        del view, c
    assert tracker.peak == 2 * 4_000_000  # a was freed before softmax allocated


def test_bench_command_on_a_tiny_checkpoint(tiny_checkpoint, capsys):
    from engine.commands import bench

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser()
    bench.add_parser(parser.add_subparsers())
    argv = ["bench", "--model", str(tiny_checkpoint), "--device", "cpu", "--context", "48"]
    argv += ["--steps", "3", "--canvases", "2", "--bandwidth-gbs", "20", "--json"]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["weights"] == "checkpoint" and result["device"] == "cpu"
    assert result["context"] == 48 and result["steps"] == 3 and result["canvases"] == 2
    # Exactly canvases × steps forwards: the adaptive stop and EOS never cut a canvas short.
    assert result["tokens_per_forward"] == pytest.approx(2 * 256 / 6, abs=1e-3)
    assert not [n for n in result["notes"] if "early" in n]
    assert result["prefill_ms"] > 0 and result["forward_ms"] > 0 and result["step_ms"] >= result["forward_ms"]
    assert result["decode_tok_s"] > 0
    assert result["peak_allocated_bytes"] > result["weight_bytes"] > 0
    assert result["floor_ms"] == pytest.approx(1000 * result["bytes_per_forward"] / 20e9, rel=0.01)
    assert result["ratio_to_floor"] > 1


def test_gpu_report_turns_results_into_tables(tmp_path, capsys):
    """tools/gpu_report.py reads what docs/gpu_checks.sh writes (here: a real CPU bench line)."""
    import runpy
    from pathlib import Path

    report = runpy.run_path(str(Path(__file__).parents[2] / "tools" / "gpu_report.py"))["report"]
    result = {
        "context": 1024, "canvases": 4, "prefill_ms": 812.0, "forward_ms": 31.5, "decode_tok_s": 507.9,
        "peak_allocated_gib": 15.1, "ratio_to_floor": 6.7,
        "notes": ["experts path: fused 4-bit Triton kernel"],
        "phases": {
            "prefill": {"planned_gib": 14.6, "traced_gib": 14.4},
            "step": {"planned_gib": 15.0, "traced_gib": None},
        },
    }  # fmt: skip
    (tmp_path / "bench.jsonl").write_text(json.dumps(result) + "\n", encoding="utf-8")
    # Another run's plan comes first (its bench line is missing): the report pairs a run with the plan
    # for its context (prompt + 4 canvases of 256), not with the plan on the same line number.
    plans = [{"context": 9216, "total_gib": 16.5}, {"context": 2048, "total_gib": 15.4}]
    (tmp_path / "plan.jsonl").write_text("".join(json.dumps(p) + "\n" for p in plans), encoding="utf-8")
    (tmp_path / "env.txt").write_text("torch 2.11.0 13.0 NVIDIA H100 80GB HBM3\n", encoding="utf-8")
    (tmp_path / "pytest-gpu.txt").write_text("11 passed in 61.2s\n", encoding="utf-8")
    text = report(tmp_path)
    assert "NVIDIA H100" in text and "11 passed" in text
    assert (
        "| 1,024 | fused 4-bit Triton kernel | 15.1 | 15.4 | 14.4 / 14.6 | – | 812 | 31.50 | 508 | 6.7 |"
        in text
    )
    assert "no results" in text  # bench-experts.jsonl is missing: said, not an error


def test_random_weights_go_straight_to_4bit(tiny_checkpoint):
    """The random model never exists dense: peak allocation stays far below its dense size."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(tiny_checkpoint))
    with AllocationTracker() as tracker:
        model = random_quantized_model(config, device="cpu", dtype=torch.float32)
    assert all(isinstance(layer.experts, QuantExperts) for layer in model.model.decoder.layers)
    dense_experts = sum(
        4 * m.rows * m.numel_per_row for m in model.modules() if isinstance(m, QuantizedWeight)
    )  # fp32 bytes the quantized rows would take dense
    largest_row = max(4 * m.numel_per_row for m in model.modules() if isinstance(m, QuantizedWeight))
    non_quantized = weight_bytes_of(model) - sum(
        m.nbytes() for m in model.modules() if isinstance(m, QuantizedWeight)
    )
    assert tracker.peak < weight_bytes_of(model) + 8 * largest_row  # the weights plus one dense row at a time
    assert tracker.peak < non_quantized + dense_experts / 2
    from transformers.cache_utils import DynamicCache

    ids = torch.randint(0, 1024, (1, 20))
    with torch.no_grad():
        cache = DynamicCache(config=model.config.get_text_config(decoder=True))
        logits = model(input_ids=ids, decoder_input_ids=torch.randint(0, 1024, (1, 256)), cache=cache).logits
    assert torch.isfinite(logits).all() and logits.std() > 0


def test_bytes_per_forward_counts_the_embedding_twice_and_skips_vision(tiny_checkpoint):
    from transformers import AutoConfig

    model = random_quantized_model(
        AutoConfig.from_pretrained(str(tiny_checkpoint)), device="cpu", dtype=torch.float32
    )
    embedding = model.model.decoder.embed_tokens.weight
    vision = sum(p.numel() * p.element_size() for p in model.model.encoder.vision_tower.parameters())
    vision += sum(p.numel() * p.element_size() for p in model.model.encoder.embed_vision.parameters())
    expected = weight_bytes_of(model) - vision + embedding.numel() * embedding.element_size()
    assert bytes_per_forward(model) == expected


def test_bench_experts_command_compares_group_sizes(capsys):
    """Larger groups dispatch fewer ops (kernel launches on CUDA) and hold more dense weights."""
    from engine.commands import bench_experts

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser()
    bench_experts.add_parser(parser.add_subparsers())
    argv = ["bench-experts", "--device", "cpu", "--hidden", "128", "--intermediate", "64", "--experts", "8"]
    argv += ["--top-k", "2", "--tokens", "64", "--groups", "1,4,8,fused", "--repeats", "1"]
    argv += ["--bandwidth-gbs", "20"]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    assert "bandwidth floor" in capsys.readouterr().out
    args = parser.parse_args([*argv, "--json"])
    assert args.func(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["weights"] == "random weights" and data["device"] == "cpu"
    rows = {row["experts_per_group"]: row for row in data["results"]}
    assert list(rows) == [1, 4, 8, "fused"]  # the kernel runs in Triton's interpreter on the CPU
    assert rows[1]["ops_per_forward"] > rows[4]["ops_per_forward"] > rows[8]["ops_per_forward"]
    dense_expert = 4 * 3 * 64 * 128  # fp32 gate/up + down of one expert
    assert rows[8]["peak_transient_bytes"] - rows[1]["peak_transient_bytes"] >= 7 * dense_expert * 2 // 3
    assert all(row["forward_ms"] > 0 for row in data["results"])
    assert data["floor_ms"] > 0


def test_bench_experts_rejects_bad_group_sizes():
    from engine.commands import bench_experts

    parser = argparse.ArgumentParser()
    bench_experts.add_parser(parser.add_subparsers())
    for bad in ("0", "a,b", "", "1,fusion"):
        with pytest.raises(SystemExit):
            parser.parse_args(["bench-experts", "--groups", bad])


def test_bench_experts_compares_every_path_with_the_dense_experts(capsys):
    """The grouped path and the fused kernel (Triton's interpreter here) against transformers' own loop."""
    from engine.commands import bench_experts

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser()
    bench_experts.add_parser(parser.add_subparsers())
    argv = ["bench-experts", "--device", "cpu", "--hidden", "128", "--intermediate", "64", "--experts", "8"]
    args = parser.parse_args([*argv, "--top-k", "2", "--tokens", "64", "--compare", "--json"])
    assert args.func(args) == 0
    data = json.loads(capsys.readouterr().out)
    paths = data["paths"]
    assert list(paths) == ["grouped bfloat16", "grouped float32", "fused float16", "fused float32"]
    scale = data["reference_max_abs"]
    assert scale > 0
    # Same weights, same dtype: only summation order differs.
    assert paths["grouped float32"]["vs_dense_float32"] < 1e-5 * scale
    assert paths["fused float32"]["vs_dense_float32"] < 1e-5 * scale
    # 16-bit paths are within 16-bit rounding of the fp32 reference, as the dense bf16 loop is.
    bf16_rounding = max(data["reference_bf16_vs_fp32"], 1e-3 * scale)
    assert paths["grouped bfloat16"]["vs_dense_float32"] <= 2 * bf16_rounding
    assert paths["fused float16"]["vs_dense_float32"] <= 2 * bf16_rounding
    assert "interpreter" in data["notes"][0]


def test_bench_says_its_forecast_first_and_prints_each_phase_beside_the_plan(tiny_checkpoint, capsys):
    from engine.commands import bench

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser()
    bench.add_parser(parser.add_subparsers())
    argv = ["bench", "--model", str(tiny_checkpoint), "--device", "cpu", "--context", "48"]
    args = parser.parse_args([*argv, "--steps", "2", "--canvases", "2"])
    assert args.func(args) == 0
    captured = capsys.readouterr()
    assert "4 layers, 48-token prompt, 2 × 2 steps: about " in captured.err
    assert "build" not in captured.err  # a checkpoint's loading is not forecast
    assert "prefill: planned " in captured.out and "step: planned " in captured.out

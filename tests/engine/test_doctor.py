"""``python -m engine doctor``: every check says what is there, and a failed one says what to do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.hub.doctor import cache_check, fit_check, ready, run_checks
from engine.model.fit import GpuMemory
from engine.model.planner import GIB

without_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="what a machine without a GPU is told")


@without_gpu
def test_without_a_gpu_the_checks_say_so_and_how_to_fix_it(tiny_checkpoint: Path):
    checks = {c.name: c for c in run_checks(str(tiny_checkpoint))}
    assert list(checks)[:3] == ["python", "torch", "transformers"]
    assert checks["transformers"].ok and checks["model"].ok and "complete" in checks["model"].detail
    gpu = checks["gpu"]
    assert not gpu.ok and gpu.detail == "no CUDA GPU"
    assert ("CPU build" in gpu.fix) == (torch.version.cuda is None) and "demo model" in gpu.fix
    assert "fits the GPU" not in checks  # nothing to fit without a GPU
    assert not ready(list(checks.values()))


def test_a_missing_model_names_the_fix(tmp_path: Path):
    checks = {c.name: c for c in run_checks(str(tmp_path / "nowhere"))}
    assert not checks["model"].ok and "does not exist" in checks["model"].detail and checks["model"].fix


def test_the_fit_on_a_gpu_with_room_and_without(tiny_checkpoint: Path):
    roomy = fit_check(tiny_checkpoint, GpuMemory(free=8 * GIB, total=8 * GIB))
    assert roomy.ok and "tokens of context" in roomy.detail
    tight = fit_check(tiny_checkpoint, GpuMemory(free=GIB // 4, total=GIB // 4))
    assert not tight.ok and "needs about" in tight.detail and "too small" in tight.fix


def test_the_published_shape_fits_an_18_gib_gpu_with_the_planners_context():
    from engine.model.planner import make_plan, real_shape_config

    check = fit_check("real-shape", GpuMemory(free=18 * GIB, total=24 * GIB))
    tokens = make_plan(real_shape_config(), vram_bytes=18 * GIB).max_context
    assert check.ok and f"{tokens:,} tokens of context (this GPU's free memory)" in check.detail


def test_the_4bit_cache_is_reported_before_it_exists(tiny_checkpoint: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DGCHAT_CACHE_DIR", str(tmp_path))
    check = cache_check(str(tiny_checkpoint), tiny_checkpoint)
    assert check.ok and "not made yet" in check.detail and not check.required


@without_gpu
def test_the_command_prints_json_and_exits_1_when_not_ready(tiny_checkpoint: Path):
    result = subprocess.run(
        [sys.executable, "-m", "engine", "doctor", "--model", str(tiny_checkpoint), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["ready"] is False
    assert {"name", "ok", "detail", "fix", "required"} <= set(data["checks"][0])

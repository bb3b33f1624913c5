"""docs/gpu_checks.sh rehearsed on the CPU: every step's plumbing runs and tools/gpu_report.py renders it.

The first minutes on a lent GPU are few (15, all calls together), so the script
must not meet a stale flag or module path there for the first time.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "gpu_checks.sh"
RESULT_FILES = (
    "env.txt",
    "log.txt",
    "pytest-gpu.txt",
    "bench-experts.jsonl",
    "bench.jsonl",
    "plan.jsonl",
    "generate-tiny-cuda.jsonl",
    "deterministic.jsonl",
)


def _report(folder: Path) -> str:
    return runpy.run_path(str(ROOT / "tools" / "gpu_report.py"))["report"](folder)


def _rehearse(out: Path, budget_s: int, timeout_s: int) -> subprocess.CompletedProcess:
    """The rehearsal into ``out``; wheels a developer carries in .whl/ are left out (the test's venv)."""
    out.mkdir()
    env = {**os.environ, "REHEARSE": "1", "OUT": str(out / "results"), "PY": sys.executable}
    env |= {"BUDGET_S": str(budget_s), "WHEELS": str(out / "no-wheels")}
    env.pop("PYTEST_CURRENT_TEST", None)
    return subprocess.run(
        ["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
    )


def _jsonl(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_a_spent_budget_skips_every_step_and_still_reports(tmp_path):
    """Cut off before anything ran: the script ends at once, says why, and the report says what is missing."""
    done = _rehearse(tmp_path / "run", budget_s=0, timeout_s=60)
    results = tmp_path / "run" / "results"
    assert done.returncode == 0, done.stderr
    log = (results / "log.txt").read_text(encoding="utf-8")
    assert "skipped (time budget of 0 s spent)" in log and "engine bench" in log
    assert not (results / "bench.jsonl").read_text(encoding="utf-8").strip()
    text = _report(results)
    assert "no results (see log.txt)" in text and "no done event" in text
    assert "| environment |" in text  # the step marks still time what was attempted


@pytest.mark.slow
def test_the_rehearsal_writes_every_result_file_and_the_report_renders(tmp_path):
    """REHEARSE=1: all eight files, in the formats the report reads, from the real commands (~2 min)."""
    done = _rehearse(tmp_path / "run", budget_s=540, timeout_s=600)
    results = tmp_path / "run" / "results"
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in results.iterdir()) == sorted(RESULT_FILES)
    log = (results / "log.txt").read_text(encoding="utf-8")
    assert "skipped (time budget" not in log and "Traceback" not in log, log
    assert "torch " in (results / "env.txt").read_text(encoding="utf-8")
    experts = _jsonl(results / "bench-experts.jsonl")
    assert [run["tokens"] for run in experts] == [64, 256]
    groups = [row["experts_per_group"] for row in experts[0]["results"]]
    assert groups[:5] == [1, 4, 8, 16, 32]  # and "fused" where Triton's interpreter is there
    bench, plans = _jsonl(results / "bench.jsonl"), _jsonl(results / "plan.jsonl")
    assert [run["context"] for run in bench] == [64, 64, 256]
    assert [plan["context"] for plan in plans] == [64 + 512, 64 + 512, 256 + 512]
    assert all(run["steps"] == 4 and run["canvases"] == 2 and run["forward_ms"] > 0 for run in bench)
    assert _jsonl(results / "generate-tiny-cuda.jsonl")[-1]["event"] == "done"
    deterministic = _jsonl(results / "deterministic.jsonl")
    assert [row["deterministic"] for row in deterministic] == [1, 1, 0]

    text = _report(results)
    assert "no results" not in text and "no done event" not in text and "not run" not in text
    assert "GPU tests: " in text and "skipped" in text  # the CUDA tests, recorded as skipped on the CPU
    planned = [line.split("|")[4].strip() for line in text.splitlines() if line.startswith("| 64 |")]
    assert planned and all(value != "–" for value in planned)  # each bench row found its plan
    assert "| deterministic 1 |" in text and "| all |" in text

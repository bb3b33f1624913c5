"""Turn the files docs/gpu_checks.sh writes into the Markdown tables docs/benchmarks.md wants.

Usage: python tools/gpu_report.py RESULTS_DIR > report.md

Reads env.txt (the card), pytest-gpu.txt (the summary line), bench-experts.jsonl,
bench.jsonl and plan.jsonl; whatever is missing or empty is reported as such,
so a partial run still gives a partial report.  Runs anywhere (no torch).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

GIB = 2**30


def _lines(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def _matching_lines(path: Path, wanted) -> list[str] | None:
    """The lines of ``path`` that ``wanted`` accepts; None when the file is not there."""
    if not path.is_file():
        return None
    return [line for line in path.read_text(encoding="utf-8").splitlines() if wanted(line)]


def _card(folder: Path) -> str:
    lines = _matching_lines(folder / "env.txt", lambda line: line.startswith(("torch ", "transformers ")))
    if lines is None:
        return "unknown card (no env.txt)"
    return "; ".join(lines) or "unknown card (env.txt has no torch line)"


def _pytest(folder: Path) -> str:
    summary = _matching_lines(folder / "pytest-gpu.txt", lambda line: " passed" in line or " failed" in line)
    if summary is None:
        return "not run"
    return summary[-1].strip("= ") if summary else "no summary line (see pytest-gpu.txt)"


def experts_table(rows: list[dict]) -> list[str]:
    out = []
    for run in rows:
        floor = run.get("floor_ms")
        shape, where = run["shape"], run.get("device_name", run["device"])
        out.append(
            f"\n{run['tokens']} tokens, {shape['experts']} experts of "
            f"{shape['hidden']}×{shape['intermediate']} on {where}"
            + (f", floor {floor:.3f} ms per layer" if floor else "")
            + ":\n"
        )
        out.append("| path | ms per layer | ops per layer | transient MiB | × floor |")
        out.append("|---|---:|---:|---:|---:|")
        for result in run["results"]:
            group = result["experts_per_group"]
            name = "fused kernel" if group == "fused" else f"groups of {group}"
            ratio = f"{result['forward_ms'] / floor:.1f}" if floor else "–"
            out.append(
                f"| {name} | {result['forward_ms']:.3f} | {result['ops_per_forward']} | "
                f"{result['peak_transient_bytes'] / 2**20:.1f} | {ratio} |"
            )
        for note in run.get("notes", []):
            out.append(f"\n(note: {note})")
    return out


def bench_table(rows: list[dict], plans: list[dict]) -> list[str]:
    out = [
        "| context | experts path | peak allocated GiB | planned total GiB | prefill ms | ms per forward | "
        "decode tok/s (16 steps) | × floor |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for i, run in enumerate(rows):
        path = next((n.split(": ", 1)[1] for n in run.get("notes", []) if n.startswith("experts path")), "?")
        plan = plans[i]["total_gib"] if i < len(plans) else None
        ratio = run.get("ratio_to_floor")
        out.append(
            f"| {run['context']:,} | {path} | {run['peak_allocated_gib']} | "
            f"{plan if plan is not None else '–'} | {run['prefill_ms']:.0f} | {run['forward_ms']:.2f} | "
            f"{run['decode_tok_s']:.0f} | {f'{ratio:.1f}' if ratio else '–'} |"
        )
    return out


def report(folder: Path) -> str:
    lines = [f"Card: {_card(folder)}", "", f"GPU tests: {_pytest(folder)}", ""]
    experts = _lines(folder / "bench-experts.jsonl")
    lines += ["### One layer's experts (`bench-experts`)"]
    lines += experts_table(experts) if experts else ["", "no results (see log.txt)"]
    bench = _lines(folder / "bench.jsonl")
    lines += ["", "### The real shape, random 4-bit weights, 18 GiB cap (`bench`)", ""]
    lines += bench_table(bench, _lines(folder / "plan.jsonl")) if bench else ["no results (see log.txt)"]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    sys.stdout.write(report(Path(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

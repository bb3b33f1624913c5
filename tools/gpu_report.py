"""Turn the files docs/gpu_checks.sh writes into the Markdown tables docs/benchmarks.md wants.

Usage: python tools/gpu_report.py RESULTS_DIR > report.md

Reads env.txt (the card), pytest-gpu.txt (the summary line), bench-experts.jsonl,
bench.jsonl, plan.jsonl, generate-tiny-cuda.jsonl, deterministic.jsonl and the step
marks of log.txt (how long each step took, for the time budget in the script's
header); whatever is missing or empty is reported as such, so a partial run still
gives a partial report.  Runs anywhere (no torch).  The rehearsal
(``REHEARSE=1``, tiny model on the CPU) writes the same files, so it renders too.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

GIB = 2**30
CANVAS = 256  # tokens per canvas: the plan for a run counts the prompt plus its committed canvases
PYTEST_SUMMARY = re.compile(r"\b(passed|failed|skipped|errors?|deselected|no tests ran)\b.* in [0-9.]+s")
STEP_MARK = re.compile(r"^== (\d\d):(\d\d):(\d\d) (.+)$")


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
    summary = _matching_lines(folder / "pytest-gpu.txt", lambda line: PYTEST_SUMMARY.search(line) is not None)
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


def _plan_for(run: dict, plans: list[dict]) -> dict | None:
    """The plan made for ``run``: its context is the prompt plus the canvases committed by the end."""
    wanted = run["context"] + run.get("canvases", 0) * CANVAS
    return next((plan for plan in plans if plan.get("context") == wanted), None)


def bench_heading(rows: list[dict]) -> str:
    first = rows[0]
    cap = first.get("vram_cap_bytes")
    return (
        f"### {first.get('model', '?')} ({first.get('weights', '?')}) on {first.get('device', '?')}, "
        f"{first.get('steps', '?')} steps × {first.get('canvases', '?')} canvases"
        + (f", {cap / GIB:g} GiB cap" if cap else "")
        + " (`bench`)"
    )


def bench_table(rows: list[dict], plans: list[dict]) -> list[str]:
    out = [
        "| context | experts path | peak allocated GiB | planned total GiB | prefill: measured / planned GiB "
        "| step: measured / planned GiB | prefill ms | ms per forward | decode tok/s | × floor |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in rows:
        path = next((n.split(": ", 1)[1] for n in run.get("notes", []) if n.startswith("experts path")), "?")
        plan = _plan_for(run, plans)
        ratio = run.get("ratio_to_floor")
        out.append(
            f"| {run['context']:,} | {path} | {run['peak_allocated_gib']} | "
            f"{plan['total_gib'] if plan else '–'} | {_phase(run, 'prefill')} | {_phase(run, 'step')} | "
            f"{run['prefill_ms']:.0f} | {run['forward_ms']:.2f} | "
            f"{run['decode_tok_s']:.0f} | {f'{ratio:.1f}' if ratio else '–'} |"
        )
    return out


def _phase(run: dict, name: str) -> str:
    """A phase's measured and planned peaks (``bench`` sets them beside each other since 2026-12-06)."""
    phase = run.get("phases", {}).get(name)
    if not phase or phase.get("traced_gib") is None:
        return "–"
    return f"{phase['traced_gib']} / {phase['planned_gib']}"


def generate_line(events: list[dict]) -> str:
    """One line from the ``done`` event of ``generate --jsonl``: what the loop did end to end."""
    done = next((event for event in reversed(events) if event.get("event") == "done"), None)
    if done is None:
        return "no done event (see log.txt)"
    stats = done.get("stats", {})
    peak = stats.get("peak_vram_bytes")
    tokens, rate = stats.get("generated_tokens", "?"), stats.get("tokens_per_second", 0)
    return (
        f"{tokens} tokens in {done['canvases']} canvases, {done['forwards']} forwards, "
        f"{done['seconds']:.2f} s ({rate:.0f} tok/s), stop: {done['stop_reason']}"
        + (f", peak VRAM {peak / GIB:.2f} GiB" if peak else "")
    )


def deterministic_table(rows: list[dict]) -> list[str]:
    out = ["| deterministic kernels | seconds | canvases | tokens (sha1) |", "|---|---:|---:|---|"]
    for row in rows:
        kernels = "on" if row["deterministic"] else "off"
        out.append(f"| {kernels} | {row['seconds']:.2f} | {row['canvases']} | {row['tokens']} |")
    repeats = {row["tokens"] for row in rows if row["deterministic"]}
    if len([row for row in rows if row["deterministic"]]) > 1:
        verdict = "the same tokens" if len(repeats) == 1 else "DIFFERENT tokens"
        out.append(f"\nSeed 1 in two processes with deterministic kernels: {verdict}.")
    return out


def step_seconds(folder: Path) -> list[tuple[str, int]]:
    """(step, seconds) from the ``== HH:MM:SS name`` marks of log.txt: each mark until the next."""
    lines = _matching_lines(folder / "log.txt", lambda line: STEP_MARK.match(line) is not None) or []
    marks = []
    for line in lines:
        hours, minutes, seconds, name = STEP_MARK.match(line).groups()
        marks.append((name, int(hours) * 3600 + int(minutes) * 60 + int(seconds)))
    return [(name, (marks[i + 1][1] - at) % 86400) for i, (name, at) in enumerate(marks[:-1])]


def report(folder: Path) -> str:
    lines = [f"Card: {_card(folder)}", "", f"GPU tests: {_pytest(folder)}", ""]
    experts = _lines(folder / "bench-experts.jsonl")
    lines += ["### One layer's experts (`bench-experts`)"]
    lines += experts_table(experts) if experts else ["", "no results (see log.txt)"]
    bench = _lines(folder / "bench.jsonl")
    if bench:
        lines += ["", bench_heading(bench), "", *bench_table(bench, _lines(folder / "plan.jsonl"))]
    else:
        lines += ["", "### The model (`bench`)", "", "no results (see log.txt)"]
    lines += ["", "### The engine loop on the tiny checkpoint (`generate`)", ""]
    lines += [generate_line(_lines(folder / "generate-tiny-cuda.jsonl"))]
    deterministic = _lines(folder / "deterministic.jsonl")
    lines += ["", "### Deterministic kernels, demo model, seed 1 (`generate`)", ""]
    lines += deterministic_table(deterministic) if deterministic else ["no results (see log.txt)"]
    steps = step_seconds(folder)
    lines += ["", "### Time per step (log.txt)", ""]
    if steps:
        lines += ["| step | seconds |", "|---|---:|", *(f"| {name} | {sec} |" for name, sec in steps)]
        lines += [f"| all | {sum(sec for _, sec in steps)} |"]
    else:
        lines += ["no step marks (no log.txt)"]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    sys.stdout.write(report(Path(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

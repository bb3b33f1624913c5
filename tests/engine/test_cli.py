"""The engine CLI as a user runs it: real subprocesses, real files, no tracebacks on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_make_tiny_writes_a_loadable_checkpoint(tmp_path: Path):
    result = _run("make-tiny", str(tmp_path / "tiny"))
    assert result.returncode == 0, result.stderr
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "generation_config.json",
        "preprocessor_config.json",
        "processor_config.json",
        "chat_template.jinja",
    ):
        assert (tmp_path / "tiny" / name).is_file(), name
    config = json.loads((tmp_path / "tiny" / "config.json").read_text())
    assert config["model_type"] == "diffusion_gemma" and config["canvas_length"] == 256
    layer_types = config["text_config"]["layer_types"]
    assert {"sliding_attention", "full_attention"} <= set(layer_types)
    gen = json.loads((tmp_path / "tiny" / "generation_config.json").read_text())
    assert gen["max_denoising_steps"] == 48 and gen["t_max"] == 0.8 and gen["t_min"] == 0.4


def test_generate_jsonl_streams_steps_canvases_and_done(tiny_checkpoint: Path):
    result = _run(
        "generate",
        "--model",
        str(tiny_checkpoint),
        "--prompt",
        "Hello",
        "--jsonl",
        "--seed",
        "3",
        "--steps",
        "4",
        "--max-new-tokens",
        "512",
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "done" and "step" in kinds and "canvas" in kinds
    step = next(e for e in events if e["event"] == "step")
    assert set(step) == {"event", "block", "step", "draft", "accepted", "entropy"}
    assert step["step"] == 1 and step["block"] == 0 and len(step["draft"]) == 256
    done = events[-1]
    for key in (
        "prompt_ids",
        "token_ids",
        "text",
        "thought",
        "canvases",
        "forwards",
        "tokens_per_forward",
        "max_denoising_steps",
        "seconds",
    ):
        assert key in done
    assert done["max_denoising_steps"] == 4
    assert done["forwards"] == kinds.count("step")
    assert done["canvases"] == kinds.count("canvas")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--image", "/nonexistent/cat.png"], "cat.png"),
        (["--video", "/nonexistent/clip.mp4"], "clip.mp4"),
        (["--file", "/nonexistent/notes.md"], "notes.md"),
        (["--steps", "0"], "max_denoising_steps"),
    ],
)
def test_bad_input_gives_one_clear_line_and_no_traceback(tiny_checkpoint: Path, extra, expected):
    result = _run("generate", "--model", str(tiny_checkpoint), "--prompt", "Hi", *extra)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: ") and expected in lines[-1]


def test_missing_model_folder_lists_the_problem(tmp_path: Path):
    result = _run("generate", "--model", str(tmp_path / "nope"), "--prompt", "Hi")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "does not exist" in result.stderr


def test_generate_can_start_from_a_text_to_revise(tiny_checkpoint: Path, tmp_path: Path):
    old = tmp_path / "old.txt"
    old.write_text("Rivers carry water to the sea. " * 20, encoding="utf-8")
    common = ("generate", "--model", str(tiny_checkpoint), "--prompt", "Shorter", "--jsonl")
    common += ("--seed", "3", "--steps", "1", "--max-new-tokens", "256")
    plain = _run(*common)
    revised = _run(*common, "--start-from", str(old))
    assert plain.returncode == 0 and revised.returncode == 0, revised.stderr
    first = [json.loads(r.stdout.splitlines()[0])["draft"] for r in (plain, revised)]
    assert first[0] != first[1], "the first step reads the text instead of noise"


def _folder_named_like_a_file(tmp_path: Path) -> list[str]:
    (tmp_path / "x.txt").mkdir()
    return ["--file", str(tmp_path / "x.txt")]


def _corrupt_pdf(tmp_path: Path) -> list[str]:
    from hostile_pdfs import lines, write_pdf_content

    bad = write_pdf_content(tmp_path / "bad.pdf", [lines(3)])
    bad.write_bytes(bad.read_bytes().replace(b"/Filter /FlateDecode", b"/Filter /FlateDecode /Broken ["))
    return ["--file", str(bad)]


def _too_many_frames(tmp_path: Path) -> list[str]:
    from media_files import write_mp4

    return [
        "--video",
        str(write_mp4(tmp_path / "clip.mp4", seconds=1.0, fps=5)),
        "--video-max-frames",
        "100000",
    ]


@pytest.mark.parametrize(
    ("make_args", "expected"),
    [
        (_folder_named_like_a_file, "is a folder, not a file"),
        (_corrupt_pdf, "This PDF could not be read"),
        (_too_many_frames, "Use 1 to 600 frames"),
    ],
)
def test_hostile_attachments_give_one_error_line_and_nothing_else(
    tiny_checkpoint, tmp_path, make_args, expected
):
    result = _run(
        "generate", "--jsonl", "--model", str(tiny_checkpoint), "--prompt", "Hi", *make_args(tmp_path)
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr


def test_generate_fills_the_gaps_of_a_draft(tiny_checkpoint: Path, tmp_path: Path):
    draft = tmp_path / "draft.md"
    draft.write_text("# Rivers\n\nThe Nile [...5] north.\n\n| a | [...3] |\n", encoding="utf-8")
    args = ("generate", "--model", str(tiny_checkpoint), "--fill", str(draft), "--prompt", "Be brief")
    result = _run(*args, "--seed", "2", "--steps", "2", "--jsonl")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert {e["event"] for e in events} == {"step", "canvas", "done"}
    done = events[-1]
    assert len(done["gaps"]) == 2
    first, second = done["gaps"]
    assert done["text"] == f"# Rivers\n\nThe Nile {first} north.\n\n| a | {second} |\n"


@pytest.mark.parametrize(
    ("draft", "expected"), [("No gap in this one.", "no gap to fill"), ("A [...900000] gap", "more than")]
)
def test_an_unfillable_draft_is_one_error_line(tiny_checkpoint: Path, tmp_path: Path, draft, expected):
    path = tmp_path / "draft.txt"
    path.write_text(draft, encoding="utf-8")
    result = _run("generate", "--model", str(tiny_checkpoint), "--fill", str(path), "--jsonl")
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], result.stderr

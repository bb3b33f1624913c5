"""``python -m engine generate --server``: the same views on a served model, errors as one line and status 2.

Run against the stand-in vLLM server of tests/vllm_server.py; one real subprocess for each path a
user sees (a reply, a refusal), the other refusals through ``engine.cli.main`` in this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from tests.media_files import write_png
from tests.vllm_server import MODEL, Behaviour, closed_port, fake_vllm


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine", "generate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_jsonl_on_a_server_is_canvas_and_done_events(tmp_path: Path):
    photo = write_png(tmp_path / "photo.png")
    behaviour = Behaviour(api_key="k-123", canvases=["<|channel>thought\nhm<channel|>", "Red."])
    with fake_vllm(behaviour) as server:
        result = _run(
            *("--server", server.url, "--model", MODEL, "--api-key-env", "DG_TEST_KEY"),
            *("--prompt", "Colour?", "--image", str(photo), "--thinking", "--jsonl"),
            env={"DG_TEST_KEY": "k-123"},
        )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events] == ["canvas", "canvas", "done"]
    assert [e["text"] for e in events[:2]] == behaviour.canvases
    done = events[-1]
    assert (done["thought"], done["answer"], done["stop_reason"]) == ("hm", "Red.", "eos")
    assert done["stats"]["prompt_tokens"] == 17 and done["stats"]["generated_tokens"] == 300
    (request,) = server.requests
    assert request["chat_template_kwargs"] == {"enable_thinking": True}
    assert request["messages"][0]["content"][0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert "k-123" not in result.stderr + result.stdout


def test_a_wrong_key_is_one_error_line_and_status_2():
    with fake_vllm(Behaviour(api_key="right")) as server:
        result = _run(
            "--server", server.url, "--prompt", "hi", "--api-key-env", "DG_TEST_KEY", env={"DG_TEST_KEY": "x"}
        )
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: The server at") and "refused the API key (HTTP 401)" in line


@pytest.mark.parametrize(
    ("behaviour", "extra", "expected"),
    [
        (Behaviour(), ("--model", "nope"), "has no model 'nope'"),
        (Behaviour(max_body_bytes=10), (), "too large for the server"),
        (Behaviour(), ("--api-key-env", "DG_UNSET_VARIABLE"), "DG_UNSET_VARIABLE is not set"),
        (None, (), "cannot be reached"),
    ],
)
def test_refusals_are_one_error_line_and_status_2(capsys, behaviour, extra, expected):
    os.environ.pop("DG_UNSET_VARIABLE", None)
    if behaviour is None:
        status = main(["generate", "--server", f"http://127.0.0.1:{closed_port()}", "--prompt", "hi", *extra])
    else:
        with fake_vllm(behaviour) as server:
            status = main(["generate", "--server", server.url, "--prompt", "hi", *extra])
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("error: ") and expected in line


def test_the_plain_view_prints_the_answer_and_what_the_reply_cost(capsys):
    with fake_vllm() as server:
        assert main(["generate", "--server", server.url, "--prompt", "hi"]) == 0
    out, err = capsys.readouterr()
    assert out == "Hello from the server.\n"
    assert "block 1: received whole (from a server)" in err
    assert "300 tokens in 2 canvases, " in err and "forwards" not in err

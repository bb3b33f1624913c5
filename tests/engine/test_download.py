"""Downloads against a real HTTP server on 127.0.0.1 that speaks the Hub protocol (tests/hub_server.py).

Every test gets its own HF_HOME and cache, with HF_HUB_OFFLINE switched off
for it; the tiny checkpoint is served in the Hub's layout (LFS shards
redirected to a "CDN" on another port).  Assertions on resume use the bytes
the server actually sent.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hub_server import FakeHub, FakeRepo, Gate, bytes_before, cancel_inside

from engine.cancel import CancelToken
from engine.cli import main
from engine.errors import ModelAccessError
from engine.hub import download as dl

REPO = "google/diffusiongemma-26B-A4B-it"


def licence() -> str:
    """The licence page on the Hub in use: messages follow HF_ENDPOINT (here the fake Hub's)."""
    return f"{os.environ['HF_ENDPOINT']}/{REPO}"


def shards(repo: FakeRepo) -> list[str]:
    return sorted(name for name in repo.files if name.endswith(".safetensors"))


def partial_file(sha256: str) -> Path:
    return dl.repo_cache_folder(REPO) / "blobs" / f"{sha256}.incomplete"


def assert_same_files(snapshot: Path, repo: FakeRepo) -> None:
    for name, f in repo.files.items():
        assert (snapshot / name).read_bytes() == f.data, name


def test_plan_lists_every_file_with_its_size_before_downloading(hub: FakeHub, fake_repo: FakeRepo):
    plan = dl.plan_download(REPO)

    assert plan.repo == REPO and plan.ref == "main" and plan.revision == fake_repo.commit
    assert {f.name: f.size for f in plan.files} == {n: f.size for n, f in fake_repo.files.items()}
    assert plan.total_bytes == fake_repo.total_bytes
    assert plan.already_cached_bytes == 0 and plan.remaining_bytes == plan.total_bytes
    assert {f.name: f.sha256 for f in plan.files if f.sha256} == {
        n: fake_repo.files[n].sha256 for n in shards(fake_repo)
    }
    assert plan.files[0].name != "model-00001-of-00003.safetensors"  # small files (config.json) come first
    assert plan.licence_url == licence()
    assert sum(hub.sent_bytes.values()) == 0
    assert not [r for r in hub.requests if "/resolve/" in r.path]


def test_progress_events_are_monotonic_and_end_at_the_total(hub: FakeHub, fake_repo: FakeRepo):
    events: list[dl.DownloadProgress] = []
    result = dl.download(dl.plan_download(REPO), progress=events.append)

    assert result.complete and not result.cancelled
    assert result.transferred_bytes == fake_repo.total_bytes == sum(hub.sent_bytes.values())
    done = [e.done_bytes for e in events]
    assert done == sorted(done) and done[0] == 0
    assert {e.total_bytes for e in events} == {fake_repo.total_bytes}
    assert events[-1].done_bytes == fake_repo.total_bytes
    assert events[-1].files_done == events[-1].files_total == len(fake_repo.files)
    assert events[-1].eta_s == 0
    assert all(e.current_file in fake_repo.files for e in events if e.current_file)
    assert all(e.bytes_per_s >= 0 for e in events)
    assert any(e.bytes_per_s > 0 and e.eta_s is not None and e.eta_s > 0 for e in events)
    assert_same_files(result.path, fake_repo)
    # A second plan finds everything cached; a second download fetches nothing.
    again = dl.plan_download(REPO)
    assert again.already_cached_bytes == again.total_bytes and again.missing_files == ()
    hub.reset_counters()
    assert dl.download(again).transferred_bytes == 0
    assert sum(hub.sent_bytes.values()) == 0


def test_cancel_mid_file_then_resume_fetches_only_the_rest(hub: FakeHub, fake_repo: FakeRepo):
    plan = dl.plan_download(REPO)
    target = shards(fake_repo)[1]
    cancel = CancelToken()
    first = dl.download(plan, progress=cancel_inside(plan, target, 300_000, cancel), cancel=cancel)

    assert first.cancelled and not first.complete
    part = partial_file(fake_repo.files[target].sha256)
    kept = part.stat().st_size
    assert 0 < kept < fake_repo.files[target].size
    assert not (first.path / target).exists()

    # As after an app restart: a fresh plan sees the finished files and the partial one.
    second_plan = dl.plan_download(REPO)
    assert second_plan.already_cached_bytes == bytes_before(plan, target) + kept
    hub.reset_counters()
    second = dl.download(second_plan)

    assert second.complete
    assert sum(hub.sent_bytes.values()) == second_plan.remaining_bytes == second.transferred_bytes
    assert hub.sent_bytes[target] == fake_repo.files[target].size - kept
    assert [r.range for r in hub.file_requests(target)] == [f"bytes={kept}-"]
    names = [f.name for f in plan.files]
    assert all(hub.sent_bytes[name] == 0 for name in names[: names.index(target)])
    assert not part.exists()
    assert_same_files(second.path, fake_repo)


def test_a_dropped_connection_resumes_within_the_same_run(hub: FakeHub, fake_repo: FakeRepo, caplog):
    target = shards(fake_repo)[0]
    size = fake_repo.files[target].size
    hub.drop_after[target] = 200_000

    with caplog.at_level(logging.WARNING, logger="engine.hub.download"):
        result = dl.download(dl.plan_download(REPO))

    assert result.complete
    ranges = [r.range for r in hub.file_requests(target)]
    assert len(ranges) == 2 and ranges[0] is None and ranges[1].startswith("bytes=")
    resumed_at = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 200_000
    assert hub.sent_bytes[target] == 200_000 + size - resumed_at
    assert "resuming" in caplog.text
    assert_same_files(result.path, fake_repo)


def test_a_lost_connection_names_the_missing_files_and_resumes_later(
    hub: FakeHub, fake_repo: FakeRepo, monkeypatch
):
    monkeypatch.setattr(dl, "MAX_RETRIES", 0)
    first, second, third = shards(fake_repo)
    hub.drop_after[second] = 500_000

    with pytest.raises(ModelAccessError) as caught:
        dl.download(dl.plan_download(REPO))

    message = str(caught.value)
    assert "connection" in message and "resumes" in message
    assert f"{second} (" in message and "% downloaded)" in message and third in message
    assert first not in message
    hub.reset_counters()
    result = dl.download(dl.plan_download(REPO))
    assert result.complete
    assert hub.sent_bytes[first] == 0 and hub.sent_bytes[second] < fake_repo.files[second].size
    assert_same_files(result.path, fake_repo)


def test_a_damaged_partial_file_is_fetched_again_from_scratch(hub: FakeHub, fake_repo: FakeRepo):
    target = shards(fake_repo)[0]
    part = partial_file(fake_repo.files[target].sha256)
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 100_000)  # right length so far, wrong bytes

    result = dl.download(dl.plan_download(REPO))

    assert result.complete
    assert [r.range for r in hub.file_requests(target)] == ["bytes=100000-", None]
    assert_same_files(result.path, fake_repo)


def test_a_server_that_ignores_range_gets_the_whole_file_again(hub: FakeHub, fake_repo: FakeRepo):
    target = shards(fake_repo)[0]
    data = fake_repo.files[target].data
    part = partial_file(fake_repo.files[target].sha256)
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:100_000])
    hub.ignore_range = True
    events: list[dl.DownloadProgress] = []

    result = dl.download(dl.plan_download(REPO), progress=events.append)

    assert result.complete
    assert hub.sent_bytes[target] == len(data)  # one full transfer, appended to nothing
    done = [e.done_bytes for e in events]
    assert done == sorted(done) and done[-1] == fake_repo.total_bytes
    assert_same_files(result.path, fake_repo)


@pytest.mark.parametrize("token", [None, "hf_not_a_real_token"])
def test_gated_repo_without_a_valid_token_is_a_401_with_the_licence_page(hub: FakeHub, token):
    hub.gate = Gate(granted={"hf_granted"}, known={"hf_pending"})

    with pytest.raises(ModelAccessError) as caught:
        dl.plan_download(REPO, token=token)

    message = str(caught.value)
    assert licence() in message and "accept the licence" in message
    assert (
        "token" in message
        and "HF_TOKEN" in message
        and f"{os.environ['HF_ENDPOINT']}/settings/tokens" in message
    )
    if token:
        assert "did not accept your access token" in message and token not in message
    assert [r.path for r in hub.requests if r.path.startswith("/api/models")]


def test_gated_repo_whose_licence_was_not_accepted_is_a_403_with_the_licence_page(hub: FakeHub):
    hub.gate = Gate(granted={"hf_granted"}, known={"hf_pending"})

    with pytest.raises(ModelAccessError) as caught:
        dl.plan_download(REPO, token="hf_pending")

    message = str(caught.value)
    assert licence() in message and "accept the licence" in message and "not been given access" in message
    assert "hf_pending" not in message


def test_saved_token_unlocks_the_gated_download_and_never_leaves_huggingface_files(
    hub: FakeHub, fake_repo: FakeRepo, tmp_path: Path, caplog
):
    hub.gate = Gate(granted={"hf_granted"}, known={"hf_pending"})
    with pytest.raises(ModelAccessError):
        dl.plan_download(REPO)
    with pytest.raises(ModelAccessError, match="did not accept this access token"):
        dl.save_token("hf_wrong")

    with caplog.at_level(logging.DEBUG):
        dl.save_token("  hf_granted\n")
        plan = dl.plan_download(REPO)
        result = dl.download(plan)

    assert result.complete
    assert_same_files(result.path, fake_repo)
    # Stored where huggingface_hub keeps tokens (HF_HOME/token), and nowhere else of ours.
    assert (tmp_path / "hf" / "token").read_text() == "hf_granted"
    assert "hf_granted" not in caplog.text
    hub_requests = [r for r in hub.requests if not r.cdn and "/resolve/" in r.path]
    assert hub_requests and all(r.authorization == "Bearer hf_granted" for r in hub_requests)
    # The signed CDN redirects must never receive the token.
    cdn_requests = [r for r in hub.requests if r.cdn]
    assert cdn_requests and all(r.authorization is None for r in cdn_requests)


def test_offline_with_a_partial_cache_names_exactly_the_missing_files(hub: FakeHub, fake_repo: FakeRepo):
    plan = dl.plan_download(REPO)
    first, second, third = shards(fake_repo)
    cancel = CancelToken()
    dl.download(plan, progress=cancel_inside(plan, second, 200_000, cancel), cancel=cancel)
    hub.close()  # connection refused from now on

    with pytest.raises(ModelAccessError) as caught:
        dl.plan_download(REPO)

    message = str(caught.value)
    assert "Cannot reach the Hugging Face Hub" in message and "incomplete" in message
    assert f"missing: {second} (" in message and "% downloaded)" in message and third in message
    assert first not in message and "config.json" not in message


def test_a_dns_failure_counts_as_offline(hub: FakeHub, fake_repo: FakeRepo, monkeypatch):
    from huggingface_hub.utils import close_session

    plan = dl.plan_download(REPO)
    first, second, third = shards(fake_repo)
    cancel = CancelToken()
    dl.download(plan, progress=cancel_inside(plan, first, 100_000, cancel), cancel=cancel)
    close_session()  # no pooled connection: the next request must resolve the host (the Hub stays up)

    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(ModelAccessError) as caught:
        dl.plan_download(REPO)
    message = str(caught.value)
    assert "no connection" in message and f"{first} (" in message and second in message and third in message


def test_offline_without_any_cache_says_so(hub: FakeHub):
    hub.close()
    with pytest.raises(ModelAccessError, match="not in the cache"):
        dl.plan_download(REPO)


def test_offline_with_a_complete_cache_uses_it_and_the_model_loads(
    hub: FakeHub, fake_repo: FakeRepo, monkeypatch
):
    from huggingface_hub import constants

    from engine.engine import Engine

    downloaded = dl.download(dl.plan_download(REPO))
    hub.close()

    plan = dl.plan_download(REPO)
    assert plan.offline and plan.remaining_bytes == 0 and plan.total_bytes == fake_repo.total_bytes
    events: list[dl.DownloadProgress] = []
    result = dl.download(plan, progress=events.append)
    assert result.complete and result.path == downloaded.path and result.transferred_bytes == 0
    assert events[-1].done_bytes == events[-1].total_bytes

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert dl.plan_download(REPO).offline  # HF_HUB_OFFLINE=1 behaves the same
    engine = Engine.load(REPO, device="cpu")
    assert engine.info.source == REPO and Path(engine.info.path) == downloaded.path


def test_not_enough_disk_space_is_refused_before_fetching(hub: FakeHub, monkeypatch):
    monkeypatch.setattr(dl, "free_disk_bytes", lambda path=None: 1000)
    with pytest.raises(dl.DiskSpaceError, match=r"6\.9 MB more is needed and 1\.0 kB is free"):
        dl.download(dl.plan_download(REPO))
    assert sum(hub.sent_bytes.values()) == 0


def test_free_disk_bytes_works_before_the_cache_exists(tmp_path: Path):
    assert dl.free_disk_bytes(tmp_path / "not" / "yet") == dl.free_disk_bytes(tmp_path) > 0


def test_cli_download_prints_plan_progress_and_the_snapshot_folder(hub: FakeHub, fake_repo: FakeRepo, capsys):
    assert main(["download", REPO]) == 0
    out, err = capsys.readouterr()
    snapshot = Path(out.strip())
    assert_same_files(snapshot, fake_repo)
    assert f"{len(fake_repo.files)} files" in err and "/s" in err and "ETA" in err
    assert f"[{len(fake_repo.files)}/{len(fake_repo.files)}]" in err


def test_cli_token_from_env(hub: FakeHub, fake_repo: FakeRepo, monkeypatch, capsys):
    hub.gate = Gate(granted={"hf_granted"})
    assert main(["download", "--token-from-env"]) == 2
    assert "HF_TOKEN" in capsys.readouterr().err

    monkeypatch.setenv("HF_TOKEN", "hf_granted")
    assert main(["download", "--token-from-env"]) == 0
    out, err = capsys.readouterr()
    assert "hf_granted" not in out + err
    assert_same_files(Path(out.strip()), fake_repo)


def test_cli_ctrl_c_cancels_and_the_next_run_resumes(hub: FakeHub, fake_repo: FakeRepo):
    target = shards(fake_repo)[0]
    hub.chunk_delay_s = 0.02  # about 3 MB/s, so Ctrl+C lands mid-file
    child = subprocess.Popen(
        [sys.executable, "-m", "engine", "download", REPO],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        deadline = time.monotonic() + 60
        while hub.sent_bytes[target] < 256 * 1024 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.02)
        child.send_signal(signal.SIGINT)
        _out, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 130, err
    assert "run the same command again to resume" in err

    kept = partial_file(fake_repo.files[target].sha256).stat().st_size
    assert kept > 0
    hub.chunk_delay_s = 0.0
    hub.reset_counters()
    assert dl.download(dl.plan_download(REPO)).complete
    assert hub.file_requests(target)[0].range == f"bytes={kept}-"

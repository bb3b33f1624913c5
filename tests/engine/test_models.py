"""The model list: a scan of a real HF cache (filled by our downloader from the fake Hub), plus folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hub_server import FakeHub, FakeRepo, RepoFile, cancel_inside, serving, tiny_repo_folder

from engine.cancel import CancelToken
from engine.cli import main
from engine.hub import download as dl
from engine.hub import models

REPO = "google/diffusiongemma-26B-A4B-it"
OTHER = "someone/not-a-diffusion-model"


@pytest.fixture
def hub(fake_repo: FakeRepo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(dl, "PROGRESS_INTERVAL_S", 0.0)
    other = FakeRepo(
        OTHER,
        {
            "config.json": RepoFile("config.json", b'{"model_type": "bert"}', lfs=False),
            "model.safetensors": RepoFile("model.safetensors", b"\0" * 1000, lfs=True),
        },
    )
    with serving(monkeypatch, tmp_path / "hf", [fake_repo, other]) as server:
        yield server


def test_the_scan_finds_the_downloaded_model_and_an_added_folder(hub: FakeHub, fake_repo: FakeRepo):
    result = dl.download(REPO)
    dl.download(OTHER)  # another architecture in the same cache is not listed
    folder = tiny_repo_folder()

    listed = models.list_models([folder])

    assert [m.source for m in listed] == [REPO, str(folder)]
    cached, added = listed
    assert cached.kind == "cache" and cached.complete and cached.missing_files == () and cached.problem == ""
    assert cached.name == "diffusiongemma-26B-A4B-it"
    assert cached.path == result.path and cached.revision == fake_repo.commit
    assert cached.size_bytes == fake_repo.total_bytes
    assert added.kind == "folder" and added.complete and added.path == folder and added.size_bytes > 0
    assert cached.removable and not added.removable
    assert cached.quantized is None and models.quantized_cache(cached.path) is None  # engine.model.quant hook


def test_an_interrupted_download_is_listed_as_incomplete_with_its_missing_files(
    hub: FakeHub, fake_repo: FakeRepo
):
    plan = dl.plan_download(REPO)
    shards = sorted(n for n in fake_repo.files if n.endswith(".safetensors"))
    cancel = CancelToken()
    dl.download(plan, progress=cancel_inside(plan, shards[1], 100_000, cancel), cancel=cancel)

    (entry,) = models.list_models()
    assert not entry.complete
    assert set(entry.missing_files) == {shards[1], shards[2]}
    assert shards[1] in entry.problem
    partial = models.partial_bytes(models.repo_cache_folder(REPO), fake_repo.files[shards[1]].sha256)
    assert partial > 0
    assert (
        entry.size_bytes
        == sum(fake_repo.files[n].size for n in fake_repo.files if n not in shards[1:]) + partial
    )


def test_a_download_stopped_before_config_json_is_still_listed_for_the_default_model(hub: FakeHub):
    cancel = CancelToken()
    cancel.cancel()
    dl.download(REPO, cancel=cancel)

    (entry,) = models.list_models()
    assert entry.source == REPO and not entry.complete and "config.json" in entry.missing_files


def test_folder_problems_are_reported_not_hidden(tmp_path: Path):
    gone = tmp_path / "gone"
    other = tmp_path / "llama"
    other.mkdir()
    (other / "config.json").write_text('{"model_type": "llama"}')
    truncated = tmp_path / "truncated"
    shutil.copytree(tiny_repo_folder(), truncated)
    shard = sorted(truncated.glob("*.safetensors"))[0]
    shard.write_bytes(shard.read_bytes()[:-1000])

    listed = {
        m.path.name: m for m in models.list_models([gone, other, truncated], cache_dir=tmp_path / "none")
    }

    assert not listed["gone"].complete and "does not exist" in listed["gone"].problem
    assert not listed["llama"].complete and "tokenizer_config.json" in listed["llama"].missing_files
    assert not listed["truncated"].complete
    assert listed["truncated"].missing_files == (f"{shard.name} (incomplete)",)
    assert shard.name in listed["truncated"].problem


def test_remove_model_deletes_the_cached_repo_and_keeps_user_folders(hub: FakeHub, fake_repo: FakeRepo):
    dl.download(REPO)
    folder_entry = models.folder_model(tiny_repo_folder())
    (entry,) = models.list_models()
    repo_folder = models.repo_cache_folder(REPO)

    freed = models.remove_model(entry)

    assert freed == fake_repo.total_bytes
    assert not repo_folder.exists()
    assert not (models.hub_cache_dir() / ".locks" / repo_folder.name).exists()
    assert models.list_models() == []
    with pytest.raises(ValueError, match="take it off the list"):
        models.remove_model(folder_entry)
    assert tiny_repo_folder().is_dir()
    assert models.remove_model(entry) == 0  # already gone


def test_remove_model_also_drops_partial_downloads(hub: FakeHub, fake_repo: FakeRepo):
    plan = dl.plan_download(REPO)
    last = plan.files[-1].name
    cancel = CancelToken()
    dl.download(plan, progress=cancel_inside(plan, last, 100_000, cancel), cancel=cancel)
    (entry,) = models.list_models()
    assert not entry.complete

    assert models.remove_model(entry) == entry.size_bytes
    assert not models.repo_cache_folder(REPO).exists()


def test_cli_models_json_and_text(hub: FakeHub, capsys):
    dl.download(REPO)
    assert main(["models", "--json", "--folder", str(tiny_repo_folder())]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [(e["source"], e["kind"], e["complete"]) for e in entries] == [
        (REPO, "cache", True),
        (str(tiny_repo_folder()), "folder", True),
    ]
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert REPO in out and "ready" in out


def test_cli_models_with_an_empty_cache(tmp_path: Path, monkeypatch, capsys):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    assert main(["models"]) == 0
    assert "No DiffusionGemma models found" in capsys.readouterr().out

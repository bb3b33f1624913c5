"""The first-run decision, the GPU verdict and the download wording (app/model_choice.py, Qt-free)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hub_server import Gate, serving, tiny_repo

from app import model_choice as mc
from app.config import SCHEMA_VERSION, AppConfig, load_config, save_config
from engine.errors import ModelAccessError
from engine.hub.download import DownloadProgress, plan_download

REPO = mc.REAL_MODEL


def test_the_real_model_name_matches_the_engine():
    from engine.model.loader import DEFAULT_MODEL

    assert mc.REAL_MODEL == DEFAULT_MODEL


def test_importing_the_decision_module_does_not_import_torch():
    code = (
        "import sys, app.model_choice, app.ui.first_run, app.ui.models_dialog; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def fake_cached_model(cache: Path, checkpoint: Path) -> Path:
    """The real model's cache layout (refs/main → snapshot) holding the tiny checkpoint's files."""
    folder = cache / ("models--" + REPO.replace("/", "--"))
    snapshot = folder / "snapshots" / "abc123"
    shutil.copytree(checkpoint, snapshot)
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("abc123")
    return snapshot


def test_real_model_ready_needs_every_file_of_the_snapshot(tmp_path: Path, tiny_checkpoint: Path):
    cache = tmp_path / "hub"
    assert not mc.real_model_ready(cache)
    snapshot = fake_cached_model(cache, tiny_checkpoint)
    assert mc.real_model_ready(cache)
    index = (
        json.loads((snapshot / "model.safetensors.index.json").read_text())
        if (snapshot / "model.safetensors.index.json").is_file()
        else None
    )
    shard = sorted(set(index["weight_map"].values()))[0] if index else "model.safetensors"
    (snapshot / shard).unlink()
    assert not mc.real_model_ready(cache)


@pytest.mark.parametrize(
    ("config", "requested", "ready", "shown"),
    [
        (AppConfig(), None, False, True),
        (AppConfig(), "demo", False, False),  # --model given
        (AppConfig(), "/models/dg", False, False),
        (AppConfig(model="/models/dg"), None, False, False),  # a model in the settings
        (AppConfig(first_run_done=True), None, False, False),  # shown once already
        (AppConfig(model_folders=("/models/dg",)), None, False, False),
        (AppConfig(), None, True, False),  # the real model is downloaded: the window opens it
    ],
)
def test_needs_first_run(config: AppConfig, requested: str | None, ready: bool, shown: bool):
    assert mc.needs_first_run(config, requested, lambda: ready) is shown


def test_gpu_verdicts():
    assert mc.gpu_verdict(mc.GpuReport()) == (
        "No NVIDIA GPU found: the full model needs a CUDA GPU with ~18 GiB; the demo model runs on any CPU"
    )
    gib = 2**30
    fits = mc.GpuReport("RTX 4090", 22 * gib, 24 * gib, 15 * gib, 40_960, 49_152)
    assert fits.fits
    assert mc.gpu_verdict(fits) == (
        "RTX 4090 (22.0 GiB free of 24.0 GiB): the 4-bit model fits, with room for 40,960 tokens of context."
    )
    busy = mc.GpuReport("RTX 4090", 8 * gib, 24 * gib, 15 * gib, 0, 49_152)
    assert (
        not busy.fits and "close other programs" in mc.gpu_verdict(busy) and "49,152" in mc.gpu_verdict(busy)
    )
    small = mc.GpuReport("RTX 3060", 11 * gib, 12 * gib, 15 * gib, 0, 0)
    assert "too small" in mc.gpu_verdict(small) and "15.0 GiB" in mc.gpu_verdict(small)


def test_probe_gpu_without_cuda_reports_no_gpu():
    import torch

    if torch.cuda.is_available():
        report = mc.probe_gpu()
        assert report.has_gpu and report.need_bytes > 0 and report.total_bytes > 0
    else:
        assert mc.probe_gpu() == mc.GpuReport()


def test_progress_wording():
    event = DownloadProgress(12_300_000_000, 51_700_000_000, 85_200_000, 462.0, "model-3.safetensors", 2, 15)
    assert mc.progress_text(event) == "12.3 GB of 51.7 GB · 85.2 MB/s · 7 min 42 s left"
    assert mc.file_text(event) == "model-3.safetensors (file 3 of 15)"
    starting = DownloadProgress(0, 1000, 0.0, None, "", 0, 3)
    assert mc.progress_text(starting) == "0 B of 1.0 kB · estimating time left"
    done = DownloadProgress(1000, 1000, 10.0, 0.0, "", 3, 3)
    assert mc.progress_text(done) == "1.0 kB of 1.0 kB"
    assert mc.format_eta(3 * 3600 + 5 * 60) == "3 h 05 min left" and mc.format_eta(9.4) == "9 s left"


def test_failure_kinds_come_from_real_hub_errors(monkeypatch, tmp_path: Path):
    with serving(monkeypatch, tmp_path / "hf", [tiny_repo(REPO)]) as hub:
        hub.gate = Gate(granted={"hf_granted"}, known={"hf_pending"})
        for token in (None, "hf_pending", "hf_wrong"):
            with pytest.raises(ModelAccessError) as caught:
                plan_download(REPO, token=token)
            assert mc.failure_kind(caught.value) == "access", token
        hub.close()
        with pytest.raises(ModelAccessError) as caught:
            plan_download(REPO)
        assert mc.failure_kind(caught.value) == "offline"
    assert mc.failure_kind(ValueError("something else")) == "other"


def test_model_entries_describe_themselves():
    demo = mc.demo_entry()
    assert demo.source == "demo" and not demo.removable and demo.size_bytes > 0
    assert demo.describe(current=True).startswith("Demo model — in use\nbundled with the app")
    cached = mc.ModelEntry("dg", REPO, "cache", 51_700_000_000, True, quantized_bytes=14_500_000_000)
    assert cached.describe(False) == f"dg\n{REPO} (Hugging Face cache) · 51.7 GB · 4-bit copy: 14.5 GB"
    broken = mc.ModelEntry("half", "/m/half", "folder", 3_000, False, problem="missing: x.safetensors")
    assert broken.removable and broken.describe(False).endswith("missing: x.safetensors")


def test_config_keeps_model_folders_and_first_run_done(app_config_dir: Path):
    config = AppConfig(model_folders=("/models/a", "/models/b"), first_run_done=True)
    path = save_config(config, app_config_dir / "settings.json")
    data = json.loads(path.read_text())
    assert data["model_folders"] == ["/models/a", "/models/b"] and data["first_run_done"] is True
    assert load_config(path) == config


def test_old_config_files_without_the_new_keys_still_load(app_config_dir: Path):
    path = app_config_dir / "settings.json"
    path.write_text(json.dumps({"schema": SCHEMA_VERSION, "theme": "dark", "model": "/m"}))
    config = load_config(path)
    assert config.theme == "dark" and config.model_folders == () and config.first_run_done is False


@pytest.mark.parametrize("folders", ["/models/a", [""], [3]])
def test_bad_model_folders_set_the_file_aside(app_config_dir: Path, folders):
    path = app_config_dir / "settings.json"
    path.write_text(json.dumps({"schema": SCHEMA_VERSION, "model_folders": folders}))
    assert load_config(path) == AppConfig()
    assert path.with_suffix(".json.bad").is_file()


@pytest.fixture
def app_config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    return folder

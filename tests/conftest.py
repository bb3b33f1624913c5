"""Shared fixtures: a tiny checkpoint of the real architecture, built once per session.

Also fails any test that leaves a non-daemon thread running (threads leaked by a
test would keep the process alive and hide cancellation bugs).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _interpret_triton_without_cuda() -> None:
    """Without a GPU, Triton kernels run in its interpreter, so the fused 4-bit kernel is tested on the CPU.

    Triton reads the switch when it is first imported (transformers imports it),
    so it is set here, before any test module loads; torch alone does not import it.
    """
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")


_interpret_triton_without_cuda()


@pytest.fixture(scope="session")
def fake_repo():
    """The real model's repo id with tiny files, in the Hub's layout (tests/hub_server.py)."""
    from hub_server import tiny_repo

    return tiny_repo("google/diffusiongemma-26B-A4B-it")


@pytest.fixture
def hub(fake_repo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A real HTTP server on 127.0.0.1 serving ``fake_repo`` as the Hub (HF_ENDPOINT), an empty cache."""
    from hub_server import serving

    from engine.hub import download as dl

    monkeypatch.setattr(dl, "RETRY_WAIT_S", 0.0)
    monkeypatch.setattr(dl, "PROGRESS_INTERVAL_S", 0.0)  # every chunk reaches the callback
    with serving(monkeypatch, tmp_path / "hf", [fake_repo]) as server:
        yield server


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random DiffusionGemma checkpoint written by ``engine.model.tiny.make_tiny``."""
    import torch

    from engine.model.tiny import make_tiny

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    return make_tiny(tmp_path_factory.mktemp("tiny") / "ckpt")


@pytest.fixture(scope="session")
def tiny_engine(tiny_checkpoint: Path):
    """The tiny checkpoint loaded through the same ``Engine.load`` path as the real model."""
    from engine.engine import Engine

    return Engine.load(tiny_checkpoint, device="cpu")


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
    for thread in leaked:
        thread.join(timeout=5)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"test leaked running threads: {still}"

"""The engine loads 4-bit checkpoints through the same Engine.load path the GUI and CLI use."""

from __future__ import annotations

from pathlib import Path

from engine.engine import Engine
from engine.events import Done
from engine.inputs.conversation import Conversation, Turn
from engine.model.quant import QuantExperts


def _reply(engine: Engine) -> Done:
    settings = engine.default_settings.with_changes(max_new_tokens=256, max_denoising_steps=2, seed=0)
    return list(engine.generate(Conversation(turns=(Turn("user", "Hi"),)), settings))[-1]


def test_quantize_on_load_builds_then_reuses_the_cache(tiny_checkpoint: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DGCHAT_CACHE_DIR", str(tmp_path / "cache"))
    first = Engine.load(tiny_checkpoint, device="cpu", quantize=True)
    assert any(isinstance(m, QuantExperts) for m in first.model.modules())
    assert isinstance(_reply(first), Done)
    assert any((tmp_path / "cache").rglob("manifest.json")), "the 4-bit copy was cached"
    second = Engine.load(tiny_checkpoint, device="cpu", quantize=True)
    assert _reply(second).token_ids == _reply(first).token_ids


def test_a_quantized_folder_loads_as_4_bit(tiny_checkpoint: Path, tmp_path: Path, monkeypatch):
    from engine.model.quant.cache import quantize_to_cache

    monkeypatch.setenv("DGCHAT_CACHE_DIR", str(tmp_path / "cache"))
    out, _state = quantize_to_cache(
        tiny_checkpoint, cache_dir=tmp_path / "q", device="cpu", dtype=None, progress=None
    )
    engine = Engine.load(out, device="cpu")
    assert any(isinstance(m, QuantExperts) for m in engine.model.modules())
    assert isinstance(_reply(engine), Done)


def test_model_list_reports_the_quantized_copy(tiny_checkpoint: Path, tmp_path: Path, monkeypatch):
    from engine.hub.models import folder_model, quantized_cache

    monkeypatch.setenv("DGCHAT_CACHE_DIR", str(tmp_path / "cache"))
    assert quantized_cache(tiny_checkpoint) is None
    Engine.load(tiny_checkpoint, device="cpu", quantize=True)
    cached = quantized_cache(tiny_checkpoint)
    assert cached is not None and cached.size_bytes > 0 and cached.method == "nf4"
    assert folder_model(tiny_checkpoint).quantized == cached

"""Missing, partial and foreign model files; no CUDA; out-of-memory; prompts longer than the context."""

from __future__ import annotations

import dataclasses
import gc
import re
import shutil
import weakref
from pathlib import Path

import pytest
import torch

from engine.engine import Engine
from engine.errors import DeviceError, ModelAccessError, ModelFilesError, OutOfMemoryError, PromptTooLongError
from engine.events import Done
from engine.inputs.conversation import Conversation, Turn
from engine.model.loader import check_checkpoint, choose_device, resolve_source


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_missing_files_are_listed(tiny_checkpoint: Path, tmp_path: Path):
    folder = _copy(tiny_checkpoint, tmp_path / "m")
    (folder / "tokenizer.json").unlink()
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelFilesError) as info:
        check_checkpoint(folder)
    message = str(info.value)
    assert "tokenizer.json" in message and "model.safetensors" in message and str(folder) in message
    assert "Download the model again" in message


def test_truncated_shard_is_detected(tiny_checkpoint: Path, tmp_path: Path):
    folder = _copy(tiny_checkpoint, tmp_path / "m")
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFilesError, match=re.escape("incomplete: model.safetensors")):
        Engine.load(folder, device="cpu")


def test_sharded_checkpoint_with_a_missing_shard(tiny_checkpoint: Path, tmp_path: Path):
    from transformers import DiffusionGemmaForBlockDiffusion

    folder = _copy(tiny_checkpoint, tmp_path / "m")
    (folder / "model.safetensors").unlink()
    model = DiffusionGemmaForBlockDiffusion.from_pretrained(tiny_checkpoint)
    model.save_pretrained(folder, max_shard_size="1MB")
    shards = sorted(folder.glob("model-*.safetensors"))
    assert len(shards) > 1
    Engine.load(folder, device="cpu")  # complete: loads
    shards[1].unlink()
    with pytest.raises(ModelFilesError, match=re.escape(shards[1].name)):
        check_checkpoint(folder)


def test_not_a_diffusiongemma_checkpoint(tiny_checkpoint: Path, tmp_path: Path):
    folder = _copy(tiny_checkpoint, tmp_path / "m")
    config = (folder / "config.json").read_text().replace('"diffusion_gemma"', '"llama"', 1)
    (folder / "config.json").write_text(config)
    with pytest.raises(ModelFilesError, match="not a DiffusionGemma checkpoint"):
        check_checkpoint(folder)


def test_missing_folder_and_file_paths(tmp_path: Path):
    with pytest.raises(ModelFilesError, match="does not exist"):
        resolve_source(tmp_path / "nothing")
    (tmp_path / "f.bin").write_bytes(b"x")
    with pytest.raises(ModelFilesError, match="a file, not a folder"):
        resolve_source(tmp_path / "f.bin")


def test_repo_not_in_cache_while_offline(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelAccessError, match="not in the Hugging Face cache"):
        resolve_source("google/diffusiongemma-26B-A4B-it")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_no_cuda_when_required():
    with pytest.raises(DeviceError, match="No CUDA GPU"):
        choose_device(require_cuda=True)
    with pytest.raises(DeviceError):
        choose_device("cuda")


def test_prompt_longer_than_the_context(tiny_engine):
    small = dataclasses.replace(tiny_engine.info, context_length=300)
    engine = Engine(tiny_engine.model, tiny_engine.processor, small)
    conversation = Conversation(turns=(Turn("user", "word " * 100),))
    with pytest.raises(PromptTooLongError) as info:
        list(engine.generate(conversation, tiny_engine.default_settings.with_changes(max_new_tokens=256)))
    assert "Your message is 214 tokens and the reply needs 256 more" in str(info.value)
    assert "context holds 300" in str(info.value) and "Shorten the message" in str(info.value)


def test_out_of_memory_mid_reply_frees_and_keeps_the_engine_usable(tiny_engine, monkeypatch):
    conversation = Conversation(turns=(Turn("user", "Hi"),))
    settings = tiny_engine.default_settings.with_changes(max_new_tokens=256, max_denoising_steps=4, seed=1)
    real_forward = tiny_engine.model.forward
    calls = {"n": 0}

    def flaky_forward(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(tiny_engine.model, "forward", flaky_forward)
    seen = []
    with pytest.raises(OutOfMemoryError) as info:
        for event in tiny_engine.generate(conversation, settings):
            seen.append(event)
    assert "ran out of memory" in str(info.value) and "still loaded" in str(info.value)
    assert seen, "the first step's event reached the caller before the failure"
    monkeypatch.setattr(tiny_engine.model, "forward", real_forward)
    assert isinstance(list(tiny_engine.generate(conversation, settings))[-1], Done)


def test_a_conversation_without_a_user_message_is_refused(tiny_engine):
    from engine.errors import EngineError

    for turns in [(), (Turn("user", "Hi"), Turn("assistant", "Hello"))]:
        with pytest.raises(EngineError, match="no user message"):
            list(tiny_engine.generate(Conversation(turns=turns)))


def test_auto_picks_the_demo_model_without_a_runnable_real_model(monkeypatch, tmp_path: Path):
    from engine.model.loader import DEFAULT_MODEL, preferred_model

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert preferred_model() == "demo"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    assert preferred_model() == "demo"  # GPU but the real model is not downloaded
    monkeypatch.setattr("engine.model.loader.resolve_source", lambda source, **_: tmp_path)
    monkeypatch.setattr("engine.model.loader.check_checkpoint", lambda folder: None)
    assert preferred_model() == DEFAULT_MODEL


def test_closing_an_engine_frees_its_weights_at_once(tiny_checkpoint):
    engine = Engine.load(str(tiny_checkpoint))
    weights = [weakref.ref(t) for t in [*engine.model.parameters(), *engine.model.buffers()]]
    assert all(w().device.type == "cpu" for w in weights)
    gc.disable()  # freed by reference counting, not by the cyclic collector (which the app runs rarely)
    try:
        engine.close()
        assert all(w() is None for w in weights)
    finally:
        gc.enable()
    assert all(t.device.type == "meta" for t in [*engine.model.parameters(), *engine.model.buffers()])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_closing_a_cuda_engine_returns_its_memory(tiny_checkpoint):
    engine = Engine.load(str(tiny_checkpoint), device="cuda")
    held = torch.cuda.memory_allocated()
    engine.close()
    assert torch.cuda.memory_allocated() < held

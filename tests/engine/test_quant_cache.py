"""The quantized cache: built once, loaded directly, never silently used when stale or corrupt."""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from quant_helpers import assert_same_model

from engine.model.quant import QuantSettings
from engine.model.quant import cache as qcache
from engine.model.quant.cache import (
    CacheCorruptError,
    check_cache,
    default_cache_dir,
    load_or_quantize,
    load_quantized,
    quantize_to_cache,
)

pytest.importorskip("bitsandbytes")


@pytest.fixture
def source(tiny_checkpoint, tmp_path) -> Path:
    """A private copy of the tiny checkpoint (tests modify it)."""
    out = tmp_path / "source"
    shutil.copytree(tiny_checkpoint, out)
    return out


@pytest.fixture(autouse=True)
def cache_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache-root"
    monkeypatch.setenv("DGCHAT_CACHE_DIR", str(root))
    torch.set_num_threads(1)
    return root


@pytest.fixture
def builds(monkeypatch) -> list[Path]:
    """Records every streaming quantization (i.e. every rebuild)."""
    calls: list[Path] = []
    real = qcache.stream_quantize

    def counting(folder, *args, **kwargs):
        calls.append(Path(folder))
        return real(folder, *args, **kwargs)

    monkeypatch.setattr(qcache, "stream_quantize", counting)
    return calls


def test_build_once_then_load_the_same_model(source, cache_root, builds):
    built, how = load_or_quantize(source)
    assert how == "built" and len(builds) == 1
    folder = default_cache_dir(source, QuantSettings())
    assert folder.parent == cache_root / "quantized"
    loaded, how = load_or_quantize(source)
    assert how == "cache" and len(builds) == 1
    assert_same_model(built, loaded)
    dec, enc = loaded.model.decoder.layers[0], loaded.model.encoder.language_model.layers[0]
    assert enc.experts is dec.experts and enc.self_attn.o_proj is dec.self_attn.o_proj
    assert loaded.lm_head.weight is loaded.model.decoder.embed_tokens.weight

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source"]["path"] == str(source)
    assert set(manifest["source"]["files"]) == {"config.json", "model.safetensors"}
    assert manifest["settings"] == QuantSettings().to_dict()
    assert {"torch", "transformers", "bitsandbytes", "safetensors"} <= set(manifest["versions"])
    weights = folder / "model.safetensors"
    assert manifest["weights"]["size"] == weights.stat().st_size
    assert len(manifest["weights"]["sha256"]) == 64
    # Self-contained: config, tokenizer and processor files travel with the weights.
    for name in (
        "config.json",
        "generation_config.json",
        "tokenizer_config.json",
        "preprocessor_config.json",
    ):
        assert (folder / name).is_file()
    # Plain safetensors: 4-bit data, scales and the 16-bit rest, each tied tensor stored once.
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as handle:
        names = set(handle.keys())
        assert handle.get_tensor("model.decoder.layers.0.experts.gate_up.packed").dtype == torch.uint8

        # No dense expert weight anywhere in the file: 16-bit, or a 32-bit 3-D stack (the
        # 32-bit absmax scales of the 4-bit blocks are 1-D and belong there).
        def dense(name: str) -> bool:
            part = handle.get_slice(name)
            dtype, dims = part.get_dtype(), len(part.get_shape())
            return dtype in ("BF16", "F16") or (dtype == "F32" and dims == 3)

        dense_experts = [n for n in names if ".experts." in n and dense(n)]
        assert not dense_experts, dense_experts
        assert any(".experts." in n for n in names)
    assert "model.decoder.layers.0.experts.gate_up.absmax2" in names
    assert not any(n.startswith("model.encoder.language_model.layers.0.experts") for n in names)
    assert "lm_head.weight" not in names


def test_a_cache_without_its_source_still_loads(source, builds):
    built, _ = load_or_quantize(source)
    folder = default_cache_dir(source, QuantSettings())
    shutil.rmtree(source)  # e.g. the 52 GB bf16 download deleted after quantizing
    loaded = load_quantized(folder)
    assert_same_model(built, loaded)


@pytest.mark.parametrize("change", ["config", "weights-mtime", "settings", "bitsandbytes", "format"])
def test_stale_cache_is_rebuilt(source, builds, change):
    settings = QuantSettings()
    folder = default_cache_dir(source, settings)
    load_or_quantize(source, settings, cache_dir=folder)
    manifest_path = folder / "manifest.json"
    if change == "config":
        config = json.loads((source / "config.json").read_text())
        config["text_config"]["final_logit_softcapping"] = 25.0
        (source / "config.json").write_text(json.dumps(config))
    elif change == "weights-mtime":
        weights = source / "model.safetensors"
        os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    elif change == "settings":
        settings = QuantSettings(double_quant=False)
    else:
        manifest = json.loads(manifest_path.read_text())
        if change == "bitsandbytes":
            manifest["versions"]["bitsandbytes"] = "0.1.0"
        else:
            manifest["format_version"] = 0
        manifest_path.write_text(json.dumps(manifest))
    status = check_cache(folder, source, settings)
    assert status.state == "stale", status
    model, how = load_or_quantize(source, settings, cache_dir=folder)
    assert how == "built" and len(builds) == 2
    assert check_cache(folder, source, settings).ok
    if change == "settings":
        assert model.model.decoder.layers[0].experts.gate_up.absmax.dtype == torch.float32


def _flip_byte_keeping_size_and_mtime(path: Path, offset: int) -> None:
    stat = path.stat()
    with path.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x10]))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.parametrize("damage", ["truncated", "flipped", "no-manifest", "bad-manifest", "bad-header"])
def test_corrupt_cache_is_never_loaded(source, builds, damage):
    built, _ = load_or_quantize(source)
    folder = default_cache_dir(source, QuantSettings())
    weights = folder / "model.safetensors"
    size = weights.stat().st_size
    if damage == "truncated":
        with weights.open("r+b") as handle:
            handle.truncate(size - 1000)
    elif damage == "flipped":
        _flip_byte_keeping_size_and_mtime(weights, size // 2)  # invisible to size and mtime checks
        assert check_cache(folder, source, QuantSettings()).ok
        with pytest.raises(CacheCorruptError, match="sha256"):
            load_quantized(folder)
    elif damage == "no-manifest":
        (folder / "manifest.json").unlink()  # e.g. a build interrupted before its last step
    elif damage == "bad-manifest":
        (folder / "manifest.json").write_text("{not json")
    else:
        _flip_byte_keeping_size_and_mtime(weights, 20)  # inside the JSON header
    rebuilt, how = load_or_quantize(source)
    assert how == "built" and len(builds) == 2
    assert_same_model(built, rebuilt)
    _, how = load_or_quantize(source)
    assert how == "cache"


def test_default_cache_root_is_platformdirs(monkeypatch):
    import platformdirs

    monkeypatch.delenv("DGCHAT_CACHE_DIR")
    expected = Path(platformdirs.user_cache_dir("diffusiongemma-chat"))
    assert qcache.cache_root() == expected
    folder = default_cache_dir("google/diffusiongemma-26B-A4B-it", QuantSettings())
    assert folder.parent == expected / "quantized"
    assert folder.name.startswith("google--diffusiongemma-26B-A4B-it-")
    # A Hub snapshot folder maps to its repo, whatever the revision.
    snap = "/x/hub/models--google--diffusiongemma-26B-A4B-it/snapshots/{}"
    assert default_cache_dir(snap.format("a" * 40), QuantSettings()) == folder
    assert default_cache_dir(snap.format("b" * 40), QuantSettings()) == folder
    assert default_cache_dir("google/diffusiongemma-26B-A4B-it", QuantSettings(double_quant=False)) != folder


def test_hub_blob_hashes_identify_the_source(tmp_path, monkeypatch):
    snapshot = tmp_path / "models--org--name" / "snapshots" / ("c" * 40)
    blobs = tmp_path / "models--org--name" / "blobs"
    snapshot.mkdir(parents=True)
    blobs.mkdir()
    for name, blob in (("config.json", "1" * 64), ("model.safetensors", "2" * 64)):
        (blobs / blob).write_bytes(b"{}" if name == "config.json" else b"x")
        (snapshot / name).symlink_to(blobs / blob)
    # checkpoint_shards would read the (fake) file; only the layout matters here.
    monkeypatch.setattr(qcache, "checkpoint_shards", lambda folder: {"model.safetensors": []})
    fingerprint = qcache.source_fingerprint(snapshot)
    assert fingerprint["repo"] == "org/name" and fingerprint["revision"] == "c" * 40
    assert fingerprint["files"]["model.safetensors"] == {"size": 1, "blob": "2" * 64}


def test_quantize_command(source, tmp_path, capsys, builds):
    from engine.commands import quantize

    parser = argparse.ArgumentParser()
    quantize.add_parser(parser.add_subparsers())
    out = tmp_path / "out"
    args = parser.parse_args(
        ["quantize", "--model", str(source), "--out", str(out), "--device", "cpu", "--json"]
    )
    assert args.func(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["outcome"] == "built" and result["folder"] == str(out)
    assert (out / "manifest.json").is_file() and result["size_gib"] > 0
    args = parser.parse_args(["quantize", "--model", str(source), "--out", str(out), "--verify", "--json"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "up to date"
    _flip_byte_keeping_size_and_mtime(
        out / "model.safetensors", (out / "model.safetensors").stat().st_size // 3
    )
    assert args.func(args) == 0  # --verify notices the flipped byte and rebuilds
    assert json.loads(capsys.readouterr().out)["outcome"] == "built"
    assert len(builds) == 2
    folder, outcome = quantize_to_cache(source, cache_dir=out)
    assert outcome == "up to date" and folder == out

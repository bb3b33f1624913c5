"""Streaming a sharded bf16/fp32 checkpoint into 4-bit equals quantizing after a full load."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
import torch
from quant_helpers import assert_same_model

from engine.errors import ModelFilesError
from engine.events import LoadProgress
from engine.model.quant import QuantExperts, QuantSettings, quantize_model
from engine.model.quant.apply import install_empty
from engine.model.quant.skeleton import canonical_name, empty_model, persistent_tensors
from engine.model.quant.stream import stream_quantize

pytest.importorskip("bitsandbytes")


def copy_small_files(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for path in src.iterdir():
        if path.is_file() and ".safetensors" not in path.name:
            shutil.copyfile(path, dst / path.name)


@pytest.fixture(scope="module")
def dense(tiny_checkpoint):
    from transformers import DiffusionGemmaForBlockDiffusion

    torch.set_num_threads(1)
    return DiffusionGemmaForBlockDiffusion.from_pretrained(str(tiny_checkpoint), dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def sharded(tiny_checkpoint, dense, tmp_path_factory) -> Path:
    """The tiny checkpoint re-saved in ~40 small shards, as the real one comes in 12."""
    out = tmp_path_factory.mktemp("sharded")
    copy_small_files(tiny_checkpoint, out)
    dense.save_pretrained(out, max_shard_size="150KB")
    assert len(json.loads((out / "model.safetensors.index.json").read_text())["weight_map"]) > 100
    assert len(list(out.glob("*.safetensors"))) > 10
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_streamed_model_equals_quantize_after_full_load(sharded, dtype):
    from transformers import DiffusionGemmaForBlockDiffusion

    streamed = stream_quantize(sharded, QuantSettings(), device="cpu", dtype=dtype)
    loaded = DiffusionGemmaForBlockDiffusion.from_pretrained(str(sharded), dtype=dtype).eval()
    expected = quantize_model(loaded, QuantSettings())
    assert_same_model(streamed, expected)
    assert streamed.generation_config.to_dict() == expected.generation_config.to_dict()
    assert streamed.config._attn_implementation == expected.config._attn_implementation
    # Ties are real object identity, not equal copies.
    dec, enc = streamed.model.decoder.layers[3], streamed.model.encoder.language_model.layers[3]
    assert (
        enc.experts is dec.experts
        and enc.post_feedforward_layernorm.weight is dec.post_feedforward_layernorm.weight
    )
    assert streamed.lm_head.weight is streamed.model.decoder.embed_tokens.weight


def test_progress_reports_bytes_and_tensors(sharded):
    events: list[LoadProgress] = []
    stream_quantize(sharded, QuantSettings(), progress=events.append)
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    assert len(events) == len(index["weight_map"])
    assert all(e.stage == "quantize" for e in events)
    done = [e.done for e in events]
    assert done == sorted(done) and done[0] > 0
    assert events[-1].done == events[-1].total == index["metadata"]["total_size"]
    assert "ETA" in events[0].message and f"{len(events)}/{len(events)} tensors" in events[-1].message


def test_experts_are_read_one_expert_slice_at_a_time(sharded, monkeypatch):
    import safetensors

    real_open = safetensors.safe_open
    whole: list[tuple[str, tuple[int, ...]]] = []
    sliced_reads: list[tuple[int, ...]] = []

    class Spy:
        def __init__(self, *args, **kwargs):
            self.handle = real_open(*args, **kwargs)

        def __enter__(self):
            self.handle.__enter__()
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

        def keys(self):
            return self.handle.keys()

        def get_tensor(self, name):
            tensor = self.handle.get_tensor(name)
            whole.append((name, tuple(tensor.shape)))
            return tensor

        def get_slice(self, name):
            inner = self.handle.get_slice(name)

            class Slice:
                get_shape = inner.get_shape
                get_dtype = inner.get_dtype

                def __getitem__(self, index):
                    out = inner[index]
                    sliced_reads.append(tuple(out.shape))
                    return out

            return Slice()

    monkeypatch.setattr(safetensors, "safe_open", Spy)
    stream_quantize(sharded, QuantSettings())
    assert not [n for n, _ in whole if "experts" in n]  # no fused 3-D expert tensor is ever read whole
    assert [n for n, s in whole if len(s) > 2] == [
        "model.encoder.vision_tower.patch_embedder.position_embedding_table"
    ]
    layers, experts = 4, 4
    assert sliced_reads.count((1, 128, 128)) == layers * experts  # gate_up: one [1, 2I, H] slice per expert
    assert sliced_reads.count((1, 128, 64)) == layers * experts  # down


def test_skeleton_allocates_nothing_dense(dense):
    model = empty_model(dense.config, torch.float32)
    install_empty(model, QuantSettings(), "meta")
    assert all(t.is_meta for t in persistent_tensors(model).values())
    assert all(isinstance(layer.experts, QuantExperts) for layer in model.model.decoder.layers)
    # Only the computed rotary / embedding-scale buffers are real.
    real = [n for n, b in model.named_buffers() if not b.is_meta]
    assert real and all("rotary_emb" in n or "embed_scale" in n for n in real)


def test_checkpoint_with_tied_copies_loads_once(dense, tmp_path):
    """A checkpoint that also stores the encoder's copies (and lm_head) gives the same model."""
    from safetensors.torch import save_file

    copy_small_files(Path(dense.name_or_path), tmp_path)
    state = {k: v.clone().contiguous() for k, v in dense.state_dict().items()}
    assert any(k.startswith("model.encoder.language_model.layers.0.experts") for k in state)
    save_file(state, tmp_path / "model.safetensors")
    with_copies = stream_quantize(tmp_path, QuantSettings())
    expected = quantize_model(copy.deepcopy(dense), QuantSettings())
    assert_same_model(with_copies, expected)


def test_missing_or_misshapen_weights_are_reported(dense, tmp_path):
    from safetensors.torch import save_file

    copy_small_files(Path(dense.name_or_path), tmp_path)
    state = {k: v.clone().contiguous() for k, v in dense.state_dict().items() if canonical_name(k) == k}
    missing = dict(state)
    del missing["model.decoder.layers.2.router.proj.weight"]
    save_file(missing, tmp_path / "model.safetensors")
    with pytest.raises(ModelFilesError, match=r"lacks 1 weights.*layers\.2\.router\.proj\.weight"):
        stream_quantize(tmp_path, QuantSettings())
    wrong = dict(state)
    wrong["model.decoder.layers.1.experts.down_proj"] = torch.zeros(4, 128, 32)
    save_file(wrong, tmp_path / "model.safetensors")
    with pytest.raises(ModelFilesError, match=r"down_proj has shape \(4, 128, 32\)"):
        stream_quantize(tmp_path, QuantSettings())

"""Measure the refinement history's size per block (run by hand; the numbers go into docs/storage.md).

    .venv/bin/python tests/app/store/measure_history.py [CHECKPOINT_DIR]

Without a checkpoint folder a tiny one is built in a temporary folder first.
Reports bytes per block for the tiny checkpoint (random weights: every draft
position changes every step, entropy near ln(vocab) — the worst case) at 48
and 16 steps per canvas, and for the synthetic converging canvas in
history_samples (shaped like a trained model: ~16 steps, a 262,144 vocab),
next to the same frames as float32/int32 arrays and as the engine's JSON events.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from history_samples import converging_block

from app.store.history_codec import decode_block, encode_block
from engine.events import Step


def describe(name: str, blocks: list[list[Step]]) -> None:
    sizes, raws, jsons, enc, dec = [], [], [], [], []
    for steps in blocks:
        frames = steps
        start = time.perf_counter()
        data = encode_block(frames)
        enc.append(time.perf_counter() - start)
        start = time.perf_counter()
        decode_block(data, frames[0].block)
        dec.append(time.perf_counter() - start)
        sizes.append(len(data))
        raws.append(len(frames) * len(frames[0].draft) * (4 + 1 + 4))
        jsons.append(len(json.dumps([s.to_json() for s in steps])))
    n = statistics.mean(len(b) for b in blocks)
    size = statistics.mean(sizes)
    print(
        f"{name:42s} {len(blocks):3d} blocks  {n:5.1f} steps  {size:8.0f} B/block  {size / n:6.0f} B/step"
        f"  raw {statistics.mean(raws):8.0f}  json {statistics.mean(jsons):8.0f}"
        f"  encode {1000 * statistics.mean(enc):5.1f} ms  decode {1000 * statistics.mean(dec):5.1f} ms"
    )


def tiny_blocks(checkpoint: Path, steps: int) -> list[list[Step]]:
    import torch

    from engine.engine import Engine
    from engine.inputs.conversation import Conversation, Turn

    torch.set_num_threads(2)
    engine = Engine.load(checkpoint, device="cpu")
    out: dict[tuple[int, int], list[Step]] = {}
    for seed in range(3):
        settings = engine.default_settings.with_changes(
            max_new_tokens=1024, max_denoising_steps=steps, seed=seed
        )
        conversation = Conversation(turns=(Turn("user", "Tell me about the sea and the ships on it."),))
        for event in engine.generate(conversation, settings, with_pieces=False):
            if isinstance(event, Step):
                out.setdefault((seed, event.block), []).append(event)
    return list(out.values())


def main() -> None:
    if len(sys.argv) > 1:
        checkpoint = Path(sys.argv[1])
    else:
        from engine.model.tiny import make_tiny

        checkpoint = make_tiny(Path(tempfile.mkdtemp()) / "tiny")
    describe("synthetic converging (16 steps, 262k vocab)", [converging_block(s) for s in range(20)])
    describe("synthetic converging (24 steps)", [converging_block(s, steps=24) for s in range(10)])
    describe("tiny checkpoint, 48 steps (worst case)", tiny_blocks(checkpoint, 48))
    describe("tiny checkpoint, 16 steps", tiny_blocks(checkpoint, 16))


if __name__ == "__main__":
    main()

"""Benchmark: what leaving out a long chat's oldest messages costs, and what keeping the cut saves.

A 200-exchange chat (~80 K tokens) on the bundled demo model, with the context limited to
58,112 tokens (what the planner finds room for on an 18 GiB GPU).  Three numbers:

* ``prepare`` when the chat first overflows: the whole chat is encoded once, then a binary
  search over where to start (engine.inputs.overflow) encodes candidate cuts;
* ``prepare`` on the next reply, which keeps the same cut (two encodes);
* the prefill of that next reply with and without the prompt cache the kept cut makes reusable
  (on the demo model, on the CPU: the real model's prefill costs far more per token).

Run: .venv/bin/python tools/context_overflow_bench.py
"""

from __future__ import annotations

import dataclasses
import statistics
import time

from engine.engine import Engine
from engine.events import PromptEncoded
from engine.inputs.conversation import Conversation, PromptOptions, Turn

CONTEXT = 58_112


def chat(exchanges: int) -> Conversation:
    turns: list[Turn] = []
    for i in range(exchanges):
        turns.append(Turn("user", f"Question {i}: how do the beds, paths and the river fit together? " * 12))
        turns.append(Turn("assistant", f"Answer {i}: the beds sit by the path and drain to the river. " * 12))
    return Conversation(turns=(*turns, Turn("user", "So which plan do you pick?")), system="Be brief.")


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def image_chat_prepare(loaded: Engine, settings) -> None:
    """The same two prepare timings for a chat whose 40 user turns each carry an 800×600 photo."""
    import tempfile
    from pathlib import Path

    from PIL import Image

    from engine.inputs.conversation import Attachment

    folder = Path(tempfile.mkdtemp(prefix="overflow-bench-"))
    turns: list[Turn] = []
    for i in range(40):
        photo = folder / f"{i}.png"
        Image.new("RGB", (800, 600), (40 + i * 4, 120, 200)).save(photo)
        turns.append(Turn("user", f"Look at picture {i}. " * 10, (Attachment(photo, "image"),)))
        turns.append(Turn("assistant", "It shows a field by the river. " * 10))
    conversation = Conversation(turns=(*turns, Turn("user", "Which one was best?")))
    whole = loaded.prepare(conversation, settings, PromptOptions()).num_tokens
    info = dataclasses.replace(loaded.info, context_length=whole // 2)
    engine = Engine(loaded.model, loaded.processor, info)
    seconds, prompt = timed(lambda: engine.prepare(conversation, settings, PromptOptions()))
    engine._cut = prompt.cut
    grown = conversation.with_turn(Turn("assistant", "The third.")).with_turn(Turn("user", "Why?"))
    again, _ = timed(lambda: engine.prepare(grown, settings, PromptOptions()))
    print(
        f"40 photos, {whole:,} tokens, limit {whole // 2:,}: first overflow {seconds * 1000:.0f} ms, "
        f"next reply {again * 1000:.0f} ms"
    )


def main() -> None:
    loaded = Engine.load("demo", device="cpu")
    info = dataclasses.replace(loaded.info, context_length=CONTEXT, context_limited_by_memory=True)
    settings = loaded.default_settings.with_changes(max_new_tokens=256, max_denoising_steps=2, seed=1)
    conversation = chat(200)
    full_tokens = loaded.prepare(conversation, settings, PromptOptions()).num_tokens

    first, again = [], []
    for _ in range(3):
        engine = Engine(loaded.model, loaded.processor, info)
        seconds, prompt = timed(lambda e=engine: e.prepare(conversation, settings, PromptOptions()))
        first.append(seconds)
        engine._cut = prompt.cut  # what generate() keeps after a reply
        grown = conversation.with_turn(Turn("assistant", "The second one.")).with_turn(Turn("user", "Why?"))
        seconds, kept = timed(lambda e=engine, g=grown: e.prepare(g, settings, PromptOptions()))
        again.append(seconds)
    print(f"chat: {full_tokens:,} tokens; limit {CONTEXT:,}; kept {prompt.num_tokens:,} tokens")
    print(f"left out {prompt.omitted_turns} turns; the next reply keeps the cut: {kept.cut == prompt.cut}")
    print(f"prepare, first overflow: median {statistics.median(first) * 1000:.0f} ms")
    print(f"prepare, next reply (same cut): median {statistics.median(again) * 1000:.0f} ms")

    image_chat_prepare(loaded, settings)

    # Prefill of the next reply: the kept cut lets the engine reuse the previous prompt's cache.
    for reuse in (True, False):
        engine = Engine(loaded.model, loaded.processor, info)
        engine.reuse_prompt_cache = reuse
        list(engine.generate(conversation, settings, with_pieces=False))
        grown = conversation.with_turn(Turn("assistant", "The second one.")).with_turn(Turn("user", "Why?"))
        encoded = next(
            e for e in engine.generate(grown, settings, with_pieces=False) if isinstance(e, PromptEncoded)
        )
        label = "reusing the cache" if reuse else "without the cache"
        print(
            f"next reply's prefill {label}: {encoded.seconds:.2f} s "
            f"({encoded.prompt_tokens:,} tokens, {encoded.cached_tokens:,} cached)"
        )


if __name__ == "__main__":
    main()

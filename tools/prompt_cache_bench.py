"""Benchmark: prefill time of a follow-up turn with and without reusing the previous prompt's KV cache.

Run: .venv/bin/python tools/prompt_cache_bench.py   (uses the bundled demo model on the CPU)
"""

import statistics

from engine.engine import Engine
from engine.events import PromptEncoded
from engine.inputs.conversation import Conversation, Turn

e = Engine.load("demo", device="cpu")
st = e.default_settings.with_changes(max_new_tokens=256, max_denoising_steps=4, seed=1)
first = Conversation(turns=(Turn("user", "Explain how gardens work, in detail. " * 200),))


def prefill(conv):
    for ev in e.generate(conv, st, with_pieces=False):
        if isinstance(ev, PromptEncoded):
            out = ev
    return out


res = {True: [], False: []}
for _ in range(3):
    for reuse in (True, False):
        e.forget_prompt_cache()
        e.reuse_prompt_cache = reuse
        done = list(e.generate(first, st, with_pieces=False))[-1]
        follow = first.with_turn(Turn("assistant", done.answer)).with_turn(Turn("user", "And then?"))
        ev = prefill(follow)
        res[reuse].append((ev.seconds, ev.prompt_tokens, ev.cached_tokens))
for k, v in res.items():
    print(
        "reuse" if k else "full ",
        "median prefill s",
        round(statistics.median(x[0] for x in v), 3),
        "prompt",
        v[0][1],
        "cached",
        v[0][2],
    )

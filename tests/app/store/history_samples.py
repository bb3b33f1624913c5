"""Refinement histories to store and measure: a synthetic converging canvas, shaped like the real model's.

The tiny test checkpoint has random weights, so its drafts change at every
position on every step and its entropies sit near ln(vocab): the worst case
for compression.  A trained model settles: model-card figures of 15-20
tokens per forward mean a 256-token canvas converges in ~13-17 steps, each
position flickering between a few candidates before it settles, with its
entropy falling from a few nats to well under 1e-3.  This module simulates
that, using the real acceptance rule (lowest entropies while sum - max <= bound).
"""

from __future__ import annotations

import math
import random

from engine.events import Step

VOCAB = 262_144


def accept_mask(entropy: list[float], bound: float = 0.1) -> tuple[bool, ...]:
    """The entropy-bound sampler's rule: the lowest-entropy positions while cumsum - e <= bound."""
    order = sorted(range(len(entropy)), key=entropy.__getitem__)
    accepted = [False] * len(entropy)
    total = 0.0
    for i in order:
        if total <= bound:  # cumulative sum before adding e_i, i.e. cumsum - e_i
            accepted[i] = True
        total += entropy[i]
    return tuple(accepted)


def converging_block(
    seed: int, *, block: int = 0, length: int = 256, steps: int = 16, max_steps: int = 48
) -> list[Step]:
    """A block that settles in ``steps`` steps: drafts flicker among candidates, entropy collapses."""
    rng = random.Random(seed)
    final = [rng.randrange(VOCAB) for _ in range(length)]
    candidates = [
        [final[i]] + [rng.randrange(VOCAB) for _ in range(rng.randint(1, 4))] for i in range(length)
    ]
    settle = [min(steps - 1, int(rng.betavariate(1.3, 2.0) * steps)) for _ in range(length)]
    draft = [rng.choice(c) for c in candidates]
    frames: list[Step] = []
    for t in range(steps):
        entropy: list[float] = []
        for i in range(length):
            if t >= settle[i]:
                draft[i] = final[i]
                entropy.append(1e-3 * math.exp(rng.gauss(0, 1.5)) * 0.3 ** (t - settle[i]))
            else:
                if rng.random() < 0.4:
                    draft[i] = rng.choice(candidates[i])
                remaining = (settle[i] - t) / steps
                entropy.append(max(1e-6, (0.3 + 4.0 * remaining) * math.exp(rng.gauss(0, 0.5))))
        frames.append(
            Step(
                block=block,
                step=t + 1,
                max_steps=max_steps,
                draft=tuple(draft),
                accepted=accept_mask(entropy),
                entropy=tuple(entropy),
                text="",
            )
        )
    return frames


def fake_reply(seed: int, canvases: int = 2, *, length: int = 16, steps: int = 3, words: str = "") -> list:
    """Engine events for a small reply: Steps, then a Canvas per block, then Done.

    The text of canvas ``b`` is ``f"part{b} "`` (plus ``words`` on the first),
    so tests can check what was saved after each canvas.
    """
    from engine.events import Canvas, Done, Stats

    events: list = []
    texts: list[str] = []
    for block in range(canvases):
        frames = converging_block(seed + block, block=block, length=length, steps=steps)
        events.extend(frames)
        text = (words + " " if block == 0 and words else "") + f"part{block} "
        texts.append(text)
        events.append(
            Canvas(block=block, tokens=frames[-1].draft, text=text, steps=steps, ended=block == canvases - 1)
        )
    full = "".join(texts)
    stats = Stats(
        prompt_tokens=10,
        cached_prompt_tokens=0,
        generated_tokens=length * canvases,
        canvases=canvases,
        forwards=steps * canvases,
        max_denoising_steps=48,
        steps_per_canvas=(steps,) * canvases,
        tokens_per_forward=length / steps,
        time_to_first_draft=0.01,
        seconds=0.5,
        tokens_per_second=100.0,
    )
    events.append(Done((), (), full, "", full.strip(), stats))
    return events

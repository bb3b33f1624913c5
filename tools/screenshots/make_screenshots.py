"""Render the window's main states to PNGs, offscreen, for the docs.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/screenshots/make_screenshots.py \
        [OUT_DIR] [--only SCENE ...]

No model is needed: the script plays scripted engine events (the same
``Step``/``Canvas``/``Done`` dataclasses the engine emits) straight into the
window's slots, so every state is reproducible.  For correct CJK and emoji
glyphs install Noto fonts first (Debian/Ubuntu:
``apt-get install fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji``).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
_scratch = Path(tempfile.mkdtemp(prefix="dgchat-shots-"))
for _name in ("CONFIG", "LOG", "CACHE", "DATA"):
    os.environ.setdefault(f"DGCHAT_{_name}_DIR", str(_scratch / _name.lower()))

from app.config import AppConfig  # noqa: E402
from app.icon import app_icon  # noqa: E402
from app.qt import QApplication, QImage, QPainter, QPoint, Qt, QTextCursor, QWidget  # noqa: E402
from app.replay import Replay  # noqa: E402
from app.ui.window import MainWindow  # noqa: E402
from app.uncertainty import ReplyDoubts, last_frames, reply_doubts  # noqa: E402
from app.worker import EngineHost  # noqa: E402
from engine.engine import ModelInfo  # noqa: E402
from engine.events import Canvas, Done, PromptEncoded, Stats, Step  # noqa: E402
from engine.generation.gaps import GAP  # noqa: E402
from engine.inputs.thinking import split_thinking  # noqa: E402
from engine.settings import GenerationSettings  # noqa: E402

CANVAS = 256
SIZE = (1280, 860)
NOISE = [
    "ются",
    "ologie",
    "自",
    "ntes",
    " Fleisch",
    "ıl",
    "ẩ",
    " quand",
    "_",
    "ść",
    " 的",
    "ρα",
    "ingu",
    " dass",
    "ग",
]

QUESTION = (
    "How does DiffusionGemma write a reply? Give me a tiny Python sketch and a table comparing it with "
    "token-by-token decoding."
)
THOUGHT = (
    "The user wants the mechanism, a sketch and a comparison. Key points: 256-token canvas, "
    "parallel refinement, entropy-bounded acceptance, commit then next canvas."
)
MATH_ANSWER = r"""The area under $f(x) = x^2$ from $0$ to $1$ is

$$
\int_0^1 x^2\,dx = \left[\frac{x^3}{3}\right]_0^1 = \frac{1}{3}
$$

More generally $\sum_{k=1}^{n} k^2 = \frac{n(n+1)(2n+1)}{6}$, and the Gaussian integral is
\(\int_{-\infty}^{\infty} e^{-x^2}\,dx = \sqrt{\pi}\). Amounts like $5 and $10 stay text.
"""

REWRITE_ANSWER = (
    "Water **early in the morning**, at the roots, so the leaves stay dry and little is lost to the sun. "
    "Beans want about two litres a week per plant; squash wants a deep soak once a week rather than a "
    "little every day. Check the soil with a finger first: if it is damp two knuckles down, wait a day."
)
REWRITE_SPAN = "Beans want about two litres a week per plant"
REWRITE_NEW = "Young beans need a steady sip every two or three days"

UNSURE_QUESTION = "When was the Eiffel Tower built, and how tall is it?"
UNSURE_ANSWER = """The Eiffel Tower was completed in **1889** for the World's Fair in Paris. It is about \
**330 metres** tall with its antennas, and it was the tallest structure in the world until 1930.

- Designed by the company of Gustave Eiffel; the engineers were Maurice Koechlin and Émile Nouguier.
- It weighs roughly 10,100 tonnes.
- About 6 million people visit it every year.

In feet:

```python
feet = 330 * 3.281  # about 1083 ft
```
"""
# Words the scripted history settles late: (the step they are accepted at, their entropy then).
UNSURE_WORDS = {
    "330": (14, 1.9),
    "1930": (17, 2.4),
    "Koechlin": (12, 1.2),
    "Nouguier": (19, 2.8),
    "10100": (16, 2.1),
    "6": (10, 1.6),
    "1083": (15, 0.9),
    "roughly": (7, 0.6),
}

FILL_DRAFT = """Garden day is this Saturday at **9:00** at the allotment. [...16] \
Please bring gloves, a water bottle and [...6].

| Bed | Job |
|---|---|
| Beans | [...5] |
| Squash | mulch and water |

After lunch [...14]

Thanks, Mara"""  # as sent: the composer's text is stripped
# What the scripted model writes into each gap of FILL_DRAFT, in order.
FILL_GAPS = (
    "We start by clearing the old tomato beds, so the new seedlings can go in before the heat.",
    "a sandwich to share",
    "tie up the runners",
    "we sort the seed swap and fix the rain barrel by the shed.",
)

STORY_QUESTION = "Write the opening of a short story about a lighthouse keeper who finds a letter."
STORY_ANSWER = """The lamp had been automatic for eleven years, but Ines still climbed the hundred and \
twelve steps every evening, because the tower seemed to expect it.

The letter was wedged behind the brass plate of the old clockwork, folded four times and soft as \
cloth. The ink had gone the colour of weak tea. It was addressed to *the keeper*, nothing more, and \
it was dated the night of the great storm of 1931.

She read the first line twice before she understood it was about her.
"""

LONG_CHAT_ANSWER = """Of the plans still in view, I would pick **the second one**: the shared kitchen garden.

- It needs the least new money: the beds and the rain barrel already exist.
- It keeps the river path open, which the neighbours asked for twice.

If the first plans we talked about had other constraints, remind me of them: they are too far back
in this chat for me to see now.
"""


ANSWER = """DiffusionGemma writes **a whole canvas at once**: it starts from 256 random tokens and refines \
all of them in parallel, keeping the positions it is confident about at each step.

```python
def write_reply(model, prompt, steps=48):
    canvas = random_tokens(256)
    for step in range(steps):
        logits = model(prompt, canvas)
        canvas = keep_confident(canvas, sample(logits))
        if stable_and_confident(logits):
            break
    return commit(canvas)  # then start the next canvas
```

| | Token by token | DiffusionGemma |
|---|---|---|
| Tokens per forward | 1 | 15–20 |
| Sees the future of its draft | no | yes, within a canvas |
| Typical speed (H100) | ~200 tok/s | >1,000 tok/s |

Why it feels different:

1. Text *settles* instead of streaming left to right.
2. Each canvas is committed before the next one starts.
3. Works in any script — 日本語, العربية, emoji 🎉 included.
"""


def canvases_of(text: str) -> list[str]:
    """The reply cut into two canvases at a paragraph boundary (the real model cuts every 256 tokens)."""
    cut = text.index("| | Token by token")
    return [text[:cut], text[cut:]]


def pieces_of(text: str) -> list[str]:
    return re.findall(r"\s*\S+|\s+", text)


def scripted_steps(text: str, block: int, steps: int, until: int, seed: int = 1) -> list[Step]:
    """Steps 1..until of one canvas whose final text is ``text``: positions settle at random steps."""
    rng = random.Random(seed)
    pieces = pieces_of(text)[:CANVAS]
    padded = pieces + ["<pad>"] * (CANVAS - len(pieces))
    settle = [max(1, min(steps, int(rng.betavariate(2, 3) * steps * 0.9) + 1)) for _ in range(CANVAS)]
    out: list[Step] = []
    previous: tuple[str, ...] = ()
    for n in range(1, until + 1):
        accepted = tuple(n >= s and rng.random() < 0.85 for s in settle)
        draft = []
        entropy = []
        for i, piece in enumerate(padded):
            if n >= settle[i]:
                draft.append(piece)
                entropy.append(0.02 + rng.random() * 0.05 if accepted[i] else 0.4 + rng.random() * 1.2)
            elif n >= settle[i] - 3:
                draft.append(
                    piece if rng.random() < 0.5 else (previous[i] if previous else rng.choice(NOISE))
                )
                entropy.append(1.5 + rng.random() * 2)
            else:
                draft.append(rng.choice(NOISE))
                entropy.append(6 + rng.random() * 6)
        previous = tuple(draft)
        visible = "".join(p for p in draft[: len(pieces)])
        out.append(
            Step(
                block,
                n,
                steps,
                tuple(hash(p) % 262144 for p in draft),
                accepted,
                tuple(entropy),
                visible,
                previous,
            )
        )
    return out


def rewrite_steps(text: str, span: str, new: str, until: int, steps: int = 16) -> list[Step]:
    """Steps 1..until of a rewrite: every piece outside ``span`` kept and accepted, the span refining."""
    pieces = pieces_of(text)
    start = len(pieces_of(text[: text.index(span)].rstrip()))  # the span's first piece has its space
    end = start + len(pieces_of(span))
    target = (pieces_of(" " + new) + [" "] * (end - start))[: end - start]
    rng = random.Random(7)
    settle = {i: rng.randint(2, steps - 4) for i in range(start, end)}
    padded = pieces + ["<pad>"] * (CANVAS - len(pieces))
    out: list[Step] = []
    for n in range(1, until + 1):
        draft, accepted, entropy = [], [], []
        for i, piece in enumerate(padded):
            if not start <= i < end:
                draft.append(piece)
                accepted.append(True)
                entropy.append(0.0)
            elif n >= settle[i]:
                draft.append(target[i - start])
                accepted.append(rng.random() < 0.7)
                entropy.append(0.3 + rng.random() * 0.8)
            else:
                draft.append(rng.choice(NOISE))
                accepted.append(False)
                entropy.append(5 + rng.random() * 6)
        ids = tuple(hash(p) % 262144 for p in draft)
        visible = "".join(draft[: len(pieces)])
        out.append(Step(0, n, steps, ids, tuple(accepted), tuple(entropy), visible, tuple(draft)))
    return out


def filled(draft: str, gaps: tuple[str, ...]) -> str:
    """``draft`` with each gap replaced by its filling (what a Fill gaps reply is)."""
    fillings = iter(gaps)
    return GAP.sub(lambda _match: next(fillings), draft)


def fill_steps(draft: str, gaps: tuple[str, ...], steps: int = 18) -> list[Step]:
    """One canvas filling ``draft``: the draft's own pieces accepted from step 1, the gaps refining."""
    rng = random.Random(5)
    texts = GAP.split(draft)[::2]  # the draft's texts around the gaps (the lengths dropped)
    pieces: list[str] = []
    settle: list[int] = []
    for i, text in enumerate(texts):
        own = pieces_of(text)
        pieces += own
        settle += [0] * len(own)
        if i < len(gaps):
            fill = pieces_of(gaps[i])
            pieces += fill
            settle += [rng.randint(3, steps - 2) for _ in fill]
    padded = pieces + ["<pad>"] * (CANVAS - len(pieces))
    settle += [0] * (CANVAS - len(pieces))
    out: list[Step] = []
    for n in range(1, steps + 1):
        accepted = tuple(n >= at for at in settle)
        draft_now = tuple(
            p if n >= at - 1 else rng.choice(NOISE) for p, at in zip(padded, settle, strict=True)
        )
        entropy = tuple(
            (0.0 if at == 0 else 0.1 + rng.random() * 0.6) if ok else 4 + rng.random() * 4
            for ok, at in zip(accepted, settle, strict=True)
        )
        ids = tuple(hash(p) % 262144 for p in draft_now)
        visible = "".join(draft_now[: len(pieces)])
        out.append(Step(0, n, steps, ids, accepted, entropy, visible, draft_now))
    return out


def unsure_steps(text: str, unsure: dict[str, tuple[int, float]], steps: int = 20) -> list[Step]:
    """One canvas whose tokens settle within 3 steps, sure of themselves, except the ``unsure`` words."""
    rng = random.Random(11)
    pieces = pieces_of(text)
    padded = pieces + ["<pad>"] * (CANVAS - len(pieces))
    late = [unsure.get(re.sub(r"\W", "", piece)) for piece in padded]
    settle = [at if at is not None else rng.randint(1, 3) for at, _ in (w or (None, 0.0) for w in late)]
    out: list[Step] = []
    for n in range(1, steps + 1):
        accepted = tuple(n >= at for at in settle)
        draft = tuple(p if n >= at - 1 else rng.choice(NOISE) for p, at in zip(padded, settle, strict=True))
        entropy = tuple(
            (word[1] if word else 0.02 + rng.random() * 0.05) if ok else 4 + rng.random() * 4
            for ok, word in zip(accepted, late, strict=True)
        )
        ids = tuple(hash(p) % 262144 for p in draft)
        out.append(Step(0, n, steps, ids, accepted, entropy, "".join(draft[: len(pieces)]), draft))
    return out


class Shooter:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.app = QApplication.instance() or QApplication([])
        self.app.setWindowIcon(app_icon())

    def window(self, theme: str, *, thinking: bool = True) -> MainWindow:
        # Each shot starts from an empty store: no chats or interrupted replies left by the last one.
        os.environ["DGCHAT_DATA_DIR"] = tempfile.mkdtemp(dir=_scratch, prefix="data-")
        host = EngineHost(lambda *_: None)  # never asked to load: events are played in below
        window = MainWindow(AppConfig(theme=theme, thinking=thinking), host, icon=app_icon())
        window.resize(*SIZE)
        window.show()
        info = ModelInfo(
            "diffusiongemma-26B-A4B-it",
            "google/diffusiongemma-26B-A4B-it",
            "",
            "cuda:0",
            "bfloat16",
            CANVAS,
            58112,  # what the planner finds room for on an 18 GiB card
            False,
            model_context_length=262144,
            context_limited_by_memory=True,
        )
        window.on_model_loaded(info, GenerationSettings())
        window.status.set_vram(int(17.6 * 1024**3))
        window.host.generate = lambda *_args, **_kw: 1  # replies are played, not generated
        self.settle()
        return window

    def settle(self) -> None:
        for _ in range(6):
            self.app.processEvents()
        QApplication.sendPostedEvents()
        self.app.processEvents()

    def save(self, window: MainWindow, name: str, *, top: bool = False, popup: QWidget | None = None) -> Path:
        """The window as a PNG; a ``popup`` (a menu, which is a window of its own) is drawn where it is."""
        self.settle()
        if popup is None:
            transcript = window.current_page().transcript
            transcript.scroll_to_top() if top else transcript.scroll_to_bottom()
            self.settle()
        image = window.grab().toImage()
        # Offscreen windows have no decoration; paint a thin frame so the shot reads as a window.
        framed = QImage(image.size(), QImage.Format.Format_ARGB32)
        framed.fill(Qt.GlobalColor.transparent)
        painter = QPainter(framed)
        painter.drawImage(0, 0, image)
        if popup is not None:
            painter.drawPixmap(popup.pos() - window.mapToGlobal(QPoint(0, 0)), popup.grab())
        painter.end()
        path = self.out / f"{name}.png"
        framed.save(str(path))
        print(path)
        return path

    def ask(self, window: MainWindow, text: str, *, prompt_tokens: int = 58, omitted_turns: int = 0) -> int:
        window.composer.edit.setPlainText(text)
        reply_id = window.send()
        encoded = PromptEncoded(prompt_tokens=prompt_tokens, seconds=0.04, omitted_turns=omitted_turns)
        window.live.on_prompt_encoded(reply_id, encoded)
        return reply_id

    def play_finished(self, window: MainWindow, reply_id: int) -> list[Step]:
        """Play a whole scripted reply into the window; returns its steps (for a replay)."""
        text = f"<|channel>thought\n{THOUGHT}<channel|>{ANSWER}"
        blocks = canvases_of(text)
        steps_per = []
        played: list[Step] = []
        for b, block_text in enumerate(blocks):
            steps = scripted_steps(block_text, b, 48, 22 + 4 * b, seed=b + 3)
            played += steps
            for step in steps:
                window.live.on_step_ready(reply_id, step)
            steps_per.append(len(steps))
            window.live.on_canvas_committed(
                reply_id, Canvas(b, (0,) * CANVAS, block_text, len(steps), b == len(blocks) - 1)
            )
        split = split_thinking(text)
        tokens = len(pieces_of(text))
        stats = Stats(
            58,
            0,
            tokens,
            len(blocks),
            sum(steps_per),
            48,
            tuple(steps_per),
            tokens / sum(steps_per),
            0.043,
            0.31,
            tokens / 0.31,
            int(17.9 * 1024**3),
        )
        window.active.state.thought_seconds = 2.4
        window.live.on_reply_finished(reply_id, Done((), (), text, split.thought, split.answer, stats))
        return played


def main() -> None:
    """Render every scene, or only those named: ``make_screenshots.py [OUT_DIR] [--only fill_gaps ...]``."""
    scenes = {
        fn.__name__.removeprefix("shoot_"): fn
        for fn in (
            shoot_empty_then_refining,
            shoot_finished,
            shoot_versions_and_replay,
            shoot_math,
            shoot_long_chat,
            shoot_rewrite_part,
            shoot_media_and_errors,
            shoot_uncertainty,
            shoot_fill_gaps,
            shoot_go_on_from_here,
        )
    }
    parser = argparse.ArgumentParser(description="Render the docs' screenshots offscreen.")
    parser.add_argument(
        "out", nargs="?", type=Path, default=ROOT / "docs" / "screenshots", help="default: docs/screenshots"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(scenes),
        default=sorted(scenes),
        metavar="SCENE",
        help=f"render only these scenes: {', '.join(scenes)}",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    shooter = Shooter(args.out)
    for name, scene in scenes.items():
        if name in args.only:
            scene(shooter)


def shoot_empty_then_refining(shooter: Shooter) -> None:
    """The empty window; then mid-refinement: first canvas committed, second canvas at step 14/48,
    token view on."""
    window = shooter.window("light")
    shooter.save(window, "01-empty")
    reply_id = shooter.ask(window, QUESTION)
    first, second = canvases_of(f"<|channel>thought\n{THOUGHT}<channel|>{ANSWER}")
    for step in scripted_steps(first, 0, 48, 20, seed=3):
        window.live.on_step_ready(reply_id, step)
    window.live.on_canvas_committed(reply_id, Canvas(0, (0,) * CANVAS, first, 20, False))
    for step in scripted_steps(second, 1, 48, 14, seed=4):
        window.live.on_step_ready(reply_id, step)
    window.live.flush()
    shooter.save(window, "02-refining-markdown")
    window.view.set_token_view(True)
    window.live.flush()
    shooter.save(window, "03-refining-token-view")
    window.view.set_token_view(False)
    window.close()


def shoot_finished(shooter: Shooter) -> None:
    for theme, name in (("light", "04-finished-light"), ("dark", "05-finished-dark")):
        window = shooter.window(theme)
        reply_id = shooter.ask(window, QUESTION)
        shooter.play_finished(window, reply_id)
        reply = window.active or window.view.last_assistant_widget()
        reply.thought_toggle.setChecked(True)
        shooter.save(window, name, top=True)
        window.close()


def shoot_versions_and_replay(shooter: Shooter) -> None:
    """Versions and replay: a regenerated reply (‹ 2/2 ›) replaying its second block."""
    window = shooter.window("light", thinking=False)
    shooter.play_finished(window, shooter.ask(window, QUESTION))
    reply = window.view.last_assistant_widget()
    window.replies.regenerate(reply.store_id)
    played = shooter.play_finished(window, window.active.reply_id)
    reply = window.view.last_assistant_widget()
    finals = [s.text for i, s in enumerate(played) if i + 1 == len(played) or played[i + 1].block != s.block]
    reply.start_replay(Replay.build(played, finals, None))
    reply.replay_bar.seek(next(i for i, s in enumerate(played) if s.block == 1) + 9)
    shooter.save(window, "07-versions-and-replay")
    window.close()


def shoot_math(shooter: Shooter) -> None:
    """Math: inline and display TeX drawn by mathtext; dollar amounts stay text."""
    window = shooter.window("light", thinking=False)
    reply_id = shooter.ask(window, "What is the area under x² from 0 to 1, and what else is like it?")
    stats = Stats(58, 0, 180, 1, 19, 48, (19,), 180 / 19, 0.04, 0.21, 180 / 0.21, int(17.7 * 1024**3))
    window.live.on_canvas_committed(reply_id, Canvas(0, (0,) * CANVAS, MATH_ANSWER, 19, True))
    window.live.on_reply_finished(reply_id, Done((), (), MATH_ANSWER, "", MATH_ANSWER, stats))
    while window._math_pool.busy:  # formulas are drawn on a background thread
        shooter.settle()
    shooter.save(window, "08-math", top=True)
    window.close()


def shoot_long_chat(shooter: Shooter) -> None:
    """A chat longer than the context: the reply says which messages the model did not see."""
    window = shooter.window("light", thinking=False)
    reply_id = shooter.ask(
        window,
        "Given all that, which of the plans we discussed would you pick?",
        prompt_tokens=41_230,
        omitted_turns=14,
    )
    stats = Stats(41_230, 39_870, 120, 1, 17, 48, (17,), 120 / 17, 0.05, 0.2, 600, int(17.8 * 1024**3), 14)
    window.live.on_canvas_committed(reply_id, Canvas(0, (0,) * CANVAS, LONG_CHAT_ANSWER, 17, True))
    window.live.on_reply_finished(reply_id, Done((), (), LONG_CHAT_ANSWER, "", LONG_CHAT_ANSWER, stats))
    shooter.save(window, "09-long-chat", top=True)
    window.close()


def shoot_rewrite_part(shooter: Shooter) -> None:
    """Rewrite this part: only the selected words refine again; every other token stays accepted."""
    window = shooter.window("light", thinking=False)
    reply_id = shooter.ask(window, "How should I water a small vegetable garden?")
    stats = Stats(58, 0, 64, 1, 18, 48, (18,), 64 / 18, 0.04, 0.2, 320, int(17.7 * 1024**3))
    canvas = Canvas(0, (0,) * CANVAS, REWRITE_ANSWER, 18, True)
    done = Done((), (), REWRITE_ANSWER, "", REWRITE_ANSWER, stats)
    for event in (canvas, done):  # saved as the engine thread would (a rewrite reads the stored reply)
        window.active.writer.on_event(event)
    window.live.on_canvas_committed(reply_id, canvas)
    window.live.on_reply_finished(reply_id, done)
    shooter.settle()
    stored = window.current_page().session.messages[-1].store_id
    rewrite_id = window.replies.rewrite_part(stored, REWRITE_SPAN)
    for step in rewrite_steps(REWRITE_ANSWER, REWRITE_SPAN, REWRITE_NEW, until=5):
        window.live.on_step_ready(rewrite_id, step)
    window.live.flush()
    window.view.set_token_view(True)
    shooter.save(window, "10-rewrite-part-tokens", top=True)
    window.view.set_token_view(False)
    shooter.save(window, "10-rewrite-part", top=True)
    window.close()


def shoot_media_and_errors(shooter: Shooter) -> None:
    """Media and errors: a photo and a video attached, a sent message with both, an OOM reply."""
    window = shooter.window("light", thinking=False)
    photo, video = write_media(_scratch)
    notes = _scratch / "garden_plan.py"
    notes.write_text(
        '"""Where the beds go."""\n\nBEDS = {\n    "herbs": (0, 0),\n    "beans": (0, 2),\n'
        '    "squash": (2, 1),\n}\n\n\ndef water(bed, litres=4):\n    return litres * len(BEDS[bed])\n'
    )
    window.add_files([photo, video, notes])
    window.prober.wait()
    shooter.settle()
    reply_id = shooter.ask(window, "What changes between the photo and the clip? And does my plan fit?")
    window.live.on_reply_failed(
        reply_id,
        "The GPU ran out of memory while writing this reply. Start a new chat or remove attachments "
        "(shorter context), lower the image token budget, or close other programs using the GPU; "
        "the model is still loaded.",
    )
    window.add_files([photo, video])
    window.prober.wait()
    window.composer.edit.setPlainText("Try again with just the photo, please.")
    shooter.save(window, "06-media-and-errors")
    window.close()


def shoot_uncertainty(shooter: Shooter) -> None:
    """View ▸ Show uncertainty: the words settled late or unsurely tinted; a click on one offers a rewrite."""
    for theme, name in (("light", "11-uncertainty"), ("dark", "11-uncertainty-dark")):
        window = shooter.window(theme, thinking=False)
        reply_id = shooter.ask(window, UNSURE_QUESTION)
        steps = unsure_steps(UNSURE_ANSWER, UNSURE_WORDS)
        for step in steps:
            window.live.on_step_ready(reply_id, step)
        stats = Stats(58, 0, 110, 1, 20, 48, (20,), 110 / 20, 0.04, 0.19, 110 / 0.19, int(17.7 * 1024**3))
        window.live.on_canvas_committed(reply_id, Canvas(0, (0,) * CANVAS, UNSURE_ANSWER, 20, True))
        window.live.on_reply_finished(reply_id, Done((), (), UNSURE_ANSWER, "", UNSURE_ANSWER, stats))
        shooter.settle()
        # The window reads a reply's doubts from its stored history with the loaded tokenizer; no model
        # is loaded here, so the scripted history's doubts are given to the reply directly.
        window.menus.uncertainty_action.setChecked(True)
        reply = window.view.last_assistant_widget()
        pieces = tuple(piece for step in last_frames(steps) for piece in step.pieces)
        reply.show_doubts(ReplyDoubts(pieces, tuple(reply_doubts(steps))))
        window.current_page().transcript.scroll_to_top()
        shooter.settle()
        view = reply.answer.views()[-1]
        text = "".join(view.document().characterAt(i) for i in range(view.document().characterCount()))
        cursor = QTextCursor(view.document())
        cursor.setPosition(text.index("1083") + 2)
        point = view.cursorRect(cursor).center()
        menu = reply.tints.offer_at(view, point)
        assert menu is not None, "the tinted word offers Rewrite this part"
        menu.popup(view.viewport().mapToGlobal(point + QPoint(4, 10)))
        shooter.settle()
        shooter.save(window, name, popup=menu)
        menu.close()
        window.close()


def shoot_fill_gaps(shooter: Shooter) -> None:
    """Fill gaps: the user's draft with gaps sent; the reply keeps it and marks the filled parts."""
    reply_text = filled(FILL_DRAFT, FILL_GAPS)
    for theme, name in (("light", "12-fill-gaps"), ("dark", "13-fill-gaps-dark")):
        window = shooter.window(theme, thinking=False)
        window.composer.edit.setPlainText(FILL_DRAFT)
        reply_id = window.replies.fill_gaps()
        assert reply_id is not None, "the draft has gaps: Fill gaps sends it"
        window.live.on_prompt_encoded(reply_id, PromptEncoded(prompt_tokens=142, seconds=0.04))
        steps = fill_steps(FILL_DRAFT, FILL_GAPS)
        for step in steps:
            window.live.on_step_ready(reply_id, step)
        tokens = len(pieces_of(reply_text))
        stats = Stats(
            142,
            0,
            tokens,
            1,
            len(steps),
            48,
            (len(steps),),
            tokens / len(steps),
            0.04,
            0.2,
            420,
            int(17.7 * 1024**3),
        )
        window.live.on_canvas_committed(reply_id, Canvas(0, (0,) * CANVAS, reply_text, len(steps), True))
        window.live.on_reply_finished(reply_id, Done((), (), reply_text, "", reply_text, stats))
        shooter.save(window, name, top=True)
        window.close()


def shoot_go_on_from_here(shooter: Shooter) -> None:
    """Go on from here: a reply replayed and paused mid-canvas, the button that forks it at this step."""
    for theme, name in (("light", "14-go-on-from-here"), ("dark", "15-go-on-from-here-dark")):
        window = shooter.window(theme, thinking=False)
        reply_id = shooter.ask(window, STORY_QUESTION)
        steps = scripted_steps(STORY_ANSWER, 0, 32, 32, seed=8)
        for step in steps:
            window.live.on_step_ready(reply_id, step)
        tokens = len(pieces_of(STORY_ANSWER))
        stats = Stats(
            58, 0, tokens, 1, 32, 48, (32,), tokens / 32, 0.04, 0.3, tokens / 0.3, int(17.7 * 1024**3)
        )
        window.live.on_canvas_committed(reply_id, Canvas(0, (0,) * CANVAS, STORY_ANSWER, 32, True))
        window.live.on_reply_finished(reply_id, Done((), (), STORY_ANSWER, "", STORY_ANSWER, stats))
        shooter.settle()
        reply = window.view.last_assistant_widget()
        reply.start_replay(Replay.build(steps, [STORY_ANSWER], None))
        window.view.set_token_view(True)  # the grid shows which positions the fork keeps (accepted ones)
        reply.replay_bar.seek(11)
        shooter.save(window, name)
        window.view.set_token_view(False)
        window.close()


def write_media(folder: Path) -> tuple[Path, Path]:
    """A small landscape photo and a 12-second clip, drawn here so no binary is checked in."""
    import av
    import numpy as np
    from PIL import Image, ImageDraw

    photo = folder / "harbour.jpg"
    image = Image.new("RGB", (640, 420), (116, 170, 222))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 260, 640, 420), fill=(40, 92, 140))
    draw.ellipse((470, 50, 560, 140), fill=(255, 214, 102))
    for x in range(60, 420, 90):
        draw.polygon([(x, 255), (x + 50, 255), (x + 25, 170)], fill=(245, 245, 245))
        draw.rectangle((x - 5, 255, x + 55, 272), fill=(120, 70, 40))
    image.save(photo, quality=90)
    video = folder / "waves.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=2)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        for i in range(24):
            frame = np.zeros((96, 160, 3), dtype=np.uint8)
            frame[:, :] = (30, 80 + i * 3, 140)
            frame[60 + (i % 6) :, :] = (20, 50, 100)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return photo, video


if __name__ == "__main__":
    main()

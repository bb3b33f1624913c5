"""How long the window is blocked opening a long stored chat (offscreen Qt, a throwaway store).

Usage: python tools/long_chat_bench.py [EXCHANGES ...]   (default: 50 200)

Each exchange is a short question and a markdown reply with a list, a link, a
Python code block and a table (twice).  ``open_chat`` is the time the GUI
thread spends in the call; ``usable`` is how long the messages in and near the
view (before placeholders: every message) take to arrive on the event loop,
during which the window stays responsive (the longest single event-loop slice is
printed too).  Then the
window is resized six times, as by a user dragging its edge, scrolled to the
newest message and then with the reader halfway up the chat.  Before that, the
reader scrolls from the newest message to the first in 120 px steps, a frame
each (older messages are built on the way where they are not built yet).  A resize is the
``resize`` call (what the next frame waits for) plus the turn of the event loop
that follows; the texts out of sight are then laid out on the event loop
(``Transcript.relayout_pending``): how long until all are, and the longest
single slice meanwhile.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPLY = (
    "Here is an answer with **bold**, `code`, and a list:\n\n"
    "- first point about diffusion models\n- second point with a [link](https://example.com)\n\n"
    "```python\ndef f(x):\n    return x * 2  # a comment\n```\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    "A closing paragraph that is long enough to wrap across a few lines in a typical window width.\n"
) * 2


SCROLL_STEP_PX = 120


def main(counts: list[int]) -> None:
    home = Path(tempfile.mkdtemp())
    os.environ["XDG_DATA_HOME"] = str(home / "data")
    os.environ["XDG_CONFIG_HOME"] = str(home / "config")
    from app.config import AppConfig
    from app.qt import QApplication
    from app.store import Store
    from app.ui.window import MainWindow
    from app.worker import EngineHost
    from engine.events import Done, Stats

    app = QApplication([])
    stats = Stats(10, 0, 256, 1, 16, 48, (16,), 16.0, 0.01, 0.5, 500.0)
    for count in counts:
        store = Store.open(home / f"chats-{count}.db")
        chat = store.create_conversation("long")
        for i in range(count):
            user = store.send_user_message(chat, f"Question {i}: tell me about block diffusion.").id
            with store.begin_reply(user) as writer:
                writer.on_event(Done((), (), REPLY, "", REPLY, stats))
        window = MainWindow(AppConfig(), EngineHost(lambda *a, **k: None), store=store)
        window.resize(1100, 800)
        window.show()
        app.processEvents()
        start = time.perf_counter()
        page = window.open_chat(chat)
        opened = time.perf_counter() - start
        longest = 0.0
        app.processEvents()  # the first frame
        while _building(page):
            tick = time.perf_counter()
            app.processEvents()
            longest = max(longest, time.perf_counter() - tick)
        complete = time.perf_counter() - start
        built = len(page.transcript.messages())
        print(
            f"{count} exchanges: open_chat {opened * 1000:.0f} ms; usable after {complete * 1000:.0f} ms "
            f"({built} of {2 * count} messages built); longest event-loop slice {longest * 1000:.0f} ms"
        )
        transcript = page.transcript
        _scroll_to_top(app, transcript)
        transcript.verticalScrollBar().setValue(transcript.verticalScrollBar().maximum())
        app.processEvents()
        for where in ("newest", "halfway"):
            if where == "halfway":
                bar = transcript.verticalScrollBar()
                bar.setValue(bar.maximum() // 2)
                app.processEvents()
            calls, turns, settled, slices = [], [], [], []
            for width in (900, 1100, 1000, 1200, 950, 1100):  # a user dragging the window's edge
                tick = time.perf_counter()
                window.resize(width, 800)
                calls.append(time.perf_counter() - tick)
                app.processEvents()
                turns.append(time.perf_counter() - tick)
                slices.append(turns[-1] - calls[-1])  # the turn after the call (painting, a first slice)
                while getattr(transcript, "relayout_pending", 0):  # (older versions: all laid out at once)
                    slice_start = time.perf_counter()
                    app.processEvents()
                    slices.append(time.perf_counter() - slice_start)
                settled.append(time.perf_counter() - tick)
            print(
                f"  resizes at the {where} message: {_ms(turns)} ms each (the call {_ms(calls)} ms), "
                f"every text at the new width after {_ms(settled)} ms (medians of {len(turns)}); "
                f"longest event-loop turn after the call {max(slices) * 1000:.0f} ms"
            )
        window.close()
        store.close()


def _scroll_to_top(app, transcript) -> None:
    """The reader scrolls from the newest message to the first, a mouse-wheel step (120 px) a frame."""
    bar = transcript.verticalScrollBar()
    turns = []
    while bar.value() > 0:
        tick = time.perf_counter()
        bar.setValue(bar.value() - SCROLL_STEP_PX)
        app.processEvents()
        turns.append((time.perf_counter() - tick) * 1000)
    turns.sort()
    p50, p99 = turns[len(turns) // 2], turns[int(len(turns) * 0.99)]
    print(
        f"  scrolled to the top in {len(turns)} steps of {SCROLL_STEP_PX} px, each (and its frame) "
        f"p50 {p50:.0f} / p99 {p99:.0f} / max {turns[-1]:.0f} ms; {len(transcript.messages())} messages built"
    )


def _building(page) -> bool:
    """Messages in or near the view are still to be built (before placeholders: any message)."""
    if hasattr(page.transcript, "build_pending"):
        return page.transcript.build_pending
    return bool(getattr(page, "backlog", None))  # (older versions built every widget in open_chat)


def _ms(seconds: list[float]) -> str:
    return f"{sorted(seconds)[len(seconds) // 2] * 1000:.0f}"


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [50, 200])

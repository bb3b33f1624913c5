"""How often and how long the GUI thread stalls: a 1 ms heartbeat timer while the app works.

Usage: python tools/ui_bench.py [--engine fake|demo|both] [--chats 20] [--exchanges 100] [--seconds 6]

Each part runs in a fresh process (a start-up must import torch for the first time):

* ``grid``: the token-state grid alone, a step shown and painted at once, per frame.
* ``refine``: a reply refines at full speed, in the markdown view and then in the token
  view, on a scripted fast engine (tests/app/app_fakes.py's FakeEngine, ~1,000 steps/s) and
  on the bundled demo model.  The heartbeat's gaps (p50/p99/max) are the GUI thread's stalls;
  the GC pause is the longest cyclic collection on the GUI thread (``gc.callbacks``).
* ``startup``: the window as ``dgchat --model demo`` opens it; the longest gap from the first
  frame until a second after the demo model is loaded.
* ``open``: a 200-exchange chat is opened: time to the first frame (``open_chat`` and the
  event-loop turn that paints it) and until it is usable (the messages in and near the view
  built; before placeholders: every message), and the gaps meanwhile; a jump to its top and
  a find in it; then ``--chats`` chats of ``--exchanges`` exchanges are opened one after another and the
  process's memory (RSS), live pages and widgets are printed.

Qt runs offscreen unless QT_QPA_PLATFORM says otherwise (e.g. ``xcb`` under Xvfb).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "app"))  # app_fakes.FakeEngine

REPLY = (
    "Here is an answer with **bold**, `code`, and a list:\n\n"
    "- first point about diffusion models\n- second point with a [link](https://example.com)\n\n"
    "```python\ndef f(x):\n    return x * 2  # a comment\n```\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    "A closing paragraph that is long enough to wrap across a few lines in a typical window width.\n"
) * 2


def _private_dirs() -> Path:
    home = Path(tempfile.mkdtemp(prefix="ui_bench_"))
    for name in ("CONFIG", "LOG", "CACHE", "DATA"):
        os.environ[f"DGCHAT_{name}_DIR"] = str(home / name.lower())
    return home


class Heartbeat:
    """A 1 ms timer on the GUI thread; the gaps between its ticks are the thread's stalls."""

    def __init__(self) -> None:
        from app.qt import QObject, Qt, QTimer

        self._owner = QObject()
        self._timer = QTimer(self._owner)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(1)
        self._timer.timeout.connect(self._tick)
        self.ticks: list[float] = []
        self.cpu: list[float] = []  # the GUI thread's CPU time at each tick

    def start(self) -> None:
        self.ticks = [time.perf_counter()]
        self.cpu = [time.thread_time()]
        self._timer.start()

    def stop(self) -> list[float]:
        self._timer.stop()
        self._tick()
        return [(b - a) * 1000 for a, b in zip(self.ticks, self.ticks[1:], strict=False)]

    def busy(self) -> str:
        """How much of the worst gaps the GUI thread spent running (the rest: waiting for the GIL or
        a CPU, which on a shared 2-core machine is often another process)."""
        gaps = [(b - a) * 1000 for a, b in zip(self.ticks, self.ticks[1:], strict=False)]
        cpu = [(b - a) * 1000 for a, b in zip(self.cpu, self.cpu[1:], strict=False)]
        if not gaps:
            return ""
        worst = max(range(len(gaps)), key=gaps.__getitem__)
        ordered = sorted(cpu)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        longest = cpu[worst]
        return f"GUI CPU per gap p99 {p99:.1f} / max {ordered[-1]:.1f} ms, in the longest {longest:.1f} ms"

    def _tick(self) -> None:
        self.ticks.append(time.perf_counter())
        self.cpu.append(time.thread_time())


class GcPauses:
    """Every cyclic collection's duration and thread, through ``gc.callbacks``."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, int, int, bool, float]] = []  # ms, generation, found, GUI?, CPU ms
        self._started = 0.0
        self._cpu = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            self._cpu = time.thread_time()
        else:
            gui = threading.current_thread() is threading.main_thread()
            ms = (time.perf_counter() - self._started) * 1000
            cpu = (time.thread_time() - self._cpu) * 1000
            self.pauses.append((ms, info["generation"], info["collected"], gui, cpu))

    def worst(self) -> str:
        if not self.pauses:
            return "none"
        ms, generation, _collected, gui, cpu = max(self.pauses)
        full = sum(1 for p in self.pauses if p[1] == 2)
        where = "GUI" if gui else "worker"
        return (
            f"{ms:.1f} ms wall, {cpu:.1f} ms CPU (gen {generation}, {where} thread; "
            f"{len(self.pauses)} passes, {full} full)"
        )


def _percentiles(gaps: list[float]) -> str:
    if not gaps:
        return "no ticks"
    ordered = sorted(gaps)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return f"p50 {at(0.5):.1f} / p99 {at(0.99):.1f} / max {ordered[-1]:.1f} ms ({len(gaps)} ticks)"


def _wait(app, condition, timeout: float) -> bool:
    """Turn the event loop until ``condition()``; deleteLater is honoured, as under ``app.exec()``."""
    from app.qt import QEvent

    deadline = time.perf_counter() + timeout
    while not condition() and time.perf_counter() < deadline:
        app.processEvents()
        app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        time.sleep(0.0005)
    return condition()


def _window(loader, store=None):
    from app.config import AppConfig
    from app.ui.window import MainWindow
    from app.worker import EngineHost

    host = EngineHost(loader) if loader is not None else EngineHost()
    window = MainWindow(AppConfig(), host, store=store)
    window.resize(1100, 800)
    window.show()
    return window


def refine(engine_kind: str, seconds: float) -> None:
    from app.gc_guard import GuiThreadGarbageCollector
    from app.qt import QApplication

    _private_dirs()
    app = QApplication([])
    collector = GuiThreadGarbageCollector(app).start()
    if engine_kind == "fake":
        from app_fakes import FakeEngine, fake_loader

        sections = "\n".join(
            f"## Section {i}\n\nSome *text* with `code` number {i}, and more words to fill the canvas.\n"
            for i in range(30)
        )
        loader = fake_loader(FakeEngine(sections, steps=1000, step_delay=0.001))
        source = "fake"
    else:
        loader, source = None, "demo"
    window = _window(loader)
    window.load_model(source)
    if not _wait(app, lambda: window.model_info is not None, 120):
        raise SystemExit("the model did not load")
    _wait(app, lambda: False, 0.5)
    pauses = GcPauses()
    for view in ("markdown", "tokens"):
        window.view.set_token_view(view == "tokens")
        beat = Heartbeat()
        pauses.pauses.clear()
        window.composer.edit.setPlainText("Tell me about block diffusion, at length.")
        beat.start()
        window.send()
        _wait(app, lambda: window.active is None, seconds)
        gaps = beat.stop()
        if window.active is not None:
            window.stop()
            _wait(app, lambda: window.active is None, 30)
        gui_pauses = [p for p in pauses.pauses if p[3]]
        gui_max = max((p[0] for p in gui_pauses), default=0.0)
        print(
            f"refine {engine_kind:4} {view:8}: gaps {_percentiles(gaps)}; {beat.busy()}; "
            f"GC pause max on the GUI thread {gui_max:.1f} ms (worst of all: {pauses.worst()})",
            flush=True,
        )
    window.close()
    collector.stop()


def startup(seconds: float) -> None:
    """As app.main: QApplication, the GUI-thread collector, the window, show, then load the demo model."""
    from app.gc_guard import GuiThreadGarbageCollector
    from app.qt import QApplication

    _private_dirs()
    app = QApplication([])
    pauses = GcPauses()
    collector = GuiThreadGarbageCollector(app).start()
    window = _window(None)
    _wait(app, lambda: window.isVisible(), 5)
    app.processEvents()  # the first frame
    first_frame = time.perf_counter()
    beat = Heartbeat()
    beat.start()
    window.load_model("demo")
    _wait(app, lambda: window.model_info is not None, 120)
    loaded = time.perf_counter()
    _wait(app, lambda: False, seconds)
    gaps = beat.stop()
    worst = max(range(len(gaps)), key=gaps.__getitem__) if gaps else 0
    at = beat.ticks[worst] - first_frame if gaps else 0.0
    gui = max((p[0] for p in pauses.pauses if p[3]), default=0.0)
    print(
        f"startup: longest stall after the first frame {max(gaps, default=0):.1f} ms "
        f"(at +{at * 1000:.0f} ms; model loaded at +{(loaded - first_frame) * 1000:.0f} ms); "
        f"gaps {_percentiles(gaps)}; {beat.busy()}; GC pause max on the GUI thread {gui:.1f} ms "
        f"({pauses.worst()})",
        flush=True,
    )
    window.close()
    collector.stop()


def grid_frames(frames: int = 150) -> None:
    """The token grid alone: one step shown and painted (``repaint``: at once), per frame."""
    from app_fakes import FakeEngine

    from app.palette import LIGHT
    from app.qt import QApplication
    from app.ui.token_grid import TokenGrid
    from engine.events import Step
    from engine.inputs.conversation import Conversation

    app = QApplication([])
    grid = TokenGrid(LIGHT)
    grid.resize(760, 420)
    grid.show()
    _wait(app, lambda: False, 0.2)
    text = " ".join(f"word{i} with `code` and **bold**\n" for i in range(300))
    events = FakeEngine(text, steps=frames).generate(Conversation(turns=()))
    steps = [e for e in events if isinstance(e, Step)][:frames]
    times, previous = [], None
    for step in steps:
        started = time.perf_counter()
        grid.show_step(step, previous)
        grid.repaint()
        times.append((time.perf_counter() - started) * 1000)
        previous = step
    print(f"token grid, a step shown and painted: {_percentiles(times)}", flush=True)


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _store_with_chats(path: Path, chats: list[int]):
    from app.store import Store
    from engine.events import Done, Stats

    store = Store.open(path)
    stats = Stats(10, 0, 256, 1, 16, 48, (16,), 16.0, 0.01, 0.5, 500.0)
    ids = []
    for n, count in enumerate(chats):
        chat = store.create_conversation(f"long {n}")
        for i in range(count):
            user = store.send_user_message(chat, f"Question {i}: tell me about block diffusion.").id
            with store.begin_reply(user) as writer:
                writer.on_event(Done((), (), REPLY, "", REPLY, stats))
        ids.append(chat)
    return store, ids


def _built(window, page) -> bool:
    """Usable: the messages in and near the view built and laid out (before placeholders: every message)."""
    transcript = page.transcript
    if hasattr(transcript, "build_pending"):
        return not transcript.build_pending and not transcript.relayout_pending
    return not page.backlog and not getattr(transcript, "relayout_pending", 0)


def _paint_watcher(painted: list[float]):
    from app.qt import QEvent, QObject

    class PaintWatcher(QObject):
        def eventFilter(self, _watched, event) -> bool:
            if event.type() == QEvent.Type.Paint and not painted:
                painted.append(time.perf_counter())
            return False

    return PaintWatcher()


def _jump_and_find(app, window, page) -> None:
    """The reader drags the scroll bar to the top, then finds a word in every message (Ctrl+F)."""
    bar = page.transcript.verticalScrollBar()
    start = time.perf_counter()
    bar.setValue(0)
    call = time.perf_counter() - start
    _wait(app, lambda: _built(window, page), 60)
    near = time.perf_counter() - start
    start = time.perf_counter()
    window.find_bar.open_bar()
    window.find_bar.field.setText("diffusion")
    found = time.perf_counter() - start
    start = time.perf_counter()
    window.find_bar.field.setText("diffusion models")
    again = time.perf_counter() - start
    print(
        f"  jump to the top: {call * 1000:.0f} ms (the call), usable after {near * 1000:.0f} ms; "
        f"find in chat: {window.find_bar.count.text()} in {found * 1000:.0f} ms the first time, "
        f"{again * 1000:.0f} ms the next",
        flush=True,
    )
    window.find_bar.close_bar()
    bar.setValue(bar.maximum())


def open_chats(chats: int, exchanges: int) -> None:
    from app.gc_guard import GuiThreadGarbageCollector
    from app.qt import QApplication

    home = _private_dirs()
    app = QApplication([])
    collector = GuiThreadGarbageCollector(app).start()
    store, ids = _store_with_chats(home / "chats.db", [200, *([exchanges] * chats)])
    window = _window(lambda *a, **k: None, store)
    _wait(app, lambda: False, 0.3)
    beat = Heartbeat()
    beat.start()
    painted: list[float] = []
    start = time.perf_counter()
    page = window.open_chat(ids[0])
    watcher = _paint_watcher(painted)
    page.transcript.viewport().installEventFilter(watcher)
    _wait(app, lambda: bool(painted), 10)  # the first frame: the chat's viewport painted
    first = painted[0] - start
    _wait(app, lambda: _built(window, page), 60)
    complete = time.perf_counter() - start
    gaps = beat.stop()
    built = sum(1 for w in page.transcript.messages() if hasattr(w, "store_id"))
    print(
        f"open a 200-exchange chat: first frame {first * 1000:.0f} ms, usable (built in and near the view) "
        f"{complete * 1000:.0f} ms, {built} of 400 messages built; "
        f"gaps meanwhile {_percentiles(gaps)}; {beat.busy()}",
        flush=True,
    )
    _jump_and_find(app, window, page)
    base = _rss_mib()
    for chat in ids[1:]:
        page = window.open_chat(chat)
        _wait(app, lambda p=page: _built(window, p), 60)
    _wait(app, lambda: False, 0.5)
    gc.collect()
    _wait(app, lambda: False, 0.1)
    pages = len(window.pages.all())
    print(
        f"after opening {chats} chats of {exchanges} exchanges: RSS {_rss_mib():.0f} MiB "
        f"(+{_rss_mib() - base:.0f} MiB), {pages} pages, {len(QApplication.allWidgets())} widgets",
        flush=True,
    )
    window.close()
    store.close()
    collector.stop()


def _part(args: list[str]) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    subprocess.run([sys.executable, __file__, "--part", *args], check=False, env=env, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("fake", "demo", "both"), default="both")
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--exchanges", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=6.0, help="longest time a reply is measured")
    parser.add_argument("--only", choices=("grid", "refine", "startup", "open"), action="append")
    parser.add_argument("--part", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        kind, *rest = args.part
        if kind == "refine":
            refine(rest[0], args.seconds)
        elif kind == "startup":
            startup(1.0)
        elif kind == "grid":
            grid_frames()
        else:
            open_chats(args.chats, args.exchanges)
        return
    only = set(args.only or ("grid", "refine", "startup", "open"))
    print(json.dumps({"platform": os.environ.get("QT_QPA_PLATFORM", "offscreen"), "cpus": os.cpu_count()}))
    engines = ("fake", "demo") if args.engine == "both" else (args.engine,)
    common = ["--seconds", str(args.seconds), "--chats", str(args.chats), "--exchanges", str(args.exchanges)]
    if "grid" in only:
        _part(["grid", *common])
    if "refine" in only:
        for engine in engines:
            _part(["refine", engine, *common])
    if "startup" in only:
        _part(["startup", *common])
    if "open" in only:
        _part(["open", *common])


if __name__ == "__main__":
    main()

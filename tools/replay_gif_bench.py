"""How long Save GIF… holds the GUI thread per frame, and in all (offscreen Qt, a scripted reply).

Usage: python tools/replay_gif_bench.py [REPEATS]   (default: 12 and 40)

The reply repeats a markdown section (heading, bold, list, code block) REPEATS
times; the scripted engine refines it at 48 steps per canvas.  The recorder
draws one frame per turn of the event loop; each turn is timed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "app")]
_scratch = Path(tempfile.mkdtemp(prefix="dgchat-gif-bench-"))
for _name in ("CONFIG", "LOG", "CACHE", "DATA"):
    os.environ[f"DGCHAT_{_name}_DIR"] = str(_scratch / _name.lower())

SECTION = (
    "## Section\n\nSome **bold** text, a list:\n\n- one point\n- two points\n\n```python\nprint('x')\n```\n\n"
)


def main(repeats: list[int]) -> None:
    from app_fakes import FakeEngine, fake_loader

    from app.config import AppConfig
    from app.qt import QApplication
    from app.ui import replay_recorder
    from app.ui.messages import AssistantMessage
    from app.ui.window import MainWindow
    from app.worker import EngineHost

    app = QApplication.instance() or QApplication([])

    def wait(condition, seconds: float = 300) -> None:
        end = time.time() + seconds
        while not condition() and time.time() < end:
            app.processEvents()
            time.sleep(0.005)

    turns: list[float] = []
    draw = replay_recorder.ReplayRecorder._on_timer_timeout

    def timed(self) -> None:
        start = time.perf_counter()
        draw(self)
        turns.append(time.perf_counter() - start)

    replay_recorder.ReplayRecorder._on_timer_timeout = timed
    print("| sections | steps | frames | median turn | longest turn | until written | GIF |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for count in repeats:
        window = MainWindow(AppConfig(), EngineHost(fake_loader(FakeEngine(SECTION * count, steps=48))))
        window.resize(1100, 760)
        window.show()
        window.load_model("fake")
        wait(lambda w=window: w.model_info is not None)
        window.composer.edit.setPlainText("go")
        window.send()
        wait(lambda w=window: w.active is None)
        shown = window.current_page().transcript.messages()
        reply = [m for m in shown if isinstance(m, AssistantMessage)][-1]
        reply.replay_button.click()
        wait(lambda r=reply: r.replay is not None)
        turns.clear()
        written: list[Path] = []
        window.replay_export.saved.connect(written.append)
        path = _scratch / f"replay-{count}.gif"
        start = time.perf_counter()
        window.replay_export.save(reply, path)
        wait(lambda done=written: bool(done))
        total = time.perf_counter() - start
        median = sorted(turns)[len(turns) // 2]
        row = [str(count), str(len(reply.replay)), str(len(turns)), f"{median * 1000:.1f} ms"]
        row += [f"{max(turns) * 1000:.1f} ms", f"{total:.1f} s", f"{path.stat().st_size / 1e6:.2f} MB"]
        print("| " + " | ".join(row) + " |")
        window.close()


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [12, 40])

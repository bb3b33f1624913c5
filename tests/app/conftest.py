"""Fixtures for the window's tests: offscreen Qt, private folders, and three leak guards.

* Qt warnings fail the test (qutebrowser does the same): a warning is a bug we
  have not understood yet.  Known-harmless platform noise is listed below.
* An engine QThread still running after a test fails it (napari-style); so does
  a Python thread (tests/conftest.py).
* A top-level window left open fails it.

Cyclic garbage is collected on the GUI thread only, as in the app (app/gc_guard.py):
a collection on a worker thread that frees a Qt wrapper can crash the process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before anything imports Qt
sys.path.insert(0, str(Path(__file__).parent))  # app_fakes, app_media

import pytest

from app.qt import QApplication, QtMsgType, qInstallMessageHandler
from app.worker import ENGINE_THREADS

HARMLESS_QT_MESSAGES = (
    "This plugin does not support propagateSizeHints()",
    "This plugin does not support raise()",
    "This plugin does not support grabbing the keyboard",
    "QFont::setPointSizeF: Point size <= 0",
    "Populating font family aliases took",
)


@pytest.fixture(autouse=True)
def app_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings, logs and pasted images go to the test's own folder, never the real home."""
    for name in ("CONFIG", "LOG", "CACHE"):
        monkeypatch.setenv(f"DGCHAT_{name}_DIR", str(tmp_path / name.lower()))
    monkeypatch.setenv("DGCHAT_DATA_DIR", str(tmp_path / "data"))  # the conversation store
    return tmp_path


@pytest.fixture(autouse=True)
def qt_warnings_fail(qapp) -> Iterator[list[str]]:
    """Collect Qt warnings through qInstallMessageHandler and fail the test on any unexpected one."""
    messages: list[str] = []

    def handler(kind, _context, message: str) -> None:
        if kind in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg) and not any(
            message.startswith(h) for h in HARMLESS_QT_MESSAGES
        ):
            messages.append(message)

    previous = qInstallMessageHandler(handler)
    yield messages
    qInstallMessageHandler(previous)
    assert not messages, f"unexpected Qt warnings: {messages}"


@pytest.fixture(autouse=True)
def gui_thread_gc(qapp) -> Iterator[object]:
    from app.gc_guard import GuiThreadGarbageCollector

    collector = GuiThreadGarbageCollector().start()
    yield collector
    collector.stop()
    collector.deleteLater()


@pytest.fixture(autouse=True)
def no_leaked_engine_threads(qapp) -> Iterator[None]:
    yield
    running = [t for t in ENGINE_THREADS if t.isRunning()]
    for thread in running:
        thread.quit()
        thread.wait(5000)
    assert not running, "test left an engine QThread running (call EngineHost.shutdown or close the window)"


@pytest.fixture(autouse=True)
def no_leaked_windows(qapp: QApplication) -> Iterator[None]:
    yield
    visible = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    for widget in visible:
        widget.close()
    assert not visible, f"test left windows open: {[type(w).__name__ for w in visible]}"


@pytest.fixture
def make_window(qtbot) -> Iterator[Callable[..., object]]:
    """Build a MainWindow on an EngineHost with the given loader; closed (thread joined) at teardown."""
    from app.config import AppConfig
    from app.ui.window import MainWindow
    from app.worker import EngineHost

    windows: list[MainWindow] = []

    def make(loader, config: AppConfig | None = None, *, show: bool = True) -> MainWindow:
        host = EngineHost(loader)
        window = MainWindow(config or AppConfig(), host)
        qtbot.addWidget(window)
        windows.append(window)
        if show:
            window.show()
            qtbot.waitExposed(window)
        return window

    yield make
    for window in windows:
        window.close()
        assert not window.host.engine_thread.isRunning()

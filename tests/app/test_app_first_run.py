"""The first-run dialog and the download panel, against a real fake Hub on 127.0.0.1 (tests/hub_server.py).

GPU detection is the real ``probe_gpu`` where it matters (no CUDA here: the
"No NVIDIA GPU" verdict) and a fixed report elsewhere; folders are real tiny
checkpoints; downloads go through engine.hub.download into a temporary HF cache.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from app_chat import start_slow_download
from app_fakes import FakeEngine, fake_loader
from hub_server import FakeHub, FakeRepo, Gate

from app.config import AppConfig, load_config
from app.model_choice import NO_GPU_TEXT, REAL_MODEL, GpuReport, probe_gpu, real_model_ready
from app.qt import QDesktopServices, QFileDialog, QLineEdit
from app.ui.download_panel import DownloadPanel
from app.ui.first_run import FirstRunDialog, maybe_show_first_run
from engine.model.demo import DEMO

WAIT_MS = 60_000
GIB = 2**30
BIG_GPU = GpuReport("Test GPU", 30 * GIB, 32 * GIB, 15 * GIB, 65_536, 81_920)


@pytest.fixture
def no_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A private, empty HF cache and a Hub that refuses connections (as offline)."""
    from hub_server import use_hub

    use_hub(monkeypatch, "http://127.0.0.1:9", tmp_path / "hf")


@pytest.fixture
def open_dialog(qtbot):
    """Show a FirstRunDialog; at teardown its threads are stopped and it is closed."""
    dialogs: list[FirstRunDialog] = []

    def make(probe=lambda: BIG_GPU) -> FirstRunDialog:
        dialog = FirstRunDialog(probe=probe)
        qtbot.addWidget(dialog)
        dialogs.append(dialog)
        dialog.show()
        return dialog

    yield make
    for dialog in dialogs:
        dialog.close()
        assert dialog.shutdown()


@pytest.fixture
def panel(qtbot):
    widget = DownloadPanel()
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    assert widget.shutdown()
    widget.close()


# --- when it appears ----------------------------------------------------------------------------


def test_shown_once_to_a_new_user_while_the_demo_loads(make_window, qtbot, no_hub, app_dirs):
    window = make_window(fake_loader(FakeEngine()))
    window.load_model("auto")
    dialog = maybe_show_first_run(window, window.config, None, model_ready=lambda: False, probe=GpuReport)
    assert dialog is not None and dialog.isVisible() and dialog.parent() is window
    assert load_config().first_run_done and window.config.first_run_done
    loaded: list[str] = []
    window.host.load = loaded.append  # what the dialog's choice asks the window to load
    dialog.demo_button.click()
    assert loaded == [DEMO] and not dialog.isVisible()
    assert dialog.shutdown()
    # Next start: recorded as shown, so it stays away.
    assert maybe_show_first_run(window, load_config(), None, model_ready=lambda: False) is None


def test_the_window_stays_usable_while_the_dialog_is_open(make_window, qtbot, no_hub):
    """A 52 GB download takes hours: the user chats with the demo model meanwhile."""
    from app.qt import QApplication

    window = make_window(fake_loader(FakeEngine("Hi from the demo.", steps=2)))
    window.load_model("auto")
    dialog = maybe_show_first_run(window, window.config, None, model_ready=lambda: False, probe=GpuReport)
    qtbot.waitUntil(lambda: window.model_info is not None, timeout=WAIT_MS)
    assert dialog.isVisible() and not dialog.isModal() and QApplication.activeModalWidget() is None
    window.composer.edit.setPlainText("hello")
    assert window.send() is not None
    qtbot.waitUntil(lambda: window.active is None, timeout=WAIT_MS)
    assert dialog.isVisible()
    dialog.reject()
    assert dialog.shutdown()


@pytest.mark.parametrize(
    ("config", "requested", "ready"),
    [
        (AppConfig(), "demo", False),
        (AppConfig(model="/models/dg"), None, False),
        (AppConfig(first_run_done=True), None, False),
        (AppConfig(), None, True),
    ],
)
def test_not_shown_when_a_model_was_chosen_or_is_ready(make_window, no_hub, config, requested, ready):
    window = make_window(fake_loader(FakeEngine()), config)
    assert maybe_show_first_run(window, config, requested, model_ready=lambda: ready) is None
    assert not load_config().first_run_done


def test_main_shows_it_without_a_model_and_the_window_runs_the_demo(qtbot, monkeypatch, no_hub, app_dirs):
    import logging

    import app.main as app_main
    from app.qt import QApplication
    from app.ui.window import MainWindow

    seen: dict[str, object] = {}

    def fake_exec() -> int:
        window = next(
            w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()
        )
        dialog = window.findChild(FirstRunDialog)
        seen["dialog"] = dialog is not None and dialog.isVisible()
        qtbot.waitUntil(lambda: window.model_info is not None, timeout=WAIT_MS)
        seen["model"] = window.model_info.source
        window.close()  # the dialog closes with it and its threads stop
        seen["closed"] = not dialog.isVisible()
        return 0

    monkeypatch.setattr(QApplication, "exec", staticmethod(fake_exec))
    try:
        assert app_main.main([]) == 0
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if getattr(h, "dgchat", False)]:
            root.removeHandler(handler)
            handler.close()
    assert seen == {"dialog": True, "model": DEMO, "closed": True}
    assert load_config().first_run_done


# --- the three choices --------------------------------------------------------------------------


def test_without_cuda_the_verdict_says_so_and_the_demo_is_the_default(open_dialog, qtbot, no_hub):
    dialog = open_dialog(probe=probe_gpu)  # the real detection: no CUDA on the test machine
    if dialog.gpu_report is None:
        qtbot.waitUntil(lambda: dialog.gpu_report is not None, timeout=WAIT_MS)
    if dialog.gpu_report.has_gpu:
        pytest.skip("this machine has a CUDA GPU")
    assert dialog.gpu_label.text() == NO_GPU_TEXT
    assert dialog.demo_button.isDefault() and not dialog.download_panel.download_button.isDefault()
    assert dialog.demo_button.objectName() == "primary", "one accent button: the recommended choice"
    assert dialog.download_panel.download_button.objectName() != "primary"
    with qtbot.waitSignal(dialog.model_chosen, timeout=WAIT_MS) as chosen:
        dialog.demo_button.click()
    assert chosen.args == [DEMO] and dialog.result() == FirstRunDialog.DialogCode.Accepted


def test_gpu_check_runs_off_the_gui_thread_and_fills_in(open_dialog, qtbot, no_hub):
    dialog = open_dialog(probe=lambda: BIG_GPU)
    assert dialog.gpu_label.text() == "Checking your GPU…"
    qtbot.waitUntil(lambda: dialog.gpu_report is not None, timeout=WAIT_MS)
    assert "fits, with room for 65,536 tokens" in dialog.gpu_label.text()
    assert dialog.download_panel.download_button.isDefault() and not dialog.demo_button.isDefault()
    assert dialog.download_panel.download_button.objectName() == "primary"
    assert dialog.demo_button.objectName() != "primary"


def test_offline_the_download_side_says_what_is_missing(open_dialog, qtbot, no_hub):
    import threading

    gpu_checked = threading.Event()  # the GPU verdict (two lines) arrives after the offline error

    def late_probe() -> GpuReport:
        gpu_checked.wait(WAIT_MS / 1000)
        return GpuReport()

    dialog = open_dialog(probe=late_probe)
    panel = dialog.download_panel
    qtbot.waitUntil(lambda: panel.state == "failed", timeout=WAIT_MS)
    gpu_checked.set()
    assert "Cannot reach the Hugging Face Hub" in panel.message.text()
    assert "not in the cache" in panel.message.text()
    assert panel.download_button.text() == "Try again"
    assert panel.summary.text() == "Download size unknown.", "no stale 'Checking…' beside the error"
    # the dialog grows to the three-line error: no line is cut off
    qtbot.waitUntil(lambda: dialog.gpu_report is not None, timeout=WAIT_MS)
    message = panel.message
    qtbot.waitUntil(lambda: message.height() >= message.heightForWidth(message.width()), timeout=WAIT_MS)


def test_a_valid_folder_is_chosen(open_dialog, qtbot, no_hub, tiny_checkpoint: Path, monkeypatch):
    dialog = open_dialog()
    monkeypatch.setattr(
        QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(tiny_checkpoint))
    )
    with qtbot.waitSignal(dialog.model_chosen, timeout=WAIT_MS) as chosen:
        dialog.folder_button.click()
    assert chosen.args == [str(tiny_checkpoint)] and not dialog.isVisible()


def test_a_bad_folder_says_what_is_missing(
    open_dialog, qtbot, no_hub, tiny_checkpoint: Path, tmp_path, monkeypatch
):
    bad = tmp_path / "half"
    bad.mkdir()
    shutil.copy(tiny_checkpoint / "config.json", bad / "config.json")
    dialog = open_dialog()
    chosen: list[str] = []
    dialog.model_chosen.connect(chosen.append)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(bad)))
    dialog.folder_button.click()
    qtbot.waitUntil(lambda: dialog.folder_button.isEnabled(), timeout=WAIT_MS)
    text = dialog.folder_message.text()
    assert dialog.folder_message.isVisible() and "not a complete checkpoint" in text
    assert "tokenizer_config.json" in text and "missing" in text
    assert chosen == [] and dialog.isVisible()


# --- downloading --------------------------------------------------------------------------------


def test_download_from_the_dialog_shows_size_progress_and_loads_the_model(
    open_dialog, qtbot, hub: FakeHub, fake_repo: FakeRepo
):
    dialog = open_dialog()
    panel = dialog.download_panel
    qtbot.waitUntil(lambda: panel.state == "ready", timeout=WAIT_MS)
    assert "Download size: 6.9 MB" in panel.summary.text() and "free space:" in panel.summary.text()
    progress: list = []
    panel.task.progressed.connect(progress.append)
    with qtbot.waitSignal(dialog.model_chosen, timeout=WAIT_MS) as chosen:
        panel.download_button.click()
    assert chosen.args == [REAL_MODEL]
    assert progress and progress[-1].done_bytes == fake_repo.total_bytes
    assert [e.done_bytes for e in progress] == sorted(e.done_bytes for e in progress)
    assert panel.progress.value() == panel.progress.maximum()
    assert real_model_ready()
    assert sum(hub.sent_bytes.values()) == fake_repo.total_bytes


def test_cancel_then_resume_fetches_only_the_rest(
    hub: FakeHub, fake_repo: FakeRepo, panel: DownloadPanel, qtbot
):
    hub.chunk_delay_s = 0.01  # slow enough to cancel mid-download
    panel.start()
    qtbot.waitUntil(lambda: sum(hub.sent_bytes.values()) > 1_000_000, timeout=WAIT_MS)
    assert panel.cancel_button.isVisible() and not panel.download_button.isVisible()
    with qtbot.waitSignal(panel.task.cancelled, timeout=WAIT_MS):
        panel.cancel_button.click()
    assert panel.state == "cancelled" and panel.download_button.text() == "Resume download"
    assert "Resume continues where it stopped" in panel.message.text()
    assert 0 < sum(hub.sent_bytes.values()) < fake_repo.total_bytes
    hub.chunk_delay_s = 0.0
    hub.reset_counters()
    with qtbot.waitSignal(panel.model_chosen, timeout=WAIT_MS) as chosen:
        panel.download_button.click()
    assert chosen.args == [REAL_MODEL] and panel.state == "done"
    # The resumed run continued the interrupted file from its end and left finished files alone.
    plan = panel.check_result.plan
    partial = [f for f in plan.files if 0 < f.cached_bytes < f.size]
    assert len(partial) == 1
    assert hub.file_requests(partial[0].name)[-1].range == f"bytes={partial[0].cached_bytes}-"
    assert all(hub.sent_bytes[f.name] == 0 for f in plan.files if f.complete)


def test_a_gated_model_asks_for_a_token_and_saving_it_retries(
    hub: FakeHub, fake_repo: FakeRepo, panel: DownloadPanel, qtbot, tmp_path: Path, monkeypatch, caplog
):
    hub.gate = Gate(granted={"hf_granted"}, known={"hf_pending"})
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url.toString())))
    with qtbot.waitSignal(panel.task.failed, timeout=WAIT_MS) as failed:
        panel.start()
    assert failed.args[1] == "access"
    assert panel.state == "access" and panel.access_box.isVisible()
    licence = f"{os.environ['HF_ENDPOINT']}/{REAL_MODEL}"  # the Hub in use (HF_ENDPOINT)
    assert licence in panel.access_text.text() and licence in panel.licence_link.text()
    assert panel.token_edit.echoMode() == QLineEdit.EchoMode.Password
    assert opened == []  # nothing opens by itself
    panel.licence_link.linkActivated.emit(licence)
    assert opened == [licence]

    # A token without access yet: 403, still the access box.
    panel.token_edit.setText("hf_pending")
    with qtbot.waitSignal(panel.task.failed, timeout=WAIT_MS) as failed:
        panel.save_token_button.click()
    assert failed.args[1] == "access" and "not been given access" in panel.access_text.text()
    assert panel.token_edit.text() == ""

    panel.token_edit.setText("hf_granted")
    with qtbot.waitSignal(panel.model_chosen, timeout=WAIT_MS):
        panel.save_token_button.click()
    assert (tmp_path / "hf" / "token").read_text() == "hf_granted"  # huggingface_hub's own file
    assert not panel.access_box.isVisible()
    assert "hf_granted" not in caplog.text and "hf_pending" not in caplog.text
    config_dir = tmp_path / "config"
    assert not config_dir.exists() or all("hf_granted" not in p.read_text() for p in config_dir.glob("*"))


# --- closing the dialog mid-download --------------------------------------------------------------


def _first_run(window) -> FirstRunDialog:
    return maybe_show_first_run(window, window.config, None, model_ready=lambda: False, probe=lambda: BIG_GPU)


def test_closing_the_dialog_mid_download_keeps_it_going_in_the_status_bar(
    make_window, qtbot, hub: FakeHub, fake_repo: FakeRepo
):
    """People close windows: a download that takes hours goes on, its progress in the status bar."""
    window = make_window(fake_loader(FakeEngine()))
    dialog = _first_run(window)
    panel = start_slow_download(qtbot, hub, window, dialog)
    with qtbot.waitSignal(dialog.download_hidden):
        dialog.close()
    assert not dialog.isVisible() and panel.task.running and panel.state == "running"
    assert "The download goes on" in window.status.currentMessage()  # closing did not cancel it
    label = window.status.download_label
    qtbot.waitUntil(label.isVisible, timeout=WAIT_MS)
    assert "Downloading" in label.text() and "%" in label.text() and 'href="show"' in label.text()
    window.status.download_label.linkActivated.emit("show")  # the user clicks Show
    assert dialog.isVisible() and panel.state == "running"  # the same dialog, still downloading
    dialog.close()
    loaded: list[str] = []
    window.host.load = loaded.append
    hub.chunk_delay_s = 0.0
    qtbot.waitUntil(lambda: panel.state == "done", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: loaded == [REAL_MODEL], timeout=WAIT_MS)  # the finished model is loaded
    assert not label.isVisible()
    assert sum(hub.sent_bytes.values()) == fake_repo.total_bytes  # one download, never restarted
    assert dialog.shutdown()


def test_a_download_failing_while_its_dialog_is_closed_brings_the_dialog_back(
    make_window, qtbot, hub: FakeHub, fake_repo: FakeRepo
):
    window = make_window(fake_loader(FakeEngine()))
    dialog = _first_run(window)
    panel = start_slow_download(qtbot, hub, window, dialog)
    dialog.close()
    assert not dialog.isVisible()
    with qtbot.waitSignal(panel.task.cancelled, timeout=WAIT_MS):
        panel.task.cancel()  # stopped from elsewhere: the status bar forgets it, the dialog stays closed
    assert not window.status.download_label.isVisible() and not dialog.isVisible()
    panel.start()
    qtbot.waitUntil(window.status.download_label.isVisible, timeout=WAIT_MS)
    dialog.close()
    panel.task.failed.emit("The connection to the Hub was lost.", "network")  # as the worker reports it
    assert dialog.isVisible() and "connection to the Hub was lost" in panel.message.text()
    assert not window.status.download_label.isVisible()
    assert dialog.shutdown()


def test_closing_the_dialog_when_nothing_downloads_stops_its_checks(make_window, qtbot, no_hub):
    window = make_window(fake_loader(FakeEngine()))
    dialog = _first_run(window)
    hidden: list[bool] = []
    dialog.download_hidden.connect(lambda: hidden.append(True))
    dialog.close()
    assert hidden == [] and not dialog.isVisible() and not window.status.download_label.isVisible()
    assert dialog.shutdown()

"""Model ▸ Models…: the list (demo, HF cache, added folders), Use, Remove, Add folder, Download.

Real components: a private HF cache filled by engine.hub.download from the fake
Hub (tests/hub_server.py), the tiny checkpoint as an added folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hub_server import FakeHub, FakeRepo, use_hub

from app.config import AppConfig
from app.model_choice import REAL_MODEL
from app.qt import QFileDialog, QMessageBox
from app.ui.models_dialog import ModelsDialog
from engine.hub import download as dl
from engine.model.demo import DEMO

WAIT_MS = 60_000


@pytest.fixture
def empty_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return use_hub(monkeypatch, "http://127.0.0.1:9", tmp_path / "hf")


@pytest.fixture
def open_models(qtbot):
    """Open a ModelsDialog and wait for its first scan; threads stopped and dialog closed at teardown."""
    dialogs: list[ModelsDialog] = []

    def make(config: AppConfig, current: str | None = DEMO) -> ModelsDialog:
        dialog = ModelsDialog(config, current)
        qtbot.addWidget(dialog)
        dialogs.append(dialog)
        dialog.show()
        qtbot.waitUntil(lambda: dialog.list.count() > 0 and not dialog.tasks.busy, timeout=WAIT_MS)
        return dialog

    yield make
    for dialog in dialogs:
        dialog.close()
        assert dialog.shutdown()


def answer(monkeypatch, button: QMessageBox.StandardButton) -> list[str]:
    """Answer every confirmation with ``button``; returns the questions asked."""
    asked: list[str] = []

    def question(_parent, _title, text, *args, **kwargs):
        asked.append(text)
        return button

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    return asked


def sources(dialog: ModelsDialog) -> list[str]:
    return [e.source for e in dialog.entries]


def test_lists_the_demo_and_a_folder_with_the_current_one_marked(open_models, empty_cache, tiny_checkpoint):
    dialog = open_models(AppConfig(model_folders=(str(tiny_checkpoint),)), current=str(tiny_checkpoint))
    assert sources(dialog) == [DEMO, str(tiny_checkpoint)]
    demo, folder = (dialog.list.item(i).text() for i in range(2))
    assert demo.startswith("Demo model\nbundled with the app") and "in use" not in demo
    assert folder.startswith(f"{tiny_checkpoint.name} — in use\n{tiny_checkpoint}")
    assert "MB" in folder and "no 4-bit copy yet" in folder
    assert dialog.list.currentItem() is dialog.list.item(1)
    assert dialog.use_button.isEnabled() and dialog.remove_button.text() == "Remove from list…"
    dialog.list.setCurrentRow(0)
    assert not dialog.remove_button.isEnabled()  # the demo model stays


def test_use_emits_model_chosen_and_closes(open_models, qtbot, empty_cache, tiny_checkpoint):
    dialog = open_models(AppConfig(model_folders=(str(tiny_checkpoint),)))
    assert dialog.select(str(tiny_checkpoint))
    with qtbot.waitSignal(dialog.model_chosen) as chosen:
        dialog.use_button.click()
    assert chosen.args == [str(tiny_checkpoint)] and not dialog.isVisible()


def test_add_folder_updates_the_config_and_the_list(
    open_models, qtbot, empty_cache, tiny_checkpoint, monkeypatch
):
    config = AppConfig(theme="dark")
    dialog = open_models(config)
    changed: list[AppConfig] = []
    dialog.config_changed.connect(changed.append)
    monkeypatch.setattr(
        QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(tiny_checkpoint))
    )
    dialog.add_button.click()
    qtbot.waitUntil(lambda: str(tiny_checkpoint) in sources(dialog), timeout=WAIT_MS)
    assert changed == [config.with_changes(model_folders=(str(tiny_checkpoint),))]
    assert dialog.selected_entry().source == str(tiny_checkpoint)


def test_an_incomplete_folder_is_refused_with_what_is_missing(
    open_models, qtbot, empty_cache, tiny_checkpoint, tmp_path, monkeypatch
):
    bad = tmp_path / "half"
    shutil.copytree(tiny_checkpoint, bad)
    (bad / "tokenizer_config.json").unlink()
    dialog = open_models(AppConfig())
    changed: list[AppConfig] = []
    dialog.config_changed.connect(changed.append)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(bad)))
    dialog.add_button.click()
    qtbot.waitUntil(lambda: dialog.add_button.isEnabled() and not dialog.tasks.busy, timeout=WAIT_MS)
    assert "missing: tokenizer_config.json" in dialog.status.text()
    assert dialog.status.objectName() == "fieldError"
    assert changed == [] and sources(dialog) == [DEMO]


def test_removing_a_folder_only_takes_it_off_the_list(
    open_models, qtbot, empty_cache, tiny_checkpoint, monkeypatch
):
    dialog = open_models(AppConfig(model_folders=(str(tiny_checkpoint),)))
    changed: list[AppConfig] = []
    dialog.config_changed.connect(changed.append)
    dialog.select(str(tiny_checkpoint))
    asked = answer(monkeypatch, QMessageBox.StandardButton.Yes)
    dialog.remove_button.click()
    assert asked and "files are not deleted" in asked[0]
    assert changed == [AppConfig()]
    qtbot.waitUntil(lambda: sources(dialog) == [DEMO], timeout=WAIT_MS)
    assert (tiny_checkpoint / "config.json").is_file()


def test_remove_a_cached_model_asks_first_naming_the_size(
    open_models, qtbot, hub: FakeHub, fake_repo: FakeRepo, monkeypatch
):
    dl.download(dl.plan_download(REAL_MODEL))
    dialog = open_models(AppConfig(), current=REAL_MODEL)
    assert sources(dialog) == [DEMO, REAL_MODEL]
    entry = dialog.entries[1]
    assert entry.kind == "cache" and entry.complete and "in use" in dialog.list.item(1).text()
    dialog.select(REAL_MODEL)
    assert dialog.remove_button.text() == "Remove…"

    asked = answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    dialog.remove_button.click()
    assert len(asked) == 1 and "6.9 MB" in asked[0] and REAL_MODEL in asked[0] and "in use" in asked[0]
    assert dl.repo_cache_folder(REAL_MODEL).is_dir()

    answer(monkeypatch, QMessageBox.StandardButton.Yes)
    dialog.remove_button.click()
    qtbot.waitUntil(lambda: sources(dialog) == [DEMO] and not dialog.tasks.busy, timeout=WAIT_MS)
    assert not dl.repo_cache_folder(REAL_MODEL).exists()
    assert "freed" in dialog.status.text()


def test_download_from_the_models_dialog_lists_and_offers_the_model(
    open_models, qtbot, hub: FakeHub, fake_repo: FakeRepo
):
    dialog = open_models(AppConfig())
    assert not dialog.download_card.isVisible()
    dialog.download_button.click()
    panel = dialog.download_panel
    assert dialog.download_card.isVisible()
    qtbot.waitUntil(lambda: panel.state == "ready", timeout=WAIT_MS)
    with qtbot.waitSignal(dialog.model_chosen, timeout=WAIT_MS) as chosen:
        panel.download_button.click()
    assert chosen.args == [REAL_MODEL]
    qtbot.waitUntil(lambda: REAL_MODEL in sources(dialog) and not dialog.tasks.busy, timeout=WAIT_MS)
    assert "in use" in dialog.list.item(sources(dialog).index(REAL_MODEL)).text()


def test_the_window_integration_saves_folders_and_closing_the_window_stops_the_dialog(
    make_window, qtbot, empty_cache, tiny_checkpoint, monkeypatch
):
    """Model ▸ Models… in the window: one dialog at a time, folders saved; closing the window stops it."""
    from app_fakes import FakeEngine, fake_loader

    from app.config import load_config

    window = make_window(fake_loader(FakeEngine()))
    window.menus.models_action.trigger()
    dialog = window.model_switcher.dialog
    assert isinstance(dialog, ModelsDialog) and dialog.isVisible()
    window.menus.models_action.trigger()
    assert window.model_switcher.dialog is dialog, "a second Models… raises the open dialog"
    qtbot.waitUntil(lambda: dialog.list.count() > 0, timeout=WAIT_MS)
    monkeypatch.setattr(
        QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(tiny_checkpoint))
    )
    dialog.add_button.click()
    qtbot.waitUntil(lambda: str(tiny_checkpoint) in sources(dialog), timeout=WAIT_MS)
    assert load_config().model_folders == (str(tiny_checkpoint),) == window.config.model_folders
    dialog.refresh()  # a scan still running when the window closes
    dialog.show_download()  # and a Hub check
    window.close()
    assert not dialog.isVisible() and not dialog.tasks.busy
    assert not dialog.download_panel.task.running or dialog.download_panel.shutdown()


def test_models_closed_mid_download_reopens_as_the_same_dialog_still_downloading(
    make_window, qtbot, hub: FakeHub, fake_repo: FakeRepo
):
    from app_chat import start_slow_download
    from app_fakes import FakeEngine, fake_loader

    window = make_window(fake_loader(FakeEngine()))
    dialog = window.open_models()
    dialog.show_download()
    panel = start_slow_download(qtbot, hub, window, dialog)
    dialog.close()
    assert not dialog.isVisible() and panel.task.running
    assert window.open_models() is dialog and dialog.isVisible() and panel.state == "running"
    hub.chunk_delay_s = 0.0
    qtbot.waitUntil(lambda: panel.state == "done", timeout=WAIT_MS)
    assert sum(hub.sent_bytes.values()) == fake_repo.total_bytes

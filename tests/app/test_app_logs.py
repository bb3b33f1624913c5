"""Unexpected errors: the traceback goes to the log file, the user gets a dialog, the chat survives."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import pytest
from app_fakes import FakeEngine, fake_loader

from app.logs import ExceptHook, log_file, setup_logging
from app.qt import QApplication, QMessageBox


def test_excepthook_logs_the_traceback_and_shows_a_dialog(qtbot, make_window, app_dirs):
    path = setup_logging()
    assert path == app_dirs / "log" / "dgchat.log" == log_file()
    window = make_window(fake_loader(FakeEngine("kept")))
    window.load_model("fake")
    qtbot.waitUntil(lambda: window.model_info is not None, timeout=5000)
    window.composer.edit.setPlainText("keep me")
    window.send()
    qtbot.waitUntil(lambda: window.active is None, timeout=5000)
    hook = ExceptHook(window.report_error).install()
    try:
        try:
            raise ValueError("a bug in a slot")
        except ValueError:
            sys.excepthook(*sys.exc_info())
        # From another thread too: the dialog still opens on the GUI thread.
        worker = threading.Thread(target=lambda: 1 / 0, name="failing")
        worker.start()
        worker.join()
        qtbot.waitUntil(lambda: len(window._dialogs) == 2, timeout=5000)
    finally:
        hook.uninstall()
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text(encoding="utf-8")
    assert "Traceback" in text and "ValueError: a bug in a slot" in text and "ZeroDivisionError" in text
    box = window._dialogs[0]
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert "a bug in a slot" in box.text() and "Traceback" not in box.text()
    assert str(path) in box.informativeText()
    for dialog in window._dialogs:
        dialog.close()
    # The conversation is still there.
    assert [m.text for m in window.current_page().session.messages] == ["keep me", "kept"]
    assert window.isVisible()
    assert sys.excepthook is not hook
    assert QApplication.instance() is not None
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "dgchat", False)]:
        root.removeHandler(handler)
        handler.close()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full (every write: ENOSPC)")
def test_a_log_file_on_a_full_disk_says_so_once_and_logs_on(capsys):
    from app.logs import LogFile

    handler = LogFile(Path("/dev/full"))
    logger = logging.getLogger("test.full_disk")
    logger.addHandler(handler)
    try:
        for n in range(3):
            logger.warning("record %d", n)
    finally:
        logger.removeHandler(handler)
        handler.close()
    err = capsys.readouterr().err
    assert err == "dgchat: cannot write the log file /dev/full ([Errno 28] No space left on device)\n"

"""Driving the window like a user in tests: load a model, say something, look at the transcript."""

from __future__ import annotations

from app_fakes import FakeEngine, fake_loader

from app.reply_state import ReplyState
from app.ui.messages import AssistantMessage, UserMessage


def loaded(qtbot, make_window, engine, source: str = "fake", config=None):
    """A shown window with ``engine`` (a FakeEngine, or a loader such as app.worker.load_engine) loaded."""
    loader = fake_loader(engine) if isinstance(engine, FakeEngine) else engine
    window = make_window(loader, config)
    window.load_model(source)
    qtbot.waitUntil(
        lambda: window.model_info is not None or window.model_switcher.load_notice is not None, timeout=60_000
    )
    assert window.model_info is not None, window.model_switcher.load_notice.message
    return window


def say(qtbot, window, text: str, timeout: int = 10_000) -> ReplyState:
    """Send ``text`` and wait for the reply to end; returns the reply's state."""
    window.composer.edit.setPlainText(text)
    assert window.send() is not None
    state = window.active.state
    qtbot.waitUntil(lambda: window.active is None, timeout=timeout)
    return state


def choose(window, chat_id: int, text: str) -> None:
    """Pick an entry of the chat's right-click menu in the sidebar."""
    menu = window.sidebar.context_menu(chat_id)
    assert text in [a.text() for a in menu.actions()]
    next(a for a in menu.actions() if a.text() == text).trigger()
    menu.close()


def wait_idle(qtbot, window, timeout: int = 10_000) -> None:
    qtbot.waitUntil(lambda: window.active is None, timeout=timeout)


def users(window) -> list[UserMessage]:
    return [w for w in window.current_page().transcript.messages() if isinstance(w, UserMessage)]


def replies(window) -> list[AssistantMessage]:
    return [w for w in window.current_page().transcript.messages() if isinstance(w, AssistantMessage)]


def start_slow_download(qtbot, hub, window, dialog, timeout: int = 60_000):
    """Start ``dialog``'s model download from a slowed-down fake Hub; returns its panel once the
    window's status bar shows the download."""
    panel = dialog.download_panel
    qtbot.waitUntil(lambda: panel.state == "ready", timeout=timeout)
    hub.chunk_delay_s = 0.01
    panel.download_button.click()
    qtbot.waitUntil(lambda: sum(hub.sent_bytes.values()) > 500_000, timeout=timeout)
    qtbot.waitUntil(window.status.download_label.isVisible, timeout=timeout)
    return panel

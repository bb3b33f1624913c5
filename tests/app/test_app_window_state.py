"""The window opens as the user left it: its size, the chat list's width, the list shown or hidden."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from app_fakes import FakeEngine, fake_loader

from app.qt import QKeySequence, QSize
from app.ui.sidebar import SIDEBAR_WIDTH
from app.window_state import MAX_SIDEBAR_PX, WindowState, load_window_state, save_window_state


def window(make_window):
    return make_window(fake_loader(FakeEngine("Sure.")))


def state_file(app_dirs: Path) -> Path:
    return app_dirs / "config" / "window.json"


def widest_chat_list(window) -> int:
    """How wide the layout lets the chat list be in this window: the conversation keeps its minimum width.

    That minimum comes from the composer's and the empty page's text, so it depends on the fonts
    installed; the tests ask the layout rather than assume a number.
    """
    splitter = window.splitter
    conversation = splitter.widget(1).minimumSizeHint().width()
    return min(MAX_SIDEBAR_PX, splitter.width() - splitter.handleWidth() - conversation)


def test_window_state_round_trips_and_clamps_a_bad_width(tmp_path: Path):
    path = tmp_path / "window.json"
    save_window_state(WindowState(b"\x01\xd9\xd0\xcb", 300, False), path)
    assert load_window_state(path) == WindowState(b"\x01\xd9\xd0\xcb", 300, False)
    data = json.loads(path.read_text())
    data["sidebar_width"] = 5000  # hand-edited, or from a much larger screen
    path.write_text(json.dumps(data))
    assert load_window_state(path).sidebar_width is None
    assert [p.name for p in tmp_path.iterdir()] == ["window.json"]  # no temporary file left behind


def test_an_unreadable_state_file_gives_the_default_layout(tmp_path: Path, caplog):
    path = tmp_path / "window.json"
    for text in ("{not json", '{"schema": 1, "geometry": "***"}', '{"schema": 99}', "[]"):
        path.write_text(text)
        with caplog.at_level(logging.WARNING, logger="app.window_state"):
            assert load_window_state(path) == WindowState()
        assert "unreadable" in caplog.text
        caplog.clear()
    assert load_window_state(tmp_path / "missing.json") == WindowState()


def test_size_and_chat_list_width_come_back_after_a_restart(qtbot, make_window, app_dirs):
    first = window(make_window)
    assert first.size() == QSize(1180, 820)  # no saved layout: the default
    assert first.splitter.sizes()[0] == SIDEBAR_WIDTH
    # Within the offscreen screen (800 × 800): Qt fits a restored window to its screen.  The
    # conversation keeps its minimum width beside the list, which leaves the list less than 300 px.
    first.resize(790, 600)
    widened = min(290, widest_chat_list(first))
    assert widened >= SIDEBAR_WIDTH + 20, "the conversation's minimum width leaves the chat list no room"
    first.splitter.moveSplitter(widened, 1)  # as by dragging the handle
    qtbot.waitUntil(lambda: first.splitter.sizes()[0] == widened)
    first.close()
    assert load_window_state(state_file(app_dirs)).sidebar_width == widened

    again = window(make_window)
    assert again.size() == QSize(790, 600)
    qtbot.waitUntil(lambda: again.splitter.sizes()[0] == widened)
    assert again.sidebar.isVisible() and again.menus.sidebar_action.isChecked()


def test_a_hidden_chat_list_stays_hidden_and_keeps_its_width(qtbot, make_window, app_dirs):
    first = window(make_window)
    first.splitter.moveSplitter(300, 1)
    qtbot.waitUntil(lambda: first.splitter.sizes()[0] == 300)
    assert first.menus.sidebar_action.shortcut() == QKeySequence("Ctrl+B")
    first.menus.sidebar_action.trigger()  # View ▸ Show the chat list, Ctrl+B
    assert not first.sidebar.isVisible() and not first.menus.sidebar_action.isChecked()
    # the conversation takes the room
    qtbot.waitUntil(lambda: first.pages.width() == first.centralWidget().width())
    first.close()

    again = window(make_window)
    assert not again.sidebar.isVisible() and not again.menus.sidebar_action.isChecked()
    qtbot.waitUntil(again.composer.edit.hasFocus)  # the window focuses the composer once shown
    again.menus.search_action.trigger()  # Ctrl+K needs the list: it comes back, at the width it had
    assert again.sidebar.isVisible() and again.menus.sidebar_action.isChecked()
    assert again.sidebar.search.hasFocus()
    # The restored window fits the 800 px offscreen screen, which may leave less than 300 px: the list
    # is as wide as it was, or as the layout allows, and it remembers 300 for a wider window.
    assert again.splitter.sidebar_width() == 300
    qtbot.waitUntil(lambda: again.splitter.sizes()[0] == min(300, widest_chat_list(again)))
    assert again.splitter.sizes()[0] > SIDEBAR_WIDTH


def test_a_damaged_state_file_opens_the_default_layout(qtbot, make_window, app_dirs):
    path = state_file(app_dirs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"schema": 1, "geometry": "AdnQywADAAA=", "sidebar_width": 260}')  # a cut-off blob
    shown = window(make_window)
    assert shown.size() == QSize(1180, 820)
    qtbot.waitUntil(lambda: shown.splitter.sizes()[0] == 260)  # what was readable is kept

"""A model on a vLLM server as the window's engine: added, loaded by ``server:NAME``, chatted with.

Against the stand-in vLLM server of tests/vllm_server.py, through the real loader
(app.worker.load_engine), the real store and the real key store (its file fallback).
"""

from __future__ import annotations

import sqlite3
import stat
import sys
import types

import pytest
from app_chat import loaded, replies, say
from hub_server import use_hub

from app.config import AppConfig
from app.paths import config_dir
from app.qt import QDialogButtonBox, QMessageBox, Qt
from app.server_keys import KeyStore
from app.servers import ServerProfile, add_server, connect_source, load_servers, remove_server
from app.store import default_db_path
from app.ui.models_dialog import ModelsDialog
from app.ui.server_dialog import ServerDialog
from app.worker import load_engine
from engine.errors import EngineError
from engine.model.demo import DEMO
from tests.vllm_server import MODEL, Behaviour, closed_port, fake_vllm


def test_a_server_model_answers_in_the_window_and_its_key_stays_out_of_the_chats(
    qtbot, make_window, monkeypatch
):
    monkeypatch.setenv("DGCHAT_NO_KEYRING", "1")
    with fake_vllm(Behaviour(api_key="sesame-key")) as server:
        add_server(ServerProfile("lab", server.url, MODEL), "sesame-key")
        window = loaded(qtbot, make_window, load_engine, source="server:lab")
        assert window.model_info.name == MODEL
        qtbot.waitUntil(lambda: window.config.model == "server:lab")  # loaded again at the next start
        state = say(qtbot, window, "Hi there")
        assert state.error is None and state.done.answer == "Hello from the server."
        assert state.canvases == ["Hello from ", "the server."] and state.steps_received == 0
        assert replies(window)[-1].answer.text == "Hello from the server."
        assert window.status.device_label.text() == f"server: {server.url} · vLLM"
        window.view.toggle_token_view()  # canvas-only reply: the token view opens without an error
        settings = window.view.open_settings()
        assert not settings.t_max.isEnabled() and "runs its own sampler" in settings.t_max.toolTip()
        assert settings.max_new_tokens.isEnabled() and settings.seed_fixed.isEnabled()
        settings.reject()
        qtbot.wait(50)
    assert server.headers[-1]["Authorization"] == "Bearer sesame-key"
    with sqlite3.connect(default_db_path()) as db:
        dump = "\n".join(db.iterdump())
    assert "Hello from the server." in dump and "sesame-key" not in dump
    assert "sesame-key" not in (config_dir() / "servers.json").read_text(encoding="utf-8")


def test_stop_on_a_server_reply_keeps_the_part_that_arrived_as_stopped(qtbot, make_window, monkeypatch):
    behaviour = Behaviour(canvases=["The first canvas. ", "never sent"], silent_after=1)
    with fake_vllm(behaviour) as server:
        add_server(ServerProfile("slow", server.url, MODEL), "")
        window = loaded(qtbot, make_window, load_engine, source="server:slow")
        window.composer.edit.setPlainText("go")
        window.send()
        state = window.active.state
        qtbot.waitUntil(lambda: state.canvases == ["The first canvas. "], timeout=10_000)
        window.stop()
        qtbot.waitUntil(lambda: window.active is None, timeout=5_000)
        assert server.disconnected.wait(2), "Stop left the connection open"
    assert (state.done.incomplete, state.done.stop_reason) == (True, "cancelled")
    assert replies(window)[-1].answer.text == "The first canvas."


def test_continue_on_a_stopped_server_reply_goes_on_from_its_text(qtbot, make_window):
    """Continue sends the reply so far as an open assistant message; the reply grows, it is not replaced."""
    behaviour = Behaviour(canvases=["The first canvas. ", "never sent"], silent_after=1)
    with fake_vllm(behaviour) as server:
        add_server(ServerProfile("slow", server.url, MODEL), "")
        window = loaded(qtbot, make_window, load_engine, source="server:slow")
        window.composer.edit.setPlainText("go")
        window.send()
        qtbot.waitUntil(
            lambda: window.active is not None and bool(window.active.state.canvases), timeout=10_000
        )
        window.stop()
        qtbot.waitUntil(lambda: window.active is None, timeout=5_000)
        behaviour.canvases, behaviour.silent_after = ["And the second."], None
        (reply,) = replies(window)
        assert reply.continue_button.isVisible()
        qtbot.mouseClick(reply.continue_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.active is None and len(server.requests) == 2, timeout=10_000)
    sent = server.requests[-1]
    assert sent["messages"][-1] == {"role": "assistant", "content": "The first canvas. "}
    assert sent["continue_final_message"] is True
    (reply,) = replies(window)
    assert reply.answer.text == "The first canvas. And the second." and not reply.continue_button.isVisible()


def test_keys_go_to_a_private_file_without_a_keyring_and_leave_with_the_server(monkeypatch):
    monkeypatch.setenv("DGCHAT_NO_KEYRING", "1")
    add_server(ServerProfile("a", "http://127.0.0.1:1", MODEL), "key-a")
    add_server(ServerProfile("b", "http://127.0.0.1:2", MODEL), "")
    keys = KeyStore()
    assert (keys.get("a"), keys.get("b")) == ("key-a", "")
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600
    assert [s.name for s in load_servers()] == ["a", "b"]
    remove_server("a")
    assert [s.name for s in load_servers()] == ["b"] and KeyStore().get("a") == ""


def test_a_removed_server_is_named_when_loaded():
    try:
        connect_source("server:gone")
    except EngineError as error:
        assert "no server named 'gone'" in str(error) and "Add a server" in str(error)
    else:
        raise AssertionError("no error")


# --- Model ▸ Models… ▸ Add a server… ---------------------------------------------------------------

WAIT_MS = 60_000


@pytest.fixture
def models_dialog(qtbot, monkeypatch, tmp_path):
    """The models dialog on an empty HF cache, its first scan done; closed and stopped at teardown."""
    monkeypatch.setenv("DGCHAT_NO_KEYRING", "1")
    use_hub(monkeypatch, "http://127.0.0.1:9", tmp_path / "hf")
    dialog = ModelsDialog(AppConfig(), DEMO)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.list.count() > 0 and not dialog.tasks.busy, timeout=WAIT_MS)
    yield dialog
    dialog.close()
    assert dialog.shutdown()


def _test(qtbot, server_dialog: ServerDialog) -> str:
    server_dialog.test_connection()
    qtbot.waitUntil(lambda: server_dialog.test_button.isEnabled(), timeout=WAIT_MS)
    return server_dialog.status.text()


def test_add_a_server_tests_the_connection_names_what_is_wrong_and_lists_it(
    qtbot, models_dialog, monkeypatch
):
    with fake_vllm(Behaviour(api_key="k-9")) as server:
        adding = models_dialog.add_server()
        save = adding.buttons.button(QDialogButtonBox.StandardButton.Save)
        adding.url_edit.setText(server.url)
        adding.key_edit.setText("wrong")
        assert "refused the API key (HTTP 401)" in _test(qtbot, adding)
        assert adding.status.objectName() == "fieldError" and not save.isEnabled()
        adding.key_edit.setText("k-9")
        assert _test(qtbot, adding).startswith("Connected: 1 DiffusionGemma model")
        assert [adding.model_box.itemText(i) for i in range(adding.model_box.count())] == [MODEL]
        adding.name_edit.setText("lab")
        assert save.isEnabled()
        save.click()
        qtbot.waitUntil(
            lambda: (
                models_dialog.selected_entry() is not None
                and models_dialog.selected_entry().source == "server:lab"
            ),
            timeout=WAIT_MS,
        )
        assert models_dialog.list.currentItem().text() == f"lab\nserver: {server.url} · {MODEL}"
    assert KeyStore().get("lab") == "k-9"
    assert "k-9" not in (config_dir() / "servers.json").read_text(encoding="utf-8")
    with qtbot.waitSignal(models_dialog.model_chosen) as chosen:
        models_dialog.use_button.click()
    assert chosen.args == ["server:lab"]


def test_a_server_without_diffusiongemma_or_unreachable_is_named_and_cannot_be_saved(qtbot, models_dialog):
    llama = Behaviour(models=[{"id": "llama", "root": "meta-llama/Llama-3.1-8B-Instruct"}])
    with fake_vllm(llama) as server:
        adding = models_dialog.add_server()
        adding.url_edit.setText(server.url)
        assert "serves no DiffusionGemma model (it serves: llama)" in _test(qtbot, adding)
    adding.url_edit.setText(f"http://127.0.0.1:{closed_port()}")
    assert "cannot be reached" in _test(qtbot, adding)
    assert not adding.buttons.button(QDialogButtonBox.StandardButton.Save).isEnabled()
    adding.reject()


def test_a_listed_server_is_removed_with_its_key(qtbot, models_dialog, monkeypatch):
    add_server(ServerProfile("lab", "http://127.0.0.1:1", MODEL), "k")
    models_dialog.refresh()
    qtbot.waitUntil(lambda: models_dialog.select("server:lab"), timeout=WAIT_MS)
    monkeypatch.setattr(
        QMessageBox, "question", staticmethod(lambda *_a, **_k: QMessageBox.StandardButton.Yes)
    )
    models_dialog.remove_button.click()
    qtbot.waitUntil(lambda: "server:lab" not in [e.source for e in models_dialog.entries], timeout=WAIT_MS)
    assert load_servers() == [] and KeyStore().get("lab") == ""


def test_with_a_keyring_the_key_goes_there_and_no_key_file_is_written(monkeypatch):
    """The keyring package's API (get_keyring, get/set/delete_password), by a stand-in module."""
    saved: dict[tuple[str, str], str] = {}
    backend = types.SimpleNamespace(priority=5)
    module = types.SimpleNamespace(
        get_keyring=lambda: backend,
        get_password=lambda service, name: saved.get((service, name)),
        set_password=lambda service, name, key: saved.__setitem__((service, name), key),
        delete_password=lambda service, name: saved.pop((service, name)),
    )
    monkeypatch.setitem(sys.modules, "keyring", module)
    monkeypatch.delenv("DGCHAT_NO_KEYRING", raising=False)
    add_server(ServerProfile("lab", "http://127.0.0.1:1", MODEL), "in-the-keychain")
    keys = KeyStore()
    assert keys.where == "the system keyring" and keys.get("lab") == "in-the-keychain"
    assert not keys.path.exists()
    remove_server("lab")
    assert saved == {}


def test_a_served_reply_is_not_rewritten_in_part_and_no_empty_version_is_made(qtbot, make_window):
    """A server sends text without token ids: Rewrite this part says so before making a version."""
    with fake_vllm() as server:
        add_server(ServerProfile("lab", server.url, MODEL), "")
        window = loaded(qtbot, make_window, load_engine, source="server:lab")
        say(qtbot, window, "Hi")
        (reply,) = replies(window)
        assert window.replies.rewrite_part(reply.store_id, "the server") is None
    assert "saved as text without its tokens" in window._notices()[-1].message
    (still,) = replies(window)
    assert still.store_id == reply.store_id and not still.versions.isVisible()


def test_what_a_server_cannot_write_is_not_offered(qtbot, make_window):
    """Revise, Rewrite this part and Fill gaps start canvases from chosen tokens: not offered for a server."""
    with fake_vllm() as server:
        add_server(ServerProfile("lab", server.url, MODEL), "")
        window = loaded(qtbot, make_window, load_engine, source="server:lab")
        assert window.model_switcher.plans() == {"fresh", "continue"}
        say(qtbot, window, "Hi")
        (reply,) = replies(window)
        assert not window.composer.revise_button.isEnabled() and not reply.revise_button.isVisible()
        view = reply.answer.views()[-1]
        view.selectAll()
        assert "Rewrite this part" not in [label for label, _ in reply._answer_menu_actions(view)]
        window.composer.edit.setPlainText("Rivers [...] the sea.")
        assert not window.composer.fill_button.isVisible()
        assert window.replies.fill_gaps() is None
        assert "cannot fill the gaps of a draft" in window._notices()[-1].message
        assert len(server.requests) == 1  # nothing was sent for it

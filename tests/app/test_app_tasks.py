"""app/tasks.py: blocking calls off the GUI thread, each answered on the GUI thread by its own callbacks."""

from __future__ import annotations

import gc
import logging
import threading

import pytest

from app.qt import QObject
from app.tasks import Tasks, UnexpectedError
from engine.errors import EngineError

WAIT_MS = 10_000


@pytest.fixture
def owner(qapp) -> QObject:
    return QObject()


def flush(qtbot, owner: QObject) -> None:
    """Let every answer already queued reach the GUI thread: a later call's answer comes after them."""
    done: list[bool] = []
    Tasks(owner, threads=1).run(lambda: True, on_done=done.append)
    qtbot.waitUntil(lambda: done == [True], timeout=WAIT_MS)


def test_the_call_runs_off_the_gui_thread_and_its_answer_arrives_on_it(qtbot, owner):
    gui = threading.get_ident()
    seen: dict[str, int] = {}

    def work(a: int, b: int) -> int:
        seen["work"] = threading.get_ident()
        return a + b

    def on_done(result: int) -> None:
        seen["answer"] = threading.get_ident()
        seen["result"] = result

    Tasks(owner).run(work, 2, 3, on_done=on_done)
    qtbot.waitUntil(lambda: "answer" in seen, timeout=WAIT_MS)
    assert seen["result"] == 5
    assert seen["answer"] == gui and seen["work"] != gui


def test_an_unexpected_failure_reaches_on_failed_as_a_sentence_and_the_traceback_goes_to_the_log(
    qtbot, owner, caplog
):
    def broken() -> None:
        raise ValueError("boom")

    errors: list[EngineError] = []
    with caplog.at_level(logging.INFO, logger="app.tasks"):
        Tasks(owner).run(broken, on_done=lambda _: pytest.fail("no answer"), on_failed=errors.append)
        qtbot.waitUntil(lambda: bool(errors), timeout=WAIT_MS)
    (error,) = errors
    assert isinstance(error, UnexpectedError) and isinstance(error.original, ValueError)
    assert "ValueError" in str(error) and "dgchat.log" in str(error) and "Traceback" not in str(error)
    (record,) = [r for r in caplog.records if r.name == "app.tasks"]
    assert record.exc_info is not None and 'raise ValueError("boom")' in caplog.text  # the traceback


def test_an_engine_error_reaches_on_failed_as_raised(qtbot, owner):
    problem = EngineError("The folder is empty", fix="Choose the checkpoint's folder")

    def refuse() -> None:
        raise problem

    errors: list[EngineError] = []
    Tasks(owner).run(refuse, on_failed=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=WAIT_MS)
    assert errors == [problem] and str(errors[0]) == "The folder is empty. Choose the checkpoint's folder."


def test_progress_arrives_in_order_and_before_the_answer(qtbot, owner):
    def count(n: int, *, progress) -> str:
        for i in range(n):
            progress(i)
        return "counted"

    seen: list[object] = []
    Tasks(owner).run(count, 200, on_progress=seen.append, on_done=seen.append)
    qtbot.waitUntil(lambda: "counted" in seen, timeout=WAIT_MS)
    assert seen == [*range(200), "counted"]


def test_a_destroyed_owner_gets_no_callback(qtbot, owner):
    doomed = QObject()
    tasks = Tasks(doomed)
    answers: list[object] = []
    task = tasks.run(lambda: "late", on_done=answers.append, on_failed=answers.append)
    assert task.wait(WAIT_MS)  # returned, its answer queued but not delivered
    del doomed
    gc.collect()  # the owner (and its Tasks) are deleted
    flush(qtbot, owner)
    assert answers == []


def test_a_call_whose_own_owner_was_destroyed_gets_no_callback(qtbot, owner):
    dialog = QObject()
    answers: list[object] = []
    kept: list[object] = []
    tasks = Tasks(owner)
    task = tasks.run(lambda: "picture", on_done=answers.append, owner=dialog)
    tasks.run(lambda: "other", on_done=kept.append)  # another call of the same Tasks is answered
    assert task.wait(WAIT_MS)
    del dialog
    gc.collect()
    qtbot.waitUntil(lambda: kept == ["other"], timeout=WAIT_MS)
    flush(qtbot, owner)
    assert answers == []


def test_cancel_drops_a_queued_call_and_stops_a_running_one_that_checks(qtbot, owner):
    started = threading.Event()

    def until_cancelled(*, cancel) -> str:
        started.set()
        while not cancel.cancelled:
            threading.Event().wait(0.01)
        return "stopped early"

    answers: list[object] = []
    tasks = Tasks(owner, threads=1)
    running = tasks.run(until_cancelled, on_done=answers.append, cancellable=True)
    queued = tasks.run(lambda: "never", on_done=answers.append)
    assert started.wait(WAIT_MS / 1000)
    assert queued.cancel() is True  # not started: dropped
    assert running.cancel() is False  # running: its flag is raised, and its answer still comes
    qtbot.waitUntil(lambda: answers == ["stopped early"], timeout=WAIT_MS)
    flush(qtbot, owner)
    assert answers == ["stopped early"] and queued.ended and not tasks.busy


def test_shutdown_cancels_waits_and_drops_the_answers(qtbot, owner):
    started = threading.Event()

    def until_cancelled(*, cancel) -> str:
        started.set()
        while not cancel.cancelled:
            threading.Event().wait(0.01)
        return "stopped"

    answers: list[object] = []
    tasks = Tasks(owner, threads=1)
    running = tasks.run(until_cancelled, on_done=answers.append, cancellable=True)
    queued = tasks.run(lambda: "never", on_done=answers.append)
    assert started.wait(WAIT_MS / 1000)
    assert tasks.shutdown(WAIT_MS) is True
    assert running.ended and queued.ended and not tasks.busy
    after = tasks.run(lambda: "too late", on_done=answers.append)
    assert after.ended  # nothing starts after shutdown
    flush(qtbot, owner)
    assert answers == []

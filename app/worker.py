"""The engine on its own thread: a worker QObject moved to a QThread.

The GUI thread never runs model code.  It asks for work through queued signals
(``load_requested``, ``generate_requested``), and the worker answers with
past-tense signals carrying the engine's own immutable events, tagged with the
reply id so a late event from a stopped reply is recognisable.  Stopping is a
:class:`CancelToken` flag that the denoising loop reads once per step: a queued
"stop" slot would only run after the busy worker finished.  Shutdown cancels,
quits the thread's event loop and waits; ``QThread.terminate`` is never used.

Saving: a request may carry a ``sink`` (the store's ``ReplyWriter``).  The
worker feeds it every event *on the engine thread*, before the event's signal
is emitted, so the GUI thread never waits for SQLite (a canvas commit costs
~2-16 ms, Steps are buffered in memory) and a reply the GUI has seen finish is
already on disk.  When the stream ends without a ``Done`` (an engine error, a
stop before the first step, the window closing) the worker calls
``sink.stop()``, so the row never stays "streaming".  A failed save never
stops the reply: it is reported once per reply through ``save_failed``.
"""

from __future__ import annotations

import itertools
import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.logs import log_file
from app.qt import QObject, QThread, Signal, Slot
from app.replay import Replay, ReplayError
from app.servers import connect_source, is_server_source
from app.torch_preload import preload_torch
from engine.cancel import CancelToken
from engine.errors import EngineError
from engine.events import Canvas, Done, Event, LoadProgress, PromptEncoded, PromptProgress, Step
from engine.generation.plan import ReplyPlan
from engine.inputs.conversation import Conversation, PromptOptions
from engine.interface import ChatEngine, Loader
from engine.settings import GenerationSettings

log = logging.getLogger(__name__)

FRESH = ReplyPlan.fresh()

# Every engine thread ever started, so tests can assert none is left running.
ENGINE_THREADS: weakref.WeakSet[QThread] = weakref.WeakSet()


class ReplySink(Protocol):
    """Where a reply's events are saved (:class:`app.store.ReplyWriter`)."""

    @property
    def finished(self) -> bool: ...

    def on_event(self, event: Event) -> None: ...

    def stop(self, reason: str = "cancelled") -> None: ...


def load_engine(source: str, progress: Callable[[LoadProgress], None]) -> ChatEngine:
    """The real loader; torch and transformers are imported here, on the worker thread.

    ``server:NAME`` is a model on a server the user added (app.servers): no torch needed.
    """
    if is_server_source(source):
        return connect_source(source)
    preload_torch()  # the import would hold the GIL (and freeze the window) while opening them
    from engine.engine import Engine

    return Engine.load(source, progress=progress)


class LoadAbortedError(Exception):
    """Raised from the progress callback to abandon a load (the window is closing)."""


@dataclass(frozen=True, slots=True)
class GenerateRequest:
    reply_id: int
    conversation: Conversation
    settings: GenerationSettings | None  # None: the loaded model's defaults
    options: PromptOptions
    cancel: CancelToken
    sink: ReplySink | None = None
    plan: ReplyPlan = FRESH  # fresh, continue, revise or rewrite (engine.generation.plan)


# What a replay reads from the store: the frames, each committed canvas's text, the reply's Stats.
ReplayLoad = Callable[[], tuple[Sequence[Any], Sequence[str], Any]]


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    request_id: int
    load: ReplayLoad


def unexpected_error_message(error: BaseException) -> str:
    return (
        f"The engine failed unexpectedly ({type(error).__name__}: {error}). "
        f"Try again or start a new chat; details are in the log file {log_file()}."
    )


class EngineWorker(QObject):
    """Lives on the engine thread; every slot runs there."""

    load_progressed = Signal(object)  # LoadProgress
    model_loaded = Signal(object, object)  # ModelInfo, the model's default GenerationSettings
    model_load_failed = Signal(str, str)  # source, user-facing message
    prompt_progressed = Signal(int, object)  # reply id, PromptProgress (a long prompt is being read)
    prompt_encoded = Signal(int, object)  # reply id, PromptEncoded
    step_ready = Signal(int, object)  # reply id, Step
    canvas_committed = Signal(int, object)  # reply id, Canvas
    reply_finished = Signal(int, object)  # reply id, Done
    reply_failed = Signal(int, str)  # reply id, user-facing message
    vram_measured = Signal(object)  # bytes in use, or None off CUDA
    save_failed = Signal(int, str)  # reply id, user-facing message (once per reply)
    replay_ready = Signal(int, object)  # replay request id, app.replay.Replay
    replay_failed = Signal(int, str)  # replay request id, user-facing message

    def __init__(self, loader: Loader, load_cancel: CancelToken) -> None:
        super().__init__()
        self._loader = loader
        self._load_cancel = load_cancel
        self._engine: ChatEngine | None = None
        self._save_failed = False
        self._threads = 0  # the Settings value: 0 is automatic (engine.threads)

    @Slot(int)
    def on_threads_requested(self, threads: int) -> None:
        """Keep the setting and apply it now if a model is loaded (else when one is)."""
        self._threads = threads
        if self._engine is not None:
            self._use_threads()

    def _use_threads(self) -> None:
        """Set torch's threads here, on the engine thread (torch keeps the count per thread)."""
        from engine.threads import use_threads

        use_threads(self._threads)

    @Slot(str)
    def on_load_requested(self, source: str) -> None:
        self._close_engine()  # free the old model's memory before loading the next one

        def progress(event: LoadProgress) -> None:
            if self._load_cancel.cancelled:
                raise LoadAbortedError
            self.load_progressed.emit(event)

        try:
            engine = self._loader(source, progress)
        except LoadAbortedError:
            log.info("model load abandoned: %s", source)
            return
        except EngineError as error:
            log.warning("model load failed: %s", error, exc_info=True)
            self.model_load_failed.emit(source, str(error))
            return
        except Exception as error:
            log.exception("model load crashed: %s", source)
            self.model_load_failed.emit(source, unexpected_error_message(error))
            return
        self._engine = engine
        self._use_threads()  # after the load, which sets the automatic count for itself
        self.model_loaded.emit(engine.info, engine.default_settings)
        self._measure_vram()

    @Slot(object)
    def on_generate_requested(self, request: GenerateRequest) -> None:
        self._save_failed = False
        try:
            self._generate(request)
        finally:
            sink = request.sink
            if sink is not None and not sink.finished:
                reason = "cancelled" if request.cancel.cancelled else "error"
                self._save(request.reply_id, sink, None, reason)

    def _generate(self, request: GenerateRequest) -> None:
        rid = request.reply_id
        if self._engine is None:
            self.reply_failed.emit(
                rid, "No model is loaded. Choose a model folder (Model ▸ Open model folder…) and try again."
            )
            return
        if request.cancel.cancelled:
            self.reply_failed.emit(rid, "Stopped before the reply started.")
            return
        try:
            events = self._engine.generate(
                request.conversation, request.settings, request.options, request.cancel, plan=request.plan
            )
            for event in events:
                if request.sink is not None:
                    self._save(rid, request.sink, event)
                self._emit(rid, event)
        except EngineError as error:
            log.warning("generation failed: %s", error, exc_info=True)
            self.reply_failed.emit(rid, str(error))
        except Exception as error:
            log.exception("generation crashed")
            self.reply_failed.emit(rid, unexpected_error_message(error))
        self._measure_vram()

    def _save(self, rid: int, sink: ReplySink, event: Event | None, reason: str = "error") -> None:
        """Feed the sink one event (None: stop it); a failure is logged and reported once."""
        try:
            if event is None:
                sink.stop(reason)
            else:
                sink.on_event(event)
        except Exception as error:
            log.exception("cannot save the reply")
            if not self._save_failed:
                self._save_failed = True
                self.save_failed.emit(rid, str(error))

    @Slot(object)
    def on_replay_requested(self, request: ReplayRequest) -> None:
        """Read a stored history and decode it with the loaded model's tokenizer (on this thread).

        A reply stored with canvases but no steps (a server's) replays canvas by canvas from its
        saved text, whichever engine is loaded or none.
        """
        rid = request.request_id
        try:
            frames, canvases, stats = request.load()
            if frames and self._engine is None:
                self.replay_failed.emit(
                    rid, "No model is loaded. Load the model that wrote this reply to replay it (Model menu)."
                )
                return
            steps = self._engine.decode_steps(frames) if frames else []
            name = self._engine.info.name if self._engine is not None else ""
            replay = Replay.build(steps, canvases, stats, model_name=name)
        except (ReplayError, EngineError) as error:  # StoreError is an EngineError
            log.info("replay unavailable: %s", error)
            self.replay_failed.emit(rid, str(error))
            return
        except Exception as error:
            log.exception("replay crashed")
            self.replay_failed.emit(rid, unexpected_error_message(error))
            return
        self.replay_ready.emit(rid, replay)

    @Slot()
    def on_forget_requested(self) -> None:
        """A new chat: the cached prompt of the previous one is of no further use."""
        if self._engine is not None:
            self._engine.forget_prompt_cache()

    @Slot()
    def on_unload_requested(self) -> None:
        self._close_engine()

    def _close_engine(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            try:
                engine.close()
            except Exception:  # the old model's memory is lost until collected; the next load goes on
                log.exception("closing the previous model failed")

    def _emit(self, rid: int, event: Event) -> None:
        if isinstance(event, Step):
            self.step_ready.emit(rid, event)
        elif isinstance(event, Canvas):
            self.canvas_committed.emit(rid, event)
        elif isinstance(event, Done):
            self.reply_finished.emit(rid, event)
        elif isinstance(event, PromptEncoded):
            self.prompt_encoded.emit(rid, event)
        elif isinstance(event, PromptProgress):
            self.prompt_progressed.emit(rid, event)

    def _measure_vram(self) -> None:
        try:
            self.vram_measured.emit(self._engine.vram_in_use() if self._engine else None)
        except Exception:
            log.exception("cannot read VRAM use")


class EngineHost(QObject):
    """Owns the engine thread; the GUI's handle on the worker."""

    load_requested = Signal(str)
    generate_requested = Signal(object)
    forget_requested = Signal()
    unload_requested = Signal()
    replay_requested = Signal(object)
    threads_requested = Signal(int)

    def __init__(self, loader: Loader = load_engine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._load_cancel = CancelToken()
        self._ids = itertools.count(1)
        self._active: tuple[int, CancelToken] | None = None
        self.engine_thread = QThread()
        self.engine_thread.setObjectName("engine")
        self.worker = EngineWorker(loader, self._load_cancel)
        self.worker.moveToThread(self.engine_thread)
        self.load_requested.connect(self.worker.on_load_requested)
        self.generate_requested.connect(self.worker.on_generate_requested)
        self.forget_requested.connect(self.worker.on_forget_requested)
        self.unload_requested.connect(self.worker.on_unload_requested)
        self.replay_requested.connect(self.worker.on_replay_requested)
        self.threads_requested.connect(self.worker.on_threads_requested)
        self.engine_thread.finished.connect(self.worker.deleteLater)
        ENGINE_THREADS.add(self.engine_thread)
        self.engine_thread.start()

    def load(self, source: str) -> None:
        self.load_requested.emit(source)

    def set_threads(self, threads: int) -> None:
        """Use ``threads`` CPU threads (0: automatic) from the next reply on (queued after one running)."""
        self.threads_requested.emit(threads)

    def generate(
        self,
        conversation: Conversation,
        settings: GenerationSettings | None,
        options: PromptOptions,
        sink: ReplySink | None = None,
        *,
        plan: ReplyPlan = FRESH,
    ) -> int:
        """Queue a reply; returns its id (events for it carry the same id).

        ``sink`` (a store ``ReplyWriter``) is fed every event on the engine thread.
        ``plan``: what kind of reply (fresh, continue, revise, rewrite; engine.generation.plan).
        """
        self.stop()
        request = GenerateRequest(
            next(self._ids),
            conversation,
            settings,
            options,
            CancelToken(),
            sink,
            plan,
        )
        self._active = (request.reply_id, request.cancel)
        self.generate_requested.emit(request)
        return request.reply_id

    def stop(self) -> None:
        """Ask the running reply to stop at its next denoising step (any thread may call this)."""
        if self._active is not None:
            self._active[1].cancel()

    def reply_ended(self, reply_id: int) -> None:
        if self._active is not None and self._active[0] == reply_id:
            self._active = None

    def forget_prompt_cache(self) -> None:
        self.forget_requested.emit()

    def replay(self, load: ReplayLoad) -> int:
        """Queue the decoding of a stored history; answered by ``replay_ready``/``replay_failed`` with the id.

        It runs on the engine thread (it needs the tokenizer), after any reply in progress.
        """
        request = ReplayRequest(next(self._ids), load)
        self.replay_requested.emit(request)
        return request.request_id

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Cancel whatever runs, stop the thread's event loop and wait for it. True when it stopped."""
        self.stop()
        self._load_cancel.cancel()
        if not self.engine_thread.isRunning():
            return True
        self.engine_thread.quit()
        stopped = self.engine_thread.wait(timeout_ms)
        if not stopped:
            log.error("the engine thread did not stop within %d ms", timeout_ms)
        return bool(stopped)

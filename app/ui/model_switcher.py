"""The model in use: loading or switching it, Model ▸ Models… and Open model folder…, and a load that failed.

A model loads on the engine thread for seconds to minutes while the window
stays usable, and it can be asked for from many places (the menu, the Models…
dialog, a finished download, another launch's ``--model``).  This object keeps
what is loaded (:attr:`ModelSwitcher.info`, the checkpoint's generation
defaults), never lets a request from a dialog cut the reply being written short
(it waits for the reply to end), remembers a loaded model among the recent
ones, and puts a load that failed in the chat as a notice with the ways out
(another folder, try again, the demo model), removed once a model loads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from app import notices
from app.config import AppConfig
from app.qt import QFileDialog, QObject, QTimer, QWidget, Signal, Slot
from app.ui.chat_pages import ChatPages
from app.ui.download_tracker import DownloadTracker, bring_up
from app.ui.messages import Notice
from app.ui.models_dialog import ModelsDialog
from app.ui.status import StatusBar
from app.worker import EngineHost
from engine.generation.plan import ALL_PLANS
from engine.model.demo import DEMO
from engine.settings import GenerationSettings

if TYPE_CHECKING:
    from engine.engine import ModelInfo  # imports torch: never at run time on the GUI thread

RECENT_MODELS = 8  # how many models the settings remember as recently used


LOAD_FAILED = "model-load-failed"  # the key of the notice that says why a model did not load


class ModelSwitcher(QObject):
    config_changed = Signal(object)  # the AppConfig that remembers the model just loaded

    def __init__(
        self,
        host: EngineHost,
        status: StatusBar,
        pages: ChatPages,
        downloads: DownloadTracker,
        config: Callable[[], AppConfig],
        reply_running: Callable[[], bool],
        stop_reply: Callable[[], None],
        dialog_parent: QWidget,
    ) -> None:
        """``reply_running`` and ``stop_reply`` tell about and stop the reply being written;
        after it ends, :meth:`reply_ended` loads a model that waited for it."""
        super().__init__(dialog_parent)
        self._host = host
        self._status = status
        self._pages = pages
        self._downloads = downloads
        self._config = config
        self._reply_running = reply_running
        self._stop_reply = stop_reply
        self._dialog_parent = dialog_parent
        self.source: str | None = None  # the model asked for last
        self.info: ModelInfo | None = None  # None while no model is loaded
        self.defaults = GenerationSettings()  # the loaded checkpoint's generation settings
        self.dialog: ModelsDialog | None = None  # Model ▸ Models…, once opened
        self._pending: str | None = None  # a model to load once the current reply ends
        host.worker.model_load_failed.connect(self.on_model_load_failed)

    def load(self, source: str) -> None:
        """Load (or switch to) a model on the engine thread; the window stays responsive."""
        if self._reply_running():
            self._stop_reply()
        self.source = source
        self.info = None
        self._dismiss_load_notice()
        labels = {DEMO: "the demo model", "auto": "the model"}
        self._status.loading_started(labels.get(source, source))
        self._host.load(source)

    def load_when_idle(self, source: str) -> None:
        """Load ``source`` now, or when the reply being written ends (a download that finished,
        a model picked in a dialog: neither should cut a reply short)."""
        if not self._reply_running():
            self.load(source)
            return
        self._pending = source
        notices.info("The chosen model loads when this reply is finished", timeout_ms=8000)

    def reply_ended(self) -> None:
        """The reply being written ended: load the model that waited for it, if any."""
        if self._pending is not None:
            source, self._pending = self._pending, None
            QTimer.singleShot(0, lambda: self.load_when_idle(source))

    def on_model_loaded(self, info: ModelInfo, defaults: GenerationSettings) -> None:
        """A model is in use: the status bar names it, and the settings remember it (and its folder)."""
        self.info = info
        self.defaults = defaults
        self._status.loading_ended()
        self._status.set_model(info.name, info.device, info.dtype, demo=info.is_demo)
        self._dismiss_load_notice()
        config = self._config()
        if info.source and info.source != DEMO and info.source != config.model:
            recent = tuple(dict.fromkeys((info.source, *config.recent_models)))[:RECENT_MODELS]
            changes = {"model": info.source, "recent_models": recent}
            folders = config.model_folders
            if Path(info.source).is_absolute() and info.source not in folders:
                changes["model_folders"] = (*folders, info.source)  # listed in Model ▸ Models… from now on
            self.config_changed.emit(config.with_changes(**changes))

    @Slot(str, str)
    def on_model_load_failed(self, source: str, message: str) -> None:
        self._status.loading_ended()
        self._status.model_label.setText("No model loaded")
        actions = [
            ("Choose model folder…", self.choose_folder),
            ("Try again", lambda: self.load(source)),
        ]
        if source != DEMO:
            actions.append(("Use the demo model", lambda: self.load(DEMO)))
        what = "The demo model" if source == DEMO else f"The model “{source}”"
        notices.tell("error", f"{what} could not be loaded.", message, actions=actions, key=LOAD_FAILED)

    def plans(self) -> frozenset[str]:
        """The reply modes the loaded model carries out (all before one is loaded: sending waits for it).

        A model on a server only writes fresh replies and continues them, so what
        would start canvases from chosen tokens is not offered then.
        """
        return self.info.plans if self.info is not None else ALL_PLANS

    def open_dialog(self) -> ModelsDialog:
        """The installed models (switch, remove, add a folder) and the DiffusionGemma download."""
        previous = self.dialog
        if previous is not None:
            if previous.isVisible() or previous.downloading:  # closed while downloading: the same one
                bring_up(previous)
                return previous
            if previous.shutdown(wait=False):
                previous.deleteLater()  # one closed dialog at a time, not one per opening
        dialog = ModelsDialog(self._config(), self.source, self._dialog_parent)
        dialog.model_chosen.connect(self.load_when_idle)
        dialog.config_changed.connect(self.config_changed)
        self._downloads.track(dialog)
        dialog.show()  # modeless: chatting goes on while a model downloads
        self.dialog = dialog
        return dialog

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self._dialog_parent, "Choose a DiffusionGemma model folder")
        if folder:
            self.load(folder)

    @property
    def load_notice(self) -> Notice | None:
        """Why the last load failed, in the chat shown then (None once a model loads or another is asked)."""
        return notices.shown(LOAD_FAILED)  # type: ignore[return-value]

    def _dismiss_load_notice(self) -> None:
        notices.withdraw(LOAD_FAILED)

"""The first-run dialog: download the real model, use a folder, or start on the demo model.

Shown once, to someone who has not chosen a model yet (see
:func:`app.model_choice.needs_first_run`).  Meanwhile the window loads the
demo model in the background, so closing the dialog leaves a working app on
any machine.  Everything slow — detecting the GPU and planning its VRAM
(torch), asking the Hub for the download size (network), checking a folder
(reads shard headers) — runs off the GUI thread; the dialog fills in when the
answers arrive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from app.config import AppConfig
from app.model_choice import GpuReport, gpu_verdict, needs_first_run, probe_gpu, real_model_ready
from app.qt import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTimer,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.theme import set_style_name
from app.ui.download_dialog import DownloadDialog
from engine.errors import EngineError
from engine.model.demo import DEMO

log = logging.getLogger(__name__)

DIALOG_WIDTH = 640


def check_folder(folder: str):
    """engine.hub.models.folder_model, imported on the worker (it brings torch)."""
    from engine.hub.models import folder_model

    return folder_model(folder)


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("font-weight: 600;")
    label.setWordWrap(True)
    return label


def _text(text: str, object_name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    if object_name:
        label.setObjectName(object_name)
    return label


def _card(*items: QWidget | QHBoxLayout) -> QFrame:
    card = QFrame()
    card.setObjectName("infoNotice")
    layout = QVBoxLayout(card)
    layout.setContentsMargins(16, 12, 16, 14)
    layout.setSpacing(6)
    for item in items:
        if isinstance(item, QWidget):
            layout.addWidget(item)
        else:
            layout.addLayout(item)
    return card


def _button_row(*buttons: QPushButton) -> QHBoxLayout:
    row = QHBoxLayout()
    for button in buttons:
        row.addWidget(button)
    row.addStretch(1)
    return row


class FirstRunDialog(DownloadDialog):
    model_chosen = Signal(str)  # DEMO, a folder path, or the downloaded repo id

    def __init__(self, parent: QWidget | None = None, *, probe: Callable[[], GpuReport] = probe_gpu) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome to DiffusionGemma Chat")
        self.setAccessibleName("Choose a model")
        self.setFixedWidth(DIALOG_WIDTH)
        self._probe = probe
        self._started = False
        self.gpu_report: GpuReport | None = None
        self._lay_out(self._download_card(), self._folder_card(), self._demo_card())
        # Enter means the recommended choice, not whichever button has focus: the demo model until
        # the GPU check says the full model fits.
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)
        self._recommend(download=False)

    def _download_card(self) -> QFrame:
        """(a) download the real model: the GPU's verdict above the download panel."""
        self.gpu_label = _text("Checking your GPU…")
        self.gpu_label.setAccessibleName("GPU verdict")
        self.download_panel.model_chosen.connect(self.on_download_panel_model_chosen)
        self.download_panel.changed.connect(self.refit)
        return _card(
            _heading("Download DiffusionGemma 26B-A4B (google/diffusiongemma-26B-A4B-it)"),
            self.gpu_label,
            self.download_panel,
        )

    def _folder_card(self) -> QFrame:
        """(b) a folder on this computer, with the problem of the last one checked."""
        self.folder_button = QPushButton("Choose folder…")
        self.folder_button.setAccessibleName("Choose a model folder")
        self.folder_button.clicked.connect(self.choose_folder)
        self.folder_message = _text("", "fieldError")
        self.folder_message.setAccessibleName("Model folder problem")
        self.folder_message.setVisible(False)
        return _card(
            _heading("Use a model folder on this computer"),
            _text("A DiffusionGemma checkpoint: config.json, the tokenizer files and the weights."),
            self.folder_message,
            _button_row(self.folder_button),
        )

    def _demo_card(self) -> QFrame:
        """(c) the demo model, which runs anywhere."""
        self.demo_button = QPushButton("Start with the demo model")
        self.demo_button.setAccessibleName("Start with the demo model")
        self.demo_button.clicked.connect(self.choose_demo)
        return _card(
            _heading("Start with the bundled demo model"),
            _text(
                "A tiny model of the same architecture that runs on any CPU: you can watch the canvas "
                "refine, but its replies mean little."
            ),
            _button_row(self.demo_button),
        )

    def _lay_out(self, *cards: QFrame) -> None:
        """Title and introduction, the three cards, and Close at the bottom."""
        title = QLabel("Choose a model to start with")
        title.setStyleSheet("font-size: 15pt; font-weight: 600;")
        intro = _text(
            "DiffusionGemma writes a whole block of text at once and refines it step by step. "
            "The demo model is already loading, so you can start chatting now and download the "
            "real model later (Model ▸ Models…).",
            "muted",
        )
        self.later_button = QPushButton("Close")
        self.later_button.setAccessibleName("Close and keep the demo model")
        self.later_button.setAutoDefault(False)
        self.later_button.clicked.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(_text("You can change the model at any time in Model ▸ Models…", "muted"), 1)
        bottom.addWidget(self.later_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 18)
        layout.setSpacing(12)
        for widget in (title, intro, *cards):
            layout.addWidget(widget)
        layout.addLayout(bottom)

    # --- start-up -------------------------------------------------------------------------------

    def refit(self) -> None:
        """Fit once the event loop has laid out what just changed (a new text measures only then)."""
        QTimer.singleShot(0, self.fit)

    def fit(self) -> None:
        """Grow or shrink to the content: Qt's dialog sizing ignores how wrapped labels need height."""
        height = self.layout().totalHeightForWidth(self.width())
        if height > 0:
            self.setFixedHeight(height)

    def showEvent(self, event) -> None:
        self.fit()
        super().showEvent(event)
        if not self._started:
            self._started = True
            self.tasks.run(self._probe, on_done=self.show_gpu_report, on_failed=self._on_gpu_check_failed)
            self.download_panel.check()

    # --- choices --------------------------------------------------------------------------------

    def choose_demo(self) -> None:
        self._choose(DEMO)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a DiffusionGemma model folder")
        if folder:
            self.check_folder(folder)

    def check_folder(self, folder: str) -> None:
        """Validate ``folder`` off the GUI thread; a complete checkpoint is chosen, else the problem shown."""
        self.folder_button.setEnabled(False)
        set_style_name(self.folder_message, "muted")
        self.folder_message.setText(f"Checking {folder}…")
        self.folder_message.setVisible(True)
        self.refit()
        self.tasks.run(
            check_folder, folder, on_done=self._on_folder_checked, on_failed=self._on_folder_check_failed
        )

    def on_download_panel_model_chosen(self, repo: str) -> None:
        self._choose(repo)

    def _choose(self, source: str) -> None:
        self.model_chosen.emit(source)
        self.accept()

    # --- background answers ---------------------------------------------------------------------

    def show_gpu_report(self, report: GpuReport) -> None:
        """The GPU's verdict, and the download recommended when the model fits."""
        self.gpu_report = report
        self.gpu_label.setText(gpu_verdict(report))
        self.refit()
        self._recommend(download=report.fits)

    def _on_gpu_check_failed(self, error: EngineError) -> None:
        self.gpu_report = GpuReport()
        self.gpu_label.setText(f"The GPU check failed ({error}). The demo model runs on any CPU.")
        self.refit()

    def _on_folder_checked(self, result) -> None:
        self.folder_button.setEnabled(True)
        if result.complete:
            self._choose(result.source)
        else:
            self._folder_problem(
                result.problem or f"{result.path} is not a complete DiffusionGemma checkpoint."
            )

    def _on_folder_check_failed(self, error: EngineError) -> None:
        self.folder_button.setEnabled(True)
        self._folder_problem(str(error))

    def _recommend(self, *, download: bool) -> None:
        """One accent button, which Enter presses: the download when the GPU fits it, else the demo."""
        self.download_panel.set_recommended(download)
        self.download_panel.download_button.setDefault(download)
        set_style_name(self.demo_button, "" if download else "primary")
        self.demo_button.setDefault(not download)

    def _folder_problem(self, text: str) -> None:
        set_style_name(self.folder_message, "fieldError")
        self.folder_message.setText(text)
        self.folder_message.setVisible(True)
        self.refit()


def maybe_show_first_run(
    window,
    config: AppConfig | None = None,
    requested_model: str | None = None,
    *,
    model_ready: Callable[[], bool] = real_model_ready,
    probe: Callable[[], GpuReport] = probe_gpu,
) -> FirstRunDialog | None:
    """Open the first-run dialog over ``window`` when nobody has chosen a model yet; else None.

    Called by app.main after ``window.show()`` and ``window.load_model(...)``
    (which lands on the demo model in that case); the dialog is modeless, so
    the window stays usable during a download that may take hours.  The
    dialog is recorded as shown at once, so it appears once even if the app is
    killed while it is open.
    """
    config = config or window.config
    if not needs_first_run(config, requested_model, model_ready):
        return None
    window._save(window.config.with_changes(first_run_done=True))
    dialog = FirstRunDialog(window, probe=probe)
    dialog.model_chosen.connect(window.load_model_when_idle)
    window.track_download(dialog)  # closed mid-download, it goes on in the status bar
    dialog.show()  # modeless: chat with the demo model while the real one downloads
    return dialog

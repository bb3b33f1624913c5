"""The status bar: model, device, VRAM in use, the chat's context use, the last reply's speed, load progress.

Load progress appears only if loading takes longer than ``SHOW_AFTER_MS``
(as Anki does), so a quick load never flashes a progress bar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.chat import ChatSession
from app.qt import QLabel, QProgressBar, QStatusBar, Qt, QTimer, Signal
from engine.events import LoadProgress

if TYPE_CHECKING:
    from engine.engine import ModelInfo  # imports torch: never at run time on the GUI thread

SHOW_AFTER_MS = 400


def format_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{value:.1f} GiB"


def _thousands(n: int) -> str:
    """12,345 → "12.3K": short enough for the status bar."""
    return f"{n / 1000:.1f}K" if n >= 1000 else str(n)


DEMO_EXPLANATION = "a tiny built-in model: its replies look like text but mean little"


class StatusBar(QStatusBar):
    download_show_requested = Signal()  # the "Show" link of a model download's progress

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Status")
        self.setSizeGripEnabled(False)
        self.model_label = QLabel("No model", self)
        self.model_label.setAccessibleName("Model")
        self.device_label = QLabel("", self)
        self.device_label.setAccessibleName("Device")
        self.vram_label = QLabel("", self)
        self.vram_label.setAccessibleName("VRAM in use")
        self.context_label = QLabel("", self)
        self.context_label.setAccessibleName("Context used by this chat")
        self.speed_label = QLabel("", self)
        self.speed_label.setAccessibleName("Last reply speed")
        self.progress = QProgressBar(self)
        self.progress.setAccessibleName("Model loading progress")
        self.progress.setTextVisible(False)
        self.progress.setVisible(False)
        self.progress_label = QLabel("", self)
        self.progress_label.setVisible(False)
        for widget in (self.model_label, self.device_label, self.vram_label):
            self.addWidget(widget)
        self.addWidget(self.progress_label)
        self.addWidget(self.progress)
        self.download_label = QLabel("", self)
        self.download_label.setAccessibleName("Model download")
        self.download_label.setTextFormat(Qt.TextFormat.RichText)
        self.download_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.LinksAccessibleByMouse | Qt.TextInteractionFlag.LinksAccessibleByKeyboard
        )
        self.download_label.linkActivated.connect(self._on_download_label_link_activated)
        self.download_label.setVisible(False)
        self.addPermanentWidget(self.download_label)
        self.addPermanentWidget(self.context_label)
        self.addPermanentWidget(self.speed_label)
        self._show_timer = QTimer(self)
        self._show_timer.setSingleShot(True)
        self._show_timer.timeout.connect(self._on_show_timer_timeout)
        self._loading = False

    def loading_started(self, source: str) -> None:
        self._loading = True
        self.model_label.setText(f"Loading {source}…")
        self.device_label.setText("")
        self.vram_label.setText("")
        self.context_label.setText("")
        self.progress.setRange(0, 0)
        self.progress_label.setText("")
        self._show_timer.start(SHOW_AFTER_MS)

    def load_progressed(self, event: LoadProgress) -> None:
        if event.total > 0:
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.done)
        self.progress_label.setText(event.message or event.stage)

    def download_progressed(self, repo: str, done_bytes: int, total_bytes: int) -> None:
        """A model download runs (its dialog may be closed): how far, and a link to bring the dialog back."""
        percent = f" {100 * done_bytes // total_bytes}%" if total_bytes > 0 else ""
        name = repo.rsplit("/", 1)[-1]
        self.download_label.setText(f'Downloading {name}{percent} · <a href="show">Show</a>')
        self.download_label.setVisible(True)

    def download_ended(self) -> None:
        self.download_label.setVisible(False)

    def _on_download_label_link_activated(self, _link: str) -> None:
        self.download_show_requested.emit()

    def loading_ended(self) -> None:
        self._loading = False
        self._show_timer.stop()
        self.progress.setVisible(False)
        self.progress_label.setVisible(False)

    def set_model(self, name: str, device: str, dtype: str, *, demo: bool = False) -> None:
        """Show the loaded model; the demo model says in one line what it is, so nobody mistakes it."""
        self.model_label.setText(f"{name} · {DEMO_EXPLANATION}" if demo else name)
        self.model_label.setToolTip(DEMO_EXPLANATION if demo else name)
        self.device_label.setText(f"{device} · {dtype}")

    def set_vram(self, used: int | None) -> None:
        self.vram_label.setText(f"VRAM {format_bytes(used)}" if used is not None else "")

    def set_context(self, used: int | None, limit: int, model_limit: int, *, by_memory: bool) -> None:
        """How full this chat's context is: "context 12.3K / 58.1K" (nothing before its first reply)."""
        if used is None or limit <= 0:
            self.context_label.setText("")
            return
        self.context_label.setText(f"context {_thousands(used)} / {_thousands(limit)}")
        why = (
            f"the most this GPU's memory has room for (the model reads up to {model_limit:,})"
            if by_memory
            else "the most the model reads at once"
        )
        self.context_label.setToolTip(
            f"This chat's last reply used {used:,} tokens of context (its prompt and its reply) "
            f"of {limit:,}, {why}. A longer chat leaves out its oldest messages, or stops, as "
            "Settings ▸ Prompt says."
        )

    def show_context_use(
        self, info: ModelInfo | None, chat: ChatSession | None, used: int | None = None
    ) -> None:
        """The context use of ``chat`` against the loaded model's limit (``used``: a reply's prompt, known
        before its stats; None: what the chat's last reply used)."""
        if info is None or chat is None:
            self.set_context(None, 0, 0, by_memory=False)
            return
        self.set_context(
            used if used is not None else chat.context_used(),
            info.context_length,
            info.model_context_length or info.context_length,
            by_memory=info.context_limited_by_memory,
        )

    def set_speed(self, tokens_per_second: float) -> None:
        self.speed_label.setText(f"last reply {tokens_per_second:.0f} tok/s")

    def _on_show_timer_timeout(self) -> None:
        if self._loading:
            self.progress.setVisible(True)
            self.progress_label.setVisible(True)

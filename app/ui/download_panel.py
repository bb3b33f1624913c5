"""The download panel: size and free space first, then progress, Cancel, Resume, and gated access.

Shared by the first-run dialog and the models dialog.  It drives a
:class:`app.download_task.DownloadTask` and only ever shows the engine's own
messages (what happened, what to do).  A 401/403 from the Hub opens the access
box: the engine's explanation, the licence page as a link that opens only when
clicked, a password-echo token field and **Save token and retry**; the token
goes to huggingface_hub's login (HF_HOME), never to our settings or log.
When the download completes the panel emits ``model_chosen(repo)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.download_task import DownloadCheck, DownloadTask
from app.model_choice import (
    REAL_MODEL,
    FailureKind,
    file_text,
    format_size,
    progress_text,
    shorten_home,
)
from app.qt import (
    QDesktopServices,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    Qt,
    QUrl,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.theme import set_style_name
from engine.hub.names import licence_url

if TYPE_CHECKING:
    from engine.hub.download import DownloadProgress, DownloadResult

PROGRESS_STEPS = 1000


def _label(text: str = "", name: str = "", object_name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if name:
        label.setAccessibleName(name)
    if object_name:
        label.setObjectName(object_name)
    return label


class DownloadPanel(QWidget):
    """States: checking → ready → running → done, with cancelled / failed / access on the way."""

    model_chosen = Signal(str)  # the repo id, once it is completely downloaded
    changed = Signal()  # texts or visible parts changed: a dialog may need to grow

    def __init__(self, repo: str = REAL_MODEL, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.repo = repo
        self.state = "idle"
        self.check_result: DownloadCheck | None = None
        self.task = DownloadTask(repo, self)
        self.task.checked.connect(self.on_task_checked)
        self.task.progressed.connect(self.on_task_progressed)
        self.task.finished.connect(self.on_task_finished)
        self.task.cancelled.connect(self.on_task_cancelled)
        self.task.failed.connect(self.on_task_failed)
        self._build_progress()
        self._build_access_box(repo)
        buttons = self._build_buttons()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.summary)
        layout.addWidget(self.progress)
        layout.addWidget(self.detail)
        layout.addWidget(self.file)
        layout.addWidget(self.message)
        layout.addWidget(self.access_box)
        layout.addLayout(buttons)
        self._show_progress(False)
        self._set_state("idle")

    def _build_progress(self) -> None:
        """The size, the progress bar, the bytes so far, the file being fetched, a message."""
        self.summary = _label("", "Download size")
        self.progress = QProgressBar(self)
        self.progress.setAccessibleName("Download progress")
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.detail = _label("", "Downloaded so far", "muted")
        self.file = _label("", "File being downloaded", "muted")
        self.message = _label("", "Download message")
        self.message.setVisible(False)

    def _build_access_box(self, repo: str) -> None:
        """Gated access: why the Hub refused, the licence link, and a token to retry with."""
        self.access_box = QFrame(self)
        self.access_box.setObjectName("notice")
        self.access_text = _label("", "Why the download was refused")
        url = licence_url(repo)
        self.licence_link = QLabel(f'Licence page: <a href="{url}">{url}</a>')
        self.licence_link.setAccessibleName("Licence page")
        self.licence_link.setTextFormat(Qt.TextFormat.RichText)
        self.licence_link.setOpenExternalLinks(False)
        self.licence_link.setTextInteractionFlags(
            Qt.TextInteractionFlag.LinksAccessibleByMouse | Qt.TextInteractionFlag.LinksAccessibleByKeyboard
        )
        self.licence_link.linkActivated.connect(self._on_licence_link_activated)
        self.token_edit = QLineEdit(self)
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("Hugging Face read token (hf_…)")
        self.token_edit.setAccessibleName("Hugging Face access token")
        self.token_edit.returnPressed.connect(self.save_token_and_retry)
        self.save_token_button = QPushButton("Save token and retry", self)
        self.save_token_button.setAccessibleName("Save the access token and try the download again")
        self.save_token_button.clicked.connect(self.save_token_and_retry)
        token_note = _label(
            "The token is checked with the Hub and saved by huggingface_hub in its own folder (HF_HOME), "
            "where the hf tool finds it too; this app never stores or logs it.",
            "Where the token is kept",
            "muted",
        )
        token_row = QHBoxLayout()
        token_row.addWidget(self.token_edit, 1)
        token_row.addWidget(self.save_token_button)
        access = QVBoxLayout(self.access_box)
        access.setContentsMargins(12, 10, 12, 10)
        access.setSpacing(6)
        access.addWidget(self.access_text)
        access.addWidget(self.licence_link)
        access.addLayout(token_row)
        access.addWidget(token_note)
        self.access_box.setVisible(False)

    def _build_buttons(self) -> QHBoxLayout:
        self.download_button = QPushButton("Download", self)
        self.download_button.setObjectName("primary")
        self.download_button.setAccessibleName("Download the model")
        self.download_button.clicked.connect(self._on_download_button_clicked)
        self.cancel_button = QPushButton("Cancel download", self)
        self.cancel_button.setAccessibleName("Cancel the download")
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        return buttons

    # --- actions -------------------------------------------------------------------------------

    def check(self) -> None:
        """Ask the Hub for the size (off the GUI thread); the panel fills in when it answers."""
        if self.task.running:
            return
        self.summary.setText("Checking the download size…")
        self._set_state("checking")
        self.task.check()

    def start(self, token: str | None = None) -> None:
        """Download or resume (partial files continue where they stopped)."""
        if self.task.running:
            return
        if self.state == "done":
            self.model_chosen.emit(self.repo)
            return
        self._hide_message()
        self.access_box.setVisible(False)
        self._show_progress(True)
        self.detail.setText("Saving the token and checking access…" if token else "Starting…")
        self.file.setText("")
        self._set_state("running")
        self.task.start(token)

    def cancel(self) -> None:
        if self.task.running:
            self.cancel_button.setEnabled(False)
            self.detail.setText("Stopping…")
            self.task.cancel()

    def save_token_and_retry(self) -> None:
        token = self.token_edit.text().strip()
        if not token:
            self._show_message("Paste a read token first (it starts with hf_).", error=True)
            return
        self.token_edit.clear()  # it lives on only in huggingface_hub's token file
        self.start(token)

    def shutdown(self, *, wait: bool = True) -> bool:
        """Cancel a running download and stop its thread (the partial files stay for resume)."""
        return self.task.shutdown(wait=wait)

    # --- task signals --------------------------------------------------------------------------

    def on_task_checked(self, check: DownloadCheck) -> None:
        self.check_result = check
        plan = check.plan
        if plan.offline:
            text = (
                f"The Hub cannot be reached, but {self.repo} is completely downloaded "
                f"({format_size(plan.total_bytes)})."
            )
        elif plan.remaining_bytes == 0:
            text = f"Already downloaded ({format_size(plan.total_bytes)})."
        else:
            text = f"Download size: {format_size(plan.total_bytes)}"
            if plan.already_cached_bytes:
                text += f" ({format_size(plan.already_cached_bytes)} already here; the rest resumes)"
            text += f" · free space: {format_size(check.free_bytes)} in {shorten_home(check.cache_dir)}"
            if check.free_bytes < plan.remaining_bytes:
                text += " — not enough: free some space or point HF_HUB_CACHE to a larger disk."
        self.summary.setText(text)
        if self.state == "checking":
            self._set_state("ready")
        self.changed.emit()

    def on_task_progressed(self, event: DownloadProgress) -> None:
        if event.total_bytes > 0:
            self.progress.setValue(round(PROGRESS_STEPS * event.done_bytes / event.total_bytes))
        if self.cancel_button.isEnabled():
            self.detail.setText(progress_text(event))
        self.file.setText(file_text(event))

    def on_task_finished(self, result: DownloadResult) -> None:
        self.progress.setValue(PROGRESS_STEPS)
        self.summary.setText(f"Downloaded {self.repo} ({format_size(result.plan.total_bytes)}).")
        self.detail.setText(f"Saved in {shorten_home(result.path)}")
        self.file.setText("")
        self._set_state("done")
        self.model_chosen.emit(self.repo)

    def on_task_cancelled(self, _result: DownloadResult | None) -> None:
        self._show_message(
            "Download paused. What arrived is kept: Resume continues where it stopped, "
            "now or after a restart."
        )
        self.detail.setText("")
        self.file.setText("")
        self._set_state("cancelled")

    def on_task_failed(self, message: str, kind: FailureKind) -> None:
        self._show_progress(False)
        if kind == "access":
            self.access_text.setText(message)
            self.access_box.setVisible(True)
            self._hide_message()
            self._set_state("access")
            self.token_edit.setFocus()
            return
        if self.state == "checking":
            self.summary.setText("Download size unknown.")
        self._show_message(message, error=True)
        self._set_state("failed")

    # --- helpers -------------------------------------------------------------------------------

    def _on_download_button_clicked(self) -> None:
        self.start()

    def _on_licence_link_activated(self, url: str) -> None:
        QDesktopServices.openUrl(QUrl(url))

    def _set_state(self, state: str) -> None:
        self.state = state
        partial = bool(self.check_result and self.check_result.plan.already_cached_bytes)
        labels = {
            "idle": "Download",
            "checking": "Download",
            "ready": "Resume download" if partial else "Download",
            "running": "Download",
            "cancelled": "Resume download",
            "failed": "Try again",
            "access": "Try again",
            "done": "Use this model",
        }
        ready = self.check_result is not None and self.check_result.plan.remaining_bytes == 0
        if state == "ready" and ready:
            labels["ready"] = "Use this model"
            self.state = state = "done"
        self.download_button.setText(labels[state])
        self.download_button.setEnabled(state not in ("checking", "running"))
        self.download_button.setVisible(state != "running")  # the primary style has no disabled look
        self.cancel_button.setVisible(state == "running")
        self.cancel_button.setEnabled(state == "running")
        self.changed.emit()

    def set_recommended(self, on: bool) -> None:
        """Give the Download button the accent style only when downloading is the recommended choice."""
        set_style_name(self.download_button, "primary" if on else "")

    def _show_progress(self, on: bool) -> None:
        for widget in (self.progress, self.detail, self.file):
            widget.setVisible(on)

    def _show_message(self, text: str, *, error: bool = False) -> None:
        set_style_name(self.message, "fieldError" if error else "muted")
        self.message.setText(text)
        self.message.setVisible(True)
        self.changed.emit()

    def _hide_message(self) -> None:
        self.message.setVisible(False)

"""Model ▸ Models… ▸ Add a server…: a vLLM (OpenAI-compatible) server's address, API key and model.

"Test connection" asks the server for its models (``GET /v1/models``) off the GUI
thread and says what is wrong in the dialog (unreachable, TLS, 401/403, timeout,
no DiffusionGemma model); only DiffusionGemma models are offered.  Save keeps
the server in the list (app.servers) and its key in the key store
(app.server_keys), then emits ``server_added(source)``.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from app.qt import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.servers import ServerProfile, add_server
from app.tasks import Tasks
from app.theme import set_style_name
from engine.errors import EngineError
from engine.server.client import ServedModel, ServerAddress, list_models

log = logging.getLogger(__name__)


class ServerDialog(QDialog):
    server_added = Signal(str)  # the new server's source, "server:NAME"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a server")
        self.setAccessibleName("Add a server")
        self.setMinimumWidth(520)
        self.tasks = Tasks(self)
        self.url_edit = QLineEdit(self)
        self.url_edit.setPlaceholderText("http://host:8000")
        self.url_edit.setAccessibleName("Server address")
        self.key_edit = QLineEdit(self)
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("only if the server asks for one")
        self.key_edit.setAccessibleName("API key")
        self.name_edit = QLineEdit(self)
        self.name_edit.setPlaceholderText("the address, unless you name it")
        self.name_edit.setAccessibleName("Name")
        self.model_box = QComboBox(self)
        self.model_box.setAccessibleName("Model")
        self.test_button = QPushButton("Test connection", self)
        self.test_button.clicked.connect(self.test_connection)
        self.status = QLabel("Enter the address of a vLLM server, then Test connection.", self)
        self.status.setWordWrap(True)
        self.status.setObjectName("muted")
        self.status.setAccessibleName("Connection status")
        form = QFormLayout()
        form.addRow("Address", self.url_edit)
        form.addRow("API key", self.key_edit)
        form.addRow("", self.test_button)
        form.addRow("Model", self.model_box)
        form.addRow("Name", self.name_edit)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, parent=self
        )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.url_edit.textChanged.connect(self._on_url_edit_text_changed)
        self.key_edit.textChanged.connect(self._on_url_edit_text_changed)
        self._tested_url = ""
        self._update_buttons()

    def address(self, model: str = "") -> ServerAddress:
        return ServerAddress(self.url_edit.text().strip(), model, self.key_edit.text().strip())

    def test_connection(self) -> None:
        """Ask the server for its models, off the GUI thread."""
        if not self.url_edit.text().strip():
            self._say("Enter the server's address first, for example http://host:8000.", error=True)
            return
        self.test_button.setEnabled(False)
        self._say(f"Connecting to {self.address().shown}…")
        self.tasks.run(
            list_models,
            self.address(),
            on_done=self._on_models_listed,
            on_failed=self._on_test_failed,
            owner=self,
        )

    def save(self) -> None:
        model = self.model_box.currentText()
        if not model or self._tested_url != self.url_edit.text().strip():
            self._say("Test the connection first, then pick a model.", error=True)
            return
        address = self.address(model)
        name = self.name_edit.text().strip() or urlsplit(address.shown).netloc or address.shown
        try:
            add_server(ServerProfile(name, address.url, model), address.api_key)
        except OSError as error:
            log.warning("cannot save the server %s: %s", name, error)
            self._say(
                f"The server could not be saved ({error}). Check that the config folder is writable.",
                error=True,
            )
            return
        self.server_added.emit(ServerProfile(name, address.url, model).source)
        self.accept()

    def _on_models_listed(self, models: list[ServedModel]) -> None:
        self.test_button.setEnabled(True)
        usable = [m.id for m in models if m.is_diffusiongemma]
        self.model_box.clear()
        self.model_box.addItems(usable)
        if not usable:
            served = ", ".join(m.id for m in models[:6]) or "nothing"
            self._say(
                f"{self.address().shown} answers, but serves no DiffusionGemma model (it serves: {served}). "
                "Serve google/diffusiongemma-26B-A4B-it with vllm serve.",
                error=True,
            )
            return
        self._tested_url = self.url_edit.text().strip()
        self._say(
            f"Connected: {len(usable)} DiffusionGemma model{'s' if len(usable) != 1 else ''}. Save adds it."
        )
        self._update_buttons()

    def _on_test_failed(self, error: EngineError) -> None:
        self.test_button.setEnabled(True)
        self._say(str(error), error=True)

    def _on_url_edit_text_changed(self, _text: str) -> None:
        self._tested_url = ""  # a changed address or key must be tested again
        self.model_box.clear()
        self._update_buttons()

    def _update_buttons(self) -> None:
        ready = bool(self._tested_url) and self.model_box.count() > 0
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(ready)

    def _say(self, text: str, *, error: bool = False) -> None:
        set_style_name(self.status, "fieldError" if error else "muted")
        self.status.setText(text)

    def done(self, result: int) -> None:
        self.tasks.shutdown(0)  # a test still waiting on a dead server must not hold the dialog
        super().done(result)

"""Model ▸ Models…: the installed models, which one is in use, and Use / Remove / Add / Download.

The list is rebuilt from a scan each time (the demo model, DiffusionGemma repos
in the Hugging Face cache, the folders the user added), because other tools
share the cache.  The scan, folder checks and deletions run off the GUI thread
(they import torch and read shard headers).  The dialog never changes the
window itself: it emits ``model_chosen(source)`` and ``config_changed(config)``
(the new folder list), and the window loads and saves.
"""

from __future__ import annotations

import logging

from app.config import AppConfig
from app.model_choice import ModelEntry, format_size, remove_entry, scan_models
from app.qt import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    Qt,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.theme import set_style_name
from app.ui.download_dialog import DownloadDialog
from app.ui.first_run import check_folder
from app.ui.server_dialog import ServerDialog
from app.ui.server_entries import remove_server_entry, server_entries
from engine.errors import EngineError

log = logging.getLogger(__name__)

ENTRY_ROLE = Qt.ItemDataRole.UserRole


class ModelsDialog(DownloadDialog):
    model_chosen = Signal(str)  # a source for window.load_model
    config_changed = Signal(object)  # AppConfig with the new model_folders

    def __init__(self, config: AppConfig, current_source: str | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.setAccessibleName("Models")
        self.setMinimumSize(720, 460)
        self.config = config
        self.current_source = current_source
        self.entries: list[ModelEntry] = []
        self._select_after_scan: str | None = None
        self._note = ""  # what the last action did, shown with the next scan's summary
        self._build_list()
        top = QHBoxLayout()
        top.setSpacing(12)
        top.addWidget(self.list, 1)
        top.addLayout(self._build_buttons())
        self._build_download_card()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 16)
        layout.setSpacing(10)
        layout.addLayout(top, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.download_card)
        self._update_buttons()
        self.refresh()

    def _build_list(self) -> None:
        """The installed models, and the line under them that says what the last scan or action found."""
        self.list = QListWidget(self)
        self.list.setAccessibleName("Installed models")
        self.list.setObjectName("modelList")
        self.list.setWordWrap(True)
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)  # re-wrap the rows when the dialog resizes
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setSpacing(2)
        self.list.setStyleSheet("QListWidget::item { padding: 6px 8px; border-radius: 6px; }")
        self.list.currentItemChanged.connect(self._on_list_current_item_changed)
        self.list.itemDoubleClicked.connect(self._on_list_item_double_clicked)
        self.status = QLabel("Looking for installed models…", self)
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Models status")

    def _build_buttons(self) -> QVBoxLayout:
        """Use / Remove / Add folder / Download down the side, Close at the bottom."""
        self.use_button = QPushButton("Use", self)
        self.use_button.setObjectName("primary")
        self.use_button.setAccessibleName("Use the selected model")
        self.use_button.clicked.connect(self.use_selected)
        self.remove_button = QPushButton("Remove…", self)
        self.remove_button.setAccessibleName("Remove the selected model")
        self.remove_button.clicked.connect(self.remove_selected)
        self.add_button = QPushButton("Add folder…", self)
        self.add_button.setAccessibleName("Add a model folder")
        self.add_button.clicked.connect(self.add_folder)
        self.server_button = QPushButton("Add a server…", self)
        self.server_button.setAccessibleName("Add a model server")
        self.server_button.clicked.connect(self.add_server)
        self.download_button = QPushButton("Download DiffusionGemma…", self)
        self.download_button.setAccessibleName("Download DiffusionGemma")
        self.download_button.clicked.connect(self.show_download)
        self.close_button = QPushButton("Close", self)
        self.close_button.setAutoDefault(False)
        self.close_button.clicked.connect(self.reject)
        side = QVBoxLayout()
        side.setSpacing(8)
        for button in (
            self.use_button,
            self.remove_button,
            self.add_button,
            self.server_button,
            self.download_button,
        ):
            side.addWidget(button)
        side.addStretch(1)
        side.addWidget(self.close_button)
        return side

    def _build_download_card(self) -> None:
        """The download panel in a card, hidden until Download is clicked."""
        self.download_panel.model_chosen.connect(self.on_download_panel_model_chosen)
        self.download_card = QFrame(self)
        self.download_card.setObjectName("infoNotice")
        card = QVBoxLayout(self.download_card)
        card.setContentsMargins(14, 10, 14, 12)
        heading = QLabel("Download DiffusionGemma 26B-A4B (google/diffusiongemma-26B-A4B-it)")
        heading.setStyleSheet("font-weight: 600;")
        card.addWidget(heading)
        card.addWidget(self.download_panel)
        self.download_card.setVisible(False)

    # --- the list -------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Scan again, off the GUI thread (the cache scan and 4-bit checks import torch)."""
        self.tasks.run(
            scan_models,
            tuple(self.config.model_folders),
            on_done=self._fill,
            on_failed=lambda error: self._action_failed("The model list failed", error),
        )

    def _fill(self, entries: list[ModelEntry]) -> None:
        selected = self.selected_entry()
        keep = self._select_after_scan or (selected.source if selected else self.current_source)
        self._select_after_scan = None
        entries = [*entries, *server_entries()]
        self.entries = entries
        self.list.clear()
        for entry in entries:
            current = entry.source == self.current_source
            item = QListWidgetItem(entry.describe(current))
            item.setData(ENTRY_ROLE, entry)
            item.setToolTip(entry.problem or entry.source)
            if current:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.list.addItem(item)
            if entry.source == keep:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)
        cached = sum(1 for e in entries if e.kind == "cache")
        folders = sum(1 for e in entries if e.kind == "folder")
        note, self._note = self._note, ""
        self._set_status(
            f"{note}The demo model, {cached} in the Hugging Face cache, {folders} added "
            f"folder{'s' if folders != 1 else ''}. Double-click a model to use it."
        )
        self._update_buttons()

    def selected_entry(self) -> ModelEntry | None:
        item = self.list.currentItem()
        return item.data(ENTRY_ROLE) if item is not None else None

    def select(self, source: str) -> bool:
        for row in range(self.list.count()):
            if self.list.item(row).data(ENTRY_ROLE).source == source:
                self.list.setCurrentRow(row)
                return True
        return False

    def _update_buttons(self) -> None:
        entry = self.selected_entry()
        self.use_button.setEnabled(entry is not None and entry.complete)
        self.remove_button.setEnabled(entry is not None and entry.removable)
        folder = entry is not None and entry.kind == "folder"
        self.remove_button.setText("Remove from list…" if folder else "Remove…")

    def _on_list_current_item_changed(self, *_items) -> None:
        self._update_buttons()

    def _on_list_item_double_clicked(self, _item) -> None:
        self.use_selected()

    # --- actions --------------------------------------------------------------------------------

    def use_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None or not entry.complete:
            return
        self.model_chosen.emit(entry.source)
        self.accept()

    def confirm(self, title: str, text: str) -> bool:
        """Ask yes/no (QMessageBox.question; tests patch it)."""
        answer = QMessageBox.question(
            self,
            title,
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def remove_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None or not entry.removable:
            return
        in_use = ""
        if self._is_current(entry):
            in_use = " It is the model in use: it stays loaded until you switch."
        if entry.kind == "server":
            if self.confirm(
                "Remove server", f"Take {entry.name} off the model list? Its API key is deleted.{in_use}"
            ):
                remove_server_entry(entry)
                self.refresh()
            return
        if entry.kind == "folder":
            if self.confirm(
                "Remove from the list",
                f"Take {entry.source} off the model list? Its files are not deleted.{in_use}",
            ):
                folders = tuple(f for f in self.config.model_folders if f != entry.source)
                self._change_config(self.config.with_changes(model_folders=folders))
                self.refresh()
            return
        if self.confirm(
            "Remove model",
            f"Delete {entry.source} from the Hugging Face cache? This frees "
            f"{format_size(entry.size_bytes)} (every cached revision and unfinished download).{in_use}",
        ):
            self.remove_button.setEnabled(False)
            self._set_status(f"Removing {entry.source}…")
            self.tasks.run(
                remove_entry,
                entry,
                on_done=self._on_removed,
                on_failed=lambda error: self._action_failed("The model could not be removed", error),
            )

    def add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a DiffusionGemma model folder")
        if folder:
            self.add_button.setEnabled(False)
            self._set_status(f"Checking {folder}…")
            self.tasks.run(
                check_folder, folder, on_done=self._on_folder_checked, on_failed=self._on_folder_check_failed
            )

    def add_server(self) -> ServerDialog:
        """Model ▸ Models… ▸ Add a server…: the new server is selected in the list once saved."""
        dialog = ServerDialog(self)
        dialog.server_added.connect(self.on_server_dialog_server_added)
        dialog.open()
        return dialog

    def on_server_dialog_server_added(self, source: str) -> None:
        self._select_after_scan = source
        self.refresh()

    def show_download(self) -> None:
        if not self.download_card.isVisible():
            # Grow by the card rather than squeeze the list.
            self.download_card.setVisible(True)
            grow = self.download_card.sizeHint().height() + self.layout().spacing()
            self.resize(self.width(), self.height() + grow)
        if self.download_panel.state == "idle":
            self.download_panel.check()

    def on_download_panel_model_chosen(self, repo: str) -> None:
        self.model_chosen.emit(repo)
        self.current_source = repo
        self.refresh()

    # --- background answers ---------------------------------------------------------------------

    def _on_removed(self, freed_bytes: int) -> None:
        self._note = f"Removed: {format_size(freed_bytes)} freed. "
        self.refresh()

    def _on_folder_checked(self, result) -> None:
        self.add_button.setEnabled(True)
        if not result.complete:
            problem = result.problem or f"{result.path} is not a complete DiffusionGemma checkpoint."
            self._set_status(problem, error=True)
            return
        if result.source not in self.config.model_folders:
            folders = (*self.config.model_folders, result.source)
            self._change_config(self.config.with_changes(model_folders=folders))
        self._select_after_scan = result.source
        self.refresh()

    def _on_folder_check_failed(self, error: EngineError) -> None:
        self.add_button.setEnabled(True)
        self._action_failed("The folder could not be checked", error)

    def _action_failed(self, what: str, error: EngineError) -> None:
        """Said in the dialog's status line, beside the list it concerns (the dialog may hide the window)."""
        self._set_status(f"{what}: {error}", error=True)
        self._update_buttons()

    def _set_status(self, text: str, *, error: bool = False) -> None:
        set_style_name(self.status, "fieldError" if error else "muted")
        self.status.setText(text)

    def _change_config(self, config: AppConfig) -> None:
        self.config = config
        self.config_changed.emit(config)

    def _is_current(self, entry: ModelEntry) -> bool:
        return entry.source == self.current_source

    # --- closing --------------------------------------------------------------------------------

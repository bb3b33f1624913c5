"""Chat ▸ Recently deleted…: bring back a chat deleted days ago, or delete it for good now.

Deleting a chat only moves it to the trash (the sidebar's Undo lasts ten
seconds); the store keeps it for :data:`~app.store.store.DEFAULT_TRASH_DAYS`
days before it is really deleted at a later start.  Without this dialog those
chats could not be reached at all, which is the "I deleted the wrong chat
yesterday" complaint every chat app hears.  The dialog only shows and asks;
:class:`Trash` restores or purges through the store, and the window opens what came back.
"""

from __future__ import annotations

from collections.abc import Sequence

from app import notices
from app.qt import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QObject,
    QPushButton,
    Qt,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.store import ConversationInfo, Store, StoreError
from app.store.dates import format_moment
from app.store.store import DEFAULT_TRASH_DAYS
from app.ui.sidebar import ID_ROLE, NEW_CHAT_TITLE


class TrashDialog(QDialog):
    restore_requested = Signal(list)  # conversation ids
    purge_requested = Signal(list)  # conversation ids, confirmed by the user

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Recently deleted")
        self.setAccessibleName("Recently deleted chats")
        self.resize(520, 420)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(10)
        intro = QLabel(
            f"Deleted chats are kept for {DEFAULT_TRASH_DAYS} days, then deleted for good. "
            "Select chats to bring them back.",
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.list = QListWidget(self)
        self.list.setObjectName("trashList")
        self.list.setAccessibleName("Deleted chats")
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.list.itemSelectionChanged.connect(self._on_list_item_selection_changed)
        self.list.itemDoubleClicked.connect(lambda _item: self._on_restore_button_clicked())
        layout.addWidget(self.list, 1)
        self.empty = QLabel(f"Nothing here: no chat was deleted in the last {DEFAULT_TRASH_DAYS} days.", self)
        self.empty.setObjectName("muted")
        self.empty.setWordWrap(True)
        layout.addWidget(self.empty)
        row = QHBoxLayout()
        self.restore_button = QPushButton("Restore", self)
        self.restore_button.setObjectName("primary")
        self.restore_button.setToolTip("Bring the selected chats back to the chat list")
        self.restore_button.clicked.connect(self._on_restore_button_clicked)
        self.purge_button = QPushButton("Delete now…", self)
        self.purge_button.setToolTip("Delete the selected chats for good, without waiting")
        self.purge_button.clicked.connect(self._on_purge_button_clicked)
        row.addWidget(self.restore_button)
        row.addWidget(self.purge_button)
        row.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        close.rejected.connect(self.reject)
        row.addWidget(close)
        layout.addLayout(row)
        self.confirm: QMessageBox | None = None
        self.set_chats([])

    def set_chats(self, chats: Sequence[ConversationInfo]) -> None:
        """List the deleted chats, most recently deleted first."""
        self.list.clear()
        for info in sorted(chats, key=lambda c: c.deleted_at or 0.0, reverse=True):
            title = info.title or NEW_CHAT_TITLE
            when = format_moment(info.deleted_at) if info.deleted_at is not None else ""
            item = QListWidgetItem(f"{title}\ndeleted {when}")
            item.setData(ID_ROLE, info.id)
            item.setToolTip(title)
            self.list.addItem(item)
        self.list.setVisible(bool(chats))
        self.empty.setVisible(not chats)
        self._on_list_item_selection_changed()

    def chat_ids(self) -> list[int]:
        return [int(self.list.item(row).data(ID_ROLE)) for row in range(self.list.count())]

    def selected_ids(self) -> list[int]:
        rows = sorted(self.list.row(item) for item in self.list.selectedItems())
        return [int(self.list.item(row).data(ID_ROLE)) for row in rows]

    def _on_list_item_selection_changed(self) -> None:
        chosen = bool(self.list.selectedItems())
        self.restore_button.setEnabled(chosen)
        self.purge_button.setEnabled(chosen)

    def _on_restore_button_clicked(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.restore_requested.emit(ids)

    def _on_purge_button_clicked(self) -> None:
        """Ask first: this is the one deletion that cannot be undone."""
        ids = self.selected_ids()
        if not ids:
            return
        what = "this chat" if len(ids) == 1 else f"these {len(ids)} chats"
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Delete for good",
            f"Delete {what} for good? This cannot be undone.",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        delete = box.addButton("Delete for good", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(lambda button: self._on_confirm_clicked(button is delete, ids))
        self.confirm = box
        box.open()

    def _on_confirm_clicked(self, confirmed: bool, ids: list[int]) -> None:
        self.confirm = None
        if confirmed:
            self.purge_requested.emit(ids)


class Trash(QObject):
    """Chat ▸ Recently deleted…: one dialog per window, kept in step with the store."""

    restored = Signal(list)  # the conversation ids brought back (the window opens the first)

    def __init__(self, store: Store, dialog_parent: QWidget, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._dialog_parent = dialog_parent
        self.dialog: TrashDialog | None = None

    def open(self) -> TrashDialog:
        """Show the chats in the trash (the same dialog again if it is open)."""
        if self.dialog is None:
            self.dialog = TrashDialog(self._dialog_parent)
            self.dialog.restore_requested.connect(self._on_dialog_restore_requested)
            self.dialog.purge_requested.connect(self._on_dialog_purge_requested)
        self._fill()
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def _fill(self) -> None:
        try:
            self.dialog.set_chats(self._store.deleted_conversations())
        except StoreError as error:
            notices.failed("The deleted chats could not be listed", error)

    def _on_dialog_restore_requested(self, chat_ids: list[int]) -> None:
        restored: list[int] = []
        try:
            for chat_id in chat_ids:
                self._store.restore_conversation(chat_id)
                restored.append(chat_id)
        except StoreError as error:
            notices.failed("The chat could not be restored", error)
        self._fill()
        if restored:
            self.restored.emit(restored)

    def _on_dialog_purge_requested(self, chat_ids: list[int]) -> None:
        try:
            self._store.purge_deleted(0, chat_ids)
        except StoreError as error:
            notices.failed("The chats could not be deleted", error)
        self._fill()

"""The list of chats, newest first, with a New chat button."""

from __future__ import annotations

from app.qt import QFrame, QLabel, QListWidget, QListWidgetItem, QPushButton, Qt, QVBoxLayout, Signal

SIDEBAR_WIDTH = 240


class Sidebar(QFrame):
    new_chat_clicked = Signal()
    chat_selected = Signal(int)  # chat id

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.setAccessibleName("Chats")
        self.setMinimumWidth(180)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 14, 12, 12)
        layout.setSpacing(10)
        title = QLabel("DiffusionGemma", self)
        title.setObjectName("sidebarTitle")
        layout.addWidget(title)
        self.new_button = QPushButton("＋  New chat", self)
        self.new_button.setObjectName("primary")
        self.new_button.setToolTip("New chat (Ctrl+N)")
        self.new_button.setAccessibleName("New chat")
        self.new_button.clicked.connect(self.new_chat_clicked)
        layout.addWidget(self.new_button)
        self.list = QListWidget(self)
        self.list.setObjectName("chatList")
        self.list.setAccessibleName("Chat list")
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.currentItemChanged.connect(self._on_list_current_item_changed)
        layout.addWidget(self.list, 1)

    def add_chat(self, chat_id: int, title: str) -> None:
        item = QListWidgetItem(title)
        item.setData(Qt.ItemDataRole.UserRole, chat_id)
        item.setToolTip(title)
        self.list.insertItem(0, item)
        self.list.setCurrentItem(item)

    def set_title(self, chat_id: int, title: str) -> None:
        item = self._item(chat_id)
        if item is not None:
            item.setText(title)
            item.setToolTip(title)

    def select(self, chat_id: int) -> None:
        item = self._item(chat_id)
        if item is not None and self.list.currentItem() is not item:
            self.list.setCurrentItem(item)

    def _item(self, chat_id: int) -> QListWidgetItem | None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == chat_id:
                return item
        return None

    def _on_list_current_item_changed(self, current: QListWidgetItem | None, _previous) -> None:
        if current is not None:
            self.chat_selected.emit(int(current.data(Qt.ItemDataRole.UserRole)))

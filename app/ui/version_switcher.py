"""The "‹ 2/3 ›" control beside a message that has other versions (edits, regenerations).

Nothing in a chat is ever overwritten: editing a message or regenerating a
reply adds a sibling in the store's message tree.  This control walks those
siblings; the window switches the shown branch to the chosen one.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.qt import QHBoxLayout, QLabel, Qt, QToolButton, QWidget, Signal


class VersionSwitcher(QWidget):
    version_selected = Signal(int)  # the chosen sibling's message id

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("versionSwitcher")
        self.setAccessibleName("Message versions")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.previous_button = self._arrow("‹", "Previous version", -1)
        self.label = QLabel("", self)
        self.label.setObjectName("versionLabel")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setAccessibleName("Version")
        self.next_button = self._arrow("›", "Next version", +1)
        layout.addWidget(self.previous_button)
        layout.addWidget(self.label)
        layout.addWidget(self.next_button)
        self._ids: tuple[int, ...] = ()
        self._index = 0
        self.setVisible(False)

    def _arrow(self, text: str, name: str, delta: int) -> QToolButton:
        button = QToolButton(self)
        button.setObjectName("versionArrow")
        button.setText(text)
        button.setToolTip(name)
        button.setAccessibleName(name)
        button.clicked.connect(lambda: self._move(delta))
        return button

    def set_versions(self, ids: Sequence[int], index: int) -> None:
        """Show version ``index + 1`` of ``len(ids)``; hidden while there is only one."""
        self._ids = tuple(ids)
        self._index = index
        count = len(self._ids)
        self.label.setText(f"{index + 1}/{count}")
        self.label.setAccessibleDescription(f"version {index + 1} of {count}")
        self.previous_button.setEnabled(index > 0)
        self.next_button.setEnabled(index < count - 1)
        self.setVisible(count > 1)

    @property
    def index(self) -> int:
        return self._index

    @property
    def count(self) -> int:
        return len(self._ids)

    def select(self, index: int) -> None:
        """Choose version ``index`` (0-based), as a click on the arrows would."""
        if 0 <= index < len(self._ids) and index != self._index:
            self.version_selected.emit(self._ids[index])

    def _move(self, delta: int) -> None:
        self.select(self._index + delta)

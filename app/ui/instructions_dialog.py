"""Instructions for one chat: a system prompt of its own, instead of the default from Settings.

One chat is a Python tutor, another answers in French: users of chat apps set
this per conversation, not once for all of them.  The store already keeps a
system text per conversation (``Store.set_system_prompt``); this dialog edits
it.  Empty means "use the default".
"""

from __future__ import annotations

from app.qt import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, Qt, QVBoxLayout

MAX_PREVIEW = 160


class InstructionsDialog(QDialog):
    def __init__(self, title: str, instructions: str, default: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Instructions for this chat")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        heading = QLabel(f"The model follows these in every reply of “{title}”.", self)
        heading.setWordWrap(True)
        layout.addWidget(heading)
        self.edit = QPlainTextEdit(self)
        self.edit.setObjectName("chatInstructions")
        self.edit.setAccessibleName("Instructions for this chat")
        self.edit.setPlainText(instructions)
        self.edit.setPlaceholderText("For example: Answer in French. Explain code step by step.")
        self.edit.setMinimumHeight(140)
        layout.addWidget(self.edit)
        preview = default if len(default) <= MAX_PREVIEW else default[:MAX_PREVIEW].rstrip() + "…"
        self.default_note = QLabel(
            f"When this is empty, the default from Settings applies: “{preview}”"
            if default
            else "When this is empty, the chat has no instructions (Settings ▸ System prompt sets a default)",
            self,
        )
        self.default_note.setObjectName("muted")
        self.default_note.setWordWrap(True)
        self.default_note.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.default_note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.clear_button = buttons.addButton("Use the default", QDialogButtonBox.ButtonRole.ResetRole)
        self.clear_button.clicked.connect(self.edit.clear)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.edit.setFocus()

    def instructions(self) -> str:
        return self.edit.toPlainText().strip()

"""Where the user writes: a growing text box, pending attachments, attach and Send/Stop buttons.

Enter sends and Shift+Enter starts a new line (what chat users expect; those who
write long prompts can choose Ctrl+Enter to send in Settings);
pasting an image or dropping files attaches them instead of inserting text.
The composer only collects; the window validates, sends and stops.
"""

from __future__ import annotations

from pathlib import Path

from app.config import SendKey
from app.media_probe import MediaInfo
from app.qt import (
    QFrame,
    QHBoxLayout,
    QImage,
    QKeyEvent,
    QMimeData,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    Qt,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.theme import restyle
from app.ui.buttons import tool_button
from app.ui.media_widgets import AttachmentChip
from engine.generation.gaps import has_gaps

MAX_LINES = 10
REVISE_TIP = (
    "Revise the last reply in place (Ctrl+R): say what to change, and the new reply starts from the "
    "last one instead of noise, keeping what still fits"
)
FILL_TIP = (
    "Fill gaps (Ctrl+Shift+F): send your text as a draft; the model keeps it word for word and writes "
    "only the gaps you marked [...] (about 24 tokens) or [...N] (about N tokens), reading both sides. "
    "The chat's instructions apply"
)
REVISE_PLACEHOLDER = "How should the last reply change?  (shorter, friendlier, in French …)"


def local_files(mime: QMimeData) -> list[Path]:
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


class ComposerEdit(QPlainTextEdit):
    """The text box: Enter submits, pasted images and dropped files become attachments."""

    submitted = Signal()
    image_pasted = Signal(QImage)
    files_dropped = Signal(list)
    edit_last_requested = Signal()  # Up in an empty box: edit the last message sent, as in Slack or Discord

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("composerEdit")
        self.setAccessibleName("Message")
        self.send_key: SendKey = "enter"
        self.set_send_key("enter")
        self.setTabChangesFocus(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)
        self._fit_height()

    def set_send_key(self, send_key: SendKey) -> None:
        """Which key sends: Enter (Shift+Enter: new line), or Ctrl+Enter (Enter: new line)."""
        self.send_key = send_key
        if send_key == "ctrl+enter":
            self.setAccessibleDescription("Ctrl+Enter sends, Enter starts a new line")
            self.setPlaceholderText("Message DiffusionGemma…  (Ctrl+Enter to send)")
        else:
            self.setAccessibleDescription("Enter sends, Shift+Enter starts a new line")
            self.setPlaceholderText("Message DiffusionGemma…  (Enter to send, Shift+Enter for a new line)")

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            modifiers = event.modifiers()
            if modifiers & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
                return
            control = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
            if self.send_key == "ctrl+enter" and not control:
                self.insertPlainText("\n")
                return
            if not modifiers & (Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier):
                self.submitted.emit()
                return
        if (
            event.key() == Qt.Key.Key_Up
            and event.modifiers() == Qt.KeyboardModifier.NoModifier
            and not self.toPlainText()
        ):
            self.edit_last_requested.emit()
            return
        super().keyPressEvent(event)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        return source.hasImage() or bool(local_files(source)) or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:
        files = local_files(source)  # the probe recognises or refuses each one
        if files:
            self.files_dropped.emit(files)
            return
        if source.hasImage():
            image = source.imageData()
            if isinstance(image, QImage) and not image.isNull():
                self.image_pasted.emit(image)
                return
        super().insertFromMimeData(source)

    def _fit_height(self, *_args) -> None:
        line = self.fontMetrics().lineSpacing()
        needed = round(self.document().size().height())  # in lines for a plain-text document
        lines = max(1, min(MAX_LINES, needed))
        policy = (
            Qt.ScrollBarPolicy.ScrollBarAsNeeded
            if needed > MAX_LINES
            else Qt.ScrollBarPolicy.ScrollBarAlwaysOff
        )
        if self.verticalScrollBarPolicy() != policy:
            self.setVerticalScrollBarPolicy(policy)
        margins = self.contentsMargins()
        doc_margin = self.document().documentMargin()
        height = int(lines * line + 2 * doc_margin + margins.top() + margins.bottom())
        if self.height() != height:
            self.setFixedHeight(height)


class Composer(QFrame):
    send_clicked = Signal()
    stop_clicked = Signal()
    attach_clicked = Signal()
    instructions_clicked = Signal()
    fill_clicked = Signal()  # Fill gaps: the text is a draft whose [...] gaps the model fills
    attachment_removed = Signal(object)  # Path
    attachment_clicked = Signal(object, str)  # Path, its name: open it

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("composer")
        self.setAccessibleName("Composer")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 8, 10, 8)
        outer.setSpacing(6)
        self.strip = QWidget(self)
        self.strip.setAccessibleName("Attachments")
        self._strip_layout = QHBoxLayout(self.strip)
        self._strip_layout.setContentsMargins(0, 4, 0, 0)
        self._strip_layout.setSpacing(8)
        self._strip_layout.addStretch(1)
        self.strip.setVisible(False)
        outer.addWidget(self.strip)
        self.edit = ComposerEdit(self)
        outer.addWidget(self.edit)
        outer.addLayout(self._button_row())
        self._chips: dict[Path, AttachmentChip] = {}
        self._generating = False
        self.revised_part = ""  # with Revise on: only this text of the last reply is written again
        self._fillable = True  # the loaded model fills gaps (a model on a server does not)
        self.edit.textChanged.connect(self._update_send_enabled)
        self._update_send_enabled()

    def _button_row(self) -> QHBoxLayout:
        """Attach, Think, Revise, Instructions, Fill gaps … Send."""
        self.attach_button = tool_button(
            self,
            "＋ Attach",
            "Attach images, videos, text files or PDFs (or paste / drop them)",
            name="Attach files",
            clicked=self.attach_clicked,
        )
        self.think_button = tool_button(
            self, "Think", "Let the model reason before it answers", name="Thinking", checkable=True
        )
        self.revise_button = tool_button(
            self, "Revise", REVISE_TIP, name="Revise the last reply in place", checkable=True
        )
        self.revise_button.setEnabled(False)  # until the chat ends with a reply to revise
        self.revise_button.toggled.connect(self._on_revise_button_toggled)
        self.instructions_button = tool_button(  # checked: this chat has instructions of its own
            self,
            "Instructions",
            "Instructions the model follows in this chat",
            name="Instructions for this chat",
            checkable=True,
            clicked=self._on_instructions_button_clicked,
        )
        self.fill_button = tool_button(
            self, "Fill gaps", FILL_TIP, name="Fill the gaps in this draft", clicked=self.fill_clicked
        )
        self.fill_button.setVisible(False)  # offered once the text has a gap: no width taken otherwise
        self.send_button = QPushButton("Send", self)
        self.send_button.setObjectName("sendButton")
        self.send_button.setAccessibleName("Send")
        self.send_button.setToolTip("Send (Enter)")
        self.send_button.clicked.connect(self._on_send_button_clicked)
        row = QHBoxLayout()
        row.setSpacing(6)
        for button in (self.attach_button, self.think_button, self.revise_button, self.instructions_button):
            row.addWidget(button)
        row.addWidget(self.fill_button)
        row.addStretch(1)
        row.addWidget(self.send_button)
        return row

    def set_revisable(self, on: bool) -> None:
        """Offer Revise while the chat shown ends with a reply that has text (unchecked when not)."""
        self.revise_button.setEnabled(on)
        if not on:
            self.revise_button.setChecked(False)

    def revising(self) -> bool:
        """The next message asks to change the last reply, which the new reply starts from."""
        return self.revise_button.isEnabled() and self.revise_button.isChecked()

    def revise_part(self, selection: str) -> None:
        """Revise only ``selection`` of the last reply: the message says how; the rest is kept."""
        if not self.revise_button.isEnabled():
            return
        self.revise_button.setChecked(True)
        self.revised_part = selection
        shown = " ".join(selection.split())
        shown = shown if len(shown) <= 40 else shown[:39] + "…"
        self.edit.setPlaceholderText(f"How should “{shown}” change?  (shorter, friendlier, in French …)")
        self.revise_button.setToolTip(f"Revising only “{shown}” of the last reply; click to stop")
        self.edit.setFocus()

    def _on_revise_button_toggled(self, on: bool) -> None:
        self.revised_part = ""  # Revise from the button (or off) is about the whole reply
        self.revise_button.setToolTip(REVISE_TIP)
        if on:
            self.edit.setPlaceholderText(REVISE_PLACEHOLDER)
        else:
            self.edit.set_send_key(self.edit.send_key)  # its own placeholder back
        self.edit.setFocus()

    def set_has_instructions(self, on: bool) -> None:
        self.instructions_button.setChecked(on)
        self.instructions_button.setToolTip(
            "This chat has instructions of its own (click to edit)"
            if on
            else "Instructions the model follows in this chat"
        )

    def _on_instructions_button_clicked(self) -> None:
        # A click toggles a checkable button; the state shows what the chat has, not the click.
        self.instructions_button.setChecked(not self.instructions_button.isChecked())
        self.instructions_clicked.emit()

    # --- attachments ---------------------------------------------------------

    def add_attachment(self, path: Path) -> AttachmentChip | None:
        if path in self._chips:
            return None
        chip = AttachmentChip(path, self.strip)
        chip.remove_clicked.connect(self._on_chip_remove_clicked)
        chip.clicked.connect(lambda p: self.attachment_clicked.emit(p, p.name))
        self._strip_layout.insertWidget(self._strip_layout.count() - 1, chip)
        self._chips[path] = chip
        self.strip.setVisible(True)
        self._update_send_enabled()
        return chip

    def set_attachment_info(self, path: Path, info: MediaInfo) -> None:
        chip = self._chips.get(path)
        if chip is not None:
            chip.set_info(info)
        self._update_send_enabled()

    def remove_attachment(self, path: Path) -> None:
        chip = self._chips.pop(path, None)
        if chip is not None:
            self._strip_layout.removeWidget(chip)
            chip.hide()  # out of the layout it would stay painted where it was until deleted
            chip.deleteLater()
        self.strip.setVisible(bool(self._chips))
        self._update_send_enabled()

    def attachments(self) -> list[tuple[Path, MediaInfo | None]]:
        return [(path, chip.info) for path, chip in self._chips.items()]

    def pending_probes(self) -> bool:
        return any(chip.info is None for chip in self._chips.values())

    def clear(self) -> None:
        self.edit.clear()
        for path in list(self._chips):
            self.remove_attachment(path)

    # --- send / stop ---------------------------------------------------------

    def set_generating(self, generating: bool) -> None:
        self._generating = generating
        self.send_button.setText("Stop" if generating else "Send")
        self.send_button.setAccessibleName("Stop" if generating else "Send")
        self.send_button.setToolTip("Stop the reply (Esc)" if generating else "Send (Enter)")
        self.send_button.setProperty("generating", "true" if generating else "false")
        restyle(self.send_button)  # the style sheet matches on the "generating" property
        self._update_send_enabled()

    @property
    def generating(self) -> bool:
        return self._generating

    def has_content(self) -> bool:
        return bool(self.edit.toPlainText().strip()) or bool(self._chips)

    def _on_send_button_clicked(self) -> None:
        if self._generating:
            self.stop_clicked.emit()
        else:
            self.send_clicked.emit()

    def _on_chip_remove_clicked(self, path: Path) -> None:
        self.remove_attachment(path)
        self.attachment_removed.emit(path)
        self.edit.setFocus()

    @property
    def fillable(self) -> bool:
        return self._fillable

    def set_fillable(self, on: bool) -> None:
        """Offer Fill gaps only when the loaded model can fill a draft's gaps."""
        self._fillable = on
        self._update_send_enabled()

    def has_gaps(self) -> bool:
        """The text marks gaps ([...] or [...N]): Fill gaps can send it as a draft."""
        return has_gaps(self.edit.toPlainText())

    def _update_send_enabled(self) -> None:
        self.send_button.setEnabled(self._generating or (self.has_content() and not self.pending_probes()))
        gaps = self.has_gaps() and self._fillable
        self.fill_button.setVisible(gaps)  # a narrow window keeps room for the chat list the rest of the time
        self.fill_button.setEnabled(not self._generating and not self.pending_probes() and gaps)

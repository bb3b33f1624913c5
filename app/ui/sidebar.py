"""The list of stored chats (pinned, then by date), a search box, rename/pin/delete and an undo bar.

The sidebar only shows and asks: it never touches the store.  The window feeds
it rows (:meth:`Sidebar.set_groups`, :meth:`Sidebar.set_results`) and acts on
its signals.  Which chats are pinned it reads from the rows under the store's
"Pinned" heading, so the window passes groups as the store returns them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from app.qt import (
    QColor,
    QEvent,
    QFont,
    QFrame,
    QHBoxLayout,
    QIcon,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QObject,
    QPainter,
    QPalette,
    QPixmap,
    QPointF,
    QPushButton,
    QRectF,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.store.dates import GROUP_ORDER, PINNED_LABEL

SIDEBAR_WIDTH = 240
UNDO_VISIBLE_MS = 10_000
NEW_CHAT_TITLE = "New chat"
ID_ROLE = Qt.ItemDataRole.UserRole


def _drawn_icon(widget: QWidget, color: QColor, draw, size: int = 14) -> QIcon:
    """An icon drawn by ``draw(painter)`` on a 16 × 16 grid centred on the origin, in ``color``.

    Glyphs such as "📌" or "✎" are missing or drawn in colour on many desktop
    fonts; a drawn icon looks the same everywhere and follows the theme.  The
    same pixmap is used for the disabled mode too, because headings are disabled
    items and Qt's automatic greying would make them differ from their text.
    """
    ratio = widget.devicePixelRatioF()
    pixmap = QPixmap(round(size * ratio), round(size * ratio))
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.translate(size / 2, size / 2)
    painter.scale(size / 16, size / 16)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    draw(painter)
    painter.end()
    icon = QIcon()
    for mode in (QIcon.Mode.Normal, QIcon.Mode.Disabled, QIcon.Mode.Selected):
        icon.addPixmap(pixmap, mode)
    return icon


def _draw_pin(painter: QPainter) -> None:
    painter.rotate(40)
    painter.drawRoundedRect(QRectF(-3.5, -7.0, 7.0, 2.2), 0.8, 0.8)  # the cap
    painter.drawPolygon([QPointF(-2.2, -5.0), QPointF(2.2, -5.0), QPointF(2.8, 0.5), QPointF(-2.8, 0.5)])
    painter.drawRoundedRect(QRectF(-5.0, 0.3, 10.0, 2.0), 0.8, 0.8)  # the collar
    painter.drawPolygon([QPointF(-0.7, 2.3), QPointF(0.7, 2.3), QPointF(0.0, 7.5)])  # the needle


def _draw_pencil(painter: QPainter) -> None:
    painter.rotate(45)
    painter.drawRoundedRect(QRectF(-1.8, -7.5, 3.6, 2.2), 0.6, 0.6)  # the eraser
    painter.drawRect(QRectF(-1.8, -4.7, 3.6, 8.2))  # the body
    painter.drawPolygon([QPointF(-1.8, 4.1), QPointF(1.8, 4.1), QPointF(0.0, 7.5)])  # the tip


def pin_icon(widget: QWidget, size: int = 14) -> QIcon:
    """A small push-pin in the widget's text colour (the "Pinned" heading)."""
    color = QColor(widget.palette().color(QPalette.ColorRole.Text))
    color.setAlphaF(0.7)
    return _drawn_icon(widget, color, _draw_pin, size)


def _draw_dots(painter: QPainter) -> None:
    for x in (-5.0, 0.0, 5.0):
        painter.drawEllipse(QPointF(x, 0.0), 1.7, 1.7)


def _draw_dot(painter: QPainter) -> None:
    painter.drawEllipse(QPointF(0.0, 0.0), 4.0, 4.0)


RowMark = Literal["draft", "writing", "unread"]
# Each mark's drawing and the words for its tooltip and screen readers.
ROW_MARKS: dict[str, tuple[Callable[[QPainter], None], str]] = {
    "draft": (_draw_pencil, "unsent draft"),  # a message not sent yet
    "writing": (_draw_dots, "reply being written"),  # while another chat is shown
    "unread": (_draw_dot, "new reply"),  # it finished while another chat was shown
}


def mark_icon(widget: QWidget, kind: RowMark) -> QIcon:
    """A row mark in the accent colour (the link colour: readable in both themes)."""
    accent = QColor(widget.palette().color(QPalette.ColorRole.Link))
    return _drawn_icon(widget, accent, ROW_MARKS[kind][0])


class _RowDelegate(QStyledItemDelegate):
    """Draws a chat row's icon (its mark) after its title, so titles stay aligned."""

    def initStyleOption(self, option: QStyleOptionViewItem, index) -> None:
        super().initStyleOption(option, index)
        if index.data(ID_ROLE) is not None:
            option.decorationPosition = QStyleOptionViewItem.Position.Right


class Sidebar(QFrame):
    new_chat_clicked = Signal()
    chat_selected = Signal(int)  # conversation id
    rename_requested = Signal(int, str)  # conversation id, new title
    delete_requested = Signal(list)  # conversation ids (one, or the rows selected)
    export_requested = Signal(list)  # conversation ids (one, or the rows selected)
    instructions_requested = Signal(int)  # conversation id
    pin_requested = Signal(int, bool)  # conversation id, pinned
    undo_clicked = Signal()
    search_changed = Signal(str)

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
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search chats")
        self.search.setAccessibleName("Search chats")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._on_search_text_changed)
        layout.addWidget(self.search)
        layout.addWidget(self._build_list(), 1)
        layout.addWidget(self._build_undo_bar())
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.timeout.connect(self.hide_undo)
        self._titles: dict[int, str] = {}  # what each row showed before an in-place rename
        # Each chat's row, so that one row is found, moved or marked without walking 100 K of them.
        self._items: dict[int, QListWidgetItem] = {}
        self._pinned: set[int] = set()  # from the last set_groups; search results keep it
        self._marks: dict[int, RowMark] = {}  # chats whose rows carry a mark
        self.list.setItemDelegate(_RowDelegate(self.list))

    def _build_list(self) -> QListWidget:
        self.list = QListWidget(self)
        self.list.setObjectName("chatList")
        self.list.setAccessibleName("Chat list")
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setEditTriggers(QListWidget.EditTrigger.NoEditTriggers)
        # Ctrl/Shift+click select several chats, to delete or export them at once.
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.list.installEventFilter(self)
        self.list.viewport().installEventFilter(self)
        self._extending_selection = False  # a Ctrl/Shift click or key is being handled
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._on_list_custom_context_menu_requested)
        self.list.currentItemChanged.connect(self._on_list_current_item_changed)
        self.list.itemClicked.connect(self._on_list_item_clicked)
        self.list.itemChanged.connect(self._on_list_item_changed)
        return self.list

    def _build_undo_bar(self) -> QFrame:
        """The transient "Deleted … Undo" bar."""
        self.undo_bar = QFrame(self)
        self.undo_bar.setObjectName("undoBar")
        self.undo_bar.setAccessibleName("Undo bar")
        bar = QHBoxLayout(self.undo_bar)
        bar.setContentsMargins(8, 6, 8, 6)
        self.undo_label = QLabel(self.undo_bar)
        self.undo_label.setWordWrap(True)
        bar.addWidget(self.undo_label, 1)
        self.undo_button = QPushButton("Undo", self.undo_bar)
        self.undo_button.setAccessibleName("Undo delete")
        self.undo_button.clicked.connect(self._on_undo_button_clicked)
        bar.addWidget(self.undo_button)
        self.undo_bar.hide()
        return self.undo_bar

    # --- rows ------------------------------------------------------------------

    def set_groups(
        self, groups: Sequence[tuple[str, Sequence[tuple[int, str]]]], current: int | None
    ) -> None:
        """Headings ("Pinned", "Today", …), each followed by its chats (id, title).

        ``current`` stays selected.  The chats under "Pinned" are the pinned ones: their menu offers Unpin.
        """
        self._pinned = {cid for label, chats in groups if label == PINNED_LABEL for cid, _ in chats}
        rows: list[tuple[int | None, str, str]] = []
        for label, chats in groups:
            rows.append((None, label, ""))
            rows += [(cid, title or NEW_CHAT_TITLE, title or NEW_CHAT_TITLE) for cid, title in chats]
        self._fill(rows, current)

    def set_results(self, hits: Sequence[tuple[int, str, str]], current: int | None) -> None:
        """Search results: (id, title, snippet); the snippet shows under the title."""
        rows: list[tuple[int | None, str, str]] = [
            (None, f"{len(hits)} result{'s' if len(hits) != 1 else ''}", "")
        ]
        for cid, title, snippet in hits:
            title = title or NEW_CHAT_TITLE
            text = f"{title}\n{snippet}" if snippet and snippet != title else title
            rows.append((cid, text, title))
        self._fill(rows, current)

    def _fill(self, rows: list[tuple[int | None, str, str]], current: int | None) -> None:
        """Replace the rows; a selection of several chats that holds ``current`` survives."""
        selected = self.selected_chat_ids()
        keep = set(selected) if len(selected) > 1 and current in selected else set()
        blocked = self.list.blockSignals(True)
        try:
            self.list.clear()
            self._titles.clear()
            self._items.clear()
            for cid, text, title in rows:
                item = self._heading_item(text) if cid is None else self._chat_item(cid, text, title)
                self.list.addItem(item)
                if cid is not None and cid == current:
                    self.list.setCurrentItem(item)
            for cid in keep:
                if cid in self._items:
                    self._items[cid].setSelected(True)
            self._mark_pinned_heading()
            self._mark_rows(self._marks)
        finally:
            self.list.blockSignals(blocked)

    def _heading_item(self, label: str) -> QListWidgetItem:
        item = QListWidgetItem(label)
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        font = QFont(item.font())
        font.setBold(True)
        font.setPointSizeF(max(6.0, self.font().pointSizeF() * 0.85))
        item.setFont(font)
        return item

    def _chat_item(self, cid: int, text: str, title: str) -> QListWidgetItem:
        item = QListWidgetItem(text)
        item.setData(ID_ROLE, cid)
        item.setToolTip(text)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        self._titles[cid] = title
        self._items[cid] = item
        return item

    def put_first(self, chat_id: int, title: str, heading: str, *, current: bool = False) -> None:
        """Show ``chat_id`` first under ``heading`` (added, in date order, if missing): it was just active.

        One row moves; the other rows stay as they are (filling the list again took seconds with
        100 K chats).  An emptied heading goes; the selection stays where it was, or on this chat
        when it is the ``current`` one.
        """
        title = title or NEW_CHAT_TITLE
        item = self._items.get(chat_id)
        above = self.list.item(self.list.row(item) - 1) if item is not None else None
        if above is not None and above.data(ID_ROLE) is None and above.text() == heading:
            self.set_title(chat_id, title)  # first under its heading already: nothing moves
            return
        blocked = self.list.blockSignals(True)
        try:
            shown = self.list.currentItem()
            if item is not None:
                old_row = self.list.row(item)
                self.list.takeItem(old_row)
                self._drop_empty_heading(old_row - 1)
            else:
                item = self._chat_item(chat_id, title, title)
            item.setText(title)
            self._titles[chat_id] = title
            self.list.insertItem(self._heading_row(heading) + 1, item)
            self._mark_rows({chat_id: self._marks.get(chat_id)})
            selected = item if current or shown is item else shown
            if selected is not None:
                self._make_current(selected)
        finally:
            self.list.blockSignals(blocked)

    def _heading_row(self, heading: str) -> int:
        """The row of ``heading``, inserted where the date order puts it when it is not listed."""
        later = GROUP_ORDER[GROUP_ORDER.index(heading) + 1 :] if heading in GROUP_ORDER else ()
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(ID_ROLE) is not None:
                continue
            if item.text() == heading:
                return row
            if item.text() in later:
                self.list.insertItem(row, self._heading_item(heading))
                return row
        self.list.addItem(self._heading_item(heading))
        return self.list.count() - 1

    def _drop_empty_heading(self, row: int) -> None:
        """Remove the heading at ``row`` when no chat follows it any more."""
        heading = self.list.item(row) if row >= 0 else None
        after = self.list.item(row + 1)
        if (
            heading is not None
            and heading.data(ID_ROLE) is None
            and (after is None or after.data(ID_ROLE) is None)
        ):
            self.list.takeItem(row)

    def set_marks(self, marks: dict[int, RowMark]) -> None:
        """Mark chats' rows: an unsent draft, a reply being written, or a new reply not seen yet.

        The window leaves the chat shown out: what it would say is on screen already.
        """
        if marks != self._marks:
            changed = {
                cid: marks.get(cid)
                for cid in {*marks, *self._marks}
                if marks.get(cid) != self._marks.get(cid)
            }
            self._marks = dict(marks)
            blocked = self.list.blockSignals(True)
            self._mark_rows(changed)
            self.list.blockSignals(blocked)

    def mark_of(self, chat_id: int) -> RowMark | None:
        """The mark shown on the chat's row (None: none, or the chat is not listed)."""
        item = self._item(chat_id)
        return None if item is None or item.icon().isNull() else self._marks.get(chat_id)

    def _mark_rows(self, marks: dict[int, RowMark | None]) -> None:
        """Show ``marks`` (None: no mark) on those chats' rows; the other rows are left alone."""
        icons = {kind: mark_icon(self.list, kind) for kind in set(marks.values()) if kind is not None}
        for cid, kind in marks.items():
            item = self._items.get(cid)
            if item is None:
                continue
            if kind is None:
                item.setIcon(QIcon())
                item.setToolTip(item.text())
                item.setData(Qt.ItemDataRole.AccessibleDescriptionRole, "")
                continue
            words = ROW_MARKS[kind][1]
            item.setIcon(icons[kind])
            item.setToolTip(f"{item.text()}\n({words})")
            item.setData(Qt.ItemDataRole.AccessibleDescriptionRole, words.capitalize())

    def _mark_pinned_heading(self) -> None:
        """Put the pin on the "Pinned" heading, so it reads as more than one more date."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(ID_ROLE) is None and item.text() == PINNED_LABEL:
                item.setIcon(pin_icon(self.list))

    def changeEvent(self, event: QEvent) -> None:
        """A theme change repaints the pin in the new text colour (rows are not refilled for it)."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            blocked = self.list.blockSignals(True)
            self._mark_pinned_heading()
            self._mark_rows(self._marks)
            self.list.blockSignals(blocked)

    def chat_ids(self) -> list[int]:
        """The chats listed, top to bottom (headings left out)."""
        ids = (self.list.item(row).data(ID_ROLE) for row in range(self.list.count()))
        return [int(i) for i in ids if i is not None]

    def headings(self) -> list[str]:
        return [
            self.list.item(row).text()
            for row in range(self.list.count())
            if self.list.item(row).data(ID_ROLE) is None
        ]

    def title_of(self, chat_id: int) -> str | None:
        return self._titles.get(chat_id)

    def is_pinned(self, chat_id: int) -> bool:
        return chat_id in self._pinned

    def set_title(self, chat_id: int, title: str) -> None:
        item = self._item(chat_id)
        if item is not None:
            blocked = self.list.blockSignals(True)
            item.setText(title)
            item.setToolTip(title)
            self._titles[chat_id] = title
            self.list.blockSignals(blocked)

    def select(self, chat_id: int) -> None:
        item = self._item(chat_id)
        if item is not None and self.list.currentItem() is not item:
            self.list.setCurrentItem(item)

    def show_current(self, chat_id: int) -> bool:
        """Make ``chat_id``'s row current, quietly (the chat is shown already); False when it is not listed.

        A selection of several chats that holds it stays, as when the list is filled again.
        """
        item = self._items.get(chat_id)
        if item is None:
            return False
        if self.list.currentItem() is not item:
            blocked = self.list.blockSignals(True)
            self._make_current(item)
            self.list.blockSignals(blocked)
        return True

    def _make_current(self, item: QListWidgetItem) -> None:
        """The one row selected and current (on its own, Qt would keep the old row selected too)."""
        self.list.clearSelection()
        self.list.setCurrentItem(item)

    def _item(self, chat_id: int) -> QListWidgetItem | None:
        return self._items.get(chat_id)

    # --- rename, pin, delete, undo -------------------------------------------------

    def selected_chat_ids(self) -> list[int]:
        """The chats selected, top to bottom (several with Ctrl/Shift+click; else the current one)."""
        rows = sorted(self.list.row(item) for item in self.list.selectedItems())
        ids = [self.list.item(row).data(ID_ROLE) for row in rows]
        return [int(i) for i in ids if i is not None]

    def context_menu(self, chat_id: int) -> QMenu:
        """The row's menu: Rename… (in place), Pin/Unpin, Instructions…, Export…, and Delete (undoable).

        On a row that is part of a selection of several chats: Export and Delete for all of them.
        """
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        selected = self.selected_chat_ids()
        if chat_id in selected and len(selected) > 1:
            export = menu.addAction(f"Export {len(selected)} chats…")
            export.triggered.connect(lambda: self.export_requested.emit(selected))
            menu.addSeparator()
            delete = menu.addAction(f"Delete {len(selected)} chats")
            delete.triggered.connect(lambda: self.delete_requested.emit(selected))
            return menu
        rename = menu.addAction("Rename…")
        rename.triggered.connect(lambda: self.start_rename(chat_id))
        pinned = self.is_pinned(chat_id)
        pin = menu.addAction("Unpin" if pinned else "Pin")
        pin.triggered.connect(lambda: self.request_pin(chat_id, not pinned))
        instructions = menu.addAction("Instructions…")
        instructions.triggered.connect(lambda: self.instructions_requested.emit(chat_id))
        export = menu.addAction("Export…")
        export.triggered.connect(lambda: self.export_requested.emit([chat_id]))
        menu.addSeparator()
        delete = menu.addAction("Delete")
        delete.triggered.connect(lambda: self.delete_requested.emit([chat_id]))
        return menu

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Delete removes the selected chats (undoable) and F2 renames, as in a file manager.

        It also notes whether the click or key being handled holds Ctrl or Shift (the
        event's own modifiers, not the global state, which a synthetic event leaves stale).
        """
        kind = event.type()
        if kind in (QEvent.Type.MouseButtonPress, QEvent.Type.KeyPress):
            extend = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
            self._extending_selection = bool(event.modifiers() & extend)
        elif kind in (QEvent.Type.MouseButtonRelease, QEvent.Type.KeyRelease):
            self._extending_selection = False
        if watched is self.list and kind == QEvent.Type.KeyPress:
            key = event.key()
            if key == Qt.Key.Key_Delete or (
                key == Qt.Key.Key_Backspace and event.modifiers() & Qt.KeyboardModifier.ControlModifier
            ):  # Cmd+Backspace on macOS, where Qt maps Cmd to Control
                selected = self.selected_chat_ids()
                if selected:
                    self.delete_requested.emit(selected)
                return True
            current = self.list.currentItem()
            if key == Qt.Key.Key_F2 and current is not None and current.data(ID_ROLE) is not None:
                self.start_rename(int(current.data(ID_ROLE)))
                return True
        return super().eventFilter(watched, event)

    def request_pin(self, chat_id: int, pinned: bool) -> None:
        """Ask the window to pin or unpin the chat.

        The new state is remembered here first: search results carry no "Pinned"
        heading to read it from, and their menu must offer the right action next time.
        """
        if pinned:
            self._pinned.add(chat_id)
        else:
            self._pinned.discard(chat_id)
        self.pin_requested.emit(chat_id, pinned)

    def start_rename(self, chat_id: int) -> None:
        item = self._item(chat_id)
        if item is not None:
            blocked = self.list.blockSignals(True)
            item.setText(self._titles.get(chat_id, item.text()))  # a search row shows its snippet too
            self.list.blockSignals(blocked)
            self.list.editItem(item)

    def show_undo(self, text: str) -> None:
        self.undo_label.setText(text)
        self.undo_bar.show()
        self._undo_timer.start(UNDO_VISIBLE_MS)

    def hide_undo(self) -> None:
        self._undo_timer.stop()
        self.undo_bar.hide()

    # --- slots ---------------------------------------------------------------------

    def _on_list_custom_context_menu_requested(self, pos) -> None:
        item = self.list.itemAt(pos)
        if item is not None and item.data(ID_ROLE) is not None:
            self.context_menu(int(item.data(ID_ROLE))).popup(self.list.viewport().mapToGlobal(pos))

    def _on_list_item_changed(self, item: QListWidgetItem) -> None:
        cid = item.data(ID_ROLE)
        if cid is None:
            return
        title = " ".join(item.text().split())
        if title and title != self._titles.get(int(cid)):
            self.rename_requested.emit(int(cid), title)
        elif not title:
            self.set_title(int(cid), self._titles.get(int(cid), NEW_CHAT_TITLE))

    def _on_list_current_item_changed(self, current: QListWidgetItem | None, _previous) -> None:
        if self._extending_selection:
            return  # Ctrl/Shift+click or Shift+arrow selects chats, as in a file manager; it opens none
        if current is not None and current.data(ID_ROLE) is not None:
            self.chat_selected.emit(int(current.data(ID_ROLE)))

    def _on_list_item_clicked(self, item: QListWidgetItem) -> None:
        """A click on the row already current: a search hit in the open chat is still worth showing."""
        if item is self.list.currentItem() and item.data(ID_ROLE) is not None and self.search.text().strip():
            self.chat_selected.emit(int(item.data(ID_ROLE)))

    def _on_search_text_changed(self, text: str) -> None:
        self.search_changed.emit(text)

    def _on_undo_button_clicked(self) -> None:
        self.hide_undo()
        self.undo_clicked.emit()

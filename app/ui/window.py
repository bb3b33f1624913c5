"""The main window: chats on the left, the conversation and the composer on the right.

It wires the parts together and owns the reply in progress.  Worker events
arrive as queued signals on the GUI thread; each one only updates the reply's
:class:`ReplyState` (O(1)) and pokes a :class:`Throttle`, which redraws the
live message at most at screen rate with a trailing call, so a thousand steps a
second cost sixty renders, and the last state is always drawn.

Conversations live in :mod:`app.store` (opened on start; ``DGCHAT_DATA_DIR``
moves it).  A page is built from the store's active path when its chat is
first opened; the user message is written on send, and the reply is written
by a ``ReplyWriter`` that the engine thread feeds (see :mod:`app.worker`:
saving there keeps every SQLite write off the GUI thread).  The engine gets
the stored history (``store.engine_conversation``: answers only, thoughts
stripped), minus failed exchanges.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app import paths
from app.chat import ChatAttachment, ChatSession, Message, usable_turns
from app.config import DEFAULT_FONT_SIZE, MAX_FONT_SIZE, MIN_FONT_SIZE, AppConfig, save_config
from app.drafts import FILE_NAME as DRAFTS_FILE
from app.qt import (
    QAction,
    QApplication,
    QByteArray,
    QIcon,
    QKeySequence,
    QMainWindow,
    QMessageBox,
    Qt,
    QTimer,
    QWidget,
    Signal,
    Slot,
)
from app.reply_state import ReplyState
from app.store import ReplyWriter, Store, StoredCanvas, StoreError
from app.store_startup import open_store
from app.throttle import Throttle
from app.ui.appearance import Appearance
from app.ui.attachment_intake import AttachmentIntake
from app.ui.attachment_viewer import AttachmentViewer
from app.ui.chat_instructions import ChatInstructions
from app.ui.chat_list import ChatList
from app.ui.chat_pages import ChatPage, ChatPages
from app.ui.chat_splitter import ChatSplitter
from app.ui.chat_transfer import ChatTransfer
from app.ui.composer import Composer
from app.ui.conversation_area import ConversationArea
from app.ui.doctor_dialog import DoctorDialog
from app.ui.download_dialog import DownloadDialog
from app.ui.download_tracker import DownloadTracker
from app.ui.draft_keeper import DraftKeeper
from app.ui.find_bar import FindInChat
from app.ui.help_menu import APP_TITLE, open_log_folder, show_about, show_shortcuts
from app.ui.message_factory import MessageFactory
from app.ui.messages import AssistantMessage, Notice, UserMessage
from app.ui.model_switcher import ModelSwitcher
from app.ui.models_dialog import ModelsDialog
from app.ui.replay_recorder import ReplayExport
from app.ui.replay_requests import ReplayRequests
from app.ui.revise_offer import ReviseOffer, revisable_answer
from app.ui.settings_dialog import SettingsDialog
from app.ui.sidebar import NEW_CHAT_TITLE, Sidebar
from app.ui.status import StatusBar
from app.ui.thumbnails import StoredThumbnails
from app.ui.transcript import Transcript
from app.ui.trash_dialog import Trash, TrashDialog
from app.window_state import FILE_NAME as STATE_FILE
from app.window_state import WindowState, load_window_state, save_window_state
from app.worker import FRESH, EngineHost
from engine.errors import EngineError
from engine.events import Canvas, Done, LoadProgress, PromptEncoded, PromptProgress, Step
from engine.generation.plan import ReplyPlan
from engine.generation.rewrite import selected_range
from engine.inputs.conversation import Conversation
from engine.model.demo import DEMO
from engine.model.loader import DEFAULT_MODEL
from engine.settings import GenerationSettings

if TYPE_CHECKING:
    from engine.engine import ModelInfo  # imports torch: never at run time on the GUI thread

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ActiveReply:
    reply_id: int
    session: ChatSession
    message: Message
    widget: AssistantMessage
    state: ReplyState
    writer: ReplyWriter | None = None


class MainWindow(QMainWindow):
    error_reported = Signal(str, str)  # message, log path (thread-safe entry for the excepthook)
    chats_exported = Signal(object)  # the Path written
    chats_imported = Signal(list)  # the new chats' ids (empty when the import failed)

    def __init__(
        self,
        config: AppConfig,
        host: EngineHost,
        *,
        config_path: Path | None = None,
        icon: QIcon | None = None,
        store: Store | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle(APP_TITLE)
        self.setAccessibleName("DiffusionGemma Chat")
        if icon is not None:
            self.setWindowIcon(icon)
        self.setAcceptDrops(True)
        self.config = config
        self._config_path = config_path
        self.host = host
        self.active: ActiveReply | None = None
        self.token_view = False
        self._dialogs: list[QWidget] = []
        self._owns_store = store is None
        startup_notices: list[str] = []
        if store is None:
            store, startup_notices = open_store()
        self.store = store
        self.appearance = Appearance(lambda: self.config, lambda: self.pages.message_widgets(), self)
        self._math_pool = self.appearance.math_pool  # docs/screenshots waits for its formulas

        # --- layout ----------------------------------------------------------
        self.sidebar = Sidebar(self)
        self.sidebar.new_chat_clicked.connect(self.new_chat)
        self.sidebar.chat_selected.connect(self._on_sidebar_chat_selected)
        self.sidebar.export_requested.connect(self.export_chats)
        # Every message widget is made by one factory; a click on one is a request to the window.
        self.messages = MessageFactory(
            lambda: self.appearance.renderer, lambda: self.appearance.colors, lambda: self.token_view, self
        )
        self.messages.edit_submitted.connect(self.edit_message)
        self.messages.version_selected.connect(self.select_version)
        self.messages.copied.connect(self._on_messages_copied)
        self.messages.branch_clicked.connect(self.branch_chat)
        self.messages.regenerate_clicked.connect(self.regenerate)
        self.messages.continue_clicked.connect(self.continue_reply)
        self.messages.token_view_toggled.connect(self._on_messages_token_view_toggled)
        self.thumbnails = StoredThumbnails(self)
        self.pages = ChatPages(self.store, self.messages, self.thumbnails, self.retry, self)
        self.pages.older_built.connect(self._on_pages_older_built)
        self.composer = Composer(self)
        self.composer.send_clicked.connect(self.send)
        self.composer.stop_clicked.connect(self.stop)
        self.composer.edit.submitted.connect(self.send)
        self.composer.edit.edit_last_requested.connect(self.edit_last_message)
        self.composer.think_button.setChecked(config.thinking)
        self.composer.edit.set_send_key(config.send_key)
        self.composer.think_button.toggled.connect(self._on_think_button_toggled)

        right = ConversationArea(self.pages, self.composer, self)
        self.find_bar = right.find_bar
        self.find_bar.closed.connect(self.focus_composer)
        self._find = FindInChat(self.find_bar, self._find_target, lambda: self.appearance.colors)

        self.splitter = ChatSplitter(self.sidebar, right, self)
        self.setCentralWidget(self.splitter)
        self.status = StatusBar(self)
        self.downloads = DownloadTracker(self.status, self)
        self.setStatusBar(self.status)
        self.model_switcher = ModelSwitcher(
            host,
            self.status,
            self.pages,
            self.downloads,
            lambda: self.config,
            lambda: self.active is not None,
            self.stop,
            self,
        )
        self.model_switcher.config_changed.connect(self._save)
        self.instructions = ChatInstructions(
            self.store, self.pages, self.composer, self.status, lambda: self.config.system_prompt, self
        )
        self.instructions.failed.connect(self._store_failed)
        self.sidebar.instructions_requested.connect(self.instructions.edit)
        self.composer.instructions_clicked.connect(self.instructions.edit)
        self.revise_offer = ReviseOffer(
            self.composer, self.pages, lambda: self.active is not None, self.focus_composer, self.store
        )
        self.revise_offer.refused.connect(self.show_notice)
        self.messages.revise_clicked.connect(self.revise_offer.start)
        self.trash = Trash(self.store, self, self)
        self.trash.restored.connect(self._on_trash_restored)
        self.trash.failed.connect(self._store_failed)
        self.replays = ReplayRequests(host, self.store, self.pages, self)
        self.messages.replay_clicked.connect(self.replays.request)
        self.replay_export = ReplayExport(
            lambda: self.appearance.renderer, lambda: self.appearance.colors, self.status, self, self
        )
        self.messages.replay_save_clicked.connect(self.replay_export.save)
        self.messages.rewrite_requested.connect(self.rewrite_part)
        self.messages.revise_part_requested.connect(self.revise_offer.start_part)

        self.attachment_intake = AttachmentIntake(self.composer, self)
        self.attachment_intake.refused.connect(self.show_notice)
        self.prober = self.attachment_intake.prober  # docs/screenshots waits for its probes
        self.viewer = AttachmentViewer(self)  # a click on a sent attachment opens it
        self.viewer.failed.connect(lambda message: self.status.showMessage(message, 8000))
        self.composer.attachment_clicked.connect(self.viewer.open)
        self.messages.attachment_clicked.connect(self.viewer.open)
        self._frame = Throttle(self._render_frame, parent=self, adaptive=True)
        self.chat_transfer = ChatTransfer(
            self.store.path, self, self.status, lambda cid: self.store.conversation(cid).title, self
        )
        self.chat_transfer.exported.connect(self.chats_exported)
        self.chat_transfer.imported.connect(self._on_chat_transfer_imported)
        self.chat_transfer.failed.connect(self._store_failed)
        # Unsent messages per chat, kept beside the conversation database.
        self.drafts = DraftKeeper(
            self.composer, self.store.path.parent / DRAFTS_FILE, self.attachment_intake.add_files, self
        )
        self.attachment_intake.changed.connect(self.drafts.schedule_save)
        self.chat_list = ChatList(
            self.sidebar,
            self.store,
            self.pages,
            self.drafts,
            self.status,
            lambda: self.active.session if self.active is not None else None,
            self.stop,
            self.open_chat,
            self.new_chat,
            self,
        )
        self.chat_list.refreshed.connect(self._show_title)
        self.chat_list.failed.connect(self._store_failed)
        self.error_reported.connect(self._on_error_reported)

        worker = host.worker
        worker.load_progressed.connect(self.on_load_progressed)
        worker.model_loaded.connect(self.on_model_loaded)
        worker.prompt_progressed.connect(self.on_prompt_progressed)
        worker.prompt_encoded.connect(self.on_prompt_encoded)
        worker.step_ready.connect(self.on_step_ready)
        worker.canvas_committed.connect(self.on_canvas_committed)
        worker.reply_finished.connect(self.on_reply_finished)
        worker.reply_failed.connect(self.on_reply_failed)
        worker.vram_measured.connect(self.on_vram_measured)
        worker.save_failed.connect(self.on_save_failed)

        self._build_actions()
        # Size, position and the chat list as the user left them (app/window_state.py).
        self._window_state_path = (config_path.parent if config_path else paths.config_dir()) / STATE_FILE
        state = load_window_state(self._window_state_path)
        if not self._restore_geometry(state.geometry):
            self.resize(1180, 820)
        self.splitter.restore(state)
        self.sidebar_action.setChecked(self.splitter.sidebar_visible())
        self.splitter.sidebar_toggled.connect(self.sidebar_action.setChecked)
        self.new_chat()
        for message in startup_notices:
            self.show_notice(message, kind="info")

    def _restore_geometry(self, geometry: bytes) -> bool:
        """Size and place the window as it was saved; False (and no change) when it cannot be.

        Qt accepts a cut-off blob and reads zeros for the rest, giving a 1 × 1 window, so a
        restored size too small to use counts as unreadable.
        """
        if not geometry:
            return False
        if self.restoreGeometry(QByteArray(geometry)) and self.width() >= 400 and self.height() >= 300:
            return True
        log.warning("the saved window size is unusable; using the default size")
        self.setWindowState(Qt.WindowState.WindowNoState)
        return False

    # --- actions and shortcuts ----------------------------------------------

    def _action(
        self, text: str, shortcut: str | QKeySequence | None, slot, *, checkable: bool = False
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.new_chat_action = self._action("&New chat", "Ctrl+N", self.new_chat)
        self.stop_action = self._action("&Stop reply", "Esc", self._on_escape)
        self.focus_action = self._action("&Focus the message box", "Ctrl+L", self.focus_composer)
        self.search_action = self._action("&Search chats", "Ctrl+K", self.focus_search)
        self.find_action = self._action(
            "&Find in this chat", QKeySequence.StandardKey.Find, self.find_bar.open_bar
        )
        self.previous_chat_action = self._action("&Previous chat", "Alt+Up", lambda: self.step_chat(-1))
        self.next_chat_action = self._action("Ne&xt chat", "Alt+Down", lambda: self.step_chat(1))
        self.token_action = self._action("&Token view", "Ctrl+T", self.toggle_token_view, checkable=True)
        self.sidebar_action = self._action(
            "Show the &chat list", "Ctrl+B", self.splitter.set_sidebar_visible, checkable=True
        )
        self.settings_action = self._action("&Settings…", "Ctrl+,", self.open_settings)
        self.open_model_action = self._action(
            "&Open model folder…", "Ctrl+O", self.model_switcher.choose_folder
        )
        self.demo_action = self._action("Use the &demo model", None, lambda: self.load_model(DEMO))
        self.models_action = self._action("&Models…", "Ctrl+Shift+M", self.open_models)
        self.quit_action = self._action("&Quit", QKeySequence.StandardKey.Quit, self.close)
        self.export_action = self._action("&Export this chat…", "Ctrl+Shift+E", self._on_export_triggered)
        self.revise_action = self._action("&Revise the last reply", "Ctrl+R", self.revise_offer.toggle)
        self.instructions_action = self._action(
            "&Instructions for this chat…", "Ctrl+Shift+I", lambda: self.instructions.edit()
        )
        self.export_all_action = self._action("Export &all chats…", None, lambda: self.export_chats(None))
        self.import_action = self._action("&Import chats…", None, lambda: self.import_chats())
        self.trash_action = self._action("&Recently deleted…", None, self.open_trash)
        self.copy_reply_action = self._action("&Copy the last reply", "Ctrl+Shift+C", self.copy_last_reply)
        self.delete_chat_action = self._action(
            "&Delete this chat", "Ctrl+Shift+Backspace", self._on_delete_chat_triggered
        )
        self.zoom_in_action = self._action(
            "Larger text", QKeySequence.StandardKey.ZoomIn, lambda: self.zoom(1)
        )
        self.zoom_in_action.setShortcuts(
            [QKeySequence(QKeySequence.StandardKey.ZoomIn), QKeySequence("Ctrl+=")]
        )
        self.zoom_out_action = self._action(
            "Smaller text", QKeySequence.StandardKey.ZoomOut, lambda: self.zoom(-1)
        )
        self.zoom_reset_action = self._action("Default text size", "Ctrl+0", lambda: self.zoom(0))
        menu = self.menuBar()
        chat = menu.addMenu("&Chat")
        chat.addActions([self.new_chat_action, self.stop_action, self.focus_action])
        chat.addActions(
            [self.find_action, self.search_action, self.previous_chat_action, self.next_chat_action]
        )
        chat.addActions([self.copy_reply_action, self.revise_action, self.instructions_action])
        chat.addSeparator()
        chat.addActions([self.export_action, self.export_all_action, self.import_action])
        chat.addSeparator()
        chat.addActions([self.delete_chat_action, self.trash_action])
        chat.addSeparator()
        chat.addAction(self.quit_action)
        model = menu.addMenu("&Model")
        model.addActions([self.models_action, self.open_model_action, self.demo_action])
        view = menu.addMenu("&View")
        view.addActions([self.sidebar_action, self.token_action])
        view.addSeparator()
        view.addActions([self.zoom_in_action, self.zoom_out_action, self.zoom_reset_action])
        view.addSeparator()
        view.addAction(self.settings_action)
        help_menu = menu.addMenu("&Help")
        self.shortcuts_action = self._action("&Keyboard shortcuts", "Ctrl+/", self.show_shortcuts)
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction("&Check this computer…", self.check_computer)
        help_menu.addAction("Show the &log folder", open_log_folder)
        help_menu.addSeparator()
        help_menu.addAction(f"&About {APP_TITLE}", self.show_about)

    # --- model -----------------------------------------------------------------

    @property
    def model_info(self) -> ModelInfo | None:
        """The loaded model; None while none is loaded."""
        return self.model_switcher.info

    @property
    def model_source(self) -> str | None:
        return self.model_switcher.source

    def load_model(self, source: str) -> None:
        """Load (or switch to) a model on the engine thread; the window stays responsive."""
        self.model_switcher.load(source)

    def load_model_when_idle(self, source: str) -> None:
        """Load ``source`` now, or when the reply being written ends."""
        self.model_switcher.load_when_idle(source)

    def bring_to_front(self, model: str | None = None) -> None:
        """Another launch of the app handed over to this window: show it, and switch to its --model."""
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()
        QApplication.alert(self)  # where a window manager refuses to raise, the taskbar asks
        if model and model != self.model_source:
            self.load_model_when_idle(model)

    @Slot(object)
    def on_load_progressed(self, event: LoadProgress) -> None:
        self.status.load_progressed(event)

    @Slot(object, object)
    def on_model_loaded(self, info: ModelInfo, defaults: GenerationSettings) -> None:
        self.model_switcher.on_model_loaded(info, defaults)
        self._show_context_use()

    @Slot(object)
    def on_vram_measured(self, used: int | None) -> None:
        self.status.set_vram(used)

    def open_models(self) -> ModelsDialog:
        """Model ▸ Models…: the installed models and the DiffusionGemma download (one dialog at a time)."""
        return self.model_switcher.open_dialog()

    def track_download(self, dialog: DownloadDialog) -> None:
        """Show ``dialog``'s download in the status bar, so the dialog can be closed while it runs."""
        self.downloads.track(dialog)

    # --- store -------------------------------------------------------------------

    def _store_failed(self, what: str, error: StoreError) -> None:
        log.warning("%s: %s", what, error)
        self.show_notice(f"{what}. {error}")

    # --- chats -------------------------------------------------------------------

    def new_chat(self) -> ChatSession:
        """Open an empty chat: the current one if it is still empty, else a new stored conversation."""
        current = self.current_page()
        if current is not None and not current.session.messages and self.active is None:
            self.focus_composer()
            return current.session  # the current chat is still empty: reuse it
        cid = None
        try:
            newest = self.store.list_conversations()
            if newest and self.pages.get(newest[0].id) is None and not self.store.active_path(newest[0].id):
                cid = newest[0].id  # an empty chat left from an earlier session
            if cid is None:
                cid = self.store.create_conversation()
        except StoreError as error:
            log.exception("cannot create a conversation")
            if current is not None:
                self._store_failed("A new chat could not be started", error)
                return current.session
            raise
        page = self._open_page(cid)
        self.host.forget_prompt_cache()
        self.focus_composer()
        return page.session

    def current_page(self) -> ChatPage | None:
        return self.pages.current()

    def open_chat(self, chat_id: int) -> ChatPage | None:
        """Show a stored conversation (built from its active path the first time)."""
        try:
            page = self._open_page(chat_id)
        except StoreError as error:
            self._store_failed("This chat could not be opened", error)
            return None
        self.focus_composer()
        return page

    def _open_page(self, chat_id: int) -> ChatPage:
        page = self.pages.page(chat_id)
        self.drafts.switch_to(chat_id)
        self.pages.setCurrentWidget(page.transcript)
        self.chat_list.mark_rows()
        self.chat_list.refresh()
        self._show_context_use()
        self.instructions.show_state()
        self.revise_offer.show()
        return page

    def _show_context_use(self, used: int | None = None) -> None:
        """The status bar's "context 12.3K / 58.1K" for the chat shown, against the loaded model's limit
        (``used``: a reply's prompt, known before its stats)."""
        info, page = self.model_info, self.current_page()
        if info is None or page is None:
            self.status.set_context(None, 0, 0, by_memory=False)
            return
        self.status.set_context(
            used if used is not None else page.session.context_used(),
            info.context_length,
            info.model_context_length or info.context_length,
            by_memory=info.context_limited_by_memory,
        )

    def _on_pages_older_built(self) -> None:
        if self.find_bar.isVisible():
            self._find.refresh()  # the chat's older messages are all there now: count them too

    def _show_title(self) -> None:
        """The window's title names the chat shown, for the taskbar and window switchers."""
        page = self.current_page()
        title = page.session.title if page is not None else NEW_CHAT_TITLE
        self.setWindowTitle(APP_TITLE if title in ("", NEW_CHAT_TITLE) else f"{title} — {APP_TITLE}")

    def find_in_chat(self, query: str, current: int = 0) -> int:
        """Highlight ``query`` in the chat shown and bring match ``current`` into view; returns the count."""
        return self._find.search(query, current)

    def _find_target(self) -> tuple[Transcript, list] | None:
        """The transcript shown and its messages' text views, top to bottom (for find in chat)."""
        page = self.current_page()
        return (page.transcript, page.text_views()) if page is not None else None

    def show_shortcuts(self) -> QMessageBox:
        return show_shortcuts(self, self.actions(), self.config.send_key)

    def check_computer(self) -> DoctorDialog:
        """Help ▸ Check this computer: the engine's doctor for the model in use (the real one when the
        demo is loaded: that is the one whose needs the user wonders about)."""
        model = self.config.model if self.config.model and self.config.model != DEMO else DEFAULT_MODEL
        dialog = DoctorDialog(model, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def show_about(self) -> QMessageBox:
        return show_about(self, self.model_info.name if self.model_info is not None else None)

    def focus_search(self) -> None:
        """Ctrl+K, as in other chat apps: type to find a chat (the chat list is shown if it was hidden)."""
        self.splitter.set_sidebar_visible(True)
        self.sidebar.search.setFocus()
        self.sidebar.search.selectAll()

    def step_chat(self, step: int) -> int | None:
        """Alt+Up / Alt+Down: open the chat above or below the current one in the sidebar's list."""
        ids = self.sidebar.chat_ids()
        page = self.current_page()
        if not ids:
            return None
        here = ids.index(page.session.id) if page is not None and page.session.id in ids else -1
        target = ids[max(0, min(len(ids) - 1, here + step))] if here >= 0 else ids[0]
        if page is None or target != page.session.id:
            self.sidebar.select(target)
            self.open_chat(target)
        return target

    def _on_sidebar_chat_selected(self, chat_id: int) -> None:
        page = self.current_page()
        if page is None or page.session.id != chat_id:
            page = self.open_chat(chat_id)
        message_id = self.chat_list.hit_message(chat_id)
        if page is not None and message_id is not None:
            self.show_message(page, message_id)

    def show_message(self, page: ChatPage, message_id: int) -> None:
        """Bring a stored message into view, switching to its branch if another is shown (a search hit)."""
        shown = {m.store_id for m in page.session.messages}
        if message_id not in shown:
            if self.active is not None and self.active.session is page.session:
                return  # the branch cannot change under the reply being written
            try:
                self.pages.fill(page, self.store.select_message(message_id))
            except StoreError as error:
                self._store_failed("That message could not be shown", error)
                return
        self.pages.finish_backfill(page)
        widget = next(
            (w for w in page.transcript.messages() if getattr(w, "store_id", None) == message_id), None
        )
        if widget is not None:
            QTimer.singleShot(0, lambda: page.transcript.ensureWidgetVisible(widget, 0, 40))

    def edit_last_message(self) -> UserMessage | None:
        """Open the editor of the last message you sent in the chat shown (Up in an empty message box).

        Nothing happens while a reply is being written: the branch cannot change under it.
        """
        page = self.current_page()
        if page is None or not page.actions_enabled:
            return None
        widget = next((w for w in reversed(page.transcript.messages()) if isinstance(w, UserMessage)), None)
        if widget is None or widget.store_id is None or not widget.edit_button.isEnabled():
            return None
        widget.start_edit()
        QTimer.singleShot(0, lambda: page.transcript.ensureWidgetVisible(widget, 0, 40))
        return widget

    def search_chats(self, query: str) -> list[int]:
        """Type ``query`` into the search box; returns the ids listed."""
        return self.chat_list.search(query)

    # --- export and import --------------------------------------------------------------

    def _on_export_triggered(self) -> None:
        page = self.current_page()
        if page is not None:
            self.export_chats([page.session.id])

    def export_chats(self, chat_ids: list[int] | None, path: Path | None = None) -> Path | None:
        """Write chats (None: all) to ``path`` or a file the user picks, off the GUI thread.

        Returns the file; ``chats_exported`` says when it is written.
        """
        return self.chat_transfer.export_chats(chat_ids, path)

    def import_chats(self, path: Path | None = None) -> Path | None:
        """Add the chats of a JSON export as new chats (nothing is overwritten) and show the first.

        Read and stored off the GUI thread; ``chats_imported`` gives the new chats' ids.
        """
        return self.chat_transfer.import_chats(path)

    def _on_chat_transfer_imported(self, _path: Path, ids: list[int]) -> None:
        if ids:
            self.chat_list.refresh()
            self.open_chat(ids[0])
        self.chats_imported.emit(ids)

    # --- sending ---------------------------------------------------------------

    def send(self) -> int | None:
        """Send the composer's text and attachments; returns the reply id (None if nothing was sent).

        The user message is saved first (its attachments copied into the store);
        if that fails nothing is sent and the composer keeps its content.
        """
        if self.active is not None or not self.composer.has_content() or self.composer.pending_probes():
            return None
        page = self.current_page()
        text = self.composer.edit.toPlainText().strip()
        revised = revisable_answer(page) if self.composer.revising() else ""
        rewrite = self.revise_offer.part_to_rewrite(page) if revised else None
        pending = self.composer.attachments()
        attachments = tuple(
            ChatAttachment(path, info.kind, info.duration_s) for path, info in pending if info is not None
        )
        try:
            user = self.store.send_user_message(page.session.id, text, [a.for_engine() for a in attachments])
        except StoreError as error:
            self._store_failed("The message could not be sent", error)
            return None
        page.session.add(Message("user", text, attachments, store_id=user.id))
        sent = self.messages.user_message(text, [(path, info, path.name) for path, info in pending], user.id)
        sent.set_sent_at(time.time())
        page.transcript.add(sent)
        self.composer.clear()
        self.composer.set_revisable(False)  # the chat ends with this message now
        # "Revise this part…" changes only that part; Revise starts from the answer; else a fresh reply.
        plan = ReplyPlan.rewriting(*rewrite) if rewrite is not None else ReplyPlan.revising(revised)
        reply_id = self._start_reply(page, user.id, plan=plan)
        try:
            page.session.title = self.store.conversation(page.session.id).title or page.session.title
        except StoreError:
            log.exception("cannot read the chat's title")
        self.chat_list.refresh()
        return reply_id

    def retry(self, page: ChatPage, failed: AssistantMessage) -> int | None:
        """Answer the last user message again; the failed reply stays in the store as an older version."""
        if self.active is not None:
            return None
        messages = page.session.messages
        if messages and messages[-1].role == "assistant" and not messages[-1].usable:
            messages.pop()
        user = next((m for m in reversed(messages) if m.role == "user"), None)
        if user is None or user.store_id is None:
            return None
        page.transcript.remove(failed)
        return self._start_reply(page, user.store_id)

    # --- versions: edit, regenerate, switch ------------------------------------------

    def edit_message(self, user_message_id: int, text: str) -> int | None:
        """Send an edited version of a user message: a sibling of the original, answered anew.

        The original, and everything that followed it, stays one click away in
        the version switcher.  Returns the new reply's id.
        """
        page = self.current_page()
        if self.active is not None or page is None:
            return None
        try:
            edited = self.store.edit_user_message(user_message_id, text)
            path = self.store.active_path(page.session.id)
        except StoreError as error:
            self._store_failed("The edited message could not be saved", error)
            return None
        self.pages.fill(page, path)
        self.chat_list.refresh()
        return self._start_reply(page, edited.id)

    def regenerate(self, assistant_message_id: int) -> int | None:
        """Write a new version of a reply; the old one stays as a sibling in the switcher."""
        return self._new_version(assistant_message_id, "The reply could not be regenerated")

    def rewrite_part(self, assistant_message_id: int, selection: str) -> int | None:
        """Write the selected part of a reply again, in place; the rest of it is kept token for token.

        The result is a new version of the reply (the old one stays in the switcher).
        """
        if not selection.strip():
            return None
        failed = "That part of the reply could not be rewritten"
        try:
            selected_range(self.store.message(assistant_message_id).text, selection)
            ids = [t for canvas in self.store.canvases(assistant_message_id) for t in canvas.tokens]
        except EngineError as error:  # checked here too, before a new version is made for it
            self.show_notice(f"{error}")
            return None
        except StoreError as error:
            self._store_failed(failed, error)
            return None
        return self._new_version(assistant_message_id, failed, ReplyPlan.rewriting(ids, selection))

    def _new_version(self, assistant_message_id: int, failed: str, plan: ReplyPlan = FRESH) -> int | None:
        """A sibling of the reply, written live in its place (a rewrite ``plan``: only part of it anew)."""
        page = self.current_page()
        if self.active is not None or page is None:
            return None
        try:
            writer = self.store.regenerate(assistant_message_id)
            path = self.store.active_path(page.session.id)
        except StoreError as error:
            self._store_failed(failed, error)
            return None
        self.pages.fill(page, path, skip=(writer.message_id,))
        question = next(m.parent_id for m in path if m.id == writer.message_id)
        return self._start_reply(page, question, writer=writer, plan=plan)

    def continue_reply(self, assistant_message_id: int) -> int | None:
        """Go on writing a reply that was stopped or interrupted, after its saved canvases.

        Only the last reply of the shown branch can be continued (anything after
        it was written on the text as it was).
        """
        page = self.current_page()
        if self.active is not None or page is None:
            return None
        try:
            path = self.store.active_path(page.session.id)
            if not path or path[-1].id != assistant_message_id or path[-1].parent_id is None:
                return None
            saved = self.store.canvases(assistant_message_id)
            writer = self.store.continue_reply(assistant_message_id)
        except StoreError as error:
            self._store_failed("The reply could not be continued", error)
            return None
        self.pages.fill(page, path[:-1])
        plan = ReplyPlan.continuing([t for canvas in saved for t in canvas.tokens])
        return self._start_reply(page, path[-1].parent_id, writer=writer, saved=saved, plan=plan)

    def select_version(self, message_id: int) -> None:
        """Show the branch through ``message_id`` (a click on ‹ or › of a message's switcher)."""
        page = self.current_page()
        if self.active is not None or page is None:
            return
        try:
            path = self.store.select_message(message_id)
        except StoreError as error:
            self._store_failed("That version could not be shown", error)
            return
        self.pages.fill(page, path)
        self._show_context_use()
        self.revise_offer.show()

    def open_trash(self) -> TrashDialog:
        """Chat ▸ Recently deleted…: the chats in the trash, to restore or delete for good."""
        return self.trash.open()

    def _on_trash_restored(self, chat_ids: list[int]) -> None:
        self.chat_list.refresh()
        self.open_chat(chat_ids[0])
        count = len(chat_ids)
        self.status.showMessage(f"Restored {count} chat{'s' if count != 1 else ''}", 5000)

    def branch_chat(self, message_id: int) -> int | None:
        """Go on from a reply in a new chat holding the conversation up to it; returns the new chat."""
        try:
            chat_id = self.store.branch_conversation(message_id)
        except StoreError as error:
            self._store_failed("The chat could not be branched", error)
            return None
        self.open_chat(chat_id)
        self.status.showMessage("A new chat goes on from that reply; the original is unchanged", 6000)
        return chat_id

    def engine_conversation(self, user_message_id: int) -> Conversation:
        """The history the engine gets to answer a stored user message: the stored path, minus failures."""
        stored = self.store.engine_conversation(user_message_id)
        return Conversation(
            turns=usable_turns(stored.turns), system=stored.system or self.config.system_prompt
        )

    def _start_reply(
        self,
        page: ChatPage,
        user_message_id: int,
        writer: ReplyWriter | None = None,
        saved: Sequence[StoredCanvas] = (),
        plan: ReplyPlan = FRESH,
    ) -> int | None:
        """Ask the engine to answer a stored user message; the reply widget goes live.

        ``writer`` is the reply's row when it already exists (a regeneration or
        a continuation); ``saved`` are the canvases a continued reply goes on from (shown
        while it goes on); ``plan`` says what kind of reply the engine writes.
        """
        try:
            conversation = self.engine_conversation(user_message_id)
            if writer is None:
                writer = self.store.begin_reply(user_message_id)
        except StoreError as error:
            self._store_failed("The reply could not be started", error)
            return None
        for earlier in page.transcript.messages():
            if isinstance(earlier, AssistantMessage):
                earlier.set_continuable(False)  # no longer the end of the branch
        widget = self.messages.reply(writer.message_id)
        page.transcript.add(widget)
        page.set_actions_enabled(False)
        message = page.session.add(Message("assistant", store_id=writer.message_id))
        state = ReplyState.continuing([c.text for c in saved])
        reply_id = self.host.generate(
            conversation,
            self.config.generation,
            self.config.prompt_options(),
            sink=writer,
            plan=plan,
        )
        self.active = ActiveReply(reply_id, page.session, message, widget, state, writer)
        self.chat_list.mark_rows()  # shows "writing" once another chat is opened
        self.revise_offer.show()
        widget.render_frame(state)
        page.transcript.scroll_to_bottom()
        self.composer.set_generating(True)
        return reply_id

    def _on_escape(self) -> None:
        """Esc closes the find bar when typing in it, else stops the reply (one shortcut: two would clash)."""
        focus = QApplication.focusWidget()
        if self.find_bar.isVisible() and focus is not None and self.find_bar.isAncestorOf(focus):
            self.find_bar.close_bar()
        else:
            self.stop()

    def stop(self) -> None:
        """Stop the reply: the engine ends with an incomplete Done, which its writer saves as stopped."""
        if self.active is not None:
            self.host.stop()
            self.active.widget.indicator.setText("stopping…")

    @Slot(int, str)
    def on_save_failed(self, reply_id: int, message: str) -> None:
        log.warning("reply %d is not being saved: %s", reply_id, message)
        self.show_notice(f"This reply is not being saved. {message}")

    def _is_active(self, reply_id: int) -> bool:
        return self.active is not None and self.active.reply_id == reply_id

    @Slot(int, object)
    def on_prompt_progressed(self, reply_id: int, event: PromptProgress) -> None:
        if self._is_active(reply_id):
            self.active.state.on_prompt_progressed(event)  # the indicator: tokens read, time left
            self._frame()

    @Slot(int, object)
    def on_prompt_encoded(self, reply_id: int, event: PromptEncoded) -> None:
        if self._is_active(reply_id):
            self.active.state.on_prompt_encoded(event)
            if self.pages.page_of_session(self.active.session) is self.current_page():
                self._show_context_use(event.prompt_tokens)  # the prompt, before the reply adds to it
            self._frame()

    @Slot(int, object)
    def on_step_ready(self, reply_id: int, step: Step) -> None:
        if self._is_active(reply_id):
            self.active.state.on_step(step)
            self._frame()

    @Slot(int, object)
    def on_canvas_committed(self, reply_id: int, canvas: Canvas) -> None:
        if self._is_active(reply_id):
            self.active.state.on_canvas(canvas)
            self._frame()

    @Slot(int, object)
    def on_reply_finished(self, reply_id: int, done: Done) -> None:
        if not self._is_active(reply_id):
            return
        active = self.active
        self._frame.cancel()
        active.state.on_done(done)
        done = active.state.done  # a continuation's covers the whole reply
        active.widget.finish(active.state)
        active.widget.set_written_at(time.time())
        message = active.message
        message.text = done.answer
        message.thought = done.thought
        message.thought_seconds = active.state.thought_seconds
        message.stats = done.stats
        message.incomplete = done.incomplete
        active.widget.set_continuable(done.incomplete and bool(active.state.canvases))
        self.status.set_speed(done.stats.tokens_per_second)
        self._show_context_use()
        if not self.isActiveWindow():
            QApplication.alert(self)  # the taskbar entry asks for attention: a long reply is ready
        self._end_reply(reply_id)

    @Slot(int, str)
    def on_reply_failed(self, reply_id: int, error: str) -> None:
        if not self._is_active(reply_id):
            return
        active = self.active
        self._frame.cancel()
        active.state.on_error(error)
        page = self.pages.page_of_session(active.session)
        widget = active.widget
        active.widget.fail(error, active.state, retry=lambda: self.retry(page, widget))
        active.message.error = error
        self._end_reply(reply_id)

    def _end_reply(self, reply_id: int) -> None:
        self.host.reply_ended(reply_id)
        active, self.active = self.active, None
        self.model_switcher.reply_ended()
        page = self.pages.page_of_session(active.session)
        if page is not None:
            page.set_actions_enabled(True)
            self._show_versions(active.widget)
            if page is not self.current_page():
                self.chat_list.add_unread(page.session.id)
        self.chat_list.mark_rows()
        self.composer.set_generating(False)
        self.revise_offer.show()
        self.focus_composer()

    def _show_versions(self, widget: AssistantMessage) -> None:
        """A finished reply's switcher: a regeneration is now one of several versions."""
        try:
            versions = self.store.siblings(widget.store_id)
        except StoreError:
            log.exception("cannot read the reply's versions")
            return
        widget.versions.set_versions(versions.ids, versions.index)

    def _render_frame(self) -> None:
        if self.active is not None:
            self.active.widget.render_frame(self.active.state)

    # --- attachments -------------------------------------------------------------

    def add_files(self, files: list[Path]) -> None:
        """Attach files to the message being written (each probed off the GUI thread)."""
        self.attachment_intake.add_files(files)

    def dragEnterEvent(self, event) -> None:
        if self.attachment_intake.accepts(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        if self.attachment_intake.accepts(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        self.attachment_intake.drop(event.mimeData())
        event.acceptProposedAction()
        self.focus_composer()

    def _notices(self) -> list[Notice]:
        page = self.current_page()
        return page.notices() if page else []

    def show_notice(self, message: str, *, kind: str = "error") -> Notice:
        """An inline message at the end of the current chat, dismissible."""
        page = self.current_page()
        notice = Notice(message, actions=[("Dismiss", lambda: page.transcript.remove(notice))], kind=kind)
        page.transcript.add(notice)
        return notice

    # --- view --------------------------------------------------------------------

    def focus_composer(self) -> None:
        self.composer.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def toggle_token_view(self) -> None:
        self.set_token_view(not self.token_view)

    def set_token_view(self, on: bool) -> None:
        self.token_view = on
        self.token_action.setChecked(on)
        if self.active is not None:
            self.active.widget.set_token_view(on)
        else:
            last = self._last_assistant_widget()
            if last is not None:
                last.set_token_view(on)

    def _last_assistant_widget(self) -> AssistantMessage | None:
        page = self.current_page()
        if page is None:
            return None
        replies = [w for w in page.transcript.messages() if isinstance(w, AssistantMessage)]
        return replies[-1] if replies else None

    def _on_messages_token_view_toggled(self, on: bool) -> None:
        self.token_view = on
        self.token_action.setChecked(on)

    def _on_think_button_toggled(self, on: bool) -> None:
        self._save(self.config.with_changes(thinking=on))

    def copy_last_reply(self) -> str:
        """Ctrl+Shift+C: the chat's last reply, as markdown, to the clipboard; returns what was copied."""
        page = self.current_page()
        text = (
            next(
                (m.text for m in reversed(page.session.messages) if m.role == "assistant" and m.text.strip()),
                "",
            )
            if page is not None
            else ""
        )
        if text:
            QApplication.clipboard().setText(text)
            self.status.showMessage("The last reply was copied to the clipboard", 2000)
        return text

    def _on_delete_chat_triggered(self) -> None:
        """Ctrl+Shift+Backspace: the chat shown goes to the trash, with Undo in the chat list."""
        page = self.current_page()
        if page is not None and page.session.messages:
            self.chat_list.delete([page.session.id])

    def _on_messages_copied(self) -> None:
        self.status.showMessage("Copied to the clipboard", 2000)

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.config, self.model_switcher.defaults, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._on_settings_accepted(dialog.result_config()))
        dialog.open()
        return dialog

    def _on_settings_accepted(self, config: AppConfig | None) -> None:
        if config is None:
            return
        restyle = (config.theme, config.font_size) != (self.config.theme, self.config.font_size)
        self._save(config)
        self.composer.think_button.setChecked(config.thinking)
        self.composer.edit.set_send_key(config.send_key)
        if restyle:
            self.appearance.restyle()

    def zoom(self, step: int) -> int:
        """Ctrl+= / Ctrl+- make the text one point larger or smaller, Ctrl+0 the default; it is saved
        as the Settings font size it is, and every message is drawn again at the new size."""
        size = (
            DEFAULT_FONT_SIZE
            if step == 0
            else min(MAX_FONT_SIZE, max(MIN_FONT_SIZE, self.config.font_size + step))
        )
        if size != self.config.font_size:
            self._save(self.config.with_changes(font_size=size))
            self.appearance.restyle()
        self.status.showMessage(f"Text size {size} pt", 1500)
        return size

    def _save(self, config: AppConfig) -> None:
        self.config = config
        try:
            save_config(config, self._config_path)
        except OSError as error:
            log.exception("cannot save settings")
            self.status.showMessage(f"Settings could not be saved: {error}", 6000)

    # --- errors and shutdown ---------------------------------------------------------

    def _on_error_reported(self, message: str, log_path: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Critical, "DiffusionGemma Chat", message, parent=self)
        box.setInformativeText(f"Details were written to {log_path}")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setAccessibleName("Unexpected error")
        box.open()
        self._dialogs = [*self._dialogs[-4:], box]

    def report_error(self, message: str, log_path: Path) -> None:
        """Callable from any thread (the excepthook): shows a dialog on the GUI thread."""
        self.error_reported.emit(message, str(log_path))

    def closeEvent(self, event) -> None:
        self.drafts.save()
        state = WindowState(geometry=bytes(self.saveGeometry().data()))
        save_window_state(self.splitter.layout_state(state), self._window_state_path)
        self.hide()
        self._frame.cancel()
        self.pages.stop_backfill()
        self.chat_transfer.shutdown()  # an import is one transaction: let it finish
        self.appearance.shutdown()
        stopped = self.host.shutdown(timeout_ms=10_000)  # a reply stops within a step; a load may take longer
        self.attachment_intake.shutdown()
        self.thumbnails.shutdown()
        self.viewer.shutdown()
        self.replay_export.shutdown()
        if self._owns_store and stopped and self.store is not None:
            self.store.close()  # the engine thread, the only other writer, has stopped
            self.store = None
        super().closeEvent(event)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self.focus_composer)

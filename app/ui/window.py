"""The main window: chats on the left, the conversation and the composer on the right.

It wires the parts together; it does not run replies.  The reply being written
lives in :class:`app.ui.live_reply.LiveReply` (fed by the engine host's
signals), and what the user asks of a conversation (send, retry, edit,
regenerate, continue, versions, branch) in :class:`app.ui.reply_actions.ReplyActions`;
the window reacts to their signals (the composer's Stop button, the chat
list's marks, the status bar).  The menus and shortcuts are in :mod:`app.ui.menus`.

Conversations live in :mod:`app.store` (opened on start; ``DGCHAT_DATA_DIR``
moves it).  A page is built from the store's active path when its chat is
first opened.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from app import notices, paths
from app.chat import ChatSession
from app.config import AppConfig, save_config
from app.drafts import FILE_NAME as DRAFTS_FILE
from app.qt import (
    QApplication,
    QIcon,
    QMainWindow,
    Qt,
    QTimer,
    QWidget,
    Signal,
    Slot,
)
from app.store import Store
from app.store_startup import open_store
from app.ui.appearance import Appearance
from app.ui.attachment_intake import AttachmentIntake
from app.ui.attachment_viewer import AttachmentViewer
from app.ui.chat_instructions import ChatInstructions
from app.ui.chat_list import ChatList
from app.ui.chat_navigation import ChatNavigation
from app.ui.chat_pages import ChatPage, ChatPages
from app.ui.chat_splitter import ChatSplitter
from app.ui.chat_transfer import ChatTransfer
from app.ui.composer import Composer
from app.ui.conversation_area import ConversationArea
from app.ui.download_dialog import DownloadDialog
from app.ui.download_tracker import DownloadTracker
from app.ui.draft_keeper import DraftKeeper
from app.ui.find_bar import FindInChat
from app.ui.help_menu import APP_TITLE, show_error
from app.ui.live_reply import ActiveReply, LiveReply
from app.ui.menus import WindowMenus
from app.ui.message_factory import MessageFactory
from app.ui.messages import AssistantMessage, Notice
from app.ui.model_switcher import ModelSwitcher
from app.ui.models_dialog import ModelsDialog
from app.ui.notice_display import NoticeDisplay
from app.ui.replay_recorder import ReplayExport
from app.ui.replay_requests import ReplayRequests
from app.ui.reply_actions import ReplyActions
from app.ui.revise_offer import ReviseOffer
from app.ui.sidebar import NEW_CHAT_TITLE, Sidebar
from app.ui.status import StatusBar
from app.ui.thumbnails import StoredThumbnails
from app.ui.transcript import Transcript
from app.ui.trash_dialog import Trash
from app.ui.uncertainty_requests import UncertaintyRequests
from app.ui.view_controls import ViewControls
from app.ui.window_layout import layout_path, restore_layout, save_layout
from app.worker import EngineHost
from engine.events import Done
from engine.settings import GenerationSettings

if TYPE_CHECKING:
    from engine.engine import ModelInfo  # imports torch: never at run time on the GUI thread

log = logging.getLogger(__name__)


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
        host.set_threads(config.engine_threads)
        self._dialogs: list[QWidget] = []
        self._owns_store = store is None
        startup_notices: list[str] = []
        if store is None:
            store, startup_notices = open_store()
        self.store = store
        self.appearance = Appearance(lambda: self.config, lambda: self.pages.message_widgets(), self)
        self._math_pool = self.appearance.math_pool  # docs/screenshots waits for its formulas
        self._build_conversation()
        self._build_status_parts()
        self._build_reply_parts()
        self._build_attachments()
        self._build_chat_list()
        self._build_reply_actions()
        self._connect_worker()
        self.menus = WindowMenus(self)
        self._layout_path = layout_path(config_path.parent if config_path else paths.config_dir())
        restore_layout(self, self.splitter, self._layout_path)
        self.menus.sidebar_action.setChecked(self.splitter.sidebar_visible())
        self.splitter.sidebar_toggled.connect(self.menus.sidebar_action.setChecked)
        self.error_reported.connect(self._on_error_reported)
        self.new_chat()
        for message in startup_notices:
            self.notice_display.show_notice(message, kind="info")

    # --- building the window: each part, then what it tells the others ------------

    def _build_conversation(self) -> None:
        """The sidebar, the chat pages (every message made by one factory), the composer, the find bar."""
        self.sidebar = Sidebar(self)
        self.sidebar.new_chat_clicked.connect(self.new_chat)
        self.sidebar.export_requested.connect(self.export_chats)
        # Every message widget is made by one factory; a click on one is a request to the window.
        self.messages = MessageFactory(
            lambda: self.appearance.renderer,
            lambda: self.appearance.colors,
            lambda: self.view.token_view,
            lambda: self.model_switcher.plans(),
            self,
        )
        self.messages.copied.connect(lambda: notices.info("Copied to the clipboard", timeout_ms=2000))
        self.thumbnails = StoredThumbnails(self)
        self.pages = ChatPages(self.store, self.messages, self.thumbnails, self._retry, self)
        self.composer = Composer(self)
        self.composer.send_clicked.connect(self.send)
        self.composer.stop_clicked.connect(self.stop)
        self.composer.edit.submitted.connect(self.send)

        right = ConversationArea(self.pages, self.composer, self)
        self.find_bar = right.find_bar
        self.find_bar.closed.connect(self.focus_composer)
        self._find = FindInChat(self.find_bar, self._find_target, lambda: self.appearance.colors)
        self.pages.older_built.connect(self._find.refresh)  # the chat's older messages count too
        self.splitter = ChatSplitter(self.sidebar, right, self)
        self.setCentralWidget(self.splitter)

    def _build_status_parts(self) -> None:
        """The status bar and what reports to it: downloads, the model in use."""
        self.status = StatusBar(self)
        self.downloads = DownloadTracker(self.status, self)
        self.setStatusBar(self.status)
        self.notice_display = NoticeDisplay(self)  # what app.notices tells shows here
        self.model_switcher = ModelSwitcher(
            self.host,
            self.status,
            self.pages,
            self.downloads,
            lambda: self.config,
            lambda: self.active is not None,
            self.stop,
            self,
        )
        self.model_switcher.config_changed.connect(self._save)

    def _build_reply_parts(self) -> None:
        """The live reply, the view controls, and what messages ask for: instructions, Revise, replays."""
        self.live = LiveReply(
            self.host,
            self.store,
            self.pages,
            self.messages,
            lambda: self.config,
            self._retry,
            self,
        )
        self.live.reply_started.connect(self._on_live_reply_started)
        self.live.prompt_measured.connect(self._show_context_use)
        self.live.reply_finished.connect(self._on_live_reply_finished)
        self.live.reply_ended.connect(self._on_live_reply_ended)
        self.view = ViewControls(
            lambda: self.config,
            self._save,
            lambda: self.model_switcher.defaults,
            self.appearance,
            self.composer,
            self.messages,
            self.pages,
            self.live,
            self.status,
            self,
        )
        self.instructions = ChatInstructions(
            self.store, self.pages, self.composer, lambda: self.config.system_prompt, self
        )
        self.sidebar.instructions_requested.connect(self.instructions.edit)
        self.composer.instructions_clicked.connect(self.instructions.edit)
        self.revise_offer = ReviseOffer(
            self.composer,
            self.pages,
            lambda: self.active is not None,
            self.focus_composer,
            self.store,
            self.model_switcher.plans,
        )
        self.messages.revise_clicked.connect(self.revise_offer.start)
        self.trash = Trash(self.store, self, self)
        self.trash.restored.connect(self._on_trash_restored)
        self.replays = ReplayRequests(self.host, self.store, self.pages, self)
        self.messages.replay_clicked.connect(self.replays.request)
        self.uncertainty = UncertaintyRequests(
            self.host, self.store, self.pages, self.messages, lambda: self.config, self._save, self
        )
        self.uncertainty.set_enabled(self.config.show_uncertainty)
        self.replay_export = ReplayExport(
            lambda: self.appearance.renderer, lambda: self.appearance.colors, self, self
        )
        self.messages.replay_save_clicked.connect(self.replay_export.save)
        self.messages.revise_part_requested.connect(self.revise_offer.start_part)

    def _build_attachments(self) -> None:
        self.attachment_intake = AttachmentIntake(self.composer, self)
        self.prober = self.attachment_intake.prober  # docs/screenshots waits for its probes
        self.viewer = AttachmentViewer(self)  # a click on a sent attachment opens it
        self.composer.attachment_clicked.connect(self.viewer.open)
        self.messages.attachment_clicked.connect(self.viewer.open)

    def _build_chat_list(self) -> None:
        """Import and export, drafts, the chat list, and which chat is shown."""
        self.chat_transfer = ChatTransfer(
            self.store.path, self, self.status, lambda cid: self.store.conversation(cid).title, self
        )
        self.chat_transfer.exported.connect(self.chats_exported)
        self.chat_transfer.imported.connect(self._on_chat_transfer_imported)
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
            lambda: self.active.session if self.active is not None else None,
            self.stop,
            self.open_chat,
            self.new_chat,
            self,
        )
        self.chat_list.refreshed.connect(self._show_title)
        self.navigation = ChatNavigation(
            self.store,
            self.pages,
            self.sidebar,
            self.drafts,
            self.chat_list,
            self.host,
            lambda: self.active.session if self.active is not None else None,
            self.focus_composer,
            self,
        )
        self.navigation.chat_shown.connect(self._show_chat_state)
        self.composer.edit.edit_last_requested.connect(self.navigation.edit_last_message)

    def _build_reply_actions(self) -> None:
        """What a message's buttons ask for, answered with a new reply (or another branch shown)."""
        self.replies = ReplyActions(
            self.live,
            self.store,
            self.pages,
            self.messages,
            self.composer,
            self.revise_offer,
            self.chat_list,
            self,
        )
        self.replies.branched.connect(self._on_replies_branched)
        self.replies.branch_switched.connect(self._show_chat_state)

    def _connect_worker(self) -> None:
        """The engine host's model events; its reply events go to the live reply."""
        worker = self.host.worker
        worker.load_progressed.connect(self.status.load_progressed)
        worker.model_loaded.connect(self.on_model_loaded)
        worker.vram_measured.connect(self.status.set_vram)

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

    @Slot(object, object)
    def on_model_loaded(self, info: ModelInfo, defaults: GenerationSettings) -> None:
        self.model_switcher.on_model_loaded(info, defaults)
        self._show_context_use()
        self.composer.set_fillable("fill" in info.plans)
        self.revise_offer.show()

    def open_models(self) -> ModelsDialog:
        """Model ▸ Models…: the installed models and the DiffusionGemma download (one dialog at a time)."""
        return self.model_switcher.open_dialog()

    def track_download(self, dialog: DownloadDialog) -> None:
        """Show ``dialog``'s download in the status bar, so the dialog can be closed while it runs."""
        self.downloads.track(dialog)

    # --- chats (which one is shown: app/ui/chat_navigation.py) ----------------------

    def new_chat(self) -> ChatSession:
        """Open an empty chat: the current one if it is still empty, else a new stored conversation."""
        return self.navigation.new_chat()

    def open_chat(self, chat_id: int) -> ChatPage | None:
        """Show a stored conversation (built from its active path the first time)."""
        return self.navigation.open_chat(chat_id)

    def _show_chat_state(self) -> None:
        """What follows the chat and branch shown: the context use, the instructions button, Revise."""
        self._show_context_use()
        self.instructions.show_state()
        self.revise_offer.show()

    def current_page(self) -> ChatPage | None:
        return self.pages.current()

    def _show_context_use(self, used: int | None = None) -> None:
        """The status bar's context use for the chat shown (``used``: a reply's prompt, before its stats)."""
        page = self.current_page()
        self.status.show_context_use(self.model_info, page.session if page is not None else None, used)

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

    def search_chats(self, query: str) -> list[int]:
        """Type ``query`` into the search box; returns the ids listed."""
        return self.chat_list.search(query)

    # --- export and import --------------------------------------------------------------

    def export_chats(self, chat_ids: list[int] | None, path: Path | None = None) -> Path | None:
        """Write chats (None: all) to ``path`` or a file the user picks, off the GUI thread; returns
        the file (``chats_exported`` says when it is written)."""
        return self.chat_transfer.export_chats(chat_ids, path)

    def import_chats(self, path: Path | None = None) -> Path | None:
        """Add the chats of a JSON export as new chats (nothing is overwritten) and show the first; read
        and stored off the GUI thread (``chats_imported`` gives the new chats' ids)."""
        return self.chat_transfer.import_chats(path)

    def _on_chat_transfer_imported(self, _path: Path, ids: list[int]) -> None:
        if ids:
            self.chat_list.refresh()
            self.open_chat(ids[0])
        self.chats_imported.emit(ids)

    def _on_trash_restored(self, chat_ids: list[int]) -> None:
        self.chat_list.refresh()
        self.open_chat(chat_ids[0])
        count = len(chat_ids)
        notices.info(f"Restored {count} chat{'s' if count != 1 else ''}", timeout_ms=5000)

    # --- the reply being written (app/ui/live_reply.py) and requests for one (app/ui/reply_actions.py) ---

    @property
    def active(self) -> ActiveReply | None:
        """The reply being written; None while none is."""
        return self.live.active

    def send(self) -> int | None:
        """Send the composer's text and attachments; returns the reply id (None if nothing was sent)."""
        return self.replies.send()

    def _retry(self, page: ChatPage, failed: AssistantMessage) -> int | None:
        return self.replies.retry(page, failed)  # a failed reply's Retry (the live one's, or a stored one's)

    def stop(self) -> None:
        """Stop the reply being written (it is saved as stopped)."""
        self.live.stop()

    def _on_live_reply_started(self, _reply: ActiveReply) -> None:
        self.chat_list.mark_rows()  # shows "writing" once another chat is opened
        self.revise_offer.show()
        self.composer.set_generating(True)

    def _on_live_reply_finished(self, done: Done) -> None:
        self.status.set_speed(done.stats.tokens_per_second)
        self._show_context_use()

    def _on_live_reply_ended(self, reply: ActiveReply) -> None:
        self.model_switcher.reply_ended()
        page = self.pages.page_of_session(reply.session)
        if page is not None and page is not self.current_page():
            self.chat_list.add_unread(page.session.id)
        self.chat_list.mark_rows()
        self.composer.set_generating(False)
        self.revise_offer.show()
        self.focus_composer()

    def _on_replies_branched(self, chat_id: int) -> None:
        self.open_chat(chat_id)
        notices.info("A new chat goes on from that reply; the original is unchanged")

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

    # --- view --------------------------------------------------------------------

    def focus_composer(self) -> None:
        self.composer.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _save(self, config: AppConfig) -> None:
        if config.engine_threads != self.config.engine_threads:
            self.host.set_threads(config.engine_threads)  # applied on the engine thread
        self.config = config
        try:
            save_config(config, self._config_path)
        except OSError as error:
            log.exception("cannot save settings")
            notices.error(
                f"Settings could not be saved: {error}.", "Check that the settings folder can be written"
            )

    # --- errors and shutdown ---------------------------------------------------------

    def _on_error_reported(self, message: str, log_path: str) -> None:
        self._dialogs = [*self._dialogs[-4:], show_error(self, message, log_path)]

    def report_error(self, message: str, log_path: Path) -> None:
        """Callable from any thread (the excepthook): shows a dialog on the GUI thread."""
        self.error_reported.emit(message, str(log_path))

    def closeEvent(self, event) -> None:
        self.drafts.save()
        save_layout(self, self.splitter, self._layout_path)
        self.hide()
        self.live.shutdown()
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

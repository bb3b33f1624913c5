"""The window's menu bar and keyboard shortcuts: every command is one QAction, added to the window.

The actions are made in the order the shortcut list shows them (Help ▸ Keyboard
shortcuts reads them back from the window, so it can never disagree with what
the keys do).  Shortcuts are window-wide: they work wherever the focus is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from app.config import AppConfig
from app.qt import QAction, QApplication, QKeySequence, QMenuBar, QMessageBox, Qt, QWidget
from app.ui.chat_instructions import ChatInstructions
from app.ui.chat_list import ChatList
from app.ui.chat_navigation import ChatNavigation
from app.ui.chat_pages import ChatPage
from app.ui.chat_splitter import ChatSplitter
from app.ui.doctor_dialog import DoctorDialog
from app.ui.find_bar import FindBar
from app.ui.help_menu import APP_TITLE, open_log_folder, show_about, show_shortcuts
from app.ui.model_switcher import ModelSwitcher
from app.ui.reply_actions import ReplyActions
from app.ui.revise_offer import ReviseOffer
from app.ui.sidebar import Sidebar
from app.ui.trash_dialog import Trash
from app.ui.uncertainty_requests import UncertaintyRequests
from app.ui.view_controls import ViewControls
from engine.model.demo import DEMO
from engine.model.loader import DEFAULT_MODEL

if TYPE_CHECKING:
    from engine.engine import ModelInfo  # imports torch: never at run time on the GUI thread


class MenuCommands(Protocol):
    """What the menus ask of the window (the main window is one)."""

    find_bar: FindBar
    sidebar: Sidebar
    splitter: ChatSplitter
    model_switcher: ModelSwitcher
    revise_offer: ReviseOffer
    replies: ReplyActions
    instructions: ChatInstructions
    navigation: ChatNavigation
    view: ViewControls
    uncertainty: UncertaintyRequests
    chat_list: ChatList
    trash: Trash
    config: AppConfig

    @property
    def model_info(self) -> ModelInfo | None: ...
    def addAction(self, action: QAction) -> None: ...
    def actions(self) -> list[QAction]: ...
    def menuBar(self) -> QMenuBar: ...
    def close(self) -> bool: ...
    def new_chat(self) -> object: ...
    def focus_composer(self) -> None: ...
    def current_page(self) -> ChatPage | None: ...
    def stop(self) -> None: ...
    def load_model(self, source: str) -> None: ...
    def open_models(self) -> object: ...
    def export_chats(self, chat_ids: list[int] | None) -> object: ...
    def import_chats(self) -> object: ...


class WindowMenus:
    """The Chat, Model, View and Help menus of ``window``, and their actions (tests trigger them)."""

    def __init__(self, window: MenuCommands) -> None:
        self._window = window
        self._parent: QWidget = window  # type: ignore[assignment]  # the window is a QWidget
        self._chat_actions(window)
        self._view_actions(window)
        window.view.token_view_toggled.connect(self.token_action.setChecked)
        window.uncertainty.reason_changed.connect(self.uncertainty_action.setToolTip)
        menu = window.menuBar()
        self._chat_menu(menu)
        self._model_menu(menu)
        self._view_menu(menu)
        self._help_menu(menu, window)

    def _action(
        self, text: str, shortcut: str | QKeySequence | None, slot: Callable, *, checkable: bool = False
    ) -> QAction:
        action = QAction(text, self._parent)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        self._window.addAction(action)
        return action

    def _chat_actions(self, w: MenuCommands) -> None:
        self.new_chat_action = self._action("&New chat", "Ctrl+N", w.new_chat)
        self.stop_action = self._action("&Stop reply", "Esc", self.escape)
        self.focus_action = self._action("&Focus the message box", "Ctrl+L", w.focus_composer)
        self.search_action = self._action("&Search chats", "Ctrl+K", self.focus_search)
        self.find_action = self._action(
            "&Find in this chat", QKeySequence.StandardKey.Find, w.find_bar.open_bar
        )
        self.previous_chat_action = self._action(
            "&Previous chat", "Alt+Up", lambda: w.navigation.step_chat(-1)
        )
        self.next_chat_action = self._action("Ne&xt chat", "Alt+Down", lambda: w.navigation.step_chat(1))
        self.token_action = self._action("&Token view", "Ctrl+T", w.view.toggle_token_view, checkable=True)
        self.sidebar_action = self._action(
            "Show the &chat list", "Ctrl+B", w.splitter.set_sidebar_visible, checkable=True
        )
        self.settings_action = self._action("&Settings…", "Ctrl+,", w.view.open_settings)
        self.open_model_action = self._action("&Open model folder…", "Ctrl+O", w.model_switcher.choose_folder)
        self.demo_action = self._action("Use the &demo model", None, lambda: w.load_model(DEMO))
        self.models_action = self._action("&Models…", "Ctrl+Shift+M", w.open_models)
        self.quit_action = self._action("&Quit", QKeySequence.StandardKey.Quit, w.close)
        self.export_action = self._action("&Export this chat…", "Ctrl+Shift+E", self.export_this_chat)
        self.revise_action = self._action("&Revise the last reply", "Ctrl+R", w.revise_offer.toggle)
        self.fill_action = self._action(
            "&Fill the gaps in the message", "Ctrl+Shift+F", lambda: w.replies.fill_gaps()
        )
        self.instructions_action = self._action(
            "&Instructions for this chat…", "Ctrl+Shift+I", lambda: w.instructions.edit()
        )
        self.export_all_action = self._action("Export &all chats…", None, lambda: w.export_chats(None))
        self.import_action = self._action("&Import chats…", None, lambda: w.import_chats())
        self.trash_action = self._action("&Recently deleted…", None, w.trash.open)
        self.copy_reply_action = self._action("&Copy the last reply", "Ctrl+Shift+C", w.view.copy_last_reply)
        self.delete_chat_action = self._action(
            "&Delete this chat", "Ctrl+Shift+Backspace", self.delete_this_chat
        )

    def _view_actions(self, w: MenuCommands) -> None:
        self.zoom_in_action = self._action(
            "Larger text", QKeySequence.StandardKey.ZoomIn, lambda: w.view.zoom(1)
        )
        self.zoom_in_action.setShortcuts(
            [QKeySequence(QKeySequence.StandardKey.ZoomIn), QKeySequence("Ctrl+=")]
        )
        self.zoom_out_action = self._action(
            "Smaller text", QKeySequence.StandardKey.ZoomOut, lambda: w.view.zoom(-1)
        )
        self.zoom_reset_action = self._action("Default text size", "Ctrl+0", lambda: w.view.zoom(0))
        self.uncertainty_action = self._action(
            "Show &uncertainty", None, w.uncertainty.set_shown, checkable=True
        )
        self.uncertainty_action.setChecked(w.uncertainty.enabled)
        self.uncertainty_action.setToolTip(w.uncertainty.reason)

    def _chat_menu(self, menu: QMenuBar) -> None:
        chat = menu.addMenu("&Chat")
        chat.addActions([self.new_chat_action, self.stop_action, self.focus_action])
        chat.addActions(
            [self.find_action, self.search_action, self.previous_chat_action, self.next_chat_action]
        )
        chat.addActions(
            [self.copy_reply_action, self.revise_action, self.fill_action, self.instructions_action]
        )
        chat.addSeparator()
        chat.addActions([self.export_action, self.export_all_action, self.import_action])
        chat.addSeparator()
        chat.addActions([self.delete_chat_action, self.trash_action])
        chat.addSeparator()
        chat.addAction(self.quit_action)

    def _model_menu(self, menu: QMenuBar) -> None:
        model = menu.addMenu("&Model")
        model.addActions([self.models_action, self.open_model_action, self.demo_action])

    def _view_menu(self, menu: QMenuBar) -> None:
        view = menu.addMenu("&View")
        view.setToolTipsVisible(True)  # Show uncertainty says why some replies have no tints
        view.addActions([self.sidebar_action, self.token_action, self.uncertainty_action])
        view.addSeparator()
        view.addActions([self.zoom_in_action, self.zoom_out_action, self.zoom_reset_action])
        view.addSeparator()
        view.addAction(self.settings_action)

    def _help_menu(self, menu: QMenuBar, w: MenuCommands) -> None:
        help_menu = menu.addMenu("&Help")
        self.shortcuts_action = self._action("&Keyboard shortcuts", "Ctrl+/", self.show_shortcuts)
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction("&Check this computer…", self.check_computer)
        help_menu.addAction("Show the &log folder", open_log_folder)
        help_menu.addSeparator()
        help_menu.addAction(f"&About {APP_TITLE}", self.show_about)

    # --- the commands that only the menus give --------------------------------------

    def escape(self) -> None:
        """Esc closes the find bar when typing in it, else stops the reply (one shortcut: two would clash)."""
        w = self._window
        focus = QApplication.focusWidget()
        if w.find_bar.isVisible() and focus is not None and w.find_bar.isAncestorOf(focus):
            w.find_bar.close_bar()
        else:
            w.stop()

    def export_this_chat(self) -> None:
        """Chat ▸ Export this chat…"""
        page = self._window.current_page()
        if page is not None:
            self._window.export_chats([page.session.id])

    def delete_this_chat(self) -> None:
        """Ctrl+Shift+Backspace: the chat shown goes to the trash, with Undo in the chat list."""
        page = self._window.current_page()
        if page is not None and page.session.messages:
            self._window.chat_list.delete([page.session.id])

    def focus_search(self) -> None:
        """Ctrl+K, as in other chat apps: type to find a chat (the chat list is shown if it was hidden)."""
        self._window.splitter.set_sidebar_visible(True)
        self._window.sidebar.search.setFocus()
        self._window.sidebar.search.selectAll()

    def show_shortcuts(self) -> QMessageBox:
        return show_shortcuts(self._parent, self._window.actions(), self._window.config.send_key)

    def check_computer(self) -> DoctorDialog:
        """Help ▸ Check this computer: the engine's doctor for the model in use (the real one when the
        demo is loaded: that is the one whose needs the user wonders about)."""
        config = self._window.config
        model = config.model if config.model and config.model != DEMO else DEFAULT_MODEL
        dialog = DoctorDialog(model, self._parent)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def show_about(self) -> QMessageBox:
        info = self._window.model_info
        return show_about(self._parent, info.name if info is not None else None)

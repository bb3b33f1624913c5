"""How the chat is shown, and the settings: the token view, the text size, the Settings dialog.

Each change is saved at once (``save``) as the setting it is: Ctrl+= is the
Settings dialog's font size one point larger, the Think button is its
"thinking" box.  The token view shows the reply being written (or the chat's
last reply) as its canvas of tokens; the View menu's check mark follows it.
"""

from __future__ import annotations

from collections.abc import Callable

from app import notices
from app.config import DEFAULT_FONT_SIZE, MAX_FONT_SIZE, MIN_FONT_SIZE, AppConfig
from app.qt import QApplication, QObject, Qt, QWidget, Signal
from app.ui.appearance import Appearance
from app.ui.chat_pages import ChatPages
from app.ui.composer import Composer
from app.ui.live_reply import LiveReply
from app.ui.message_factory import MessageFactory
from app.ui.messages import AssistantMessage
from app.ui.server_settings import limit_to_server
from app.ui.settings_dialog import SettingsDialog
from app.ui.status import StatusBar
from engine.settings import GenerationSettings


class ViewControls(QObject):
    token_view_toggled = Signal(bool)  # the token view is on (or off) now: the View menu's check mark

    def __init__(
        self,
        config: Callable[[], AppConfig],
        save: Callable[[AppConfig], None],
        defaults: Callable[[], GenerationSettings | None],
        appearance: Appearance,
        composer: Composer,
        messages: MessageFactory,
        pages: ChatPages,
        live: LiveReply,
        status: StatusBar,
        parent: QWidget,
    ) -> None:
        """``defaults`` are the loaded model's generation settings (what Settings' Reset goes back to)."""
        super().__init__(parent)
        self._config = config
        self._save = save
        self._defaults = defaults
        self.appearance = appearance
        self.composer = composer
        self.pages = pages
        self.live = live
        self.status = status
        self._parent = parent
        self.token_view = False
        composer.think_button.setChecked(config().thinking)
        composer.edit.set_send_key(config().send_key)
        composer.think_button.toggled.connect(self._on_think_button_toggled)
        messages.token_view_toggled.connect(self.on_token_view_toggled)

    @property
    def config(self) -> AppConfig:
        return self._config()

    # --- the token view ------------------------------------------------------------

    def toggle_token_view(self) -> None:
        self.set_token_view(not self.token_view)

    def set_token_view(self, on: bool) -> None:
        self.token_view = on
        self.token_view_toggled.emit(on)
        if self.live.active is not None:
            self.live.active.widget.set_token_view(on)
        else:
            last = self.last_assistant_widget()
            if last is not None:
                last.set_token_view(on)

    def last_assistant_widget(self) -> AssistantMessage | None:
        page = self.pages.current()
        if page is None:
            return None
        replies = [w for w in page.transcript.messages() if isinstance(w, AssistantMessage)]
        return replies[-1] if replies else None

    def on_token_view_toggled(self, on: bool) -> None:
        """A message's own token-view switch was used: the menu's check mark follows it."""
        self.token_view = on
        self.token_view_toggled.emit(on)

    def copy_last_reply(self) -> str:
        """Ctrl+Shift+C: the chat's last reply, as markdown, to the clipboard; returns what was copied."""
        page = self.pages.current()
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
            notices.info("The last reply was copied to the clipboard", timeout_ms=2000)
        return text

    # --- settings ----------------------------------------------------------------------

    def _on_think_button_toggled(self, on: bool) -> None:
        self._save(self.config.with_changes(thinking=on))

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.config, self._defaults(), self._parent)
        limit_to_server(dialog, getattr(self._parent, "model_source", None))
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
        notices.info(f"Text size {size} pt", timeout_ms=1500)
        return size

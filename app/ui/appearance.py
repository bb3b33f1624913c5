"""The look every message is drawn with: the theme's colours, the text size and the markdown renderer.

Three things change it while chats are open (the Settings dialog, Ctrl+= /
Ctrl+- / Ctrl+0, the desktop switching between light and dark under the
"system" theme), and each time every message already built, in every open
chat, must be drawn again; otherwise one chat would keep the old colours until
it is reopened.  Formulas are drawn on a background thread (:class:`MathPool`);
when a burst of them is ready, the replies that showed their TeX draw them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from app.config import AppConfig
from app.markdown import MarkdownRenderer
from app.qt import QApplication, QObject, QWidget
from app.theme import apply_theme
from app.ui.math_pool import MathPool
from app.ui.messages import AssistantMessage, UserMessage


class Appearance(QObject):
    def __init__(
        self,
        config: Callable[[], AppConfig],
        messages: Callable[[], Iterable[QWidget]],
        parent: QObject | None = None,
    ) -> None:
        """Styles the application at once, from ``config()``'s theme and text size; ``messages``
        gives every message widget built, to draw again."""
        super().__init__(parent)
        self._config = config
        self._messages = messages
        settings = config()
        self.colors = apply_theme(QApplication.instance(), settings.theme, settings.font_size)
        # Formulas are drawn on a background thread; replies show their TeX until then.
        self.math_pool = MathPool(self)
        self.math_pool.drawn.connect(self._on_math_pool_drawn)
        self.renderer = MarkdownRenderer(self.colors, settings.font_size, request_math=self.math_pool.request)
        self.renderer.warm_up()
        hints = QApplication.instance().styleHints()
        hints.colorSchemeChanged.connect(self._on_color_scheme_changed)

    def restyle(self) -> None:
        """Apply the theme and font size, and re-render every message with the new colours."""
        settings = self._config()
        self.colors = apply_theme(QApplication.instance(), settings.theme, settings.font_size)
        self.renderer = MarkdownRenderer(self.colors, settings.font_size, request_math=self.math_pool.request)
        for widget in self._messages():
            if isinstance(widget, AssistantMessage):
                widget.set_colors(self.colors)
            elif isinstance(widget, UserMessage):
                widget.rerender()

    def shutdown(self) -> bool:
        return self.math_pool.shutdown()

    def _on_math_pool_drawn(self) -> None:
        for widget in self._messages():
            if isinstance(widget, AssistantMessage):
                widget.refresh_math()

    def _on_color_scheme_changed(self, _scheme) -> None:
        if self._config().theme == "system":
            self.restyle()

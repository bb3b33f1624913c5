"""Streamed markdown that re-renders only its growing tail.

While a reply is written, text before the last safe block boundary inside the
*committed* canvases can no longer change.  It is rendered once into its own
view ("chunk") and never touched again; only the tail (the rest of the
committed text plus the live draft) is re-rendered per frame.  When the reply
ends, the chunks are merged into one view so selection spans the whole reply.
"""

from __future__ import annotations

from collections.abc import Callable

from app.markdown import MarkdownRenderer, Rendered
from app.markdown_split import split_blocks, stable_prefix_length
from app.qt import QVBoxLayout, QWidget, Signal
from app.ui.text_view import MenuActions, RichTextView


class MarkdownStack(QWidget):
    code_copied = Signal()

    def __init__(
        self, renderer: Callable[[], MarkdownRenderer], parent=None, *, accessible_name: str = "Reply"
    ) -> None:
        super().__init__(parent)
        self._renderer = renderer
        self._accessible_name = accessible_name
        self.setAccessibleName(accessible_name)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(0)
        self._text_color: str | None = None
        self._chunks: list[RichTextView] = []
        # Views that show a formula as source while it is drawn elsewhere, and the text they render.
        self._waiting_for_math: dict[RichTextView, str] = {}
        self._frozen = ""
        self._live_text: str | None = None
        self._menu_actions: MenuActions | None = None  # extra right-click entries of every view
        self._live = self._new_view()
        self._layout.addWidget(self._live)
        self.chunk_renders = 0
        self.live_renders = 0
        self.block_renders = 0  # blocks of the live tail parsed (an unchanged block is not)
        self._blocks: dict[str, Rendered] = {}  # the live tail's last frame, block by block
        self._blocks_renderer: MarkdownRenderer | None = None

    @property
    def text(self) -> str:
        return self._frozen + (self._live_text or "")

    def views(self) -> list[RichTextView]:
        return [*self._chunks, self._live]

    def set_text(self, text: str, committed: int) -> None:
        """Show ``text``, of which the first ``committed`` characters are final."""
        if not text.startswith(self._frozen):
            self._drop_chunks()
        # The frozen part ends at a top-level block boundary, so only the committed text after it
        # needs scanning: per frame the cost is the tail's, not the whole reply's.
        frozen = len(self._frozen)
        boundary = frozen + stable_prefix_length(text[frozen:committed]) if committed > frozen else frozen
        if boundary > frozen:
            view = self._new_view()
            self._render_into(view, text[len(self._frozen) : boundary])
            self._layout.insertWidget(len(self._chunks), view)
            self._chunks.append(view)
            self._frozen = text[:boundary]
            self.chunk_renders += 1
        tail = text[len(self._frozen) :]
        if tail != self._live_text:
            self._live_text = tail
            # The draft changes every step: its formulas show as TeX until their canvas is committed.
            self._live.set_rendered(self._render_live(tail))
            self._waiting_for_math.pop(self._live, None)
            self._live.setVisible(bool(tail))
            self.live_renders += 1

    def _render_live(self, tail: str) -> Rendered:
        """The draft's markdown, block by block: a block that did not change since the last frame is
        not parsed again (parsing the whole tail was most of a frame's 10–15 ms)."""
        renderer = self._renderer()
        if renderer is not self._blocks_renderer:  # another theme or font size: nothing carries over
            self._blocks_renderer, self._blocks = renderer, {}
        blocks: dict[str, Rendered] = {}
        pieces = split_blocks(tail)
        for block in pieces:
            rendered = blocks.get(block) or self._blocks.get(block)
            if rendered is None:
                rendered = renderer.render(block, math=False)
                self.block_renders += 1
            blocks[block] = rendered
        self._blocks = blocks  # only this frame's: the cache never outgrows one tail
        code = {key: body for rendered in blocks.values() for key, body in rendered.code.items()}
        return Rendered("".join(blocks[b].html for b in pieces), code)

    def set_final(self, text: str) -> None:
        """Render the finished text as one view (one layout, one selection)."""
        self._drop_chunks()
        self._live_text = text
        self._render_into(self._live, text)
        self._live.setVisible(bool(text))

    def rerender(self) -> None:
        """After a theme or font change."""
        text = self.text
        self.set_final(text)

    def refresh_math(self) -> bool:
        """Render again the views that showed formulas as source, now that some are drawn; True if any."""
        waiting = list(self._waiting_for_math.items())
        for view, text in waiting:
            self._render_into(view, text)
        return bool(waiting)

    def _render_into(self, view: RichTextView, text: str) -> None:
        rendered = self._renderer().render(text)
        view.set_rendered(rendered)
        if rendered.pending_math:
            self._waiting_for_math[view] = text
        else:
            self._waiting_for_math.pop(view, None)

    def plain_text(self) -> str:
        return "\n".join(view.toPlainText() for view in self.views() if view.isVisibleTo(self))

    def set_text_color(self, color: str | None) -> None:
        """A colour for text the markdown leaves uncoloured (the muted reasoning section)."""
        self._text_color = color
        for view in self.views():
            view.set_text_color(color)

    def set_menu_actions(self, provider: MenuActions | None) -> None:
        """Extra right-click entries for every view of this stack, now and later ones."""
        self._menu_actions = provider
        for view in self.views():
            view.menu_actions = provider

    def _new_view(self) -> RichTextView:
        view = RichTextView(self, accessible_name=self._accessible_name)
        view.menu_actions = self._menu_actions
        view.set_text_color(self._text_color)
        view.code_copied.connect(self.code_copied)
        return view

    def _drop_chunks(self) -> None:
        for view in self._chunks:
            self._waiting_for_math.pop(view, None)
            self._layout.removeWidget(view)
            view.deleteLater()
        self._chunks.clear()
        self._frozen = ""
        self._live_text = None

"""Rendering model output: the HTML subset QTextDocument draws, and streaming-safe cuts."""

from __future__ import annotations

import random
import re

import pytest

from app.markdown import MAX_NESTING, MarkdownRenderer
from app.markdown_split import stable_prefix_length
from app.palette import DARK, LIGHT


@pytest.fixture(scope="module")
def renderer() -> MarkdownRenderer:
    return MarkdownRenderer(LIGHT, 11)


def test_code_blocks_are_one_cell_tables_with_inline_colours_and_a_copy_link(renderer):
    out = renderer.render("```python\ndef f():\n    return 1\n```")
    assert out.html.startswith("<table") and "dgchat-copy:" in out.html and "python" in out.html
    assert 'style="color: #' in out.html, "Pygments colours are inline"
    assert "class=" not in out.html.split("<pre", 1)[1]
    assert list(out.code.values()) == ["def f():\n    return 1\n"]


def test_dark_theme_uses_its_own_colours():
    out = MarkdownRenderer(DARK).render("`x`\n\n```js\nlet a = 1\n```")
    assert DARK.inline_code_bg in out.html and DARK.code_bg in out.html


def test_tables_strikethrough_and_task_lists(renderer):
    out = renderer.render("| a | b |\n|:-|-:|\n| 1 | 2 |\n\n~~gone~~\n\n- [x] done\n- [ ] todo")
    assert '<th align="left"' in out.html and '<td align="right"' in out.html
    assert "<s>gone</s>" in out.html
    assert "☑" in out.html and "☐" in out.html and "<input" not in out.html


def test_raw_html_is_text_and_images_become_links(renderer):
    out = renderer.render('<script>x()</script>\n\n<img src="http://a/b.png">\n\n![cat](http://a/cat.png)')
    assert "<script" not in out.html and "&lt;script&gt;" in out.html
    assert "<img" not in out.html
    assert '<a href="http://a/cat.png"' in out.html and "cat" in out.html


def test_unicode_survives(renderer):
    text = "日本語 — العربية — עברית — 🎉👩‍💻"
    assert text in renderer.render(text).html


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        ("a\n\nb", "a\n\n"),
        ("```\nx\n\ny\n```\n\nz", "```\nx\n\ny\n```\n\n"),
        ("```\nopen fence\n\nstill code", ""),
        ("1. a\n\n2. b", ""),
        ("para\n\n    indented code", ""),
        ("| a |\n|---|\n| 1 |\n\nafter", "| a |\n|---|\n| 1 |\n\n"),
        ("no boundary yet", ""),
    ],
)
def test_stable_prefix_cuts_only_between_top_level_blocks(text, cut):
    assert text[: stable_prefix_length(text)] == cut


def test_rendering_the_cut_pieces_matches_rendering_the_whole(renderer):
    """Property: for random markdown, prefix-then-tail renders the same blocks as the whole."""
    rng = random.Random(3)
    blocks = [
        "# Title",
        "Some *emphasis* and `code`.",
        "```python\nx = 1\n\ny = 2\n```",
        "- one\n- two",
        "1. first\n2. second",
        "> quoted",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "Plain paragraph.",
    ]
    for _ in range(60):
        text = "\n\n".join(rng.choice(blocks) for _ in range(rng.randint(1, 7)))
        cut = stable_prefix_length(text)
        whole = renderer.render(text).html
        pieces = renderer.render(text[:cut]).html + renderer.render(text[cut:]).html
        assert pieces == whole, text


def test_markdown_stack_freezes_committed_blocks_once_and_rerenders_only_the_tail(qtbot, renderer):
    from app.ui.markdown_stack import MarkdownStack

    stack = MarkdownStack(lambda: renderer)
    qtbot.addWidget(stack)
    text = (
        "# Title\n\nFirst paragraph.\n\n```python\nx = 1\n\ny = 2\n```\n\n"
        "Second paragraph.\n\nTail being written"
    )
    # Grow the committed part canvas by canvas, with a draft after it, frame by frame.
    for committed in range(0, len(text) + 1, 7):
        stack.set_text(text[:committed] + "draft…", committed)
    stack.set_text(text, len(text))
    chunks = stack.views()[:-1]
    assert stack.text == text
    assert 1 <= len(chunks) == stack.chunk_renders <= 4, "each committed block is rendered once"
    assert stack._frozen.count("```") % 2 == 0, "a fenced block is frozen whole, never cut"
    assert "x = 1" in "".join(v.toPlainText() for v in chunks)
    assert stack.live_renders > stack.chunk_renders
    # Text that is not a continuation (the final text differs) resets the frozen part.
    stack.set_text("Something else entirely.", 0)
    assert stack.views() == [stack.views()[-1]] and stack.text == "Something else entirely."


def table_depth(html_text: str) -> int:
    """How deep tables nest in ``html_text`` (Qt's layout time doubles per level)."""
    depth = deepest = 0
    for match in re.finditer(r"<(/?)table\b", html_text):
        depth += -1 if match.group(1) else 1
        deepest = max(deepest, depth)
    return deepest


@pytest.mark.parametrize(
    "text",
    [
        "> " * 17 + "deep words",  # markdown-it drops what is deeper than 20 levels
        ">" * 18 + " ```python\ndeep words\n```",
        "- > " * 5 + "| deep | words |\n|---|---|\n| 1 | 2 |",
        "1. > " * 5 + "deep words",
    ],
)
def test_deep_quotes_lists_and_tables_nest_only_a_few_levels(renderer, text):
    html_text = renderer.render(text).html
    assert table_depth(html_text) <= MAX_NESTING + 2  # quotes, then a code block's own two tables
    assert html_text.count("<ul") + html_text.count("<ol") <= MAX_NESTING
    assert "deep" in html_text and "words" in html_text


def test_ten_thousand_quote_levels_render_a_few_tables(renderer):
    assert table_depth(renderer.render("> " * 10_000 + "x").html) <= MAX_NESTING


def test_flattened_list_items_keep_their_text_markers_and_lines(renderer):
    nested = "".join("  " * level + f"- item{level}\n" for level in range(9))
    html_text = renderer.render(nested).html
    assert html_text.count("<ul") == MAX_NESTING
    for level in range(MAX_NESTING, 9):
        assert f"• item{level}</p>" in html_text
    shallow = "> quote\n\n- a\n  - b\n"
    assert renderer.render(shallow).html == MarkdownRenderer(LIGHT, 11)._md.render(shallow, {})

"""TeX math in replies: drawn as images by matplotlib's mathtext, handed to the document, never fetched."""

from __future__ import annotations

import pytest

from app.markdown import MATH_SCHEME, MarkdownRenderer
from app.math_images import MAX_TEX_CHARS, render_math
from app.palette import DARK, LIGHT
from app.qt import QTextDocument, QUrl
from app.ui.text_view import RichTextView


@pytest.fixture(scope="module")
def renderer():
    return MarkdownRenderer(LIGHT)


def shown_view(qtbot, rendered) -> RichTextView:
    view = RichTextView()
    qtbot.addWidget(view)
    view.set_rendered(rendered)
    view.resize(400, 100)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_inline_and_display_math_become_our_own_images(renderer):
    text = "Energy $E=mc^2$, and\n\n$$\n\\int_0^1 x\\,dx = \\frac{1}{2}\n$$\n\nalso \\(a+b\\)."
    out = renderer.render(text)
    assert len(out.images) == 3 and all(name.startswith(f"{MATH_SCHEME}:") for name in out.images)
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in out.images.values())
    assert out.html.count('<img src="dgmath:') == 3
    assert '<p align="center"' in out.html  # the display formula has a line of its own, centred
    inline = render_math("E=mc^2", False, LIGHT.text, renderer.base_pt)
    display = render_math("E=mc^2", True, LIGHT.text, renderer.base_pt)
    assert display.width > inline.width > 20 and 8 < inline.height < 40  # about the text's size


def test_dollars_in_prose_stay_text(renderer):
    out = renderer.render("It costs $5 and $10, or $ 6 $ if you ask.")
    assert not out.images and "$5 and $10" in out.html


def test_tex_mathtext_cannot_draw_is_shown_as_source(renderer):
    out = renderer.render("$\\begin{aligned} a &= b \\end{aligned}$")
    assert not out.images and "$\\begin{aligned} a &amp;= b \\end{aligned}$" in out.html
    huge = "x+" * (MAX_TEX_CHARS // 2) + "x"
    assert not renderer.render(f"${huge}$").images  # too long to spend the GUI thread on


def test_the_live_draft_shows_source_until_committed(renderer):
    assert not renderer.render("$x^2$", math=False).images
    assert "$x^2$" in renderer.render("$x^2$", math=False).html


def test_each_theme_draws_in_its_own_text_colour():
    light = MarkdownRenderer(LIGHT).render("$x$").images
    dark = MarkdownRenderer(DARK).render("$x$").images
    assert set(light) != set(dark) and list(light.values()) != list(dark.values())


def test_model_output_cannot_name_our_images(renderer, qtbot):
    """Only the renderer's own formulas are in the document: raw HTML is text and images never load."""
    real = renderer.render("$y^2$")
    (name,) = real.images
    forged = renderer.render(f'<img src="{name}"> and ![pic]({name}) and ![x](http://127.0.0.1:9/a.png)')
    assert not forged.images and "<img" not in forged.html.replace("&lt;img", "")
    view = shown_view(qtbot, forged)
    assert view.blocked_urls == []  # nothing even asked for


def test_the_view_hands_the_images_to_its_document_and_fetches_nothing(renderer, qtbot):
    out = renderer.render("Pythagoras: $a^2+b^2=c^2$.")
    view = shown_view(qtbot, out)
    (name,) = out.images
    image = view.document().resource(QTextDocument.ResourceType.ImageResource, QUrl(name))
    assert image is not None and not image.isNull()
    assert view.blocked_urls == []
    assert "Pythagoras" in view.toPlainText()


def test_formulas_are_transparent_so_either_theme_shows_through(qtbot):
    from app.qt import QImage

    image = QImage.fromData(render_math("x^2", False, DARK.text, 11.0).png)
    assert image.hasAlphaChannel() and image.pixelColor(0, 0).alpha() == 0


def test_the_window_draws_formulas_off_the_gui_thread_then_shows_them(qtbot, make_window, monkeypatch):
    """Opening a chat never waits for matplotlib: source first, the formula once the pool drew it."""
    import threading
    import uuid

    from app_chat import loaded, replies
    from app_fakes import FakeEngine

    from app import math_images
    from engine.events import Done, Stats

    drawn_on: list[str] = []
    draw = math_images._draw

    def recording(*args):
        drawn_on.append(threading.current_thread().name)
        return draw(*args)

    monkeypatch.setattr(math_images, "_draw", recording)
    window = loaded(qtbot, make_window, FakeEngine())
    unique = uuid.uuid4().int % 10_000  # formulas no earlier test has drawn
    text = f"First $x^{{{unique}}}$ and then\n\n$$\n\\frac{{{unique}}}{{y}}\n$$\n"
    chat = window.store.create_conversation("math")
    user = window.store.send_user_message(chat, "some math please").id
    with window.store.begin_reply(user) as writer:
        writer.on_event(Done((), (), text, "", text, Stats(1, 0, 9, 1, 2, 48, (2,), 4.5, 0.01, 0.1, 90.0)))
    window.open_chat(chat)
    (reply,) = replies(window)
    view = reply.answer.views()[-1]
    assert f"$x^{{{unique}}}$" in view.toPlainText()  # the source, while it is drawn
    qtbot.waitUntil(lambda: not window._math_pool.busy and "$x^" not in view.toPlainText(), timeout=10_000)
    assert len(drawn_on) == 2
    assert threading.main_thread().name not in drawn_on
    assert view.blocked_urls == [] and "First" in view.toPlainText()


def test_with_a_pool_the_renderer_asks_instead_of_drawing(monkeypatch):
    import uuid

    from app import math_images

    number = uuid.uuid4().int % 10_000
    drawn_before = f"w_{{{number}}}"
    render_math(drawn_before, False, LIGHT.text, 11.0)  # in the cache now
    monkeypatch.setattr(math_images, "_draw", lambda *a: pytest.fail("drew on the calling thread"))
    asked: list[tuple] = []
    renderer = MarkdownRenderer(LIGHT, 11.0, request_math=asked.append)
    tex = f"z_{{{number}}}"
    out = renderer.render(f"see ${tex}$")
    assert out.pending_math and not out.images and f"${tex}$" in out.html
    assert asked == [(tex, False, LIGHT.text, 11.0)]
    cached = renderer.render(f"and ${drawn_before}$")
    assert not cached.pending_math and len(cached.images) == 1 and len(asked) == 1


def test_a_streamed_reply_ends_with_its_formulas_drawn(qtbot, make_window):
    import uuid

    from app_chat import loaded, replies, say
    from app_fakes import FakeEngine

    number = uuid.uuid4().int % 10_000
    reply_text = f"The sum is $\\sum_{{k=1}}^{{{number}}} k$ exactly.\n\n$$\n\\sqrt{{{number}}}\n$$\n"
    window = loaded(qtbot, make_window, FakeEngine(reply_text, steps=3))
    say(qtbot, window, "sum please")
    (reply,) = replies(window)
    qtbot.waitUntil(lambda: not window._math_pool.busy, timeout=10_000)
    view = reply.answer.views()[-1]
    names = [n for n in view.toHtml().split('"') if n.startswith("dgmath:")]
    assert len(set(names)) == 2 and "\\sum" not in view.toPlainText()

"""Model output is untrusted: raw HTML stays text, nothing is fetched, links open only on click."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from app_fakes import FakeEngine, fake_loader

from app.markdown import MarkdownRenderer
from app.palette import LIGHT
from app.qt import QDesktopServices, QGuiApplication, QUrl
from app.ui.text_view import RichTextView


class CountingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                body = b"\x89PNG\r\n\x1a\n"
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def server() -> Iterator[CountingServer]:
    srv = CountingServer()
    thread = threading.Thread(target=srv.serve_forever, name="counting-http", daemon=False)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def hostile_reply(url: str) -> str:
    return (
        f"Look: <script>alert('x')</script> and <img src=\"{url}/raw.png\">\n\n"
        f"![a picture]({url}/markdown.png)\n\n"
        f'<iframe src="{url}/frame"></iframe>\n\n'
        f"[a link]({url}/page) and [bad](javascript:alert(1))\n\n"
        f'<a href="{url}/raw-link">raw</a> <link rel="stylesheet" href="{url}/style.css">'
    )


def test_the_server_counts_requests(server):
    # The test below is only meaningful if a real fetch would be seen.
    import urllib.request

    urllib.request.urlopen(f"{server.url}/probe", timeout=5).read()
    assert server.requests == ["/probe"]


def test_hostile_reply_renders_inert_and_fetches_nothing(qtbot, make_window, server):
    engine = FakeEngine(hostile_reply(server.url), steps=4, step_delay=0.005)
    window = make_window(fake_loader(engine))
    window.load_model("fake")
    qtbot.waitUntil(lambda: window.model_info is not None, timeout=5000)
    window.composer.edit.setPlainText("show me")
    window.send()
    reply = window.active.widget
    qtbot.waitUntil(lambda: window.active is None, timeout=5000)
    reply.repaint()
    qtbot.wait(300)  # give any (wrong) resource loading a chance to happen
    text = reply.answer.plain_text()
    assert "<script>alert('x')</script>" in text, "raw HTML is shown as text"
    assert f'<img src="{server.url}/raw.png">' in text
    assert "🖼" in text and "a picture" in text, "markdown images become a link label"
    html = "".join(v.toHtml() for v in reply.answer.views())
    assert "<img" not in html and "<script" not in html and "<iframe" not in html
    assert 'href="javascript' not in html, "unsafe link targets never become links"
    assert server.requests == []


def test_the_view_refuses_resources_even_for_raw_html(qtbot, server):
    """Defence in depth: even HTML that bypassed the renderer cannot make the view fetch."""
    view = RichTextView()
    qtbot.addWidget(view)
    view.setHtml(f'<p>x<img src="{server.url}/direct.png" width="10" height="10"></p>')
    view.resize(300, 100)
    view.show()
    qtbot.waitExposed(view)
    view.grab()
    qtbot.wait(200)
    assert server.requests == []
    assert any("direct.png" in u for u in view.blocked_urls)


def test_links_open_in_the_browser_only_when_clicked(qtbot, monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url.toString())))
    view = RichTextView()
    qtbot.addWidget(view)
    rendered = MarkdownRenderer(LIGHT).render("[site](https://example.org/a) and [x](ftp://example.org/f)")
    view.set_rendered(rendered)
    assert opened == []
    assert 'href="https://example.org/a"' in rendered.html
    assert 'href="ftp' not in rendered.html, "only http, https and mailto links are kept"
    view.anchorClicked.emit(QUrl("https://example.org/a"))
    view.anchorClicked.emit(QUrl("file:///etc/passwd"))
    assert opened == ["https://example.org/a"]


def test_code_block_copy_link_copies_the_code(qtbot):
    view = RichTextView()
    qtbot.addWidget(view)
    rendered = MarkdownRenderer(LIGHT).render("```python\nprint('hi')\n```")
    view.set_rendered(rendered)
    [(key, code)] = rendered.code.items()
    assert f"dgchat-copy:{key}" in rendered.html
    with qtbot.waitSignal(view.code_copied):
        view.anchorClicked.emit(QUrl(f"dgchat-copy:{key}"))
    assert QGuiApplication.clipboard().text() == code == "print('hi')\n"

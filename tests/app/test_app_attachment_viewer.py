"""A click on a sent attachment opens it: images in the viewer, anything else in the desktop's app."""

from __future__ import annotations

from pathlib import Path

import pytest
from media_files import write_mp4, write_pdf, write_png
from PIL import Image
from test_app_attachments import dropped_chips, loaded_window

from app.qt import QDesktopServices, Qt, QUrl
from app.ui.attachment_viewer import ImageDialog, load_preview, named_copy
from app.ui.messages import UserMessage


@pytest.fixture
def opened_urls(monkeypatch) -> list[Path]:
    """What would have been handed to the desktop (nothing is really opened in a test)."""
    urls: list[Path] = []

    def open_url(url: QUrl) -> bool:
        urls.append(Path(url.toLocalFile()))
        return True

    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(open_url))
    return urls


def send_with(qtbot, window, files: list[Path]) -> UserMessage:
    dropped_chips(qtbot, window, files)
    window.composer.edit.setPlainText("Look")
    window.send()
    qtbot.waitUntil(lambda: window.active is None, timeout=5000)
    return next(w for w in window.current_page().transcript.messages() if isinstance(w, UserMessage))


def tile(message: UserMessage, index: int = 0):
    return message.tiles._tiles[index][2]


def open_dialog(qtbot, window, message: UserMessage, index: int = 0) -> ImageDialog:
    qtbot.mouseClick(tile(message, index), Qt.MouseButton.LeftButton)
    dialog = window.findChild(ImageDialog)
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.open_button.isEnabled(), timeout=10_000)  # decoded off the GUI thread
    return dialog


def test_a_sent_image_opens_in_the_viewer_and_esc_closes_it(qtbot, make_window, tmp_path):
    window = loaded_window(qtbot, make_window)
    message = send_with(qtbot, window, [write_png(tmp_path / "chart.png", size=(300, 200))])
    dialog = open_dialog(qtbot, window, message)
    assert dialog.windowTitle() == "chart.png"
    assert dialog.details.text().startswith("chart.png · 300 × 200 · PNG ·")
    assert dialog.shown_size() == dialog.picture.pixmap().deviceIndependentSize().toSize()
    assert dialog.shown_size().width() == 300  # a small image at its own size, not blown up
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.findChild(ImageDialog) is None)  # closed and deleted


def test_a_stored_image_opens_and_goes_to_the_desktop_under_its_own_name(
    qtbot, make_window, tmp_path, opened_urls
):
    window = loaded_window(qtbot, make_window)
    original = write_png(tmp_path / "photo.png")
    send_with(qtbot, window, [original])
    cid = window.current_page().session.id
    window.close()
    again = loaded_window(qtbot, make_window)
    again.open_chat(cid)
    message = next(w for w in again.current_page().transcript.messages() if isinstance(w, UserMessage))
    assert message.tiles._tiles[0][0].suffix == ""  # the store's copy, named by its hash
    dialog = open_dialog(qtbot, again, message)
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(opened_urls), timeout=10_000)
    (opened,) = opened_urls
    assert opened.name == "photo.png" and opened.read_bytes() == original.read_bytes()
    dialog.close()


def test_videos_and_documents_open_in_the_desktops_app(qtbot, make_window, tmp_path, opened_urls):
    window = loaded_window(qtbot, make_window)
    clip = write_mp4(tmp_path / "clip.mp4", seconds=1.0)
    pdf = write_pdf(tmp_path / "notes.pdf", ["page one"])
    message = send_with(qtbot, window, [clip, pdf])
    qtbot.mouseClick(tile(message, 0), Qt.MouseButton.LeftButton)
    tile(message, 1).setFocus()
    qtbot.keyClick(tile(message, 1), Qt.Key.Key_Return)  # keyboard users open it too
    qtbot.waitUntil(lambda: len(opened_urls) == 2, timeout=10_000)
    assert sorted(p.name for p in opened_urls) == ["clip.mp4", "notes.pdf"]
    assert window.findChild(ImageDialog) is None


def test_a_file_gone_since_it_was_sent_is_named_in_a_notice(qtbot, make_window, tmp_path, opened_urls):
    window = loaded_window(qtbot, make_window)
    picture = write_png(tmp_path / "gone.png")
    clip = write_mp4(tmp_path / "gone.mp4", seconds=1.0)
    message = send_with(qtbot, window, [picture, clip])
    picture.unlink()
    clip.unlink()
    qtbot.mouseClick(tile(message, 0), Qt.MouseButton.LeftButton)
    dialog = window.findChild(ImageDialog)
    qtbot.waitUntil(lambda: "no longer there" in dialog.picture.text(), timeout=10_000)
    assert "“gone.png” is no longer there" in window._notices()[-1].message
    dialog.close()
    qtbot.mouseClick(tile(message, 1), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "gone.mp4" in window._notices()[-1].message, timeout=10_000)
    assert not opened_urls


def test_save_a_copy(qtbot, make_window, tmp_path):
    window = loaded_window(qtbot, make_window)
    original = write_png(tmp_path / "keep.png")
    send_with(qtbot, window, [original])
    window.viewer.save_copy(original, "keep.png", tmp_path / "copy.png")
    qtbot.waitUntil(lambda: (tmp_path / "copy.png").exists(), timeout=5000)
    assert window.viewer.wait()
    assert (tmp_path / "copy.png").read_bytes() == original.read_bytes()


@pytest.mark.parametrize(
    ("name", "suggested"),
    [
        ("/home/someone/.bashrc", "bashrc"),
        ("..\\..\\Windows\\evil\x07.png", "evil.png"),
        ("photo.png", "photo.png"),
        ("..", None),  # nothing left: the file's own name
    ],
)
def test_save_a_copy_offers_only_a_plain_file_name(
    qtbot, make_window, tmp_path, monkeypatch, name, suggested
):
    """An imported chat names its attachments as it likes: never an absolute path or a way out."""
    window = loaded_window(qtbot, make_window)
    original = write_png(tmp_path / "keep.png")
    offered: list[str] = []

    def ask(_parent, _caption, directory):
        offered.append(directory)
        return "", ""  # the user cancels

    monkeypatch.setattr("app.ui.attachment_viewer.QFileDialog.getSaveFileName", ask)
    window.viewer.save_copy(original, name)
    assert offered == [str(Path.home() / (suggested or "keep.png"))]
    linked = named_copy(original, name, tmp_path / "opened")
    assert linked.name == (suggested or "keep.png")
    assert linked == original if suggested is None else linked.parent.parent == tmp_path / "opened"


def test_a_large_photo_is_scaled_down_and_turned_upright(tmp_path):
    path = tmp_path / "portrait.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display", as phones write it
    Image.new("RGB", (6000, 3000), (10, 120, 200)).save(path, exif=exif)
    preview = load_preview(path, max_side=4096)
    assert (preview.width, preview.height, preview.format) == (6000, 3000, "JPEG")
    assert (preview.image.width(), preview.image.height()) == (2048, 4096)  # upright, longest side 4096


def test_named_copy_is_made_once_and_reused(tmp_path):
    stored = tmp_path / "blobs" / "ab12cd"
    stored.parent.mkdir()
    stored.write_bytes(b"%PDF-1.4 fake")
    first = named_copy(stored, "report.pdf", tmp_path / "opened")
    assert first.name == "report.pdf" and first.read_bytes() == stored.read_bytes()
    assert named_copy(stored, "report.pdf", tmp_path / "opened") == first
    own = tmp_path / "already.pdf"
    own.write_bytes(b"x")
    assert named_copy(own, "already.pdf", tmp_path / "opened") == own  # its own name already


def test_an_attachment_not_sent_yet_opens_from_the_composer(qtbot, make_window, tmp_path):
    window = loaded_window(qtbot, make_window)
    chips = dropped_chips(qtbot, window, [write_png(tmp_path / "draft.png", size=(120, 90))])
    qtbot.mouseClick(chips["draft.png"], Qt.MouseButton.LeftButton)
    dialog = window.findChild(ImageDialog)
    qtbot.waitUntil(lambda: dialog.open_button.isEnabled(), timeout=10_000)
    assert dialog.details.text().startswith("draft.png · 120 × 90")
    qtbot.mouseClick(chips["draft.png"].remove, Qt.MouseButton.LeftButton)  # × still only removes
    assert window.composer.attachments() == [] and len(window.findChildren(ImageDialog)) == 1
    dialog.close()

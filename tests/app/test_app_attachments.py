"""Attaching media: drop and paste real PNG/MP4 files, thumbnails, remove, bad files named inline."""

from __future__ import annotations

from pathlib import Path

from app_fakes import FakeEngine, fake_loader
from media_files import write_mp4, write_pdf, write_png

from app.media_probe import probe
from app.qt import QApplication, QDragEnterEvent, QDropEvent, QImage, QLabel, QMimeData, QPointF, Qt, QUrl
from app.ui.messages import UserMessage


def drop_files(window, paths: list[Path]) -> None:
    """Drag files over the window and drop them.

    QApplication refuses to deliver drag events outside a real drag session, so
    the window's handlers are called the way Qt's drag manager calls them.
    """
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    action, button, modifier = (
        Qt.DropAction.CopyAction,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter = QDragEnterEvent(QPointF(200, 200), action, mime, button, modifier)
    enter.ignore()
    window.dragEnterEvent(enter)
    assert enter.isAccepted(), "the window accepts dragged files"
    window.dropEvent(QDropEvent(QPointF(200, 200), action, mime, button, modifier))


def dropped_chips(qtbot, window, paths: list[Path]) -> dict[str, object]:
    """Drop ``paths`` on the window and wait for their probes; the composer's chips by file name."""
    drop_files(window, paths)
    composer = window.composer
    qtbot.waitUntil(
        lambda: not composer.pending_probes() and len(composer.attachments()) == len(paths), timeout=10_000
    )
    return {p.name: c for p, c in composer._chips.items()}


def loaded_window(qtbot, make_window, engine=None):
    window = make_window(fake_loader(engine or FakeEngine("Nice picture.", steps=2)))
    window.load_model("fake")
    qtbot.waitUntil(lambda: window.model_info is not None, timeout=5000)
    return window


def test_dropped_png_and_mp4_become_thumbnails_and_are_sent(qtbot, make_window, tmp_path):
    png = write_png(tmp_path / "photo.png")
    mp4 = write_mp4(tmp_path / "clip.mp4", seconds=3.0)
    engine = FakeEngine("Nice picture.", steps=2)
    window = loaded_window(qtbot, make_window, engine)
    chips = dropped_chips(qtbot, window, [png, mp4])
    composer = window.composer
    assert chips["photo.png"].info.kind == "image" and not chips["photo.png"].image.pixmap().isNull()
    assert chips["clip.mp4"].info.kind == "video" and "0:03" in chips["clip.mp4"].accessibleName()
    assert chips["clip.mp4"].remove.accessibleName() == "Remove attachment clip.mp4"
    # Sending with attachments only (no text) is allowed.
    assert composer.send_button.isEnabled()
    window.send()
    qtbot.waitUntil(lambda: window.active is None, timeout=5000)
    turn = engine.calls[-1][0].turns[-1]
    # The engine reads the store's copies (named by content hash), same bytes, same kinds.
    assert [a.kind for a in turn.attachments] == ["image", "video"]
    assert [a.path.read_bytes() for a in turn.attachments] == [png.read_bytes(), mp4.read_bytes()]
    assert all(a.path.is_relative_to(window.store.blobs_dir) for a in turn.attachments)
    stored = window.store.active_path(window.current_page().session.id)[0]
    assert [a.name for a in stored.attachments] == ["photo.png", "clip.mp4"]
    user = next(w for w in window.current_page().transcript.messages() if isinstance(w, UserMessage))
    tiles = user.findChildren(type(chips["photo.png"].image))
    assert any("clip.mp4" in t.accessibleName() for t in tiles)
    assert not composer.attachments(), "the composer is cleared after sending"


def test_remove_button_drops_an_attachment(qtbot, make_window, tmp_path):
    window = loaded_window(qtbot, make_window)
    png = write_png(tmp_path / "a.png")
    drop_files(window, [png])
    composer = window.composer
    qtbot.waitUntil(lambda: not composer.pending_probes(), timeout=5000)
    qtbot.mouseClick(composer._chips[png].remove, Qt.MouseButton.LeftButton)
    assert composer.attachments() == [] and not composer.strip.isVisible()
    assert not composer.send_button.isEnabled()


def test_pasted_image_is_saved_and_attached(qtbot, make_window, app_dirs):
    window = loaded_window(qtbot, make_window)
    image = QImage(40, 30, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.darkCyan)
    mime = QMimeData()
    mime.setImageData(image)
    window.composer.edit.insertFromMimeData(mime)
    composer = window.composer
    qtbot.waitUntil(lambda: composer.attachments() and not composer.pending_probes(), timeout=5000)
    [(path, info)] = composer.attachments()
    assert path.parent == app_dirs / "cache" / "pasted" and path.suffix == ".png"
    assert (info.width, info.height) == (40, 30)
    assert composer.edit.toPlainText() == ""


def test_clipboard_paste_shortcut_attaches_an_image(qtbot, make_window):
    window = loaded_window(qtbot, make_window)
    image = QImage(10, 10, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.red)
    QApplication.clipboard().setImage(image)
    window.composer.edit.paste()
    qtbot.waitUntil(lambda: len(window.composer.attachments()) == 1, timeout=5000)


def test_a_corrupt_image_is_named_inline_with_a_fix(qtbot, make_window, tmp_path):
    window = loaded_window(qtbot, make_window)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a png at all")
    drop_files(window, [bad])
    qtbot.waitUntil(lambda: bool(window._notices()), timeout=5000)
    message = window._notices()[-1].message
    assert "broken.png" in message and "not an image that can be read" in message and "PNG or JPEG" in message
    assert window.composer.attachments() == []


def test_an_unsupported_file_is_refused_with_the_supported_kinds(qtbot, make_window, tmp_path):
    window = loaded_window(qtbot, make_window)
    program = tmp_path / "tool.exe"
    program.write_bytes(b"MZ\x90\x00\x03\x00\x00\x00" + bytes(200))
    drop_files(window, [program])
    qtbot.waitUntil(lambda: bool(window._notices()), timeout=10_000)
    message = window._notices()[-1].message
    assert "tool.exe" in message and "not a file this app can send" in message
    assert "PNG" in message and "MP4" in message and "PDF" in message
    assert window.composer.attachments() == []


def test_dropped_documents_are_previewed_sent_by_name_and_kept(qtbot, make_window, tmp_path):
    code = tmp_path / "plot.py"
    code.write_text("import math\nprint(math.tau)\n")
    pdf = write_pdf(tmp_path / "report.pdf", ["Revenue grew", "Costs fell", "Outlook"])
    engine = FakeEngine("It plots tau.", steps=2)
    window = loaded_window(qtbot, make_window, engine)
    chips = dropped_chips(qtbot, window, [code, pdf])
    composer = window.composer
    assert chips["plot.py"].info.kind == "document" and chips["plot.py"].info.summary == "2 lines"
    assert chips["report.pdf"].info.summary == "3 pages"
    assert chips["report.pdf"].accessibleName() == "Attachment: document report.pdf, 3 pages"
    assert not chips["plot.py"].image.pixmap().isNull()
    composer.edit.setPlainText("What does this do?")
    window.send()
    qtbot.waitUntil(lambda: window.active is None, timeout=5000)
    turn = engine.calls[-1][0].turns[-1]
    assert [(a.kind, a.display_name) for a in turn.attachments] == [
        ("document", "plot.py"),
        ("document", "report.pdf"),
    ]
    # The store keeps copies named by their hash; the engine still gets the files' own names.
    cid = window.current_page().session.id
    stored = window.store.active_path(cid)[0].attachments
    assert [(a.kind, a.name) for a in stored] == [("document", "plot.py"), ("document", "report.pdf")]
    window.close()
    again = loaded_window(qtbot, make_window, engine)
    again.open_chat(cid)
    # The reopened message shows the files' names at once, then their thumbnails (probed off the GUI thread).
    user = next(w for w in again.current_page().transcript.messages() if isinstance(w, UserMessage))
    qtbot.waitUntil(lambda: not user.tiles.paths_without_thumbnail(), timeout=10_000)
    names = [t.accessibleName() for t in user.tiles.findChildren(QLabel)]
    assert "Attached document plot.py, 2 lines" in names and "Attached document report.pdf, 3 pages" in names
    again.composer.edit.setPlainText("And then?")
    again.send()
    qtbot.waitUntil(lambda: again.active is None, timeout=5000)
    history = engine.calls[-1][0].turns[0]
    assert [a.display_name for a in history.attachments] == ["plot.py", "report.pdf"]
    assert all(a.path.suffix == "" for a in history.attachments)  # the store's copies


def test_probe_reads_video_duration_and_thumbnail(tmp_path):
    info = probe(write_mp4(tmp_path / "v.mp4", seconds=2.0, fps=10))
    assert info.kind == "video" and abs(info.duration_s - 2.0) < 0.3
    assert info.thumbnail.size[0] <= 160 and (info.width, info.height) == (64, 48)


def test_a_portrait_phone_video_is_probed_upright(tmp_path):
    # Phones store portrait video as landscape pixels plus a display rotation: probed as the player shows it.
    info = probe(write_mp4(tmp_path / "phone.mp4", seconds=0.5, size=(64, 48), rotation=90))
    assert (info.width, info.height) == (48, 64)
    assert info.thumbnail.size[1] > info.thumbnail.size[0]


def test_a_dropped_portrait_video_is_described_upright(qtbot, make_window, tmp_path):
    window = loaded_window(qtbot, make_window)
    clip = write_mp4(tmp_path / "phone.mp4", seconds=0.5, size=(64, 48), rotation=270)
    chips = dropped_chips(qtbot, window, [clip])
    assert chips["phone.mp4"].accessibleName().endswith("48×64")


def test_a_sideways_stored_photo_is_probed_upright(tmp_path):
    from PIL import Image

    photo = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, "rotate 90° clockwise to display"
    Image.new("RGB", (40, 20), (200, 30, 30)).save(photo, exif=exif.tobytes())
    info = probe(photo)
    assert (info.width, info.height) == (20, 40) and info.thumbnail.size == (20, 40)


def test_pasting_a_copied_video_file_attaches_it(qtbot, make_window, tmp_path):
    window = loaded_window(qtbot, make_window)
    clip = write_mp4(tmp_path / "copied.mp4", seconds=1.0)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(clip))])  # what a file manager puts on the clipboard
    QApplication.clipboard().setMimeData(mime)
    window.composer.edit.paste()
    qtbot.waitUntil(
        lambda: bool(window.composer.attachments()) and not window.composer.pending_probes(), timeout=5000
    )
    [(path, info)] = window.composer.attachments()
    assert path == clip and info.kind == "video"
    assert window.composer.edit.toPlainText() == "", "the file's URL is not pasted as text"


def test_document_previews_are_square_pages_with_a_badge():
    from app.document_preview import BADGE_COLOURS, badge_text, document_thumbnail
    from engine.inputs.documents import Document

    pdf = Document("report.pdf", "--- Page 1 ---\nRevenue grew\n\n--- Page 2 ---\nCosts fell", pages=2)
    code = Document("plot.py", "import math\n" * 40)
    assert [badge_text(d) for d in (pdf, code, Document("README", "x"))] == ["PDF", "PY", "TXT"]
    image = document_thumbnail(pdf, 160)
    assert image.size == (160, 160) and image.mode == "RGB"
    # The badge sits in the bottom-left corner in its colour; the page above it is white.
    red = BADGE_COLOURS["PDF"]
    corner = [image.getpixel((x, y)) for x in range(6, 40) for y in range(130, 150)]
    assert any(all(abs(a - b) < 40 for a, b in zip(p, red, strict=True)) for p in corner)
    assert image.getpixel((150, 60)) == (255, 255, 255) or image.getpixel((140, 60)) == (255, 255, 255)
    assert document_thumbnail(code, 64).size == (64, 64)

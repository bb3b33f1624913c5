"""Text files and PDFs as attachments: read, named, fenced into the prompt, or refused with the fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from media_files import write_pdf, write_png

from engine.errors import AttachmentError
from engine.inputs.conversation import Attachment, Conversation, PromptOptions, Turn
from engine.inputs.documents import Document, decode_text, document_prompt_text, load_document, sniff_document
from engine.inputs.media import guess_kind


def test_a_source_file_is_named_and_fenced_with_its_language(tmp_path: Path):
    path = tmp_path / "plot.py"
    path.write_text("import math\n\n\tprint(math.pi)\n", encoding="utf-8")
    document = load_document(path)
    assert document.lines == 3 and document.summary() == "3 lines" and document.language == "python"
    text = document_prompt_text(document)
    assert text.startswith("File: plot.py (3 lines)\n```python\nimport math\n")
    assert text.endswith("print(math.pi)\n```\n\n")


def test_a_markdown_file_with_its_own_fences_cannot_close_the_block_early():
    document = Document("notes.md", "Run:\n\n````sh\nls\n````\n")
    text = document_prompt_text(document)
    assert text.splitlines()[1] == "`````markdown" and text.rstrip().endswith("\n`````")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("naïve café\r\nline two".encode(), "naïve café\nline two"),
        ("\ufeffwith a BOM".encode(), "with a BOM"),
        ("utf-16 text".encode("utf-16"), "utf-16 text"),
        ("Windows “quotes” – 1252".encode("cp1252"), "Windows “quotes” – 1252"),
    ],
)
def test_encodings_are_read(tmp_path: Path, data: bytes, expected: str):
    path = tmp_path / "notes.txt"
    path.write_bytes(data)
    assert load_document(path).text == expected


def test_binary_data_is_not_text(tmp_path: Path):
    assert decode_text(b"\x00\x01\x02binary") is None
    path = tmp_path / "data.txt"
    path.write_bytes(b"PK\x03\x04\x00\x00\x08\x00")  # a zip renamed .txt
    with pytest.raises(AttachmentError, match="not text"):
        load_document(path)


def test_an_empty_or_missing_document_is_named(tmp_path: Path):
    empty = tmp_path / "empty.md"
    empty.write_bytes(b"")
    with pytest.raises(AttachmentError, match="empty"):
        load_document(empty)
    with pytest.raises(AttachmentError, match="not found"):
        load_document(tmp_path / "gone.txt")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX named pipes and symbolic links")
def test_a_pipe_a_link_loop_and_a_folder_are_named_as_such(tmp_path: Path):
    pipe = tmp_path / "notes.txt"
    os.mkfifo(pipe)  # opening it would block until someone writes
    with pytest.raises(AttachmentError, match=r"not a regular file \(a named pipe\)"):
        load_document(pipe)
    loop = tmp_path / "loop.md"
    loop.symlink_to(loop)
    with pytest.raises(AttachmentError, match="symbolic link loop"):
        load_document(loop)
    folder = tmp_path / "x.txt"
    folder.mkdir()
    with pytest.raises(AttachmentError, match="a folder, not a file"):
        load_document(folder)


def test_a_pdf_becomes_the_text_of_its_pages(tmp_path: Path):
    path = write_pdf(tmp_path / "report.pdf", ["Revenue grew (a lot)", "Costs fell"])
    document = load_document(path)
    assert document.pages == 2 and document.summary() == "2 pages"
    assert document.text == "--- Page 1 ---\nRevenue grew (a lot)\n\n--- Page 2 ---\nCosts fell"
    assert document_prompt_text(document).startswith("PDF: report.pdf (2 pages)\n```\n--- Page 1 ---")


def test_a_password_protected_pdf_says_how_to_fix_it(tmp_path: Path):
    path = write_pdf(tmp_path / "locked.pdf", ["secret"], password="pw")
    with pytest.raises(AttachmentError, match="password-protected") as info:
        load_document(path)
    assert "Save as PDF" in str(info.value)


def test_a_pdf_with_an_empty_user_password_is_read(tmp_path: Path):
    """Owner-restricted PDFs (printing or copying locked) open without a password."""
    path = write_pdf(tmp_path / "restricted.pdf", ["open to read"], password="")
    assert "open to read" in load_document(path).text


def test_a_scanned_pdf_asks_for_images(tmp_path: Path):
    path = write_pdf(tmp_path / "scan.pdf", ["", ""])
    with pytest.raises(AttachmentError, match="no text") as info:
        load_document(path)
    assert "as images" in str(info.value)


def test_a_corrupt_pdf_is_refused(tmp_path: Path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj garbage")
    with pytest.raises(AttachmentError, match="could not be read"):
        load_document(path)


def test_kinds_by_extension_and_by_content(tmp_path: Path):
    readme = tmp_path / "README"
    readme.write_text("# Project\nHow to build it.\n")
    pdf = write_pdf(tmp_path / "download", ["x"])
    assert guess_kind(readme) == "document" and guess_kind(pdf) == "document"
    assert guess_kind(tmp_path / "a.csv") == "document"  # the extension is trusted: no I/O
    picture = tmp_path / "picture"
    write_png(tmp_path / "p.png").rename(picture)
    assert guess_kind(picture) == "image"
    assert sniff_document(b"plain words\n") and not sniff_document(b"\x7fELF\x02\x01\x01\x00")
    blob = tmp_path / "program"
    blob.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(100))
    with pytest.raises(AttachmentError, match="not supported"):
        guess_kind(blob)


def test_documents_reach_the_prompt_under_their_own_names(tiny_engine, tmp_path: Path):
    """A stored copy is named by its hash; the prompt still names the file the user attached."""
    copy = tmp_path / "3f2a9c"  # how the store names its copies
    copy.write_text("col_a,col_b\n1,2\n")
    turn = Turn("user", "What is in this file?", (Attachment(copy, "document", name="table.csv"),))
    prompt = tiny_engine.prepare(Conversation(turns=(turn,)), tiny_engine.default_settings, PromptOptions())
    assert "File: table.csv (2 lines)\n```csv\ncol_a,col_b\n1,2\n```\n\nWhat is in this file?" in prompt.text


def test_reading_is_cached_until_the_file_changes(tmp_path: Path):
    path = tmp_path / "a.txt"
    path.write_text("one")
    assert load_document(path) is load_document(path)
    path.write_text("two, longer")
    assert load_document(path).text == "two, longer"

"""Hostile PDFs: extraction is bounded in content, text and time, can be stopped, and never prints."""

from __future__ import annotations

import logging
import threading
import zlib

import pytest
from hostile_pdfs import lines, write_pdf_content

from engine.errors import AttachmentError
from engine.inputs import documents
from engine.inputs.documents import load_document, stop_reading


def test_a_page_with_megabytes_of_content_is_refused_before_pypdf_parses_it(tmp_path, monkeypatch):
    monkeypatch.setattr(documents, "MAX_PDF_PAGE_BYTES", 64 * 1024)
    one_string = write_pdf_content(tmp_path / "string.pdf", [b"BT /F1 10 Tf (" + b"x" * 200_000 + b") Tj ET"])
    with pytest.raises(AttachmentError, match="Page 1 of this PDF holds 0 MB of drawing instructions"):
        load_document(one_string)


def test_text_past_the_budget_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(documents, "MAX_PDF_CHARS", 5_000)
    pdf = write_pdf_content(tmp_path / "long.pdf", [lines(200), lines(200)])
    with pytest.raises(AttachmentError, match="more than 5,000 characters of text") as refused:
        load_document(pdf)
    assert "Attach the pages you want" in str(refused.value)


def test_extraction_past_its_deadline_stops_inside_a_page(tmp_path, monkeypatch):
    monkeypatch.setattr(documents, "MAX_PDF_SECONDS", 0.0)
    pdf = write_pdf_content(tmp_path / "slow.pdf", [lines(50)])
    with pytest.raises(AttachmentError, match="took longer than 0 seconds"):
        load_document(pdf)


def test_stop_reading_ends_an_extraction_in_progress(tmp_path, monkeypatch):
    pdf = write_pdf_content(tmp_path / "big.pdf", [lines(3_000)] * 50)
    started = threading.Event()
    real_check = documents._PdfReading.check

    def check(self, *operator):
        started.set()
        return real_check(self, *operator)

    monkeypatch.setattr(documents._PdfReading, "check", check)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            load_document(pdf)
        except AttachmentError as error:
            errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    assert started.wait(30)
    stop_reading()
    reader.join(30)
    assert not reader.is_alive()
    assert [str(e).split(".")[0] for e in errors] == ["Reading the PDF was stopped"]
    assert load_document(write_pdf_content(tmp_path / "next.pdf", [lines(3)])).pages == 1  # later reads run


def test_a_stream_past_pypdfs_limits_is_refused_with_a_message(tmp_path):
    squeezer = zlib.compressobj(9)
    bomb = b"".join(squeezer.compress(b" " * 2**20) for _ in range(80)) + squeezer.flush()  # 80 MB in ~80 KB
    pdf = write_pdf_content(tmp_path / "bomb.pdf", [bomb], flate=False)
    body = pdf.read_bytes().replace(
        b"/Length %d >>" % len(bomb), b"/Length %d /Filter /FlateDecode >>" % len(bomb)
    )
    pdf.write_bytes(body.replace(b"startxref", b"startxref", 1))
    with pytest.raises(AttachmentError, match="more data than can be read"):
        load_document(pdf)


def test_a_corrupt_pdf_prints_nothing_to_the_terminal(tmp_path, capfd, monkeypatch):
    monkeypatch.setattr(
        logging.root, "handlers", []
    )  # as in the CLI: no log configured, last resort = stderr
    bad = write_pdf_content(tmp_path / "bad.pdf", [lines(3)])
    bad.write_bytes(bad.read_bytes().replace(b"/Filter /FlateDecode", b"/Filter /FlateDecode /Broken ["))
    with pytest.raises(AttachmentError, match="This PDF could not be read"):
        load_document(bad)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""

"""A PDF still being read when the window closes stops with it (it would keep the process alive)."""

from __future__ import annotations

import threading

from app_fakes import FakeEngine, fake_loader
from hostile_pdfs import lines, write_pdf_content

from engine.inputs import documents


def test_closing_the_window_stops_a_pdf_being_read(qtbot, make_window, tmp_path, monkeypatch):
    pdf = write_pdf_content(tmp_path / "huge.pdf", [lines(3_000)] * 200)  # minutes of pypdf work
    reading = threading.Event()
    stopped: list[str] = []
    real_check = documents._PdfReading.check

    def check(self, *operator):
        reading.set()
        try:
            return real_check(self, *operator)
        except documents.AttachmentError as error:
            stopped.append(str(error))
            raise

    monkeypatch.setattr(documents._PdfReading, "check", check)
    window = make_window(fake_loader(FakeEngine("ok", steps=2)))
    window.add_files([pdf])
    assert reading.wait(30)
    window.close()
    assert window.attachment_intake.prober.wait(10_000)
    assert stopped and stopped[0].startswith("Reading the PDF was stopped")

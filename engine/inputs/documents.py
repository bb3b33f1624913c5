"""Text documents as the model reads them: source code, notes, data files and PDFs, as text.

DiffusionGemma reads text and images; a document attachment becomes text in the
user's message, in a fenced block named after the file (so the model can tell
it from the question and refer to it by name).  A PDF becomes the text of its
pages (pypdf), with page markers so answers can cite pages; a PDF that is only
scanned images has no text, and says so rather than sending nothing.

Every problem is an :class:`~engine.errors.AttachmentError` naming the file and
the fix.  Reading is cached by path, size and modification time: a chat that
outgrows the context builds its prompt several times (engine.inputs.overflow), and a
stored attachment never changes (the store keeps content-addressed copies).

Plain Python (pypdf): no Qt, no torch.
"""

from __future__ import annotations

import logging
import re
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.errors import AttachmentError
from engine.inputs.file_checks import check_attachable

log = logging.getLogger(__name__)

# Extension → the language name for the fenced block ("" for plain text).
TEXT_EXTENSIONS: dict[str, str] = {
    ".txt": "",
    ".text": "",
    ".log": "",
    ".md": "markdown",
    ".markdown": "markdown",
    ".rst": "rst",
    ".tex": "latex",
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "json",
    ".ipynb": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".ini": "ini",
    ".cfg": "ini",
    ".xml": "xml",
    ".html": "html",
    ".htm": "html",
    ".css": "css",
    ".svg": "xml",
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".jsx": "jsx",
    ".ts": "typescript",
    ".tsx": "tsx",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".cc": "cpp",
    ".hpp": "cpp",
    ".cs": "csharp",
    ".java": "java",
    ".kt": "kotlin",
    ".swift": "swift",
    ".go": "go",
    ".rs": "rust",
    ".rb": "ruby",
    ".php": "php",
    ".pl": "perl",
    ".lua": "lua",
    ".r": "r",
    ".scala": "scala",
    ".sql": "sql",
    ".sh": "bash",
    ".bash": "bash",
    ".zsh": "zsh",
    ".ps1": "powershell",
    ".bat": "batch",
    ".vue": "vue",
    ".svelte": "svelte",
}
PDF_EXTENSION = ".pdf"

MAX_TEXT_BYTES = 8 * 1024**2
"""Largest text file read: ~2 M tokens, already ten times the model's context."""

MAX_PDF_BYTES = 100 * 1024**2
MAX_PDF_PAGES = 2000
"""A PDF's text is extracted page by page (~5–50 ms a page); beyond this it would take minutes."""
MAX_PDF_CHARS = 4_000_000
"""Most text taken from one PDF: ~1 M tokens, several times the model's context."""
MAX_PDF_PAGE_BYTES = 4 * 1024**2
"""Largest decoded content of one page: text pages hold kilobytes; pypdf needs minutes and gigabytes
for a page of tens of MB."""
MAX_PDF_SECONDS = 60.0
"""Longest a PDF's text extraction may run (2,000 ordinary pages take well under this)."""

SUPPORTED_DOCUMENTS = "text files (TXT, Markdown, CSV, JSON, source code …) and PDFs"


@dataclass(frozen=True, slots=True)
class Document:
    """A document's text as the model will read it."""

    name: str
    text: str
    pages: int | None = None  # PDFs only

    @property
    def language(self) -> str:
        """The fenced block's language, from the file name: "python", "markdown", "" …"""
        return TEXT_EXTENSIONS.get(Path(self.name).suffix.lower(), "")

    @property
    def lines(self) -> int:
        return self.text.count("\n") + (0 if self.text.endswith("\n") or not self.text else 1)

    def summary(self) -> str:
        """ "12 pages" or "340 lines": what a chip or a tooltip says about it."""
        if self.pages is not None:
            return f"{self.pages} page{'s' if self.pages != 1 else ''}"
        return f"{self.lines:,} line{'s' if self.lines != 1 else ''}"


# Characters no text file holds (tab, LF, CR, form feed and ESC are allowed).
_CONTROL = re.compile(r"[\x01-\x08\x0e-\x1a\x1c-\x1f]")


def is_document_name(path: str | Path) -> bool:
    suffix = Path(path).suffix.lower()
    return suffix in TEXT_EXTENSIONS or suffix == PDF_EXTENSION


def sniff_document(head: bytes) -> bool:
    """Whether a file's first bytes are a PDF or look like text (no NUL bytes, decodes as UTF-8/UTF-16)."""
    if head.startswith(b"%PDF-"):
        return True
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:  # not just a character cut off at the end of the head
            return False
    return not _CONTROL.search(head.decode("utf-8", "ignore"))


def load_document(path: str | Path) -> Document:
    """Read ``path`` as a document; AttachmentError when it cannot be used."""
    path = Path(path)
    stat = check_attachable(path, folder_fix=f"Attach one of the supported {SUPPORTED_DOCUMENTS}")
    return _load(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=32)
def _load(path_text: str, size: int, _mtime_ns: int) -> Document:
    path = Path(path_text)
    with path.open("rb") as file:
        head = file.read(8)
    if head.startswith(b"%PDF-") or path.suffix.lower() == PDF_EXTENSION:
        return _load_pdf(path, size)
    return _load_text(path, size)


def _load_text(path: Path, size: int) -> Document:
    if size > MAX_TEXT_BYTES:
        raise AttachmentError(
            f"The text file is {size / 1024**2:.1f} MB; text files up to {MAX_TEXT_BYTES // 1024**2} MB "
            "can be attached (more would not fit the model's context anyway)",
            fix="Attach the part you want to ask about",
            path=path,
        )
    data = path.read_bytes()
    text = decode_text(data)
    if text is None:
        raise AttachmentError(
            "This file is not text (it holds binary data)",
            fix=f"Attach one of the supported {SUPPORTED_DOCUMENTS}, or an image or video",
            path=path,
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return Document(path.name, text)


def decode_text(data: bytes) -> str | None:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, else Windows-1252; None for binary data."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    if b"\x00" in data[:65536]:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")  # the usual encoding of older Windows text files
    except UnicodeDecodeError:
        return None
    return None if _CONTROL.search(text[:65536]) else text


def _load_pdf(path: Path, size: int) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PyPdfError

    if size > MAX_PDF_BYTES:
        raise AttachmentError(
            f"The PDF is {size / 1024**2:.0f} MB; PDFs up to {MAX_PDF_BYTES // 1024**2} MB can be attached",
            fix=_PDF_PAGES_FIX,
            path=path,
        )
    _quiet_pypdf()
    reading = _PdfReading(path)
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise AttachmentError(
                "This PDF is password-protected",
                fix="Open it with its password, save a copy without one (Print ▸ Save as PDF), attach that",
                path=path,
            )
        count = len(reader.pages)
        if count > MAX_PDF_PAGES:
            raise AttachmentError(
                f"This PDF has {count:,} pages; up to {MAX_PDF_PAGES:,} can be attached",
                fix=_PDF_PAGES_FIX,
                path=path,
            )
        pages = [reading.page_text(number, page) for number, page in enumerate(reader.pages, 1)]
    except AttachmentError:
        raise
    except LimitReachedError:
        log.info("PDF %s holds more data than pypdf reads", path, exc_info=True)
        raise AttachmentError(
            "This PDF holds more data than can be read (a stream decompresses to hundreds of MB)",
            fix=_PDF_PAGES_FIX,
            path=path,
        ) from None
    except (PyPdfError, OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        log.info("PDF %s could not be read", path, exc_info=True)  # info: the log, never the terminal
        raise AttachmentError(
            f"This PDF could not be read ({type(error).__name__})",
            fix="Open it in a PDF viewer and save a new copy (Print ▸ Save as PDF), then attach that",
            path=path,
        ) from None
    if not any(pages):
        raise AttachmentError(
            "This PDF has no text to read: its pages are probably scanned images",
            fix="Attach the pages as images instead (export or screenshot them): the model can look at them",
            path=path,
        )
    text = "\n\n".join(f"--- Page {i} ---\n{page}" for i, page in enumerate(pages, 1))
    return Document(path.name, text, pages=count)


_PDF_PAGES_FIX = "Attach the pages you want to ask about (print them to a new PDF)"


@lru_cache(maxsize=1)
def _quiet_pypdf() -> None:
    """pypdf's warnings about damaged files go to our log (when there is one), never to the terminal.

    A NullHandler on its logger stops Python's last-resort handler from printing them;
    records still propagate to the app's log file.
    """
    from pypdf.errors import PdfReadWarning

    logging.getLogger("pypdf").addHandler(logging.NullHandler())
    warnings.filterwarnings("ignore", category=PdfReadWarning)


def stop_reading() -> None:
    """Stop every document being read now (the window is closing); later reads run as usual."""
    global _generation
    _generation += 1


_generation = 0  # stop_reading() moves it on; a read started before then stops


class _PdfReading:
    """One PDF's extraction, bounded: content per page, text in all, time, and stop_reading().

    pypdf's text extraction is slow on hostile files (quadratic in a page's lines, gigabytes
    for one huge string), and a pool thread cannot be killed, so every page's content size is
    checked before it is parsed, and pypdf calls :meth:`check` for every operator it reads.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.generation = _generation
        self.deadline = time.monotonic() + MAX_PDF_SECONDS
        self.chars = 0

    def check(self, *_operator: object) -> None:
        if _generation != self.generation:
            raise AttachmentError("Reading the PDF was stopped", fix="Attach it again", path=self.path)
        if time.monotonic() > self.deadline:
            raise AttachmentError(
                f"Reading this PDF's text took longer than {MAX_PDF_SECONDS:.0f} seconds",
                fix=_PDF_PAGES_FIX,
                path=self.path,
            )

    def page_text(self, number: int, page: Any) -> str:
        self.check()
        content = _content_bytes(page)
        if content > MAX_PDF_PAGE_BYTES:
            raise AttachmentError(
                f"Page {number} of this PDF holds {content / 1024**2:.0f} MB of drawing instructions; "
                f"pages up to {MAX_PDF_PAGE_BYTES // 1024**2} MB can be read",
                fix=_PDF_PAGES_FIX + ", or attach that page as an image",
                path=self.path,
            )
        text = (page.extract_text(visitor_operand_before=self.check) or "").strip()
        self.chars += len(text)
        if self.chars > MAX_PDF_CHARS:
            raise AttachmentError(
                f"This PDF holds more than {MAX_PDF_CHARS:,} characters of text, far more than the model "
                "can read at once",
                fix=_PDF_PAGES_FIX,
                path=self.path,
            )
        return text


def _content_bytes(page: Any) -> int:
    """The decoded size of a page's content streams and of the forms it draws (what pypdf will parse)."""
    contents = page.get("/Contents")
    streams = [] if contents is None else contents.get_object()
    if not isinstance(streams, list):
        streams = [streams]
    resources = page.get("/Resources")
    xobjects = resources.get_object().get("/XObject") if resources is not None else None
    if xobjects is not None:
        streams += [x for x in xobjects.get_object().values() if x.get_object().get("/Subtype") == "/Form"]
    return sum(len(stream.get_object().get_data()) for stream in streams)


def document_prompt_text(document: Document) -> str:
    """The document as a part of the user's message: its name, then its text in a fenced block.

    The fence is longer than any run of backticks in the text (as CommonMark
    allows), so a Markdown file with its own code blocks cannot end it early.
    """
    longest = max((len(run) for run in re.findall(r"`+", document.text)), default=0)
    fence = "`" * max(3, longest + 1)
    kind = "PDF" if document.pages is not None else "File"
    language = document.language if document.pages is None else ""
    return (
        f"{kind}: {document.name} ({document.summary()})\n"
        f"{fence}{language}\n{document.text.rstrip()}\n{fence}\n\n"
    )

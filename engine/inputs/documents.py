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
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

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
    from pypdf.errors import PdfReadError

    if size > MAX_PDF_BYTES:
        raise AttachmentError(
            f"The PDF is {size / 1024**2:.0f} MB; PDFs up to {MAX_PDF_BYTES // 1024**2} MB can be attached",
            fix="Attach the pages you want to ask about (print them to a new PDF)",
            path=path,
        )
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
                fix="Attach the pages you want to ask about (print them to a new PDF)",
                path=path,
            )
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except AttachmentError:
        raise
    except (PdfReadError, OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        log.warning("PDF %s could not be read", path, exc_info=True)
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

"""Parsing source bytes into documents: plain text, Markdown, HTML, PDF and DOCX.

A document is a title plus sections (text with its page or heading), so chunks can cite where
they came from. Anything that cannot be read becomes a `Skipped` with a reason for the job's
report, never an exception: one bad file must not stop a build.
"""

from __future__ import annotations

import codecs
import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import PurePosixPath

#: Formats by file suffix; a content type, when known, wins (see `detect_format`).
SUFFIXES = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}
CONTENT_TYPES = {
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}
#: Elements whose text is page furniture, not content.
_NEVER_TEXT = {"script", "style", "noscript", "template", "svg"}
_SKIPPED_ELEMENTS = _NEVER_TEXT | {"nav", "header", "footer", "aside", "form"}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_BLOCKS = {"p", "div", "li", "tr", "br", "section", "article", "main", "blockquote", "pre", "td"}
_MARKDOWN_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


@dataclass(frozen=True)
class Section:
    """A stretch of a document's text and where it is (page number or heading)."""

    text: str
    page: int | None = None
    heading: str | None = None


@dataclass(frozen=True)
class Document:
    """One parsed source document."""

    source: str
    title: str
    format: str
    sections: tuple[Section, ...]
    #: Pages of a PDF that had no text layer (scans), reported, not indexed.
    pages_without_text: tuple[int, ...] = field(default=())

    @property
    def text(self) -> str:
        """All section texts, blank-line separated."""
        return "\n\n".join(s.text for s in self.sections)


@dataclass(frozen=True)
class Skipped:
    """A source document that was not indexed, and why (for the job's report)."""

    source: str
    reason: str


def detect_format(name: str, content_type: str | None = None) -> str | None:
    """The parser for a document, from its content type or its file suffix."""
    if content_type:
        base = content_type.split(";", 1)[0].strip().lower()
        if base in CONTENT_TYPES:
            return CONTENT_TYPES[base]
    return SUFFIXES.get(PurePosixPath(name).suffix.lower())


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample and not sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    return bool(sample) and controls / len(sample) > 0.05


def decode_text(data: bytes) -> str:
    """Text from bytes: UTF-8 (BOM optional) or UTF-16 with a BOM; ValueError otherwise."""
    for bom, encoding in ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding)
    if _looks_binary(data):
        raise ValueError("binary content, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 text (invalid byte at offset {error.start})") from None


def _title_from(name: str) -> str:
    return PurePosixPath(name).stem.replace("-", " ").replace("_", " ").strip() or name


def _paragraphs(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in text.split("\n"))).strip()


def _parse_text(name: str, data: bytes) -> Document:
    text = _paragraphs(decode_text(data))
    return Document(name, _title_from(name), "text", (Section(text),) if text else ())


def _parse_markdown(name: str, data: bytes) -> Document:
    sections: list[Section] = []
    heading: str | None = None
    title: str | None = None
    lines: list[str] = []

    def flush() -> None:
        body = _paragraphs("\n".join(lines))
        if body:
            sections.append(Section(body, heading=heading))
        lines.clear()

    for line in decode_text(data).splitlines():
        match = _MARKDOWN_HEADING.match(line)
        if match:
            flush()
            heading = match.group(2)
            title = title or heading
            lines.append(heading)  # headings carry meaning for keyword search
        else:
            lines.append(line)
    flush()
    return Document(name, title or _title_from(name), "markdown", tuple(sections))


class _MainText(HTMLParser):
    def __init__(self, main_content_only: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.main_content_only = main_content_only
        self.skip_depth = 0
        self.in_title = False
        self.title = ""
        self.heading: str | None = None
        self.in_heading = False
        self.sections: list[Section] = []
        self.parts: list[str] = []
        self.heading_parts: list[str] = []

    def flush(self) -> None:
        text = _paragraphs(re.sub(r"[ \t]+", " ", "".join(self.parts)))
        if text:
            self.sections.append(Section(text, heading=self.heading))
        self.parts.clear()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _NEVER_TEXT or (self.main_content_only and tag in _SKIPPED_ELEMENTS):
            self.skip_depth += 1
        elif tag == "title":
            self.in_title = True
        elif tag in _HEADINGS and not self.skip_depth:
            self.flush()
            self.in_heading = True
            self.heading_parts = []
        elif tag in _BLOCKS:
            self.parts.append("\n\n" if tag != "br" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _NEVER_TEXT or (self.main_content_only and tag in _SKIPPED_ELEMENTS):
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag == "title":
            self.in_title = False
        elif tag in _HEADINGS and self.in_heading:
            self.in_heading = False
            self.heading = " ".join("".join(self.heading_parts).split()) or None
            self.parts.append((self.heading or "") + "\n\n")
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data
        elif self.skip_depth:
            return
        elif self.in_heading:
            self.heading_parts.append(data)
        else:
            self.parts.append(data)


def _parse_html(name: str, data: bytes, main_content_only: bool = True) -> Document:
    parser = _MainText(main_content_only)
    parser.feed(decode_text(data))
    parser.close()
    parser.flush()
    title = " ".join(parser.title.split()) or _title_from(name)
    return Document(name, title, "html", tuple(parser.sections))


def _parse_pdf(name: str, data: bytes) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        pages = list(reader.pages)
        texts = [(page.extract_text() or "") for page in pages]
        metadata = reader.metadata
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as error:
        raise ValueError(f"unreadable PDF ({type(error).__name__})") from None
    sections = tuple(
        Section(_paragraphs(text), page=number)
        for number, text in enumerate(texts, start=1)
        if text.strip()
    )
    empty = tuple(n for n, text in enumerate(texts, start=1) if not text.strip())
    title = (metadata.title if metadata and metadata.title else None) or _title_from(name)
    return Document(name, str(title), "pdf", sections, pages_without_text=empty)


def _parse_docx(name: str, data: bytes) -> Document:
    import zipfile

    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise ValueError(f"unreadable DOCX ({type(error).__name__})") from None
    sections: list[Section] = []
    heading: str | None = None
    lines: list[str] = []
    for paragraph in document.paragraphs:
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        text = paragraph.text.strip()
        if style.startswith(("Heading", "Title")) and text:
            if lines:
                sections.append(Section(_paragraphs("\n\n".join(lines)), heading=heading))
                lines = []
            heading = text
        if text:
            lines.append(text)
    if lines:
        sections.append(Section(_paragraphs("\n\n".join(lines)), heading=heading))
    title = document.core_properties.title or next(
        (s.heading for s in sections if s.heading), _title_from(name)
    )
    return Document(name, title, "docx", tuple(sections))


def parse(
    name: str,
    data: bytes,
    content_type: str | None = None,
    *,
    max_bytes: int = 20 * 1024 * 1024,
    html_main_content_only: bool = True,
) -> Document | Skipped:
    """Parse one source document, or say why it was skipped."""
    if len(data) > max_bytes:
        return Skipped(name, f"too large ({len(data)} bytes, limit {max_bytes})")
    kind = detect_format(name, content_type)
    if kind is None:
        return Skipped(name, f"unsupported format ({content_type or PurePosixPath(name).suffix})")
    try:
        if kind == "text":
            document = _parse_text(name, data)
        elif kind == "markdown":
            document = _parse_markdown(name, data)
        elif kind == "html":
            document = _parse_html(name, data, html_main_content_only)
        elif kind == "pdf":
            document = _parse_pdf(name, data)
        else:
            document = _parse_docx(name, data)
    except ValueError as error:
        return Skipped(name, str(error))
    if not document.sections:
        detail = " (pages without a text layer)" if document.pages_without_text else ""
        return Skipped(name, f"no text{detail}")
    return document

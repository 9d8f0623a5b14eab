from __future__ import annotations

import codecs

import pytest

from switchboard_indexer.documents import Document, Skipped, detect_format, parse
from tests.unit.indexer.corpus import docx_bytes, pdf_bytes

pytestmark = pytest.mark.unit


def parsed(name: str, data: bytes, content_type: str | None = None, **options: object) -> Document:
    result = parse(name, data, content_type, **options)  # type: ignore[arg-type]
    assert isinstance(result, Document), result
    return result


def skipped(name: str, data: bytes, **options: object) -> str:
    result = parse(name, data, **options)  # type: ignore[arg-type]
    assert isinstance(result, Skipped), result
    return result.reason


def test_text_keeps_paragraphs_and_accepts_bom_and_utf16() -> None:
    doc = parsed("opening-hours.txt", b"We open at nine.\r\n\r\n\r\n\r\nClosed on Sunday.")
    assert doc.title == "opening hours"
    assert doc.text == "We open at nine.\n\nClosed on Sunday."
    assert parsed("a.txt", codecs.BOM_UTF8 + "Crème brûlée".encode()).text == "Crème brûlée"
    assert parsed("b.txt", "Zahnärzte".encode("utf-16")).text == "Zahnärzte"


def test_markdown_sections_follow_headings() -> None:
    doc = parsed(
        "faq.md", b"# Prices\n\nA cleaning costs $90.\n\n## Insurance\n\nWe take Delta Dental.\n"
    )
    assert doc.title == "Prices"
    assert [(s.heading, s.text) for s in doc.sections] == [
        ("Prices", "Prices\n\nA cleaning costs $90."),
        ("Insurance", "Insurance\n\nWe take Delta Dental."),
    ]


def test_html_main_text_without_scripts_or_navigation() -> None:
    html = b"""<html><head><title>Parking &amp; access</title><style>p{color:red}</style></head>
    <body><nav><a href="/">Home</a> | <a href="/team">Team</a></nav>
    <main><h1>Parking</h1><p>Free parking behind the building.</p>
    <script>track('visit')</script><h2>Wheelchair access</h2><p>A ramp is at the side door.</p></main>
    <footer>Copyright 2026</footer></body></html>"""
    doc = parsed("page.html", html)
    assert doc.title == "Parking & access"
    assert [s.heading for s in doc.sections] == ["Parking", "Wheelchair access"]
    text = doc.text
    assert "Free parking behind the building." in text
    assert "ramp" in text
    for furniture in ("Home", "track(", "color:red", "Copyright"):
        assert furniture not in text
    everything = parsed("page.html", html, html_main_content_only=False).text
    assert "Copyright 2026" in everything
    assert "track(" not in everything  # scripts never count as text


def test_pdf_pages_and_pages_without_text() -> None:
    data = pdf_bytes(
        [["Emergency line: 555-0100."], [], ["Night service until 22:00."]], "Emergencies"
    )
    doc = parsed("emergency.pdf", data)
    assert doc.title == "Emergencies"
    assert [(s.page, s.text) for s in doc.sections] == [
        (1, "Emergency line: 555-0100."),
        (3, "Night service until 22:00."),
    ]
    assert doc.pages_without_text == (2,)
    assert skipped("scan.pdf", pdf_bytes([[], []])) == "no text (pages without a text layer)"


def test_docx_headings_become_sections() -> None:
    data = docx_bytes(
        "Policies",
        [("Cancellations", ["Cancel 24 hours ahead."]), ("Payments", ["Cards and cash."])],
    )
    doc = parsed("policies.docx", data)
    assert doc.title == "Policies"
    assert [s.heading for s in doc.sections] == ["Cancellations", "Payments"]
    assert "Cancel 24 hours ahead." in doc.sections[0].text


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", "unreadable PDF"),
        ("broken.docx", b"PK\x03\x04 not really a zip", "unreadable DOCX"),
        ("image.txt", bytes(range(256)) * 4, "binary content"),
        ("latin1.txt", "Caf\xe9 au lait".encode("latin-1"), "not UTF-8 text"),
        ("archive.zip", b"PK", "unsupported format"),
        ("blank.md", b"\n\n   \n", "no text"),
    ],
)
def test_bad_documents_are_skipped_with_a_reason(name: str, data: bytes, reason: str) -> None:
    assert reason in skipped(name, data)


def test_size_limit_comes_first() -> None:
    assert skipped("huge.txt", b"a" * 2048, max_bytes=1024) == "too large (2048 bytes, limit 1024)"


def test_content_type_wins_over_the_suffix() -> None:
    assert detect_format("page", "text/html; charset=utf-8") == "html"
    assert detect_format("notes.md", None) == "markdown"
    assert detect_format("notes.bin", "application/octet-stream") is None

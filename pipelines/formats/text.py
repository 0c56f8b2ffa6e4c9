"""Deterministic plain text from HTML, RTF and PDF documents, with the converter's version.

The derived text is what the NLP reads and what every offset points into, so it must be a
pure function of the document bytes and the converter version: ``CONVERTERS`` names each
converter with its version (and, for RTF and PDF, the library and its version), recorded
on the note as ``Note.converter``. Bump a version when its output for the same input can
change; a changed text then re-processes the note (its text hash differs).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib.metadata import PackageNotFoundError, version
from typing import Any

# Version history:
# html 1 (2026-12): stdlib HTMLParser; block elements end lines, <br> breaks, list items
#                   "- ", table cells " | ", script/style dropped, whitespace collapsed.
# rtf 1 (2026-12): striprtf's rtf_to_text, lines right-stripped.
# pdf 1 (2026-12): pypdf extract_text per page, pages joined by a blank line.
HTML_VERSION = 1
RTF_VERSION = 1
PDF_VERSION = 1


class ConversionError(ValueError):
    """A document whose text cannot be derived; ``error_type`` names the dead letter."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _lib(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:  # pragma: no cover - a dependency of notestruct
        return "unknown"


def converter_name(kind: str) -> str:
    """``kind@version`` (plus the library doing the work), recorded on converted notes."""
    if kind == "html":
        return f"html@{HTML_VERSION}"
    if kind == "rtf":
        return f"rtf@{RTF_VERSION}+striprtf-{_lib('striprtf')}"
    if kind == "pdf":
        return f"pdf@{PDF_VERSION}+pypdf-{_lib('pypdf')}"
    raise ValueError(f"no converter {kind!r}")


_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANKS = re.compile(r"\n{3,}")


def tidy(text: str) -> str:
    """One newline convention, no trailing spaces, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip("\n")


_BLOCK = frozenset(
    "address article aside blockquote body caption dd div dl dt fieldset figcaption figure "
    "footer form h1 h2 h3 h4 h5 h6 header hr html li main nav ol p pre section table tbody "
    "td tfoot th thead tr ul".split()
)
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript"})


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line: list[str] = []
        self.skip = 0
        self.pre = 0
        self.cells = 0

    def newline(self) -> None:
        text = "".join(self.line)
        text = text if self.pre else _SPACES.sub(" ", text).strip()
        if text or self.pre:  # empty blocks add no blank lines
            self.lines.append(text)
        self.line = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "br":
            self.newline()
        elif tag == "pre":
            self.newline()
            self.pre += 1
        elif tag in {"td", "th"}:
            if self.cells:
                self.line.append(" | ")
            self.cells += 1
        elif tag == "tr":
            self.newline()
            self.cells = 0
        elif tag in _BLOCK:
            self.newline()
            if tag == "li":
                self.line.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "pre":
            self.newline()
            self.pre = max(0, self.pre - 1)
        elif tag in _BLOCK and tag not in {"td", "th"}:
            self.newline()

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.line.append(data if self.pre else data.replace("\n", " "))


def html_to_text(html: str) -> str:
    """Readable lines from HTML (see the version history above)."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    parser.newline()
    return tidy("\n".join(parser.lines))


def rtf_to_text(rtf: str) -> str:
    """Plain text of an RTF document.

    Raises:
        ConversionError: not RTF.
    """
    from striprtf.striprtf import rtf_to_text as strip

    if not rtf.lstrip().startswith("{\\rtf"):
        raise ConversionError("InvalidRtf", "document does not start with {\\rtf")
    try:
        return tidy(strip(rtf, errors="strict"))
    except Exception as exc:  # striprtf raises plain exceptions on malformed input
        raise ConversionError("InvalidRtf", f"unreadable RTF ({type(exc).__name__})") from exc


def pdf_to_text(data: bytes) -> str:
    """The text layer of a PDF, page by page.

    An encrypted PDF is opened only when its user password is empty (common for PDFs that
    merely restrict printing); a PDF without any text (a scan) is an error, not a blank note.

    Raises:
        ConversionError: ``EncryptedPdf``, ``InvalidPdf`` or ``NoTextLayer``.
    """
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # warnings can quote document bytes
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception as exc:  # missing crypto provider, unknown algorithm
                raise ConversionError(
                    "EncryptedPdf", f"PDF is encrypted ({type(exc).__name__})"
                ) from exc
            if not opened:
                raise ConversionError("EncryptedPdf", "PDF is encrypted with a password")
        pages = [page.extract_text() or "" for page in reader.pages]
    except ConversionError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise ConversionError("InvalidPdf", f"unreadable PDF ({type(exc).__name__})") from exc
    text = tidy("\n\n".join(tidy(p) for p in pages))
    if not text.strip():
        raise ConversionError(
            "NoTextLayer",
            f"PDF has {len(pages)} page(s) and no text layer (a scan? OCR is not done)",
        )
    return text


def decode_text(data: bytes, charset: str | None = None) -> str:
    """Bytes as text: a BOM or ``charset`` decides, else UTF-8.

    Raises:
        ConversionError: ``InvalidEncoding`` or ``BinaryContent``.
    """
    wide = (charset or "").lower().startswith(("utf-16", "utf-32"))
    if b"\x00" in data and not wide and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConversionError("BinaryContent", "document contains NUL bytes (binary, not text)")
    enc = (charset or "utf-8").lower()
    if enc in {"utf-8", "utf8"} or data.startswith(b"\xef\xbb\xbf"):
        enc = "utf-8-sig"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc = "utf-16"
    try:
        return data.decode(enc)
    except LookupError as exc:
        raise ConversionError("InvalidEncoding", "unknown charset") from exc
    except UnicodeDecodeError as exc:
        raise ConversionError("InvalidEncoding", f"document is not valid {enc}") from exc


_TS = re.compile(r"(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(?:(\d{2})(?:\.\d+)?)?)?([+-]\d{4})?")


def hl7_timestamp(value: str | None) -> str | None:
    """An HL7 TS/DTM (v2 and CDA: ``YYYYMMDD[HHMM[SS[.S+]]][+/-ZZZZ]``) as ISO 8601.

    The offset is kept when given; without one the date is naive and the source's time zone
    setting decides (``SourceOptions.timezone``), as for every source.
    """
    m = _TS.fullmatch(value.strip()) if value else None
    if not m:
        return None
    y, mo, d, h, mi, s, off = m.groups()
    iso = f"{y}-{mo}-{d}T{h or '00'}:{mi or '00'}:{s or '00'}"
    return iso + (f"{off[:3]}:{off[3:]}" if off else "")


#: content types (lower case, without parameters) -> converter kind.
CONTENT_TYPES: dict[str, str] = {
    "text/plain": "plain",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/rtf": "rtf",
    "application/rtf": "rtf",
    "application/pdf": "pdf",
}


def convert(kind: str, data: bytes, charset: str | None = None) -> tuple[str, str | None]:
    """Derived text and converter name of a document of ``kind`` (``plain``: no converter).

    Raises:
        ConversionError: the document cannot be read as ``kind``.
    """
    if kind == "plain":
        text = decode_text(data, charset)
        if "\x00" in text:
            raise ConversionError("BinaryContent", "text contains NUL characters")
        return text, None
    if kind == "pdf":
        return pdf_to_text(data), converter_name("pdf")
    text = decode_text(data, charset)
    if kind == "html":
        return html_to_text(text), converter_name("html")
    if kind == "rtf":
        return rtf_to_text(text), converter_name("rtf")
    raise ConversionError("UnsupportedAttachment", f"no converter for {kind}")


def document_note(kind: str, data: bytes, opts: Any, name: str, doc_id: str) -> Any:
    """One HTML, RTF or PDF file as a note (id = ``doc_id``), or its dead letter."""
    from pipelines.sources import _read_error, note_from_mapping

    try:
        text, converter = convert(kind, data)
    except ConversionError as exc:
        return _read_error(opts, name, exc.error_type, str(exc), doc_id)
    return note_from_mapping(
        {"id": doc_id, "text": text},
        opts,
        name,
        extra={"converter": converter, "source_document": None},
    )

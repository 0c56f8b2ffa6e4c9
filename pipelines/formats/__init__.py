"""Document formats hospitals send (HL7 v2, CDA, FHIR Bundles, HTML, RTF, PDF) as notes.

Each format module turns the bytes of one document or file into ``Note`` / ``NoteError``
records; ``pipelines.sources`` decides which module reads what (by extension, content or
``--format``) and keeps the watermarks. The plain text of a converted document is derived
deterministically and the converter's name and version travel on the note
(``Note.converter``), so offsets are exact into the derived text and a re-run derives the
same text and the same spans.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipelines.formats.text import ConversionError
from schemas.model import Note, NoteError

Record = Note | NoteError

#: ``--format`` names that read a whole file (the line and row formats live in sources.py).
DOCUMENT_FORMATS = ("hl7", "cda", "bundle", "html", "rtf", "pdf")

#: File suffixes a directory source reads besides ``.txt``, and the format of each.
SUFFIX_FORMATS: dict[str, str] = {
    ".hl7": "hl7",
    ".xml": "cda",
    ".html": "html",
    ".htm": "html",
    ".rtf": "rtf",
    ".pdf": "pdf",
    ".ndjson": "ndjson",
    ".json": "bundle",
}

__all__ = ["DOCUMENT_FORMATS", "SUFFIX_FORMATS", "ConversionError", "read_document", "sniff"]


def sniff(path: Path, head: bytes) -> str | None:
    """The document format of a file from its first bytes, or None when not recognised."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith((b"MSH", b"FHS", b"BHS")):
        return "hl7"
    if text.startswith(b"%PDF-"):
        return "pdf"
    if text.startswith(b"{\\rtf"):
        return "rtf"
    if text.startswith(b"<") and b"ClinicalDocument" in head:
        return "cda"
    if text[:15].lower().startswith((b"<!doctype html", b"<html")):
        return "html"
    return None


def read_document(fmt: str, data: bytes, opts: object, name: str, doc_id: str) -> Iterator[Record]:
    """The records of one whole document or file of format ``fmt``.

    Args:
        fmt: one of ``DOCUMENT_FORMATS`` or ``ndjson``.
        data: the file's bytes.
        opts: the source's ``SourceOptions``.
        name: the file's name for locators (``name:message 3``).
        doc_id: the note id of a single-note document (HTML, RTF, PDF).
    """
    from pipelines.sources import SourceOptions

    assert isinstance(opts, SourceOptions)
    if fmt == "hl7":
        from pipelines.formats.hl7v2 import read_hl7

        yield from read_hl7(data, opts, name)
    elif fmt == "cda":
        from pipelines.formats.cda import read_cda

        yield read_cda(data, opts, name)
    elif fmt in {"bundle", "ndjson"}:
        from pipelines.formats.fhir import read_fhir_file

        yield from read_fhir_file(data, opts, name)
    elif fmt in {"html", "rtf", "pdf"}:
        from pipelines.formats.text import document_note

        yield document_note(fmt, data, opts, name, doc_id)
    else:
        raise ValueError(f"unknown document format {fmt!r}")

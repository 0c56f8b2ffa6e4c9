"""CDA R2 / C-CDA documents as notes: the section narratives as readable text.

* Text: each ``section`` (nested ones too) becomes a header line and its ``<text>``
  narrative. A section whose LOINC code we know gets the header our sectionizer knows
  (``LOINC_HEADERS``: 10164-2 -> "History of Present Illness:"), so the section codes
  become note sections; any other section is headed by its ``<title>``. Paragraphs,
  ``<br/>``, list items ("- ", "1. ") and table rows end lines; a table row reads
  "Header: cell; Header: cell" when the table has a header row, else "cell | cell";
  a caption reads "Caption: ..."; ``revised="delete"`` content, ``renderMultiMedia`` and
  footnote references are dropped; runs of whitespace become one space. Converter
  ``cda@1``.
* Ids: the note id is ``setId`` (so a new version of a document replaces the old one),
  else ``id``, written ``root^extension``; patient ``recordTarget/patientRole/id``
  (first with an extension), encounter ``componentOf/encompassingEncounter/id``; date
  ``author/time`` (else ``effectiveTime``); type the document ``code`` display name.
* A nonXMLBody (an embedded PDF, RTF, HTML or text) is converted like a FHIR attachment.
* A document without any narrative is a dead letter (``NoNarrative``), as is XML that is
  not a ClinicalDocument or not well-formed.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from xml.etree.ElementTree import Element

from pipelines.formats.text import CONTENT_TYPES, ConversionError, convert, hl7_timestamp, tidy
from pipelines.sources import Record, SourceOptions, _read_error, note_from_mapping

# Version history:
# 1 (2026-12): section headers from LOINC codes or titles; narrative flattening as above.
VERSION = 1
CONVERTER = f"cda@{VERSION}"

NS = "{urn:hl7-org:v3}"
LOINC = "2.16.840.1.113883.6.1"

#: C-CDA section LOINC codes -> the header line written before the narrative (a header of
#: extractors/rules/sections/sections.json, so the sectionizer assigns the category).
LOINC_HEADERS: dict[str, str] = {
    "10154-3": "Chief Complaint:",
    "46239-0": "Chief Complaint:",
    "29299-5": "Reason for Visit:",
    "10164-2": "History of Present Illness:",
    "11348-0": "Past Medical History:",
    "47519-4": "Procedures:",
    "10157-6": "Family History:",
    "29762-2": "Social History:",
    "48765-2": "Allergies:",
    "10160-0": "Medications:",
    "10183-2": "Discharge Medications:",
    "10187-3": "Review of Systems:",
    "29545-1": "Physical Examination:",
    "8716-3": "Vital Signs:",
    "30954-2": "Laboratory Data:",
    "11450-4": "Problem List:",
    "8648-8": "Hospital Course:",
    "51847-2": "Assessment and Plan:",
    "18776-5": "Plan:",
    "59776-5": "Findings:",
    "18785-6": "Indications:",
    "11329-0": "History:",
    "11535-2": "Discharge Diagnosis:",
    "46241-6": "Admission Diagnosis:",
    "69730-0": "Instructions:",
}

_WS = re.compile(r"\s+")


def _local(el: Element) -> str:
    tag = el.tag if isinstance(el.tag, str) else ""
    return tag[len(NS) :] if tag.startswith(NS) else tag


class _Narrative:
    """Flattens a CDA narrative block into lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.line: list[str] = []

    def newline(self) -> None:
        text = _WS.sub(" ", "".join(self.line)).strip()
        if text:
            self.lines.append(text)
        self.line = []

    def inline(self, el: Element) -> None:
        """Text of ``el`` and its children into the current line (with their tails)."""
        name = _local(el)
        if name in {"renderMultiMedia", "footnoteRef"} or el.get("revised") == "delete":
            return
        if name == "br":
            self.newline()
            return
        if name in {"paragraph", "list", "table", "caption", "item", "tr"}:
            self.block(el)
            return
        if el.text:
            self.line.append(el.text)
        for child in el:
            self.inline(child)
            if child.tail:
                self.line.append(child.tail)

    def block(self, el: Element) -> None:
        name = _local(el)
        if name == "list":
            self.newline()
            ordered = el.get("listType") == "ordered"
            n = 0
            for child in el:
                if _local(child) == "caption":
                    self.block(child)
                elif _local(child) == "item":
                    n += 1
                    self.line.append(f"{n}. " if ordered else "- ")
                    self.inline_children(child)
                    self.newline()
            return
        if name == "table":
            self.newline()
            self.table(el)
            return
        if name == "caption":
            self.newline()
            self.inline_children(el)
            caption = _WS.sub(" ", "".join(self.line)).strip()
            self.line = [caption.rstrip(":") + ": "] if caption else []
            return
        # paragraph, item, tr, or the <text> element itself
        self.newline()
        self.inline_children(el)
        self.newline()

    def inline_children(self, el: Element) -> None:
        if el.text:
            self.line.append(el.text)
        for child in el:
            self.inline(child)
            if child.tail:
                self.line.append(child.tail)

    def cell(self, el: Element) -> str:
        sub = _Narrative()
        sub.inline_children(el)
        sub.newline()
        return "; ".join(sub.lines)

    def table(self, el: Element) -> None:
        header: list[str] = []
        rows: list[list[str]] = []
        for part in el.iter():
            if _local(part) == "caption":
                sub = _Narrative()
                sub.inline_children(part)
                sub.newline()
                self.lines.extend(sub.lines)
            if _local(part) != "tr":
                continue
            cells = [c for c in part if _local(c) in {"td", "th"}]
            values = [self.cell(c) for c in cells]
            if cells and all(_local(c) == "th" for c in cells) and not header and not rows:
                header = values
            else:
                rows.append(values)
        for values in rows:
            if header and len(header) == len(values):
                line = "; ".join(f"{h}: {v}" for h, v in zip(header, values, strict=True) if v)
            else:
                line = " | ".join(values)
            if line.strip():
                self.lines.append(_WS.sub(" ", line).strip())


def narrative_lines(text_el: Element) -> list[str]:
    """Readable lines of one CDA ``<text>`` narrative block."""
    flat = _Narrative()
    flat.block(text_el)
    flat.newline()
    return flat.lines


def _sections(parent: Element) -> Iterator[Element]:
    for comp in parent.findall(f"{NS}component"):
        sec = comp.find(f"{NS}section")
        if sec is not None:
            yield sec


def _section_text(sec: Element, out: list[str]) -> None:
    code = sec.find(f"{NS}code")
    title = (
        _WS.sub(" ", "".join(sec.find(f"{NS}title").itertext())).strip()
        if sec.find(f"{NS}title") is not None
        else ""
    )
    header = None
    if code is not None and code.get("codeSystem") == LOINC:
        header = LOINC_HEADERS.get(code.get("code") or "")
    if header is None and title:
        header = title if title.endswith(":") else f"{title}:"
    text_el = sec.find(f"{NS}text")
    lines = narrative_lines(text_el) if text_el is not None else []
    before = len(out)
    if lines:
        if header:
            out.append(header)
        out.extend(lines)
        out.append("")
    for sub in _sections(sec):
        if header and len(out) == before:
            out.extend([header, ""])
            before = -1
        _section_text(sub, out)


def _ii(el: Element | None) -> str | None:
    if el is None or el.get("nullFlavor"):
        return None
    root, ext = el.get("root"), el.get("extension")
    if root and ext:
        return f"{root}^{ext}"
    return root or ext or None


def _non_xml_body(body: Element) -> tuple[str, str | None]:
    text_el = body.find(f"{NS}text")
    if text_el is None:
        raise ConversionError("NoNarrative", "nonXMLBody has no text")
    if text_el.find(f"{NS}reference") is not None and not (text_el.text or "").strip():
        raise ConversionError(
            "UnsupportedAttachment", "nonXMLBody refers to an external file (not fetched)"
        )
    media = (text_el.get("mediaType") or "text/plain").lower()
    kind = CONTENT_TYPES.get(media)
    if kind is None:
        raise ConversionError("UnsupportedAttachment", f"nonXMLBody type {media[:40]}")
    raw = text_el.text or ""
    if (text_el.get("representation") or "").upper() == "B64":
        try:
            data = base64.b64decode(_WS.sub("", raw), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConversionError("InvalidAttachment", "nonXMLBody is not valid base64") from exc
    else:
        data = raw.encode("utf-8")
    text, conv = convert(kind, data)
    return text, f"{CONVERTER}/{conv}" if conv else CONVERTER


def read_cda(data: bytes, opts: SourceOptions, name: str) -> Record:
    """One CDA document as a note, or its dead letter."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        root = fromstring(data)
    except (ParseError, DefusedXmlException) as exc:
        kind = "InvalidEncoding" if "encoding" in str(exc).lower() else "InvalidXML"
        if isinstance(exc, ParseError) and "not well-formed (invalid token)" in str(exc):
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                kind = "InvalidEncoding"
        return _read_error(opts, name, kind, f"document is not well-formed XML ({kind})")
    if _local(root) != "ClinicalDocument" or not str(root.tag).startswith(NS):
        return _read_error(opts, name, "InvalidDocument", "XML root is not a CDA ClinicalDocument")
    note_id = _ii(root.find(f"{NS}setId")) or _ii(root.find(f"{NS}id"))
    if not note_id:
        return _read_error(opts, name, "MissingField", "ClinicalDocument has no id or setId")
    try:
        text, converter = _body_text(root)
    except ConversionError as exc:
        return _read_error(opts, name, exc.error_type, str(exc), note_id)
    patient = None
    for pid in root.findall(f"{NS}recordTarget/{NS}patientRole/{NS}id"):
        if pid.get("extension") and not pid.get("nullFlavor"):
            patient = pid.get("extension")
            break
    enc = root.find(f"{NS}componentOf/{NS}encompassingEncounter/{NS}id")
    time_el = root.find(f"{NS}author/{NS}time")
    eff = root.find(f"{NS}effectiveTime")
    code = root.find(f"{NS}code")
    title = root.find(f"{NS}title")
    doc_id = _ii(root.find(f"{NS}id"))
    id_root, _, id_ext = (doc_id or "").partition("^")
    return note_from_mapping(
        {
            "id": note_id,
            "text": text,
            "patient_id": patient,
            "encounter_id": (enc.get("extension") or enc.get("root")) if enc is not None else None,
            "date": hl7_timestamp(time_el.get("value") if time_el is not None else None)
            or hl7_timestamp(eff.get("value") if eff is not None else None),
            "note_type": (code.get("displayName") if code is not None else None)
            or (title.text if title is not None else None),
        },
        opts,
        name,
        extra={
            "converter": converter,
            "source_document": f"urn:oid:{id_root}|{id_ext}"
            if id_ext
            else (f"urn:ietf:rfc:3986|urn:oid:{id_root}" if id_root else None),
        },
    )


def _body_text(root: Element) -> tuple[str, str]:
    body = root.find(f"{NS}component/{NS}structuredBody")
    if body is None:
        non_xml = root.find(f"{NS}component/{NS}nonXMLBody")
        if non_xml is None:
            raise ConversionError("NoNarrative", "ClinicalDocument has no body")
        text, conv = _non_xml_body(non_xml)
        return text, conv or CONVERTER
    out: list[str] = []
    for sec in _sections(body):
        _section_text(sec, out)
    text = tidy("\n".join(out))
    if not text.strip():
        raise ConversionError("NoNarrative", "no section has a narrative <text>")
    return text, CONVERTER

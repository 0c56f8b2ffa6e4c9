"""Document sources (issue 18): HL7 v2, CDA, FHIR Bundles and HTML/RTF/PDF attachments."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
import spacy

from pipelines.formats.cda import read_cda
from pipelines.formats.hl7v2 import read_hl7
from pipelines.formats.text import ConversionError, html_to_text, pdf_to_text, rtf_to_text
from pipelines.sources import (
    DocumentFileSource,
    SourceError,
    SourceOptions,
    TextDirSource,
    open_source,
)
from schemas.model import Note, NoteError

DATA = Path(__file__).resolve().parents[1] / "data" / "sources"
CDA = DATA / "cda" / "Diagnostic_Imaging_Report.xml"
OPTS = SourceOptions(source_uri="urn:test:hospital", timezone="Europe/Paris")


def make_pdf(lines: list[str]) -> bytes:
    """A one-page PDF whose text layer holds ``lines`` (Helvetica, no compression)."""
    content = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({t}) '" for t in lines) + " ET"
    objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{obj}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(make_pdf(["Secret note."]))))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


RTF = rb"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard Assessment: {\b pneumonia}.\par Plan: amoxicillin 500 mg PO TID.\par}"  # noqa: E501
HTML = (
    "<html><head><title>x</title><style>p{}</style></head><body><h1>Discharge</h1>"
    "<p>Patient&nbsp;has  <b>no</b> fever.</p><ul><li>aspirin 81 mg</li><li>metformin</li></ul>"
    "<table><tr><th>Test</th><th>Value</th></tr><tr><td>Na</td><td>140</td></tr></table>"
    "</body></html>"
)


def _split(records: list[Note | NoteError]) -> tuple[dict[str, Note], list[NoteError]]:
    notes = {r.note_id: r for r in records if isinstance(r, Note)}
    return notes, [r for r in records if isinstance(r, NoteError)]


# --- converters -----------------------------------------------------------------------------


def test_html_is_flattened_to_readable_lines() -> None:
    assert html_to_text(HTML) == (
        "Discharge\nPatient has no fever.\n- aspirin 81 mg\n- metformin\nTest | Value\nNa | 140"
    )


def test_rtf_and_pdf_text() -> None:
    assert rtf_to_text(RTF.decode()) == "Assessment: pneumonia.\nPlan: amoxicillin 500 mg PO TID."
    assert pdf_to_text(make_pdf(["Denies chest pain.", "No fever."])) == (
        "Denies chest pain.\nNo fever."
    )


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (encrypted_pdf(), "EncryptedPdf"),
        (make_pdf([]), "NoTextLayer"),  # a scan: pages but no text layer
        (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF", "InvalidPdf"),
    ],
)
def test_unreadable_pdfs_are_named(data: bytes, error: str) -> None:
    with pytest.raises(ConversionError) as info:
        pdf_to_text(data)
    assert info.value.error_type == error


# --- HL7 v2 ---------------------------------------------------------------------------------

MDM = (
    "MSH|^~\\&|EHR|HOSP|NS|NS|20240102101500+0100||MDM^T02^MDM_T02|MSG1|P|2.5.1\r"
    "PID|1||P123^^^HOSP^MR~X9^^^OTHER||Doe^Jane\r"
    "PV1|1|I|||||||||||||||||V456^^^HOSP^VN\r"
    "TXA|1|DS^Discharge summary|TX|20240102100000+0100||||||||DOC-1^HOSP|||||AU\r"
    "OBX|1|TX|||Chest pain resolved.\\.br\\No fever \\T\\ no cough.||||||F\r"
    "OBX|2|FT|||BP 120/80 \\F\\ HR 72\\X0D\\\\S\\ end||||||F\r"
)


def _hl7_file() -> bytes:
    replaced = (  # T08 edits DOC-1 as a new document DOC-2
        "MSH|^~\\&|EHR|HOSP|NS|NS|20240103101500+0100||MDM^T08|MSG2|P|2.5.1\n"
        "PID|1||P123\n"
        "TXA|1|DS|TX|20240103100000+0100||||||||DOC-2|DOC-1|||AU\n"
        "OBX|1|TX|||Chest pain resolved. Amended: mild cough.||||||F\n"
    )
    cancelled = (
        "MSH|^~\\&|EHR|HOSP|NS|NS|20240104101500+0100||MDM^T11|MSG3|P|2.5.1\r\n"
        "PID|1||P777\r\nTXA|1|HP|TX|20240104100000+0100||||||||DOC-9|||||CA\r\n"
    )
    html = base64.b64encode(b"<p>Impression: <b>pneumonia</b></p>").decode()
    oru = (
        "MSH|^~\\&|LAB|HOSP|NS|NS|20240105101500+0100||ORU^R01|MSG4|P|2.5.1\r"
        "PID|1||P123\rOBR|1|PLC-1|FIL-1|24627-2^Chest CT^LN|||20240105090000+0100\r"
        "OBX|1|TX|||No nodules.||||||F\rOBX|2|NM|||5||||||F\r"
        "OBR|2|PLC-2|FIL-2|18748-4^Imaging report^LN|||20240105091000+0100\r"
        f"OBX|1|ED|||^TEXT^HTML^Base64^{html}||||||F\r"
    )
    wrong = (
        "MSH|^~\\&|LAB|HOSP|NS|NS|20240105101500+0100||ORU^R01|MSG5|P|2.5.1\r"
        "PID|1||P124\rOBR|1||FIL-3|x|||20240105090000+0100\rOBX|1|TX|||Wrong patient.||||||W\r"
    )
    malformed = "MSH|^~\\&|EHR\rthis is not a segment\r"
    unknown = (
        "MSH|^~\\&|EHR|HOSP|NS|NS|20240102101500+0100||MDM^T02|MSG7|P|2.5.1\r"
        "PID|1||P5\rQQQ|1|x\rTXA|1|DS|TX|20240102||||||||DOC-7\rOBX|1|TX|||Text.||||||F\r"
    )
    latin1 = (
        "MSH|^~\\&|EHR|HOSP|NS|NS|20240102101500+0100||MDM^T02|MSG8|P|2.5.1\r"
        "PID|1||P6\rTXA|1|DS|TX|20240102||||||||DOC-8\rOBX|1|TX|||Caf\xe9.||||||F\r"
    ).encode("latin-1")
    head = b"FHS|^~\\&|EHR\rBHS|^~\\&|EHR\r"
    tail = b"BTS|8\rFTS|1\r"
    body = "".join([MDM, replaced, cancelled, oru, wrong, malformed, unknown]).encode()
    return head + body + latin1 + tail


def test_hl7_messages_become_notes_and_dead_letters() -> None:
    notes, errors = _split(list(read_hl7(_hl7_file(), OPTS, "feed.hl7")))
    assert set(notes) == {"DOC-1", "DOC-2", "DOC-9", "FIL-1", "FIL-2", "FIL-3"}
    doc1 = notes["DOC-1"]
    assert doc1.status == "superseded"  # replaced by DOC-2 (TXA-13) in the same file
    assert doc1.text == "Chest pain resolved.\nNo fever & no cough.\nBP 120/80 | HR 72\n^ end"
    assert (doc1.patient_ref, doc1.encounter_ref, doc1.note_type) == (
        "P123",
        "V456",
        "Discharge summary",
    )
    assert (
        doc1.authored_at is not None and doc1.authored_at.isoformat() == "2024-01-02T09:00:00+00:00"
    )
    assert doc1.converter == "hl7v2@1"
    assert doc1.source_document == "urn:hl7v2:msh-10|MSG1"
    assert notes["DOC-2"].status == "current"
    assert notes["DOC-9"].status == "entered-in-error"  # MDM^T11
    assert notes["FIL-1"].text == "No nodules."  # the NM OBX is not text
    assert notes["FIL-1"].note_type == "Chest CT"
    assert notes["FIL-2"].text == "Impression: pneumonia"
    assert notes["FIL-2"].converter == "hl7v2@1/html@1"
    assert notes["FIL-3"].status == "entered-in-error"  # OBX-11 W
    kinds = sorted(e.error_type for e in errors)
    assert kinds == ["InvalidEncoding", "MalformedSegment", "UnknownSegment"]
    assert all("Caf" not in e.message and "Text." not in e.message for e in errors)


def test_hl7_later_message_of_a_document_wins() -> None:
    edit = MDM.replace("MDM^T02^MDM_T02|MSG1", "MDM^T08|MSG1b").replace(
        "Chest pain resolved.", "Chest pain recurred."
    )
    notes, errors = _split(list(read_hl7((MDM + edit).encode(), OPTS, "f.hl7")))
    assert not errors
    assert list(notes) == ["DOC-1"]  # one version per run, not a DuplicateId dead letter
    assert notes["DOC-1"].text.startswith("Chest pain recurred.")


def test_hl7_derived_text_is_deterministic() -> None:
    first = [r.model_dump() for r in read_hl7(_hl7_file(), OPTS, "f.hl7")]
    again = [r.model_dump() for r in read_hl7(_hl7_file(), OPTS, "f.hl7")]
    assert first == again


# --- CDA ------------------------------------------------------------------------------------


def test_real_ccda_example_narrative_and_ids() -> None:
    note = read_cda(CDA.read_bytes(), OPTS, CDA.name)
    assert isinstance(note, Note)
    assert note.note_id == "2.16.840.1.113883.19^111199021"  # setId: versions replace
    assert (note.patient_ref, note.encounter_ref) == ("12345", "9937012")
    assert (
        note.authored_at is not None and note.authored_at.isoformat() == "2005-03-30T03:44:11+00:00"
    )
    assert note.note_type == "Diagnostic imaging study"
    assert note.converter == "cda@1"
    assert note.source_document == "urn:oid:2.16.840.1.113883.19.4.27|20060828170821659"
    assert note.text.startswith("Indications for Procedure:\nSuspected lung tumor\n\nHistory:\n")
    assert "Impression: No acute cardiopulmonary process." in note.text
    assert "Diameter: 45mm" in note.text
    assert "wado" not in note.text  # entries and link targets are not narrative


CDA_DOC = """<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <id root="1.2.3" extension="doc-1"/>
  <code code="11506-3" codeSystem="2.16.840.1.113883.6.1" displayName="Progress note"/>
  <effectiveTime value="20240102"/>
  <recordTarget><patientRole><id root="1.2.3.4" extension="P1"/></patientRole></recordTarget>
  <component><structuredBody>
    {sections}
  </structuredBody></component>
</ClinicalDocument>"""

SECTIONS = """
<component><section><code code="48765-2" codeSystem="2.16.840.1.113883.6.1"/>
  <title>ALLERGIES AND ADVERSE REACTIONS</title>
  <text><table><thead><tr><th>Substance</th><th>Reaction</th></tr></thead>
  <tbody><tr><td>Penicillin</td><td>Hives</td></tr></tbody></table></text></section></component>
<component><section><code code="10164-2" codeSystem="2.16.840.1.113883.6.1"/>
  <title>HPI</title>
  <text><paragraph>Cough for <content revised="delete">ten</content> 3 days.<br/>No fever.
  </paragraph>
  <list listType="ordered"><item>first</item><item>second</item></list></text></section></component>
"""


def test_cda_sections_become_note_sections() -> None:
    note = read_cda(CDA_DOC.format(sections=SECTIONS).encode(), OPTS, "doc.xml")
    assert isinstance(note, Note)
    assert note.text == (
        "Allergies:\nSubstance: Penicillin; Reaction: Hives\n\n"
        "History of Present Illness:\nCough for 3 days.\nNo fever.\n1. first\n2. second"
    )
    nlp = spacy.blank("en")
    nlp.add_pipe("ns_sections")
    doc = nlp(note.text)
    assert [s.category for s in doc._.sections] == ["allergies", "history_of_present_illness"]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (CDA_DOC.format(sections="").encode(), "NoNarrative"),
        (b"<ClinicalDocument xmlns='urn:hl7-org:v3'><id root='1'/>", "InvalidXML"),
        (b"<note>hello</note>", "InvalidDocument"),
        (
            CDA_DOC.format(sections=SECTIONS).replace("Hives", "H\xe9").encode("latin-1"),
            "InvalidEncoding",
        ),
    ],
)
def test_bad_cda_documents(data: bytes, error: str) -> None:
    rec = read_cda(data, OPTS, "bad.xml")
    assert isinstance(rec, NoteError) and rec.error_type == error


# --- FHIR -----------------------------------------------------------------------------------


def _att(ctype: str, data: bytes) -> dict[str, str]:
    return {"contentType": ctype, "data": base64.b64encode(data).decode()}


def _docref(ident: str, *atts: dict[str, str], status: str = "current") -> dict[str, object]:
    return {
        "resourceType": "DocumentReference",
        "id": ident,
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "date": "2024-01-02T10:00:00Z",
        "content": [{"attachment": a} for a in atts],
    }


def _bundle() -> dict[str, object]:
    report = {
        "resourceType": "DiagnosticReport",
        "id": "dr-pdf",
        "status": "final",
        "code": {"text": "Chest X-ray"},
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "effectiveDateTime": "2024-01-02T09:00:00+01:00",
        "presentedForm": [
            _att("application/pdf", make_pdf(["No effusion.", "Impression: normal."]))
        ],
    }
    entries = [
        {"resource": {"resourceType": "Patient", "id": "p1"}},
        {"resource": _docref("dr-html", _att("text/html; charset=utf-8", HTML.encode()))},
        {"resource": _docref("dr-rtf", _att("text/rtf", RTF))},
        {"resource": report},
        {"resource": _docref("scan", _att("application/pdf", make_pdf([])))},
        {"resource": _docref("locked", _att("application/pdf", encrypted_pdf()))},
        {"resource": _docref("both", _att("application/pdf", b"x"), _att("text/plain", b"Plain."))},
        {"request": {"method": "DELETE", "url": "DocumentReference/old-1"}},
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def test_fhir_bundle_attachments(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(_bundle(), indent=2), encoding="utf-8")
    src = open_source(path)
    assert isinstance(src, DocumentFileSource) and src.fmt == "bundle"
    notes, errors = _split(list(src.records(OPTS)))
    assert set(notes) == {"dr-html", "dr-rtf", "dr-pdf", "both", "old-1"}
    assert notes["dr-html"].text.startswith("Discharge\nPatient has no fever.")
    assert notes["dr-html"].converter == "html@1"
    assert notes["dr-html"].source_document == "DocumentReference/dr-html"
    assert notes["dr-rtf"].converter is not None and notes["dr-rtf"].converter.startswith(
        "rtf@1+striprtf-"
    )
    pdf = notes["dr-pdf"]
    assert pdf.text == "No effusion.\nImpression: normal."
    assert (pdf.patient_ref, pdf.encounter_ref, pdf.note_type) == ("p1", "e1", "Chest X-ray")
    assert pdf.source_document == "DiagnosticReport/dr-pdf"
    assert notes["both"].text == "Plain." and notes["both"].converter is None  # plain preferred
    assert notes["old-1"].status == "entered-in-error"  # a transaction DELETE
    assert {e.note_id: e.error_type for e in errors} == {
        "scan": "NoTextLayer",
        "locked": "EncryptedPdf",
    }
    src2 = open_source(path)  # unchanged file: not read again
    assert list(src2.records(OPTS, src.position())) == [] and src2.skipped == 5 + 2


def test_fhir_ndjson_bundle_lines(tmp_path: Path) -> None:
    path = tmp_path / "docs.ndjson"
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": _bundle()["entry"][1:3]}
    path.write_text(json.dumps(bundle) + "\n" + json.dumps({"resourceType": "Patient"}) + "\n")
    notes, errors = _split(list(open_source(path).records(OPTS)))
    assert set(notes) == {"dr-html", "dr-rtf"}
    assert [e.error_type for e in errors] == ["InvalidResource"]


# --- recognition ----------------------------------------------------------------------------


def test_mixed_directory_and_forced_format(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Plain note.")
    (tmp_path / "feed.hl7").write_bytes(MDM.encode())
    (tmp_path / "cda.xml").write_bytes(CDA.read_bytes())
    (tmp_path / "report.pdf").write_bytes(make_pdf(["PDF note."]))
    (tmp_path / "letter.rtf").write_bytes(RTF)
    (tmp_path / "page.htm").write_text(HTML)
    (tmp_path / "other.xml").write_text("<config/>")
    src = open_source(tmp_path)
    assert isinstance(src, TextDirSource)
    notes, errors = _split(list(src.records(OPTS)))
    assert set(notes) == {
        "a",
        "DOC-1",
        "2.16.840.1.113883.19^111199021",
        "report",
        "letter",
        "page",
    }
    assert notes["report"].converter is not None and notes["report"].converter.startswith("pdf@1")
    assert [(e.locator, e.error_type) for e in errors] == [("other.xml", "UnknownFormat")]
    again = open_source(tmp_path)
    assert list(again.records(OPTS, src.position())) == []  # watermark: nothing re-read
    hl7_as_file = tmp_path / "feed.txt"
    hl7_as_file.write_bytes(MDM.encode())
    forced = open_source(hl7_as_file, fmt="hl7")
    assert [r.note_id for r in forced.records(OPTS)] == ["DOC-1"]
    with pytest.raises(SourceError):
        open_source(hl7_as_file, fmt="docx")

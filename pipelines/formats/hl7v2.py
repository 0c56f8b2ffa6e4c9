"""HL7 v2 files of MDM and ORU messages as notes (python-hl7 parses each message).

* Files: one message, several, or a batch (FHS/BHS ... BTS/FTS); segments end with CR, LF
  or CRLF. Each message is decoded on its own (MSH-18 names its character set, UTF-8
  otherwise), so one wrongly encoded message is one dead letter.
* MDM^T02/T04/T06/T08/T10: the note is the TXA document; id TXA-12 (else MSH-10), type
  TXA-2, date TXA-4 (else TXA-6, MSH-7). MDM^T11 and a cancelled TXA-17/TXA-19 retract the
  document; TXA-19 ``OB`` (obsolete) supersedes it; a T08/T10 naming a parent (TXA-13)
  supersedes the parent when the parent's own message is in the same file.
* ORU^R01: one note per OBR (a report); id OBR-3 (else OBR-2, else MSH-10 + OBR-1), type
  OBR-4, date OBR-7. OBX value types TX/FT/ST/CF are text lines; ED carries a base64 (or
  text) document that is converted like a FHIR attachment (HTML, RTF, PDF, plain). OBX-11
  ``W``/``D`` on every text OBX retracts the report; ``C`` is a correction (same id, new
  version).
* Ids: patient PID-3 (first repetition), encounter PV1-19.
* The text is the unescaped OBX values (``\\.br\\``, ``\\X0D\\``, ``\\F\\``, ``\\S\\``,
  ``\\T\\``, ``\\R\\``, ``\\E\\`` decoded), one OBX per line: converter ``hl7v2@1``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from typing import Any

from pipelines.formats.text import CONTENT_TYPES, ConversionError, convert, hl7_timestamp, tidy
from pipelines.sources import Record, SourceOptions, _read_error, note_from_mapping

# Version history:
# 1 (2026-12): MDM and ORU^R01; TX/FT/ST/CF lines and ED documents; escapes decoded.
VERSION = 1
CONVERTER = f"hl7v2@{VERSION}"

_SEGMENT_END = re.compile(rb"\r\n|\r|\n")
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
#: Standard segment ids of v2.3-v2.8 that can occur in MDM/ORU messages and their batches;
#: Z segments are site-defined and allowed. Any other id makes the message a dead letter.
_KNOWN = frozenset(
    "MSH SFT UAC EVN PID PD1 PV1 PV2 NK1 ARV ROL PRT NTE TXA CON OBX OBR ORC TQ1 TQ2 CTD "
    "CTI FT1 SPM SAC DG1 AL1 IAM GT1 IN1 IN2 IN3 ACC DB1 OH1 OH2 OH3 OH4 MSA ERR QAK QRD QRF "
    "BLG CSR CSP CSS FHS FTS BHS BTS DSC ADD PRD PRA STF ORG LAN EDU AFF CER PES PEO PCR PSH "
    "NPU MRG IAR DSP".split()
)
_CHARSETS = {
    "": "utf-8",
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "UNICODE": "utf-8",
}
_TEXT_TYPES = {"TX", "FT", "ST", "CF", "CE", "CWE"}
_CONTENT_MESSAGES = {"T02", "T04", "T06", "T08", "T10"}
_REPLACING = {"T08", "T10"}


class _BadMessage(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def split_messages(data: bytes) -> Iterator[tuple[int, list[bytes]]]:
    """(message number, segments) for each MSH in a file; batch envelopes are dropped.

    Segments before the first MSH that are not FHS/BHS come as a message of their own
    (number 0 when none precedes), which fails to parse: one dead letter.
    """
    current: list[bytes] = []
    number = 0
    for raw in _SEGMENT_END.split(data):
        seg = raw.strip(b"\x0b\x1c \t")  # MLLP framing bytes survive in some dumps
        if not seg:
            continue
        head = seg[:3]
        if head in {b"FHS", b"BHS", b"BTS", b"FTS"}:
            continue
        if head == b"MSH":
            if current:
                yield number, current
            number += 1
            current = [seg]
        else:
            current.append(seg)
    if current:
        yield number, current


def _charset(msh: bytes) -> str:
    if len(msh) < 4:
        return "utf-8"
    sep = msh[3:4]
    fields = msh.split(sep)
    # MSH-1 is the separator itself, so MSH-n is fields[n - 1]
    name = fields[17].decode("ascii", "replace").split("^")[0].strip() if len(fields) > 17 else ""
    if name not in _CHARSETS:
        raise _BadMessage("InvalidEncoding", f"unsupported character set {name[:32]!r} (MSH-18)")
    return _CHARSETS[name]


def _parse(segments: list[bytes]) -> Any:
    import hl7
    from hl7.exceptions import HL7Exception

    if not segments[0].startswith(b"MSH") or len(segments[0]) < 8:
        raise _BadMessage("MalformedMessage", "message does not start with an MSH segment")
    enc = _charset(segments[0])
    try:
        lines = [s.decode(enc) for s in segments]
    except UnicodeDecodeError as exc:
        raise _BadMessage("InvalidEncoding", f"message is not valid {enc}") from exc
    sep = lines[0][3]
    for line in lines:
        seg_id = line.split(sep, 1)[0]
        if not _SEGMENT_ID.fullmatch(seg_id):
            raise _BadMessage("MalformedSegment", "a segment has no valid segment id")
        if seg_id not in _KNOWN and not seg_id.startswith("Z"):
            raise _BadMessage("UnknownSegment", f"unknown segment {seg_id}")
    try:
        return hl7.parse("\r".join(lines))
    except (HL7Exception, ValueError, IndexError) as exc:
        kind = type(exc).__name__
        raise _BadMessage("MalformedMessage", f"unparseable message ({kind})") from exc


def _get(msg: Any, path: str) -> str:
    try:
        return str(msg[path]).strip()
    except (KeyError, IndexError):
        return ""


def _seg(seg: Any, field: int, component: int = 1) -> str:
    """Component ``component`` of the first repetition of field ``field`` of a segment."""
    try:
        value = seg[field]
    except IndexError:
        return ""
    if isinstance(value, str):
        return value.strip() if component == 1 else ""
    try:
        rep = value[0]
        if isinstance(rep, str):
            return rep.strip() if component == 1 else ""
        comp = rep[component - 1]
        return str(comp).strip()
    except IndexError:
        return ""


def _unescape(msg: Any, raw: str) -> str:
    return str(msg.unescape(raw)).replace("\r\n", "\n").replace("\r", "\n")


def _obx_text(msg: Any, obx: Any) -> tuple[str | None, str | None]:
    """(text, converter) of one OBX; converter None for plain text values.

    Raises:
        _BadMessage: an ED value that is not decodable.
    """
    vtype = _seg(obx, 2)
    field = obx[5] if len(obx) > 5 else ""
    if vtype == "ED":
        rep = field[0] if not isinstance(field, str) else field
        parts = [str(c) for c in rep] if not isinstance(rep, str) else [rep]
        parts += [""] * (5 - len(parts))
        _, kind, subtype, encoding, data = parts[:5]
        mime = f"{kind.lower()}/{subtype.lower()}" if "/" not in subtype else subtype.lower()
        ctype = {
            "text/pdf": "application/pdf",
            "application/pdf": "application/pdf",
            "ap/pdf": "application/pdf",
            "text/rtf": "text/rtf",
            "ap/rtf": "text/rtf",
            "text/html": "text/html",
            "text/plain": "text/plain",
            "text/octet-stream": "text/plain",
        }.get(mime, mime)
        conv = CONTENT_TYPES.get(ctype)
        if conv is None:
            raise _BadMessage("UnsupportedAttachment", f"ED content type {ctype[:40]} in OBX")
        if encoding.lower() == "base64":
            try:
                blob = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise _BadMessage("InvalidAttachment", "OBX ED data is not valid base64") from exc
        elif encoding.upper() in {"A", ""}:
            blob = _unescape(msg, data).encode("utf-8")
        else:
            raise _BadMessage("InvalidAttachment", f"unsupported ED encoding {encoding[:16]}")
        try:
            text, converter = convert(conv, blob)
        except ConversionError as exc:
            raise _BadMessage(exc.error_type, str(exc)) from exc
        return text, converter
    if vtype not in _TEXT_TYPES:
        return None, None
    reps = [field] if isinstance(field, str) else [str(r) for r in field]
    if vtype in {"CE", "CWE"}:  # coded text: keep the text component
        reps = [r.split("^")[1] if "^" in r else r for r in reps]
    return "\n".join(_unescape(msg, r) for r in reps), None


def _common(msg: Any) -> dict[str, Any]:
    return {
        "patient_id": _get(msg, "PID.F3.R1.C1") or None,
        "encounter_id": _get(msg, "PV1.F19.R1.C1") or None,
        "msh_date": hl7_timestamp(_get(msg, "MSH.F7.R1.C1")),
        "control_id": _get(msg, "MSH.F10") or None,
    }


def _documents(msg: Any) -> Iterator[dict[str, Any]]:
    """Raw note dicts (id, texts, status, ...) of one parsed message."""
    mtype, trigger = _get(msg, "MSH.F9.R1.C1"), _get(msg, "MSH.F9.R1.C2")
    common = _common(msg)
    if mtype == "MDM":
        doc_id = _get(msg, "TXA.F12.R1.C1") or common["control_id"]
        txa17, txa19 = _get(msg, "TXA.F17.R1.C1").upper(), _get(msg, "TXA.F19.R1.C1").upper()
        status = "current"
        if trigger == "T11" or "CA" in {txa17, txa19}:
            status = "entered-in-error"
        elif txa19 == "OB":
            status = "superseded"
        elif trigger not in _CONTENT_MESSAGES:
            return  # a notification without content (T01, T03, ...)
        parent = _get(msg, "TXA.F13.R1.C1") if trigger in _REPLACING else ""
        yield {
            **common,
            "id": doc_id,
            "obx": list(_segments(msg, "OBX")),
            "status": status,
            "date": hl7_timestamp(_get(msg, "TXA.F4.R1.C1"))
            or hl7_timestamp(_get(msg, "TXA.F6.R1.C1")),
            "note_type": _get(msg, "TXA.F2.R1.C2") or _get(msg, "TXA.F2.R1.C1") or None,
            "parent": parent if parent and parent != doc_id else None,
        }
    elif mtype == "ORU" and trigger == "R01":
        obr: Any = None
        obx: list[Any] = []
        for seg in msg:
            sid = str(seg[0])
            if sid == "OBR":
                if obr is not None:
                    yield _report(common, obr, obx)
                obr, obx = seg, []
            elif sid == "OBX" and obr is not None:
                obx.append(seg)
        if obr is None:
            raise _BadMessage("MalformedMessage", "ORU^R01 without an OBR segment")
        yield _report(common, obr, obx)
    else:
        raise _BadMessage("UnsupportedMessage", f"message type {mtype[:8]}^{trigger[:8]}")


def _segments(msg: Any, name: str) -> Iterator[Any]:
    for seg in msg:
        if str(seg[0]) == name:
            yield seg


def _report(common: dict[str, Any], obr: Any, obx: list[Any]) -> dict[str, Any]:
    rid = _seg(obr, 3) or _seg(obr, 2)
    if not rid:
        rid = f"{common['control_id']}-{_seg(obr, 1) or '1'}"
    results = {_seg(o, 11).upper() for o in obx if _seg(o, 2) in _TEXT_TYPES | {"ED"}}
    retracted = bool(results) and results <= {"W", "D"}
    return {
        **common,
        "id": rid,
        "obx": obx,
        "status": "entered-in-error" if retracted else "current",
        "date": hl7_timestamp(_seg(obr, 7)),
        "note_type": _seg(obr, 4, 2) or _seg(obr, 4) or None,
        "parent": None,
    }


def _note(msg: Any, doc: dict[str, Any], opts: SourceOptions, locator: str, status: str) -> Record:
    texts: list[str] = []
    converter: str | None = CONVERTER
    if status != "entered-in-error":
        for obx in doc["obx"]:
            if _seg(obx, 11).upper() in {"W", "D"}:
                continue
            text, conv = _obx_text(msg, obx)
            if text is None:
                continue
            if conv is not None:  # an embedded document: its converter describes the text
                converter = f"{CONVERTER}/{conv}"
            texts.append(text)
    text = tidy("\n".join(texts))
    if not text and status != "entered-in-error":
        raise _BadMessage("NoText", "message has no text OBX (TX, FT, ST or ED)")
    source_doc = f"urn:hl7v2:msh-10|{doc['control_id']}" if doc["control_id"] else None
    return note_from_mapping(
        {
            "id": doc["id"],
            "text": text,
            "patient_id": doc["patient_id"],
            "encounter_id": doc["encounter_id"],
            "date": doc["date"] or doc["msh_date"],
            "note_type": doc["note_type"],
        },
        opts,
        locator,
        status=status,
        extra={"converter": converter, "source_document": source_doc},
    )


def read_hl7(data: bytes, opts: SourceOptions, name: str) -> Iterator[Record]:
    """Every note of an HL7 v2 file; a bad message is one dead letter, the rest load.

    Two passes over the file's messages. The first notes the last message of each document
    id and the documents that later messages replace (TXA-13 of a T08/T10). The second
    yields each document once, in the state of its last message (an edit, correction or
    cancellation later in the file wins: a run sees one version of a note), and replaced
    documents as ``superseded``.
    """
    replaced: set[str] = set()
    last: dict[str, int] = {}
    for number, segments in split_messages(data):
        try:
            for doc in _documents(_parse(segments)):
                last[doc["id"]] = number
                if doc["parent"]:
                    replaced.add(doc["parent"])
        except _BadMessage:
            continue  # reported in the second pass
    for number, segments in split_messages(data):
        locator = f"{name}:message {number}"
        doc_id: str | None = None
        try:
            msg = _parse(segments)
            for doc in _documents(msg):
                doc_id = doc["id"]
                if last.get(doc_id) != number:
                    continue  # a later message of this file carries its newer state
                status = doc["status"]
                if status == "current" and doc_id in replaced:
                    status = "superseded"
                yield _note(msg, doc, opts, locator, status)
        except _BadMessage as exc:
            yield _read_error(opts, locator, exc.error_type, str(exc), doc_id)

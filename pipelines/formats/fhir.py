"""FHIR R4 inputs: DocumentReference and DiagnosticReport attachments, inline or in Bundles.

* Attachments: ``text/plain`` (as before), ``text/html``, ``text/rtf``/``application/rtf``
  and ``application/pdf`` (its text layer), inline base64 ``data`` only (a ``url`` is not
  fetched). When a resource has several, the first of plain, HTML, RTF, PDF is read.
* DocumentReference: ``content[].attachment``; DiagnosticReport: ``presentedForm[]``, id,
  ``subject``, ``encounter``, ``effectiveDateTime`` (else ``issued``), ``code.text``;
  ``entered-in-error`` and ``cancelled`` retract the report.
* Bundles of any type (collection, searchset, transaction, batch, document): each entry's
  resource is read; other resource types (Patient, Encounter ...) are passed over, and a
  transaction ``DELETE`` of a DocumentReference or DiagnosticReport retracts that note.
* A file is one JSON resource (``.json``) or FHIR NDJSON (one resource per line).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import json
from collections.abc import Iterator, Mapping
from typing import Any

from pipelines.formats.text import CONTENT_TYPES, ConversionError, convert
from pipelines.sources import Record, SourceOptions, _read_error, note_from_mapping

#: The attachment kinds in order of preference.
_PREFERENCE = ("plain", "html", "rtf", "pdf")
NOTE_TYPES = frozenset({"DocumentReference", "DiagnosticReport"})


def attachment_text(attachments: list[Any]) -> tuple[str, str | None]:
    """Text and converter of the preferred inline attachment of a resource.

    Raises:
        ConversionError: no usable attachment (the error of the preferred one).
    """
    candidates: list[tuple[int, str, Mapping[str, Any], str | None]] = []
    problem: ConversionError | None = None
    for att in attachments:
        if not isinstance(att, Mapping):
            continue
        ctype, _, params = str(att.get("contentType", "text/plain")).partition(";")
        kind = CONTENT_TYPES.get(ctype.strip().lower())
        if kind is None:
            problem = problem or ConversionError(
                "UnsupportedAttachment", f"content type {ctype.strip()[:64]} is not supported"
            )
            continue
        if "data" not in att:
            problem = problem or ConversionError(
                "UnsupportedAttachment",
                "attachment has no inline data (url-only attachments are not fetched)",
            )
            continue
        charset = None
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip('"').lower()
        candidates.append((_PREFERENCE.index(kind), kind, att, charset))
    if not candidates:
        raise problem or ConversionError("UnsupportedAttachment", "no attachment")
    _, kind, att, charset = min(candidates, key=lambda c: c[0])
    if charset is not None:
        try:
            codecs.lookup(charset)
        except LookupError as exc:
            raise ConversionError("InvalidAttachment", "unknown charset") from exc
    try:
        data = base64.b64decode(str(att["data"]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConversionError("InvalidAttachment", "attachment data is not valid base64") from exc
    return convert(kind, data, charset)


def _ref_id(value: Any) -> str | None:
    ref = (value or {}).get("reference") if isinstance(value, Mapping) else None
    return str(ref).rsplit("/", 1)[-1] or None if ref else None


def _text(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return None
    if value.get("text"):
        return str(value["text"])
    for coding in value.get("coding") or []:
        if isinstance(coding, Mapping) and (coding.get("display") or coding.get("code")):
            return str(coding.get("display") or coding.get("code"))
    return None


def report_to_note(res: Mapping[str, Any], opts: SourceOptions, locator: str) -> Record:
    """A DiagnosticReport's presentedForm as a note (statuses as in the module doc)."""
    note_id = res.get("id") if isinstance(res.get("id"), str) else None
    status = str(res.get("status") or "final")
    retract = status in {"entered-in-error", "cancelled"}
    text, converter = "", None
    if not retract:
        forms = res.get("presentedForm") or []
        if not isinstance(forms, list):
            return _read_error(opts, locator, "InvalidResource", "presentedForm is not a list")
        try:
            text, converter = attachment_text(forms)
        except ConversionError as exc:
            return _read_error(opts, locator, exc.error_type, str(exc), note_id)
    encounter = _ref_id(res.get("encounter"))
    return note_from_mapping(
        {
            "id": note_id,
            "text": text,
            "patient_id": _ref_id(res.get("subject")),
            "encounter_id": encounter,
            "date": res.get("effectiveDateTime") or res.get("issued"),
            "note_type": _text(res.get("code")),
        },
        opts,
        locator,
        status="entered-in-error" if retract else "current",
        extra={
            "converter": converter,
            "source_document": f"DiagnosticReport/{note_id}" if converter and note_id else None,
        },
    )


def resource_records(res: Any, opts: SourceOptions, locator: str) -> Iterator[Record]:
    """The notes of one FHIR resource: a DocumentReference, DiagnosticReport or Bundle."""
    from pipelines.sources import docref_to_note

    if not isinstance(res, dict):
        yield _read_error(
            opts, locator, "InvalidResource", f"expected a JSON object, got {type(res).__name__}"
        )
        return
    rtype = res.get("resourceType")
    if rtype == "DocumentReference":
        yield docref_to_note(res, opts, locator)
    elif rtype == "DiagnosticReport":
        yield report_to_note(res, opts, locator)
    elif rtype == "Bundle":
        entries = res.get("entry") or []
        if not isinstance(entries, list):
            yield _read_error(opts, locator, "InvalidResource", "Bundle.entry is not a list")
            return
        for i, entry in enumerate(entries):
            where = f"{locator}:entry {i}"
            if not isinstance(entry, dict):
                yield _read_error(opts, where, "InvalidResource", "Bundle entry is not an object")
                continue
            request = entry.get("request") or {}
            if isinstance(request, dict) and str(request.get("method")).upper() == "DELETE":
                kind, _, ident = str(request.get("url") or "").partition("/")
                if kind in NOTE_TYPES and ident and "?" not in ident:
                    yield note_from_mapping(
                        {"id": ident, "text": ""}, opts, where, status="entered-in-error"
                    )
                continue
            inner = entry.get("resource")
            if isinstance(inner, dict) and inner.get("resourceType") in NOTE_TYPES | {"Bundle"}:
                yield from resource_records(inner, opts, where)
            elif inner is None:
                yield _read_error(opts, where, "InvalidResource", "Bundle entry has no resource")
            # other resource types (Patient, Encounter, OperationOutcome ...) carry no note
    else:
        yield _read_error(
            opts,
            locator,
            "InvalidResource",
            f"expected DocumentReference, DiagnosticReport or Bundle, got {str(rtype)[:64]}",
        )


def parse_resource_line(raw: bytes, opts: SourceOptions, locator: str) -> Iterator[Record]:
    """One FHIR NDJSON line: a DocumentReference, DiagnosticReport or Bundle."""
    try:
        res = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        yield _read_error(opts, locator, "InvalidEncoding", "line is not valid UTF-8")
        return
    except (json.JSONDecodeError, RecursionError):
        yield _read_error(opts, locator, "InvalidJSON", "line is not a JSON object")
        return
    yield from resource_records(res, opts, locator)


def read_fhir_file(data: bytes, opts: SourceOptions, name: str) -> Iterator[Record]:
    """A whole ``.json`` resource (a Bundle, say) or FHIR NDJSON read at once."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        yield _read_error(opts, name, "InvalidEncoding", "file is not valid UTF-8")
        return
    try:
        res = json.loads(text)
    except json.JSONDecodeError:
        res = None
    except RecursionError:
        yield _read_error(opts, name, "InvalidJSON", "JSON nested too deeply")
        return
    if res is not None:
        yield from resource_records(res, opts, name)
        return
    for lineno, line in enumerate(data.splitlines(), 1):
        if line.strip():
            yield from parse_resource_line(line, opts, f"{name}:{lineno}")

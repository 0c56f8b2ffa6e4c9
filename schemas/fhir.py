"""FHIR R4 mapping (fhir.resources R4B models): mentions and notes to validated resource dicts."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.medicationstatement import MedicationStatement

from schemas.ids import resource_id
from schemas.model import Mention, Note

Resource = dict[str, Any]

DERIVATION_URL = "http://hl7.org/fhir/StructureDefinition/derivation-reference"
TAG_EXTRACTOR = "urn:notestruct:extractor"
TAG_MENTION = "urn:notestruct:mention"
CONDITION_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"


class MappingError(Exception):
    """A mention could not be expressed as a valid FHIR resource."""


def _ref(kind: str, ident: str | None) -> dict[str, str] | None:
    return {"reference": f"{kind}/{ident}"} if ident else None


def _codeable(mention: Mention) -> dict[str, Any]:
    codings = [
        {k: v for k, v in {"system": c.system, "code": c.code, "display": c.display}.items() if v}
        for c in mention.codings
    ]
    out: dict[str, Any] = {"text": mention.text}
    if codings:
        out["coding"] = codings
    return out


def _provenance(mention: Mention, note: Note) -> dict[str, Any]:
    """Span provenance: derivation-reference extension and meta tags."""
    return {
        "extension": [
            {
                "url": DERIVATION_URL,
                "extension": [
                    {
                        "url": "reference",
                        "valueReference": {"reference": f"DocumentReference/{document_id(note)}"},
                    },
                    {"url": "offset", "valueInteger": mention.start_char},
                    {"url": "length", "valueInteger": mention.end_char - mention.start_char},
                ],
            }
        ],
        "meta": {
            "tag": [
                {
                    "system": TAG_EXTRACTOR,
                    "code": f"{mention.provenance.extractor}@{mention.provenance.extractor_version}",
                },
                {"system": TAG_MENTION, "code": mention.mention_id},
            ]
        },
    }


def document_id(note: Note) -> str:
    """Deterministic DocumentReference id of a note."""
    return resource_id("DocumentReference", note.note_id)


def to_document_reference(note: Note, *, include_text: bool = False) -> Resource:
    """The note itself; the text is attached only when the deployment stores text."""
    attachment: dict[str, Any] = {"contentType": "text/plain; charset=utf-8"}
    if include_text:
        attachment["data"] = base64.b64encode(note.text.encode("utf-8")).decode("ascii")
    data: Resource = {
        "resourceType": "DocumentReference",
        "id": document_id(note),
        "identifier": [{"system": note.source, "value": note.note_id}],
        "status": "entered-in-error" if note.status == "entered-in-error" else "current",
        "content": [{"attachment": attachment}],
    }
    if note.note_type:
        data["type"] = {"text": note.note_type}
    if note.patient_ref:
        data["subject"] = _ref("Patient", note.patient_ref)
    if note.authored_at:
        data["date"] = note.authored_at.isoformat()
    if note.encounter_ref:
        data["context"] = {"encounter": [_ref("Encounter", note.encounter_ref)]}
    return _validated(DocumentReference, data)


def to_condition(mention: Mention, note: Note) -> Resource:
    """A Condition; assertion goes into verificationStatus and clinicalStatus."""
    a = mention.assertion
    ver = "refuted" if a.is_negated else ("provisional" if a.is_uncertain else "confirmed")
    data: Resource = {
        "resourceType": "Condition",
        "id": resource_id("Condition", mention.mention_id),
        **_provenance(mention, note),
        "verificationStatus": {"coding": [{"system": CONDITION_VER, "code": ver}]},
        "category": [
            {
                "coding": [
                    {
                        "system": CONDITION_CATEGORY,
                        "code": "problem-list-item"
                        if mention.section in {"past_medical_history", "problem_list"}
                        else "encounter-diagnosis",
                    }
                ]
            }
        ],
        "code": _codeable(mention),
        "subject": _ref("Patient", note.patient_ref) or {"display": "unknown patient"},
        "evidence": [
            {"detail": [{"reference": f"DocumentReference/{document_id(note)}"}]}
        ],
    }
    if a.is_historical and not a.is_negated:
        data["clinicalStatus"] = {"coding": [{"system": CONDITION_CLINICAL, "code": "inactive"}]}
    elif not a.is_negated:
        data["clinicalStatus"] = {"coding": [{"system": CONDITION_CLINICAL, "code": "active"}]}
    if note.encounter_ref:
        data["encounter"] = _ref("Encounter", note.encounter_ref)
    if note.authored_at:
        data["recordedDate"] = note.authored_at.isoformat()
    return _validated(Condition, data)


def to_medication_statement(mention: Mention, note: Note) -> Resource:
    """A MedicationStatement; negated means not-taken, historical means completed."""
    a = mention.assertion
    status = "not-taken" if a.is_negated else ("completed" if a.is_historical else "active")
    data: Resource = {
        "resourceType": "MedicationStatement",
        "id": resource_id("MedicationStatement", mention.mention_id),
        **_provenance(mention, note),
        "status": status,
        "medicationCodeableConcept": _codeable(mention),
        "subject": _ref("Patient", note.patient_ref) or {"display": "unknown patient"},
        "derivedFrom": [{"reference": f"DocumentReference/{document_id(note)}"}],
    }
    if note.encounter_ref:
        data["context"] = _ref("Encounter", note.encounter_ref)
    if note.authored_at:
        data["dateAsserted"] = note.authored_at.isoformat()
    return _validated(MedicationStatement, data)


Mapper = Callable[[Mention, Note], Resource]

#: Label -> mapper; ``None`` means the label yields no clinical resource (mention row only).
MAPPERS: dict[str, Mapper | None] = {
    "PROBLEM": to_condition,
    "MEDICATION": to_medication_statement,
    "PROCEDURE": None,
    "LAB": None,
    "VITAL": None,
    "ALLERGY": None,
}


def map_note(
    note: Note,
    mentions: tuple[Mention, ...],
    *,
    include_text: bool = False,
    mappers: Mapping[str, Mapper | None] = MAPPERS,
) -> tuple[Resource, ...]:
    """DocumentReference plus one resource per mappable mention (hypothetical ones excluded)."""
    out = [to_document_reference(note, include_text=include_text)]
    for m in mentions:
        if m.assertion.is_hypothetical:
            continue
        mapper = mappers.get(m.label)
        if mapper is not None:
            out.append(mapper(m, note))
    return tuple(out)


def _validated(model: Any, data: Resource) -> Resource:
    """Validate ``data`` through its fhir.resources model; return the plain dict."""
    try:
        model.model_validate(data)
    except Exception as exc:
        raise MappingError(
            f"{data.get('resourceType')} failed FHIR validation: {type(exc).__name__}"
        ) from exc
    return data

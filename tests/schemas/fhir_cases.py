"""Builders of synthetic notes and mentions for the FHIR mapping tests (no real patient text)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.ids import mention_id
from schemas.model import Assertion, Coding, Mention, Note, Provenance

AUTHORED = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)

EXTRACTOR_OF = {
    "PROBLEM": "dictionary",
    "PROCEDURE": "dictionary",
    "MEDICATION": "medications",
    "LAB": "labs",
    "VITAL": "vitals",
    "ALLERGY": "allergies",
}

#: Attribute shapes written by the structured extractors (extractors/medications.py, labs.py,
#: vitals.py, allergies.py).
MED_ATTRS: dict[str, Any] = {
    "drug": "Metformin",
    "ingredient": "metformin",
    "strength": {"value": 1000, "unit": "mg", "ucum": "mg", "text": "1000 mg"},
    "route": {"code": "PO", "display": "Oral route", "snomed": "26643006", "text": "PO"},
    "frequency": {
        "code": "BID",
        "frequency": 2,
        "period": 1,
        "period_unit": "d",
        "text": "BID",
    },
    "sig": "1000 mg PO BID",
    "parts": {"drug": [0, 9], "sig": [10, 24]},
}
LAB_ATTRS: dict[str, Any] = {
    "test": "Potassium",
    "value": 5.9,
    "unit": "mmol/L",
    "ucum": "mmol/L",
    "interpretation": "H",
    "reference_range": {"low": 3.5, "high": 5.1},
    "parts": {"name": [0, 9]},
}
VITAL_ATTRS: dict[str, Any] = {
    "vital": "heart_rate",
    "loinc": "8867-4",
    "value": 88,
    "unit": "/min",
    "ucum": "/min",
    "unit_text": "bpm",
    "parts": {},
}
BP_ATTRS: dict[str, Any] = {
    "vital": "blood_pressure",
    "loinc": "85354-9",
    "systolic": 142,
    "diastolic": 88,
    "unit": "mm[Hg]",
    "ucum": "mm[Hg]",
    "unit_text": None,
    "components": {"systolic": {"loinc": "8480-6"}, "diastolic": {"loinc": "8462-4"}},
    "parts": {},
}
ALLERGY_ATTRS: dict[str, Any] = {
    "allergen": "Penicillin",
    "category": "medication",
    "substance": "penicillin",
    "reaction": "hives",
    "reaction_codes": [
        {"system": "http://snomed.info/sct", "code": "126485001", "display": "Urticaria"}
    ],
    "parts": {"allergen": [0, 10]},
}
NKA_ATTRS: dict[str, Any] = {"no_known_allergy": True, "scope": "drug", "parts": {}}

CODES: dict[str, tuple[Coding, ...]] = {
    "PROBLEM": (Coding(system="http://snomed.info/sct", code="38341003", display="Hypertension"),),
    "PROCEDURE": (
        Coding(system="http://snomed.info/sct", code="80146002", display="Appendectomy"),
    ),
    "MEDICATION": (
        Coding(
            system="http://www.nlm.nih.gov/research/umls/rxnorm", code="6809", display="metformin"
        ),
    ),
    "LAB": (Coding(system="http://loinc.org", code="2823-3", display="Potassium"),),
    "VITAL": (Coding(system="http://loinc.org", code="8867-4", display="Heart rate"),),
    "ALLERGY": (),
}
SENTENCE = {
    "PROBLEM": "Assessment: hypertension noted today.",
    "PROCEDURE": "Surgical: appendectomy noted today.",
    "MEDICATION": "Meds: Metformin 1000 mg PO BID.",
    "LAB": "Labs: Potassium 5.9 mmol/L (H).",
    "VITAL": "Vitals: HR 88 bpm.",
    "ALLERGY": "Allergies: Penicillin - hives.",
}
SPAN = {
    "PROBLEM": "hypertension",
    "PROCEDURE": "appendectomy",
    "MEDICATION": "Metformin",
    "LAB": "Potassium 5.9 mmol/L (H)",
    "VITAL": "HR 88 bpm",
    "ALLERGY": "Penicillin",
}
ATTRS = {"MEDICATION": MED_ATTRS, "LAB": LAB_ATTRS, "VITAL": VITAL_ATTRS, "ALLERGY": ALLERGY_ATTRS}


def make_note(text: str, **kw: Any) -> Note:
    """A note of patient pat-0001, encounter enc-0001, authored AUTHORED."""
    fields: dict[str, Any] = {
        "note_id": "note-1",
        "source": "urn:notestruct:source:test",
        "patient_ref": "pat-0001",
        "encounter_ref": "enc-0001",
        "authored_at": AUTHORED,
        "note_type": "Progress note",
        "text": text,
    }
    fields.update(kw)
    return Note(**fields)


def make_mention(
    note: Note,
    span: str,
    label: str,
    *,
    attributes: dict[str, Any] | None = None,
    codings: tuple[Coding, ...] | None = None,
    section: str | None = None,
    occurrence: int = 0,
    **flags: Any,
) -> Mention:
    """A mention of ``span`` (its ``occurrence``-th match) in ``note`` with assertion ``flags``."""
    start = -1
    for _ in range(occurrence + 1):
        start = note.text.index(span, start + 1)
    extractor = EXTRACTOR_OF.get(label, "test")
    return Mention(
        mention_id=mention_id(note.note_id, start, start + len(span), label, extractor),
        note_id=note.note_id,
        start_char=start,
        end_char=start + len(span),
        text=span,
        label=label,
        section=section,
        assertion=Assertion(**flags),
        codings=CODES.get(label, ()) if codings is None else codings,
        attributes=_stated(note, start, span, label, flags, attributes),
        provenance=Provenance(extractor=extractor, extractor_version=1, pipeline_version="0.1.0"),
    )


def _stated(
    note: Note, start: int, span: str, label: str, flags: dict[str, Any], given: Any
) -> dict[str, Any]:
    """The mention's attributes with what its clause states (status, onset, relative), as
    the pipeline's ``doc_to_mentions`` adds them (``extractors.statements``)."""
    from extractors.statements import statement_attributes

    attributes = dict(ATTRS.get(label, {}) if given is None else given)
    attributes.update(
        statement_attributes(
            note.text, start, start + len(span), label,
            family=bool(flags.get("is_family")), given=attributes,
        )
    )  # fmt: skip
    return attributes


def labelled(label: str, *, text: str | None = None, **kw: Any) -> tuple[Note, Mention]:
    """Note and mention for ``label`` using the standard sentence of that label."""
    note = make_note(text or SENTENCE[label])
    return note, make_mention(note, SPAN[label], label, **kw)


def walk_strings(value: Any) -> list[str]:
    """Every string anywhere in a JSON value."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in walk_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in walk_strings(v)]
    return [value] if isinstance(value, str) else []

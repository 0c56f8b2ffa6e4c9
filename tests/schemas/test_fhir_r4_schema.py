"""Output of the real pipeline on the sample notes validates against the official R4 JSON schema."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.fhir import ShapeValidator, map_note, note_bundle, to_provenance
from schemas.model import Mention, Note
from tests.schemas.fhir_cases import (
    BP_ATTRS,
    LAB_ATTRS,
    MED_ATTRS,
    NKA_ATTRS,
    SENTENCE,
    labelled,
    make_mention,
    make_note,
)
from tests.schemas.r4_schema import schema_errors

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "notes.jsonl"


def _sample_notes() -> list[Note]:
    notes = []
    for line in SAMPLES.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        date = d.get("date")
        notes.append(
            Note(
                note_id=d["id"],
                text=d["text"],
                source="urn:notestruct:source:samples",
                patient_ref=d.get("patient_id"),
                encounter_ref=d.get("encounter_id"),
                note_type=d.get("note_type"),
                authored_at=datetime.fromisoformat(date.replace("Z", "+00:00")) if date else None,
            )
        )
    return notes


@pytest.fixture(scope="module")
def sample_output(nlp: Any) -> tuple[list[Note], list[tuple[Mention, ...]], list[dict[str, Any]]]:
    from extractors.nlp import ExtractionError, extract

    notes, mentions, resources = [], [], []
    validator = ShapeValidator()
    for note, outcome in extract(nlp, [(n, ()) for n in _sample_notes()]):
        assert not isinstance(outcome, ExtractionError)
        notes.append(note)
        mentions.append(outcome)
        resources.extend(map_note(note, outcome, validator=validator))
    return notes, mentions, resources


def test_sample_run_validates_against_the_r4_schema(sample_output: Any) -> None:
    _, mentions, resources = sample_output
    types = Counter(r["resourceType"] for r in resources)
    assert {"DocumentReference", "Condition", "MedicationStatement"} <= set(types)
    assert sum(len(m) for m in mentions) > 50
    errors = schema_errors(resources)
    assert errors == [], "\n".join(errors[:20])


def test_sample_run_passes_full_model_validation(sample_output: Any) -> None:
    """The shape-cached fast path accepted nothing the model rejects."""
    _, _, resources = sample_output
    full = ShapeValidator(full=True)
    for r in resources:
        full.check(r)
    assert full.validated == len(resources)


def test_negated_problems_are_refuted_conditions(sample_output: Any) -> None:
    _, mentions, resources = sample_output
    by_id = {r["id"]: r for r in resources}
    from schemas.ids import resource_id

    negated = [
        m
        for ms in mentions
        for m in ms
        if m.label == "PROBLEM"
        and m.assertion.is_negated
        and not (m.assertion.is_hypothetical or m.assertion.is_family)
    ]
    assert negated, "the samples contain negated problems"
    assert any(not m.attributes.get("resolved") for m in negated)
    for m in negated:
        condition = by_id[resource_id("Condition", m.mention_id)]
        if m.attributes.get("resolved"):
            # "hyponatremia, resolved": no longer present, so a resolved Condition
            assert condition["clinicalStatus"]["coding"][0]["code"] == "resolved"
        else:
            assert condition["verificationStatus"]["coding"][0]["code"] == "refuted"


def test_span_provenance_coverage(sample_output: Any) -> None:
    _, _, resources = sample_output
    clinical = [r for r in resources if r["resourceType"] != "DocumentReference"]
    texts = {
        f"DocumentReference/{r['id']}": r
        for r in resources
        if r["resourceType"] == "DocumentReference"
    }
    with_span = 0
    for r in clinical:
        ext = next(
            (e for e in r.get("extension", ()) if e["url"].endswith("derivation-reference")), None
        )
        if ext is None:
            continue
        parts = {e["url"]: e for e in ext["extension"]}
        assert parts["reference"]["valueReference"]["reference"] in texts
        with_span += 1
    assert with_span / len(clinical) >= 0.9


def _structured_cases() -> list[dict[str, Any]]:
    """Resources for every label and state from the structured extractors' attribute shapes."""
    out: list[dict[str, Any]] = []
    validator = ShapeValidator()
    flag_sets = [
        {},
        {"is_negated": True},
        {"is_uncertain": True},
        {"is_historical": True},
        {"is_family": True, "experiencer": "mother"},
        {"is_conditional": True},
    ]
    for label in SENTENCE:
        for flags in flag_sets:
            note, m = labelled(label, **flags)
            out.extend(map_note(note, (m,), validator=validator))
            out.extend(map_note(note, (m,), include_text=True, validator=validator))
    extra = [
        ("Vitals: BP 142/88 mmHg.", "BP 142/88 mmHg", "VITAL", BP_ATTRS),
        ("Allergies: NKDA.", "NKDA", "ALLERGY", NKA_ATTRS),
        (
            "Metformin 1000 mg PO BID prn.",
            "Metformin",
            "MEDICATION",
            {**MED_ATTRS, "prn": True, "prn_reason": "pain", "duration": {"value": 5, "unit": "d"}},
        ),
        (
            "Potassium < 3.0 (L)",
            "Potassium",
            "LAB",
            {**LAB_ATTRS, "comparator": "<", "value": math.nan},
        ),
        (
            "Troponin negative",
            "Troponin",
            "LAB",
            {"test": "Troponin", "value_string": "negative", "loinc": "10839-9"},
        ),
    ]
    for text, span, label, attrs in extra:
        note = make_note(text)
        m = make_mention(note, span, label, attributes=attrs)
        out.extend(map_note(note, (m,), include_text=True, validator=validator))
    out.append(note_bundle(note, out[-2:]))
    out.append(
        to_provenance(
            [f"{r['resourceType']}/{r['id']}" for r in out[:10]],
            run_id="run-1",
            recorded=datetime.fromisoformat("2025-03-15T02:00:00+01:00"),
            software_version="0.1.0",
            rules_version="abc",
            dictionary_version="d1",
            extractors={"labs": 1},
        )
    )
    return out


def test_every_resource_type_validates_against_the_r4_schema() -> None:
    resources = _structured_cases()
    types = {r["resourceType"] for r in resources}
    assert types >= {
        "Condition",
        "FamilyMemberHistory",
        "MedicationStatement",
        "Observation",
        "Procedure",
        "AllergyIntolerance",
        "DocumentReference",
        "Bundle",
        "Provenance",
    }
    errors = schema_errors(resources)
    assert errors == [], "\n".join(errors[:20])


def test_the_schema_check_does_reject_invalid_resources() -> None:
    bad = {
        "resourceType": "MedicationStatement",
        "id": "x",
        "status": "bogus",
        "extra": 1,
        "medicationCodeableConcept": {"text": ""},
    }
    errors = schema_errors([bad])
    assert any("extra" in e for e in errors)
    assert any("subject" in e for e in errors)

"""The concept evaluation scores what notestruct emits, on small synthetic Synthea-shaped notes."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines import eval_concepts

SNOMED = eval_concepts.SNOMED


def _note(rid: str, complaint: str, assessment: str, silver: list[tuple[str, str]]) -> dict:
    text = (
        f"\n2020-01-01\n\n# Chief Complaint\n- {complaint}\n\n\n"
        "# History of Present Illness\nThe patient is a 40 year-old male.\n\n"
        f"# Assessment and Plan\nPatient is presenting with {assessment}. \n\n## Plan\n\n"
    )
    conditions = [{"system": SNOMED, "code": code, "display": display} for code, display in silver]
    return {
        "id": rid,
        "text": text,
        "silver": {
            "encounter_conditions": conditions,
            "encounter_medication_requests": [],
            "encounter_procedures": [],
        },
    }


def test_synthea_rows_score_encounter_diagnoses_apart_from_chief_complaints(
    nlp, tmp_path: Path
) -> None:
    notes = [
        _note("n1", "Cough", "pneumonia", [("233604007", "Pneumonia")]),
        _note("n2", "Headache", "hypertension", [("38341003", "Hypertension")]),
    ]
    path = tmp_path / "notes.jsonl"
    path.write_text("".join(json.dumps(n) + "\n" for n in notes), encoding="utf-8")
    rows = {r.name: r for r in eval_concepts.eval_synthea(nlp, path)}
    headline = rows["synthea-conditions (encounter-diagnosis)"]
    every = rows["synthea-conditions (every category)"]
    # Both assessments are found by name; the chief complaints are health concerns.
    assert (headline.precision, headline.recall, headline.n) == (1.0, 1.0, 2)
    # Counting every PROBLEM mention, cough and headache are false positives.
    assert every.recall == 1.0
    assert every.precision == 0.5


def test_evaluate_skips_absent_corpora(nlp, tmp_path: Path) -> None:
    assert eval_concepts.evaluate(nlp, tmp_path) == []


def test_span_rows_in_context_read_an_abbreviation_defined_in_an_earlier_sentence(
    nlp, tmp_path: Path
) -> None:
    """Two sentences of one abstract: HD is defined in the first and used alone in the second."""
    first = "Huntington disease ( HD ) is inherited ."
    second = "Patients with HD were studied ."
    records = [
        {
            "id": "s1",
            "text": first,
            "entities": [
                {"start": 0, "end": 18, "label": "Disease"},
                {"start": 21, "end": 23, "label": "Disease"},
            ],
        },
        {"id": "s2", "text": second, "entities": [{"start": 14, "end": 16, "label": "Disease"}]},
    ]
    path = tmp_path / "devel.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    (alone,) = eval_concepts.eval_spans(nlp, path, "toy", {"Disease": "PROBLEM"})
    (within,) = eval_concepts.eval_spans(nlp, path, "toy", {"Disease": "PROBLEM"}, context=8)
    assert within.name == "toy Disease->PROBLEM (8 sentences before as context)"
    # Alone, the second sentence's HD is an unknown abbreviation; read after the first, it is
    # Huntington disease. Offsets are the sentence's own in both rows.
    assert (alone.recall, alone.precision) == (round(2 / 3, 4), 1.0)
    assert (within.recall, within.precision) == (1.0, 1.0)

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

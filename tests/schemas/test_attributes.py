"""The attribute contract: every attribute the built-in extractors write is declared in
schemas/attributes.py with its type, and documented in docs/structured-attributes.md."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from schemas.attributes import ATTRIBUTE_MODELS, Common, typed_attributes

ROOT = Path(__file__).resolve().parents[2]

#: synthetic sentences that make every extractor write its less common attributes
EXTRA = [
    "Prednisone 40 mg PO daily for 5 days, then taper. Oxycodone 5-10 mg PO q4-6h PRN pain.",
    "Started on piperacillin-tazobactam. Metformin held on admission.",
    "SpO2 94% on 2 L nasal cannula. BP 132/84. Temp 38.2 C. Weight 80 kg.",
    "Hemoglobin 8.1 g/dL (L) (ref 12.0-16.0). Urine culture negative. HbA1c > 7%.",
    "ALLERGIES: penicillin (hives), sulfa - rash. NKDA.",
    "FAMILY HISTORY: Father had a myocardial infarction at 52. Diabetes since 2019.",
    "Pneumonia, resolved. Asthma at age 12.",
]


@pytest.fixture(scope="module")
def mentions() -> list[Any]:
    from extractors.nlp import build_nlp, extract
    from extractors.settings import NlpSettings
    from schemas.model import Note

    notes = [
        Note(note_id=json.loads(line)["id"], text=json.loads(line)["text"])
        for line in (ROOT / "samples" / "notes.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    notes += [Note(note_id=f"x{i}", text=t) for i, t in enumerate(EXTRA)]
    nlp = build_nlp(NlpSettings())
    out = []
    for _, result in extract(nlp, [(n, ()) for n in notes]):
        assert not isinstance(result, Exception)
        out.extend(result)
    return out


def test_every_attribute_written_is_declared_with_its_type(mentions: list[Any]) -> None:
    labels = {m.label for m in mentions}
    assert {"PROBLEM", "MEDICATION", "LAB", "VITAL", "ALLERGY"} <= labels
    for m in mentions:
        typed = typed_attributes(m.label, m.attributes)  # raises on a wrong type
        assert not typed.model_extra, (m.label, sorted(typed.model_extra or {}))


def test_the_typed_view_reads_nested_values(mentions: list[Any]) -> None:
    med = next(
        m for m in mentions if m.label == "MEDICATION" and m.attributes.get("route")
    )
    typed = typed_attributes("MEDICATION", med.attributes)
    assert typed.route is not None and typed.route.code  # type: ignore[attr-defined]


def test_a_wrong_type_is_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        typed_attributes("LAB", {"value": "high", "test": "Hemoglobin"})


def test_every_declared_attribute_is_documented() -> None:
    doc = (ROOT / "docs" / "structured-attributes.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-z_]+)`", doc))
    for model in {*ATTRIBUTE_MODELS.values(), Common}:
        missing = set(model.model_fields) - documented
        assert not missing, (model.__name__, sorted(missing))

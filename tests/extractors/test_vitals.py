"""Table tests for the vitals extractor on the real pipeline."""

import json
from typing import Any

import pytest

from extractors.nlp import NlpSettings, build_nlp, extract
from extractors.vitals import VitalExtractor, VitalTagger
from schemas.model import Mention, Note


def run(nlp: Any, text: str) -> tuple[Mention, ...]:
    note = Note(note_id="t", text=text)
    [(_, mentions)] = list(extract(nlp, [(note, ())]))
    assert not isinstance(mentions, Exception), mentions
    for m in mentions:
        assert text[m.start_char : m.end_char] == m.text
        json.dumps(m.attributes)
    return mentions


@pytest.fixture(scope="module")
def nlp() -> Any:
    return build_nlp(NlpSettings(extractors=("dictionary", "vitals")))


LIST = "VITAL SIGNS: T 98.6, P 88, BP 120/80, R 16, O2 sat 95% on RA."

# (sentence, mention text, LOINC codes, expected attributes subset)
CASES: list[tuple[str, str, list[str], dict[str, Any]]] = [
    (LIST, "T 98.6", ["8310-5"], {"value": 98.6, "ucum": "[degF]"}),
    (LIST, "P 88", ["8867-4"], {"value": 88, "ucum": "/min"}),
    (
        LIST,
        "BP 120/80",
        ["85354-9"],
        {"systolic": 120, "diastolic": 80, "unit": "mm[Hg]"},
    ),
    (LIST, "R 16", ["9279-1"], {"value": 16, "ucum": "/min"}),
    (
        LIST,
        "O2 sat 95% on RA",
        ["2708-6", "59408-5"],
        {"value": 95, "ucum": "%", "oxygen": "room air"},
    ),
    (
        "Blood pressure of 150/95 mmHg.",
        "Blood pressure of 150/95 mmHg",
        ["85354-9"],
        {
            "systolic": 150,
            "diastolic": 95,
            "unit_text": "mmHg",
            "components": {"systolic": {"loinc": "8480-6"}, "diastolic": {"loinc": "8462-4"}},
        },
    ),
    ("Heart rate 72 bpm.", "Heart rate 72 bpm", ["8867-4"], {"value": 72}),
    ("Temperature 38.5 C.", "Temperature 38.5 C", ["8310-5"], {"value": 38.5, "ucum": "Cel"}),
    ("Temp 37.2°C.", "Temp 37.2°C", ["8310-5"], {"ucum": "Cel"}),
    ("Tmax 102.", "Tmax 102", ["8310-5"], {"ucum": "[degF]"}),
    ("Weight 80 kg.", "Weight 80 kg", ["29463-7"], {"value": 80, "ucum": "kg"}),
    ("She weighs 165 lbs.", "weighs 165 lbs", ["29463-7"], {"ucum": "[lb_av]"}),
    ("Height 5'10\".", "Height 5'10\"", ["8302-2"], {"value": 70, "ucum": "[in_i]"}),
    ("Height 170 cm.", "Height 170 cm", ["8302-2"], {"value": 170, "ucum": "cm"}),
    ("BMI 25.3.", "BMI 25.3", ["39156-5"], {"value": 25.3, "ucum": "kg/m2"}),
    (
        "Pulse ox 92% on 2 L nasal cannula.",
        "Pulse ox 92% on 2 L nasal cannula",
        ["2708-6", "59408-5"],
        {"value": 92, "oxygen_flow": {"value": 2, "unit": "L/min"}},
    ),
    ("Respiratory rate 18.", "Respiratory rate 18", ["9279-1"], {"value": 18}),
    ("Saturating 88% on room air.", "Saturating 88% on room air", ["2708-6", "59408-5"], {}),
]


@pytest.mark.parametrize(("sentence", "text", "loincs", "expected"), CASES)
def test_vital_table(
    nlp: Any, sentence: str, text: str, loincs: list[str], expected: dict[str, Any]
) -> None:
    vitals = [m for m in run(nlp, sentence) if m.label == "VITAL"]
    found = [m for m in vitals if m.text == text]
    assert len(found) == 1, [m.text for m in vitals]
    m = found[0]
    assert [c.code for c in m.codings] == loincs
    assert m.attributes["loinc"] == loincs[0]
    for key, value in expected.items():
        assert m.attributes[key] == value, (key, m.attributes)


@pytest.mark.parametrize(
    "sentence",
    [
        "Pulse 4000.",  # implausible
        "BP 80/120.",  # diastolic above systolic
        "Temp 60.",  # neither scale
        "Weight 2000 kg.",
        "He has a history of HR issues.",
        "T 2 weighted MRI.",
    ],
)
def test_rejects(nlp: Any, sentence: str) -> None:
    assert [m.text for m in run(nlp, sentence) if m.label == "VITAL"] == []


def test_tagger_unit() -> None:
    tagger = VitalTagger(None, "ns_vitals")  # type: ignore[arg-type]
    found = tagger.find("BP 118/76, HR 64")
    assert [f["attributes"]["vital"] for f in found] == ["blood_pressure", "heart_rate"]


def test_extractor_class() -> None:
    assert VitalExtractor.labels == frozenset({"VITAL"})


@pytest.mark.parametrize(
    "sentence",
    ["Height is 26-1/4 inches.", "The spleen is large weighing 340 grams."],
)
def test_review_rejects(nlp: Any, sentence: str) -> None:
    assert [m.text for m in run(nlp, sentence) if m.label == "VITAL"] == []


def test_birth_weight_pounds_and_ounces(nlp: Any) -> None:
    [m] = [m for m in run(nlp, "Birth weight 6 pounds 14 ounces.") if m.label == "VITAL"]
    assert m.text == "weight 6 pounds 14 ounces"
    assert m.attributes["value"] == 6.875
    assert m.attributes["ucum"] == "[lb_av]"


def test_decade_is_not_a_value(nlp: Any) -> None:
    assert [m.text for m in run(nlp, "Heart rate in the 100s.") if m.label == "VITAL"] == []


def test_organ_measurement_is_not_a_height(nlp: Any) -> None:
    text = "The left kidney measures 12.2 x 6.2 x 4.4 cm."
    assert [m.text for m in run(nlp, text) if m.label == "VITAL"] == []

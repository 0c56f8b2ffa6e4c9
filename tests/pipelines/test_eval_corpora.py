"""The span-corpus scores count what they say, on small synthetic brat-shaped records."""

from __future__ import annotations

import pytest

from pipelines import eval_corpora
from schemas.model import Assertion, Coding, Mention, Provenance


def _ent(eid: str, text: str, doc: str, label: str, **attributes) -> dict:
    start = doc.index(text)
    return {
        "id": eid,
        "start": start,
        "end": start + len(text),
        "label": label,
        "text": text,
        "attributes": attributes,
    }


def test_numeric_tests_are_scored_with_their_values(nlp) -> None:
    doc = "Her hemoglobin was 8.1 g/dL. Urinalysis was normal. The gait was slow."
    value = _ent("T2", "8.1 g/dL", doc, "Lab_value")
    value_ref = {k: value[k] for k in ("id", "text", "start", "end")}
    normal = _ent("T4", "normal", doc, "Lab_value")
    records = [
        {
            "id": "d1",
            "text": doc,
            "entities": [
                _ent("T1", "hemoglobin", doc, "Diagnostic_procedure", values=[value_ref]),
                value,
                # a word result is not a numeric test: left out of the recall
                _ent("T3", "Urinalysis", doc, "Diagnostic_procedure", values=[normal]),
                normal,
            ],
        }
    ]
    predicted = eval_corpora.extract_all(nlp, [("d1", doc)])
    rows = {r.label: r for r in eval_corpora.score_tests("maccrobat", records, predicted)}
    test = rows["TEST with a numeric result"]
    assert (test.n_gold, test.recall) == (1, 1.0)
    assert test.precision == 1.0
    assert rows["TEST numeric value on the matched test"].recall == 1.0


def test_a_missed_test_misses_its_value_and_chia_has_no_value_row(nlp) -> None:
    doc = "Gleason score 7 on biopsy."
    records = [
        {
            "id": "c1",
            "text": doc,
            "entities": [
                _ent("T1", "Gleason score", doc, "Measurement", value=[{"id": "T2", "text": "7"}]),
                _ent("T2", "7", doc, "Value"),
            ],
        }
    ]
    predicted = {"c1": ()}
    rows = eval_corpora.score_tests("chia", records, predicted)
    assert [r.label for r in rows] == ["TEST with a numeric result"]
    assert (rows[0].n_gold, rows[0].recall, rows[0].n_pred) == (1, 0.0, 0)


def test_the_halves_split_documents_stably_and_completely() -> None:
    ids = [f"doc{i}" for i in range(200)]
    a = {i for i in ids if eval_corpora.in_half(i, "a")}
    b = {i for i in ids if eval_corpora.in_half(i, "b")}
    assert a and b and not a & b and a | b == set(ids)
    assert 60 < len(a) < 140
    assert a == {i for i in ids if eval_corpora.in_half(i, "a")}
    assert all(eval_corpora.in_half(i, None) for i in ids)


def _finding(text: str, display: str | None = None, section: str = "findings", **flags) -> Mention:
    coding = Coding(system="http://snomed.info/sct", code="0", display=display)
    codings = (coding,) if display else ()
    return Mention(
        mention_id="m",
        note_id="n",
        start_char=0,
        end_char=len(text),
        text=text,
        label="PROBLEM",
        section=section,
        assertion=Assertion(**flags),
        codings=codings,
        provenance=Provenance(extractor="t", extractor_version=1, pipeline_version="t"),
    )


@pytest.mark.parametrize(
    ("text", "display", "labels"),
    [
        ("pneumonitis", "Pneumonitis", {"Pneumonia"}),
        ("bronchopneumonia", None, {"Pneumonia"}),
        ("emphysematous lung disease", "Pulmonary emphysema", {"Emphysema"}),
        # air in the soft tissues and a genetic disease are not the lung findings
        ("subcutaneous emphysema", "Subcutaneous emphysema", set()),
        ("cystic fibrosis", "Cystic fibrosis", set()),
        ("pulmonary fibrosis", "Pulmonary fibrosis", {"Fibrosis"}),
        ("fibrotic changes", None, {"Fibrosis"}),
        # a masslike opacity is a mass (NegBio's and CheXpert's 'mass'); 'massive' is none
        ("masslike opacity", None, {"Mass"}),
        ("mass-like density", None, {"Mass"}),
        ("massive cardiomegaly", "Cardiomegaly", {"Cardiomegaly"}),
    ],
)
def test_chest_xray_labels_follow_the_clinical_meaning(text, display, labels) -> None:
    assert eval_corpora.xray_labels([_finding(text, display)]) == labels


def test_chest_xray_labels_skip_hedged_and_negated_findings() -> None:
    assert eval_corpora.xray_labels([_finding("pneumonitis", is_uncertain=True)]) == set()
    assert eval_corpora.xray_labels([_finding("pneumonitis", is_negated=True)]) == set()


@pytest.mark.parametrize(
    ("section", "labels"),
    [
        ("findings", {"Pneumonia"}),
        ("observation_and_plan", {"Pneumonia"}),
        (None, {"Pneumonia"}),
        # the question the report answers, not what the image shows
        ("indication", set()),
        ("history_of_present_illness", set()),
        ("chief_complaint", set()),
    ],
)
def test_chest_xray_labels_come_from_findings_and_impression(section, labels) -> None:
    assert eval_corpora.xray_labels([_finding("pneumonia", section=section)]) == labels

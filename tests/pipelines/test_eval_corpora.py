"""The span-corpus scores count what they say, on small synthetic brat-shaped records."""

from __future__ import annotations

from pipelines import eval_corpora


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

"""Gold reading, scoring, HTML rendering and the review round trip, without the NLP."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipelines.gold import GoldMention, GoldNote, read_gold
from pipelines.gold_eval import attribute_matches, score
from pipelines.review import (
    gold_records,
    labelstudio_config,
    labelstudio_tasks,
    read_labelstudio,
    write_brat,
)
from pipelines.view_html import ViewNote, highlight, render_errors, render_view
from schemas.model import LABELS

DATA = Path(__file__).parents[1] / "data" / "gold"


def pred(start, end, label="PROBLEM", **extra):
    m = {"start": start, "end": end, "label": label, "codes": [], "attributes": {}}
    m.update(extra)
    return m


def test_jsonl_gold_reports_each_problem_and_keeps_the_rest():
    notes, problems = read_gold(DATA / "gold.jsonl", LABELS)
    assert [n.note_id for n in notes] == ["g1", "g2", "g3"]
    lines = [str(p) for p in problems]
    assert lines == [
        "gold.jsonl line 2: invalid JSON at column 1; note skipped",
        "gold.jsonl line 4, note g3, mention 1: offsets 3-99 outside the text (length 15); "
        "mention skipped",
        "gold.jsonl line 4, note g3, mention 2: text does not match the note at offsets 3-8; "
        "mention skipped",
        "gold.jsonl line 4, note g3, mention 3: unknown label 'SYMPTOM' (known: ALLERGY, LAB, "
        "MEDICATION, PROBLEM, PROCEDURE, VITAL); mention skipped",
    ]
    g3 = notes[2]
    assert [(m.start, m.end, m.flags) for m in g3.mentions] == [(3, 8, frozenset({"negated"}))]
    # no problem line quotes note text
    assert not any("cough" in line or "fever" in line for line in lines)
    g1 = notes[0]
    assert g1.mentions[3].attributes == {"route": "PO", "frequency": "BID"}
    assert g1.mentions[1].annotated == frozenset({"negated"})


def test_brat_gold_reads_spans_and_flags_and_reports_bad_lines():
    notes, problems = read_gold(DATA / "brat", LABELS)
    by_id = {n.note_id: n for n in notes}
    assert set(by_id) == {"g1", "g2"}
    g2 = by_id["g2"]
    assert [(m.label, g2.text[m.start : m.end], sorted(m.flags)) for m in g2.mentions] == [
        ("PROBLEM", "breast cancer", ["family"]),
        ("PROBLEM", "Asthma", []),
        ("PROBLEM", "stable", []),
        ("PROBLEM", "fever", ["negated"]),
    ]
    assert [str(p) for p in problems] == [
        "g2.ann line 7: T9: offsets 5-2000 outside the text (length 111); skipped",
        "g2.ann line 8: unknown annotation kind 'g'; skipped",
    ]


def _note(mentions, text="x" * 100):
    return GoldNote("n1", text, tuple(mentions))


def test_exact_and_overlap_matching_are_one_to_one_per_label():
    gold = _note(
        [
            GoldMention(0, 10, "PROBLEM"),
            GoldMention(20, 30, "PROBLEM"),
            GoldMention(40, 50, "MEDICATION"),
        ]
    )
    predicted = {
        "n1": [
            pred(0, 10),  # exact
            pred(22, 35),  # overlap only
            pred(25, 28),  # second overlap of the same gold: a false positive
            pred(40, 50, "PROBLEM"),  # right span, wrong label
        ]
    }
    s = score([gold], predicted).to_json()
    problem = s["labels"]["PROBLEM"]
    assert problem["exact"]["tp"] == 1 and problem["exact"]["fp"] == 3
    assert problem["overlap"]["tp"] == 2 and problem["overlap"]["fp"] == 2
    assert problem["overlap"]["recall"] == 1.0
    assert s["labels"]["MEDICATION"]["overlap"] == {
        "precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 0, "fn": 1,
    }  # fmt: skip
    kinds = sorted((e["kind"], e["label"], e["start"]) for e in s["errors"])
    assert kinds == [
        ("false_positive", "PROBLEM", 25),
        ("false_positive", "PROBLEM", 40),
        ("miss", "MEDICATION", 40),
    ]


def test_assertion_is_scored_on_matched_pairs_for_annotated_flags_only():
    gold = _note(
        [
            GoldMention(0, 5, "PROBLEM", frozenset({"negated"}), frozenset({"negated"})),
            GoldMention(10, 15, "PROBLEM", frozenset(), frozenset({"negated"})),
            GoldMention(20, 25, "PROBLEM", frozenset({"negated"}), frozenset({"negated"})),
            GoldMention(60, 65, "PROBLEM", frozenset({"negated"}), frozenset({"negated"})),
        ]
    )
    predicted = {
        "n1": [
            pred(0, 5, negated=True),  # tp
            pred(10, 15, negated=True, uncertain=True),  # fp (uncertain is not annotated)
            pred(20, 25, negated=False),  # fn
            # 60-65 is missed: it does not count for assertion
        ]
    }
    s = score([gold], predicted)
    out = s.to_json()
    assert list(out["assertion"]) == ["negated"]
    assert out["assertion"]["negated"] == {
        "precision": 0.5, "recall": 0.5, "f1": 0.5, "tp": 1, "fp": 1, "fn": 1,
    }  # fmt: skip
    disagreements = [(e.start, e.gold, e.predicted) for e in s.errors if e.kind == "assertion"]
    assert disagreements == [(10, False, True), (20, True, False)]


def test_attribute_recall_counts_missed_mentions_in_the_denominator():
    gold = _note(
        [
            GoldMention(0, 9, "MEDICATION", attributes={"route": "PO", "frequency": "bid"}),
            GoldMention(30, 39, "MEDICATION", attributes={"route": "IV"}),
        ]
    )
    attrs = {
        "route": {"code": "PO", "display": "Oral route", "text": "p.o."},
        "frequency": {"code": "TID", "text": "t.i.d."},
    }
    s = score([gold], {"n1": [pred(0, 9, "MEDICATION", attributes=attrs)]}).to_json()
    assert s["attributes"] == [
        {"label": "MEDICATION", "key": "frequency", "found": 0, "n": 1, "recall": 0.0},
        {"label": "MEDICATION", "key": "route", "found": 1, "n": 2, "recall": 0.5},
    ]


@pytest.mark.parametrize(
    ("gold", "predicted", "same"),
    [
        ("PO", {"code": "PO", "text": "by mouth"}, True),
        ("500 mg", {"value": 500, "unit": "mg", "text": "500mg"}, True),
        (500, {"value": 500.0, "unit": "mg"}, True),
        ({"value": 500, "unit": "mg"}, {"value": 500, "unit": "mg", "text": "500 mg"}, True),
        ({"value": 250, "unit": "mg"}, {"value": 500, "unit": "mg"}, False),
        ("BID", {"code": "TID", "text": "tid"}, False),
        ("Oral", None, False),
        (7.2, "7.20", True),
    ],
)
def test_attribute_matching(gold, predicted, same):
    assert attribute_matches(gold, predicted) is same


def test_highlight_nests_crossing_marks_and_keeps_one_head_per_mark():
    text = "abcdefghij"
    marks = [(0, 6, 'class="m" data-i="0"', "<b>0</b>"), (3, 9, 'class="m" data-i="1"', "")]
    html = highlight(text, 0, len(text), marks)
    assert re.sub(r"<[^>]+>", "", html.replace("<b>0</b>", "")) == text
    assert html.count('class="head m" data-i="0"') == 1
    assert html.count('class="head m" data-i="1"') == 1
    assert html.count('class="cont m" data-i="1"') == 1  # mark 1 is split where mark 0 ends
    assert html.count("<mark") == html.count("</mark>") == 3
    # mark 0's tail (its badges) sits inside mark 0, at its end
    assert html == (
        '<mark class="head m" data-i="0">abc<mark class="head m" data-i="1">def</mark>'
        '<b>0</b></mark><mark class="cont m" data-i="1">ghi</mark>j'
    )


def test_view_page_is_self_contained_and_escapes_note_text():
    text = "HPI:\nNo fever </script><script>alert(1)</script> & cough.\n"
    start = text.index("fever")
    cough = text.index("cough")
    note = ViewNote(
        "n<1>",
        text,
        (
            pred(start, start + 5, negated=True, extractor="dictionary", rule_id="r1"),
            pred(
                cough, cough + 5, codes=[{"system": "http://snomed.info/sct", "code": "49727002"}]
            ),
        ),
        (("history_of_present_illness", 0, len(text)),),
    )
    page = render_view([note])
    assert "<script>alert(1)</script>" not in page
    assert page.count('class="head m L-PROBLEM"') == 2
    assert '<span class="badge b-negated">negated</span>' in page
    assert 'data-section="history_of_present_illness"' in page
    assert "n&lt;1&gt;" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing from the network
    assert "Content-Security-Policy" in page
    data = page.split('type="application/json">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["notes"][0]["text"] == text


def test_error_browser_lists_errors_with_context():
    text = "Asthma, stable. No fever. Heart failure was ruled out."
    gold = GoldNote("g", text, (GoldMention(8, 14, "PROBLEM"),))
    hf = text.index("Heart failure")
    s = score([gold], {"g": [pred(hf, hf + 13)]})
    page = render_errors(s, {"g": text})
    assert page.count('data-kind="false_positive"') == 1
    assert page.count('data-kind="miss"') == 1
    assert '<mark class="head fp err">Heart failure</mark>' in page
    assert '<mark class="head miss err">stable</mark>' in page


def _view_notes():
    notes, _ = read_gold(DATA / "gold.jsonl", LABELS)
    return [
        ViewNote(
            n.note_id,
            n.text,
            tuple(pred(m.start, m.end, m.label, **{f: True for f in m.flags}) for m in n.mentions),
        )
        for n in notes
    ]


def test_label_studio_round_trip_turns_reviewed_tasks_into_gold(tmp_path):
    notes = _view_notes()
    tasks = labelstudio_tasks(notes, "notestruct test")
    g1 = tasks[0]
    labels = [r for r in g1["predictions"][0]["result"] if r["type"] == "labels"]
    choices = [r for r in g1["predictions"][0]["result"] if r["type"] == "choices"]
    assert len(labels) == 4 and labels[0]["value"]["text"] == "chest pain"
    assert choices[0]["id"] == labels[0]["id"] and choices[0]["value"]["choices"] == ["negated"]
    config = labelstudio_config(LABELS)
    assert 'perRegion="true"' in config and '<Label value="PROBLEM"/>' in config
    # a reviewer accepts g1's predictions, drops its last mention and un-negates chest pain;
    # g2 is left unreviewed
    result = [r for r in g1["predictions"][0]["result"] if r["id"] != labels[-1]["id"]]
    result = [r for r in result if not (r["type"] == "choices" and r["id"] == labels[0]["id"])]
    export = [
        {"id": 1, "data": g1["data"], "annotations": [
            {"was_cancelled": True, "result": []},
            {"result": result, "updated_at": "2026-01-02T00:00:00Z"},
        ]},
        {"id": 2, "data": tasks[1]["data"], "annotations": []},
    ]  # fmt: skip
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    records, problems = read_labelstudio(path)
    assert [str(p) for p in problems] == [
        "export.json task 2: note g2 has no submitted annotation; skipped"
    ]
    (rec,) = records
    assert rec["id"] == "g1"
    assert [(m["text"], m["negated"], m["uncertain"]) for m in rec["mentions"]] == [
        ("chest pain", False, False),
        ("hypertension", False, False),
        ("pneumonia", False, True),
    ]


def test_brat_export_reads_back_as_the_same_gold(tmp_path):
    notes = _view_notes()
    names = write_brat(notes, tmp_path / "brat")
    assert names == {"g1": "g1", "g2": "g2", "g3": "g3"}
    assert "Negated\tArg:<ENTITY>" in (tmp_path / "brat" / "annotation.conf").read_text()
    back, problems = read_gold(tmp_path / "brat", LABELS)
    assert problems == []
    original, _ = read_gold(DATA / "gold.jsonl", LABELS)
    assert [(n.note_id, n.text) for n in back] == [(n.note_id, n.text) for n in original]
    for a, b in zip(back, original, strict=True):
        assert sorted((m.start, m.end, m.label, m.flags) for m in a.mentions) == sorted(
            (m.start, m.end, m.label, m.flags) for m in b.mentions
        )
    # and as gold JSONL, which read_gold accepts unchanged
    out = tmp_path / "gold.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in gold_records(back)))
    again, problems = read_gold(out, LABELS)
    assert problems == [] and len(again) == 3

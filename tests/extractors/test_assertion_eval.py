"""pipelines.eval_assertion on a tiny synthetic file (the real corpus is not needed)."""

import json
from pathlib import Path

from pipelines.eval_assertion import evaluate, format_table, main, read_records, score

RECORDS = [
    ("She denies chest pain.", "chest pain", "negated", "recent"),
    ("History of asthma.", "asthma", "affirmed", "historical"),
    ("Return if fever recurs.", "fever", "affirmed", "hypothetical"),
    ("Cough is present.", "Cough", "affirmed", "recent"),
]


def _write(path: Path) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i, (text, target, neg, temp) in enumerate(RECORDS):
            start = text.index(target)
            rec = {
                "id": f"s{i}",
                "text": text,
                "target": {"text": target, "start": start, "end": start + len(target)},
                "negation": neg,
                "temporality": temp,
                "experiencer": "patient",
            }
            fh.write(json.dumps(rec) + "\n")
        fh.write(
            json.dumps(
                {
                    "id": "nul",
                    "text": "x",
                    "target": {"text": "y", "start": None, "end": None},
                    "negation": "affirmed",
                    "temporality": "recent",
                    "experiencer": "patient",
                }
            )
            + "\n"
        )
    return path


def test_evaluate_scores_both_systems(tmp_path: Path) -> None:
    path = _write(tmp_path / "dev.jsonl")
    assert len(read_records(path)) == 4  # the null-start record is skipped
    rows = evaluate(path)
    ours = {r.attribute: r for r in rows if r.system == "notestruct"}
    assert {r.system for r in rows} == {"notestruct", "medspacy-default"}
    assert ours["negation"].f1 == 1.0 and ours["negation"].support == 1
    assert ours["historical"].f1 == 1.0
    assert ours["hypothetical"].f1 == 1.0
    assert "negation" in format_table(rows)


def test_score_counts() -> None:
    recs = [{"negation": "negated", "temporality": "recent", "experiencer": "patient"}] * 2
    preds = [
        {"is_negated": True, "is_historical": False, "is_hypothetical": False, "is_family": False},
        {"is_negated": False, "is_historical": True, "is_hypothetical": False, "is_family": False},
    ]
    rows = {r.attribute: r for r in score("x", recs, preds)}
    assert (rows["negation"].tp, rows["negation"].fn) == (1, 1)
    assert rows["historical"].fp == 1 and rows["historical"].precision == 0.0


def test_missing_file_is_skipped(tmp_path: Path, capsys) -> None:
    assert evaluate(tmp_path / "absent.jsonl") == []
    assert main(["--data", str(tmp_path / "absent.jsonl")]) == 0
    assert "not found" in capsys.readouterr().out

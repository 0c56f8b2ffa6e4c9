"""The command-line contract, run as a real process."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, cwd, home):
    env = {**os.environ, "NOTESTRUCT_HOME": str(home), "HOME": str(home)}
    env.pop("NOTESTRUCT_WAREHOUSE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_extract_follows_the_contract(tmp_path):
    lines = [
        {
            "id": "a",
            "text": "Denies chest pain. History of hypertension.",
            "spans": [{"start": 7, "end": 17, "label": "PROBLEM"}],
        },
        {"id": "empty", "text": ""},
        "not json",
        {"id": "b", "text": "Fever and cough."},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    res = run_cli(
        "extract", str(src), "-o", str(tmp_path / "out.jsonl"), cwd=tmp_path, home=tmp_path
    )
    assert res.returncode == 0, res.stderr
    out = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [o["id"] for o in out] == ["a", "empty", None, "b"]
    assert out[1]["error"] is None and out[1]["mentions"] == []
    assert out[2]["error"] and out[2]["mentions"] == []
    given = [m for m in out[0]["mentions"] if m["extractor"] == "input"]
    assert len(given) == 1 and given[0]["start"] == 7 and given[0]["end"] == 17
    assert given[0]["label"] == "PROBLEM" and given[0]["negated"] is True
    keys = {
        "start",
        "end",
        "text",
        "label",
        "codes",
        "negated",
        "uncertain",
        "historical",
        "hypothetical",
        "family",
        "conditional",
        "section",
        "extractor",
        "rule_id",
        "attributes",
    }
    assert all(set(m) == keys for o in out for m in o["mentions"])


def test_extract_in_worker_processes_writes_the_same_lines(tmp_path):
    """Large inputs go to worker processes (two by default): the same lines, in order."""
    lines = (ROOT / "samples" / "notes.jsonl").read_text(encoding="utf-8").splitlines()
    lines[3:3] = ["not json", json.dumps({"id": "s", "text": "Fever.", "spans": "bad"})]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n")
    outputs = []
    for workers in ("0", "1"):
        out = tmp_path / f"out-{workers}.jsonl"
        res = run_cli(
            "extract", str(src), "-o", str(out), "-j", workers, "--batch-size", "4",
            cwd=tmp_path, home=tmp_path,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        outputs.append(out.read_text(encoding="utf-8"))
    assert outputs[0] == outputs[1]
    assert len(outputs[0].splitlines()) == len(lines)


def test_bad_source_is_one_line_error(tmp_path):
    res = run_cli("ingest", str(tmp_path / "missing.jsonl"), cwd=tmp_path, home=tmp_path)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def _counts(db):
    con = sqlite3.connect(db)
    try:
        return {
            t: con.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("note", "mention", "fhir_resource", "note_nlp", "note_error")
        }
    finally:
        con.close()


@pytest.mark.slow
def test_ingest_twice_leaves_identical_rows(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text(
        "HISTORY: COPD and hypertension. Denies chest pain.\n\nFAMILY HISTORY: Mother with MI.\n"
    )
    (notes / "b.txt").write_text("Started metformin for diabetes. No fever.")
    for i in range(3):
        (notes / f"d{i}.txt").write_text(f"Progress note {i}: no fever, cough improving.")
    (notes / "c.txt").write_bytes(b"\xff\xfe bad bytes \x00")
    db = tmp_path / "w.db"
    res = run_cli(
        "ingest", str(notes), "--warehouse", f"sqlite:///{db}", cwd=tmp_path, home=tmp_path
    )
    assert res.returncode == 0, res.stderr + res.stdout
    assert "Traceback" not in res.stderr
    first = _counts(db)
    assert first["note"] == 5 and first["mention"] > 0 and first["fhir_resource"] > 2
    assert first["note_error"] == 1 and first["note_nlp"] == first["mention"]
    res = run_cli(
        "ingest", str(notes), "--warehouse", f"sqlite:///{db}", cwd=tmp_path, home=tmp_path
    )
    assert res.returncode == 0, res.stderr
    second = _counts(db)
    assert {k: v for k, v in second.items() if k != "note_error"} == {
        k: v for k, v in first.items() if k != "note_error"
    }


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["no-such-command"], "No such command 'no-such-command'"),
        (["ingest"], "Missing argument 'source'"),
        (["ingest", "--bogus", "x"], "No such option: --bogus"),
        (["reprocess"], "Missing argument 'source'"),
    ],
)
def test_usage_errors_print_clicks_message_and_usage(tmp_path, args, said):
    done = run_cli(*args, cwd=tmp_path, home=tmp_path)
    assert done.returncode == 2
    assert said in done.stderr
    assert "Usage: notestruct" in done.stderr
    assert "unexpected" not in done.stderr and "Traceback" not in done.stderr

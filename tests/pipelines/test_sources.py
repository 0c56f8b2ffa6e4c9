"""Readers over the bad-input corpus, and incremental reading by watermark (no Prefect)."""

import importlib.util
import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from pipelines.batch import screen
from pipelines.sources import SourceError, SourceOptions, open_source
from schemas.model import Note, NoteError

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
OPTS = SourceOptions()


def _read(src, opts=OPTS, since=None):
    records = list(src.records(opts, since))
    notes, errors = screen(records, {})
    return notes, errors


def _no_text_in(errors, texts):
    for e in errors:
        assert "input_value" not in e.message
        for t in texts:
            for line in t.splitlines():
                if len(line.strip()) > 12:
                    assert line.strip() not in e.message


def test_bad_jsonl_loads_every_good_note_and_reports_every_bad_line():
    notes, errors = _read(open_source(BAD / "bad.jsonl"))
    assert sorted(n.note_id for n in notes) == sorted(
        [
            "bad-good-001",
            "bad-good-002",
            "bad-good-003",
            "bad-good-004",
            "bad-no-patient",
            "bad-dup",
        ]
    )
    assert len(errors) == 12  # 19 lines, 1 blank, 6 good
    by_type = {}
    for e in errors:
        by_type.setdefault(e.error_type, []).append(e)
    assert {e.note_id for e in by_type["EmptyNote"]} == {"bad-empty-text", "bad-whitespace-text"}
    assert [e.note_id for e in by_type["DuplicateId"]] == ["bad-dup"]
    assert by_type["NaiveDate"][0].locator == "bad.jsonl:16"
    assert any(
        e.locator == "bad.jsonl:13" and e.note_id is None and "string" in e.message
        for e in by_type["InvalidField"]
    )  # integer id: a dead letter, not coerced
    first_dup = next(n for n in notes if n.note_id == "bad-dup")
    raw = [json.loads(x) for x in (BAD / "bad.jsonl").read_text().splitlines()[9:11]]
    assert first_dup.text == raw[0]["text"]
    assert next(n for n in notes if n.note_id == "bad-no-patient").patient_ref is None
    _no_text_in(errors, [r["text"] for r in raw])


def test_naive_date_loads_with_a_configured_source_timezone():
    notes, errors = _read(open_source(BAD / "bad.jsonl"), SourceOptions(timezone="America/Chicago"))
    assert len(notes) == 7 and len(errors) == 11
    naive = next(
        n
        for n in notes
        if n.authored_at and n.authored_at.hour == 14 and n.note_id not in {"bad-good-001"}
    )
    assert naive.authored_at.utcoffset().total_seconds() == 0
    with pytest.raises(SourceError):
        SourceOptions(timezone="Mars/Olympus").zone()


def test_bad_csv_and_missing_column_and_bom():
    notes, errors = _read(open_source(BAD / "bad.csv"))
    assert [n.note_id for n in notes] == ["csv-good-001", "csv-short-row", "csv-good-002"]
    assert notes[2].text.startswith('ASSESSMENT: "Questionable" pneumonia')
    assert {(e.error_type, e.note_id) for e in errors} == {
        ("MissingField", None),
        ("EmptyNote", "csv-empty-text"),
    }
    with pytest.raises(SourceError, match="text"):
        list(open_source(BAD / "bad_missing_column.csv").records(OPTS))
    bom, _ = _read(open_source(BAD / "good_bom.csv"))
    assert [n.note_id for n in bom] == ["csv-bom-001"]


def test_bad_docrefs():
    notes, errors = _read(open_source(BAD / "bad_docrefs.ndjson"))
    got = {n.note_id: n for n in notes}
    assert set(got) == {
        "docref-good-001",
        "docref-entered-in-error",
        "docref-latin1-charset",
        "docref-good-002",
    }
    assert got["docref-entered-in-error"].status == "entered-in-error"
    assert got["docref-latin1-charset"].text == "Café au lait spots. Denies fever.\n"
    kinds = {e.note_id: e.error_type for e in errors}
    # PDF attachments are read since issue 18; this one is a truncated PDF
    assert kinds["docref-pdf"] == "InvalidPdf"
    assert kinds["docref-invalid-base64"] == "InvalidAttachment"
    assert kinds["docref-url-only"] == "UnsupportedAttachment"
    assert len(errors) == 5  # + the Patient line and the truncated line, without ids
    assert sum(1 for e in errors if e.note_id is None) == 2


def test_bad_notes_dir():
    notes, errors = _read(open_source(BAD / "notes_dir"))
    assert sorted(n.note_id for n in notes) == ["good", "utf8_bom"]
    assert not next(n for n in notes if n.note_id == "utf8_bom").text.startswith("\ufeff")
    assert {e.note_id: e.error_type for e in errors} == {
        "binary": "BinaryContent",
        "empty": "EmptyNote",
        "whitespace": "EmptyNote",
        "latin1": "InvalidEncoding",
    }


def test_huge_note_is_rejected_by_size_and_the_next_note_loads(tmp_path):
    spec = importlib.util.spec_from_file_location("make_huge", BAD / "make_huge.py")
    make_huge = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_huge)
    path = make_huge.write_huge_jsonl(tmp_path / "huge.jsonl")
    notes, errors = _read(open_source(path))
    assert len(notes) == 1 and [e.error_type for e in errors] == ["NoteTooLarge"]
    assert len(errors[0].message) < 200


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _row(i, text="No fever."):
    return {"id": f"n{i}", "text": text, "date": "2025-01-01T00:00:00Z"}


def test_jsonl_watermark_reads_nothing_then_only_appended_lines(tmp_path):
    path = tmp_path / "notes.jsonl"
    _jsonl(path, [_row(i) for i in range(3)])
    src = open_source(path)
    assert len(list(src.records(OPTS))) == 3
    mark = src.position()
    again = open_source(path)
    assert list(again.records(OPTS, mark)) == [] and again.skipped == 3
    with path.open("a") as fh:
        fh.write(json.dumps(_row(3)) + "\n")
    grown = open_source(path)
    recs = list(grown.records(OPTS, mark))
    assert [r.note_id for r in recs] == ["n3"]
    # a rewritten file is read again in full (unchanged notes are then skipped by hash)
    _jsonl(path, [_row(i, "Cough.") for i in range(2)])
    rewritten = open_source(path)
    assert [r.note_id for r in rewritten.records(OPTS, grown.position())] == ["n0", "n1"]


def test_directory_watermark_skips_old_files_before_reading(tmp_path):
    for i in range(3):
        (tmp_path / f"n{i}.txt").write_text("No fever.")
        old = time.time() - 3600
        os.utime(tmp_path / f"n{i}.txt", (old, old))
    src = open_source(tmp_path)
    assert len(list(src.records(OPTS))) == 3
    mark = src.position()
    again = open_source(tmp_path)
    assert list(again.records(OPTS, mark)) == [] and again.skipped == 3
    same_tick = tmp_path / "n9.txt"  # a new file written in the watermark's own mtime tick
    same_tick.write_text("New note.")
    os.utime(same_tick, ns=(mark["mtime_ns"], mark["mtime_ns"]))
    assert [r.note_id for r in open_source(tmp_path).records(OPTS, mark)] == ["n9"]
    (tmp_path / "n1.txt").write_text("Cough now.")
    changed = open_source(tmp_path)
    ids = [r.note_id for r in changed.records(OPTS, mark)]
    assert "n1" in ids and "n0" not in ids


def test_csv_watermark_unchanged_file_is_not_read(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("id,text\na,No fever.\nb,Cough.\n")
    src = open_source(path)
    assert len(list(src.records(OPTS))) == 2
    again = open_source(path)
    assert list(again.records(OPTS, src.position())) == [] and again.skipped == 2


def test_sql_source_reads_after_the_updated_at_watermark(tmp_path):
    db = tmp_path / "emr.db"
    con = sqlite3.connect(db)
    con.execute(
        "create table notes (id integer primary key, text text, patient_id text, "
        "date text, updated_at text)"
    )
    con.executemany(
        "insert into notes values (?, ?, ?, ?, ?)",
        [
            (1, "No fever.", "p1", "2025-01-01T08:00:00+00:00", "2025-01-02 10:00:00"),
            (2, "Cough.", "p1", "2025-01-01T09:00:00+00:00", "2025-01-02 10:00:00"),
            (3, None, "p2", None, "2025-01-02 11:00:00"),
        ],
    )
    con.commit()
    src = open_source(f"sql+sqlite:///{db}", table="notes")
    recs = list(src.records(OPTS))
    assert [r.note_id for r in recs if isinstance(r, Note)] == ["1", "2"]
    assert [r.error_type for r in recs if isinstance(r, NoteError)] == ["MissingField"]
    mark = src.position()
    assert mark["updated_at"] == "2025-01-02 11:00:00"
    assert list(open_source(f"sql+sqlite:///{db}", table="notes").records(OPTS, mark)) == []
    con.execute("update notes set text = 'Fever.', updated_at = '2025-01-03 00:00:00' where id = 1")
    con.commit()
    con.close()
    later = list(open_source(f"sql+sqlite:///{db}", table="notes").records(OPTS, mark))
    assert [(r.note_id, r.text) for r in later] == [("1", "Fever.")]
    query = open_source(f"sql+sqlite:///{db}", query="select * from notes where patient_id = 'p1'")
    assert [r.note_id for r in query.records(OPTS)] == ["2", "1"]
    with pytest.raises(SourceError):
        open_source(f"sql+sqlite:///{db}")  # neither --table nor --query
    with pytest.raises(SourceError, match="NOPE_URL"):
        open_source("sql+env:NOPE_URL", table="notes", environ={})

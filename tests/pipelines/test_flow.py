"""The nightly flow in-process under one Prefect test harness: bad input, incremental runs,
error-rate failure with a summary, local worker processes and a Dask cluster."""

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from pydantic import SecretStr

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _ingest(source, db, **kw):
    from pipelines.flows import nightly_ingest

    return nightly_ingest(source=str(source), warehouse_url=SecretStr(f"sqlite:///{db}"), **kw)


def _rows(db, sql):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _facts(db):
    """Every fact table's rows without run ids and timestamps, sorted."""
    out = {}
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    drop = {"run_id", "processed_at", "created_at", "error_id", "nlp_date", "nlp_datetime"}
    for table in ("note", "mention", "mention_coding", "fhir_resource", "note_nlp", "note_error"):
        rows = [
            tuple((k, r[k]) for k in r.keys() if k not in drop)
            for r in con.execute(f"select * from {table}")
        ]
        out[table] = sorted(rows, key=repr)
    con.close()
    return out


def test_bad_jsonl_run_fails_on_error_rate_but_loads_the_good_notes(harness, tmp_path):
    from pipelines.flows import RunFailed

    db = tmp_path / "w.db"
    with pytest.raises(RunFailed) as failed:
        _ingest(BAD / "bad.jsonl", db)
    summary = failed.value.summary
    assert summary["status"] == "failed" and summary["processed"] == 6 and summary["failed"] == 12
    assert len(_rows(db, "select * from note")) == 6
    errors = _rows(db, "select stage, error_type, message, locator from note_error")
    assert len(errors) == 12
    text = (BAD / "bad.jsonl").read_text()
    for _stage, _etype, message, _loc in errors:
        assert "input_value" not in message and "Denies chest pain" not in message
    assert _rows(db, "select status from pipeline_run") == [("failed",)]
    # a more tolerant limit: the same records complete; dead letters are not doubled
    again = _ingest(BAD / "bad.jsonl", db, max_error_rate=0.9)
    assert again["status"] == "completed" and again["processed"] == 0 and again["unchanged"] == 6
    assert len(_rows(db, "select * from note_error")) == 12
    assert "Denies chest pain" in text  # the check above is meaningful


def test_bad_docrefs_csv_and_directory_load_good_notes(harness, tmp_path):
    db = tmp_path / "w.db"
    docs = _ingest(BAD / "bad_docrefs.ndjson", db, max_error_rate=1.0)
    assert docs["processed"] == 3 and docs["retracted"] == 1 and docs["failed"] == 5
    retracted = _rows(
        db, "select status, mention_count from note where note_id = 'docref-entered-in-error'"
    )
    assert retracted == [("retracted", 0)]
    csv = _ingest(BAD / "bad.csv", db, max_error_rate=1.0)
    assert csv["processed"] == 3 and csv["failed"] == 2
    notes_dir = _ingest(BAD / "notes_dir", db, max_error_rate=1.0)
    assert notes_dir["processed"] == 2 and notes_dir["failed"] == 4
    assert len(_rows(db, "select * from note_error")) == 11


def test_second_run_over_unchanged_sources_processes_and_reads_nothing(harness, tmp_path):
    db = tmp_path / "w.db"
    notes = tmp_path / "notes"
    shutil.copytree(SAMPLES / "notes", notes)
    first = _ingest(notes, db, batch_size=10)
    assert first["processed"] == 25 and first["failed"] == 0
    before = _facts(db)
    second = _ingest(notes, db)
    # files older than the watermark, or of its tick and named in it, are not even opened
    assert second["processed"] == 0 and second["read"] == 0 and second["skipped"] == 25
    assert _facts(db) == before
    (notes / "sample-001_hp_chest_pain.txt").write_text(
        "Changed note: denies fever. Metformin 500 mg daily.\n"
    )
    third = _ingest(notes, db)
    assert third["processed"] == 1
    version = _rows(db, "select version from note where note_id = 'sample-001_hp_chest_pain'")
    assert version == [(2,)]
    runs = _rows(db, "select status, watermark is not null, metrics from pipeline_run")
    assert [r[0] for r in runs] == ["completed"] * 3 and all(r[1] for r in runs)
    assert "notes_per_s" in json.loads(runs[0][2])


def test_worker_processes_and_dask_give_the_same_rows_as_one_worker(harness, tmp_path):
    from distributed import LocalCluster

    source = SAMPLES / "notes.jsonl"
    one = tmp_path / "one.db"
    _ingest(source, one, batch_size=8)  # one worker process: it extracts, the flow maps
    in_flow = tmp_path / "in-flow.db"
    out = _ingest(source, in_flow, batch_size=8, workers=0)  # no worker process
    assert out["processed"] == 25
    assert _facts(in_flow) == _facts(one)
    two = tmp_path / "two.db"
    out = _ingest(source, two, batch_size=8, workers=2)
    assert out["processed"] == 25
    assert _facts(two) == _facts(one)
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        dask = tmp_path / "dask.db"
        out = _ingest(source, dask, batch_size=8, dask_address=cluster.scheduler_address)
    assert out["processed"] == 25
    assert _facts(dask) == _facts(one)

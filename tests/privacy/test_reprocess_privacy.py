"""Reprocess is the same run as the nightly ingest: pseudonyms, redaction and the lease hold.

Ingest with a pseudonym key, stored text and redaction on, then re-run every stored note
(and, separately, the notes whose rules version changed): every stored note is analysed
again, no raw id and no planted PHI reaches any table or file, and the rows equal those of
a fresh ingest under the same settings.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from pydantic import SecretStr

RAW_IDS = ("PATRAW0001", "PATRAW0002", "ENCRAW0001", "ENCRAW0002", "NOTERAW01", "NOTERAW02",
           "NOTERAW03")  # fmt: skip
PLANTED = ("Placeholder", "Quentin", "555-867-5309", "03/14/2025", "00012345678")

NOTES = [
    {
        "id": "NOTERAW01",
        "patient_id": "PATRAW0001",
        "encounter_id": "ENCRAW0001",
        "date": "2025-03-14T09:00:00Z",
        "text": "Seen by Dr. Jane Placeholder on 03/14/2025. MRN 00012345678.\n"
        "Assessment: Hypertension. Type 2 diabetes mellitus. No chest pain.\n"
        "Plan: metformin 500 mg PO BID. Call 555-867-5309 with questions.",
    },
    {
        "id": "NOTERAW02",
        "patient_id": "PATRAW0001",
        "encounter_id": "ENCRAW0001",
        "date": "2025-03-15T09:00:00Z",
        "text": "Follow-up by Dr. Quentin Placeholder on 03/14/2025.\n"
        "History of asthma. Denies fever or cough. Lisinopril 10 mg daily.",
    },
    {
        "id": "NOTERAW03",
        "patient_id": "PATRAW0002",
        "encounter_id": "ENCRAW0002",
        "date": "2025-03-16T09:00:00Z",
        "text": "Mother had breast cancer. Patient reports headache and nausea.\n"
        "Hemoglobin 11.2 g/dL. Seen by Dr. Jane Placeholder.",
    },
]

#: columns that differ between two runs by construction (run ids and clocks)
VOLATILE = {"run_id", "processed_at", "created_at", "error_id", "nlp_date", "nlp_datetime"}
FACT_TABLES = ("note", "mention", "mention_coding", "mention_attribute", "fhir_resource",
               "note_nlp", "note_error")  # fmt: skip


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "notes.jsonl"
    src.write_text("".join(json.dumps(n) + "\n" for n in NOTES), encoding="utf-8")
    key = tmp_path / "key"
    key.write_text("a-pseudonym-key-for-tests-only-0123456789", encoding="utf-8")
    cfg = tmp_path / "pipeline.toml"
    cfg.write_text(
        "[warehouse]\nstore_text = true\n"
        f'[privacy]\npseudonym_key_file = "{key}"\npseudonymise_note_ids = true\n'
        "redact_text = true\n",
        encoding="utf-8",
    )
    return src, cfg


def _ingest(src: Path, cfg: Path, db: Path) -> dict:
    from pipelines.flows import nightly_ingest

    return nightly_ingest(
        source=str(src), config_path=str(cfg), warehouse_url=SecretStr(f"sqlite:///{db}"),
        workers=0,
    )  # fmt: skip


def _reprocess(src: Path, cfg: Path, db: Path, **kw: object) -> dict:
    from pipelines.flows import reprocess_notes

    return reprocess_notes(
        source=str(src), config_path=str(cfg), warehouse_url=SecretStr(f"sqlite:///{db}"),
        workers=0, **kw,
    )  # fmt: skip


def _facts(db: Path) -> dict[str, list[tuple]]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    out = {}
    for table in FACT_TABLES:
        rows = [
            tuple((k, r[k]) for k in r.keys() if k not in VOLATILE)
            for r in con.execute(f"select * from {table}")
        ]
        out[table] = sorted(rows, key=repr)
    con.close()
    return out


def _everything_stored(db: Path, home: Path) -> str:
    """Every value of every table, and the bytes of every file the run left behind (the
    database and its journal files, anything else written beside the inputs)."""
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    parts = []
    for (table,) in con.execute("select name from sqlite_master where type = 'table'"):
        for row in con.execute(f'select * from "{table}"'):
            parts.append(repr(tuple(row)))
    con.close()
    for path in sorted(home.rglob("*")):
        if path.is_file() and path.name not in {"notes.jsonl", "key"}:  # the inputs
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def _assert_protected(db: Path, home: Path) -> None:
    stored = _everything_stored(db, home)
    for raw in RAW_IDS + PLANTED:
        assert raw not in stored, f"{raw!r} reached the warehouse or a file"


def _runs(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(
            "select flow, status, notes_processed from pipeline_run order by started_at"
        ).fetchall()
    finally:
        con.close()


@pytest.mark.slow
def test_reprocess_all_keeps_pseudonyms_and_redaction(harness, tmp_path):
    src, cfg = _setup(tmp_path)
    db = tmp_path / "w.db"
    first = _ingest(src, cfg, db)
    assert first["status"] == "completed" and first["processed"] == 3
    ingested = _facts(db)
    assert ingested["mention"], "the notes must yield mentions for this test to mean anything"
    _assert_protected(db, tmp_path)

    summary = _reprocess(src, cfg, db, apply=True, all_notes=True)
    assert summary["status"] == "completed"
    assert summary["selected"] == 3 and summary["processed"] == 3
    assert _runs(db)[-1] == ("reprocess", "completed", 3)
    _assert_protected(db, tmp_path)
    assert _facts(db) == ingested

    fresh = tmp_path / "fresh.db"
    _ingest(src, cfg, fresh)
    assert _facts(db) == _facts(fresh)


@pytest.mark.slow
def test_reprocess_after_a_rules_change_keeps_privacy(harness, tmp_path, monkeypatch):
    import pipelines.resources as resources

    src, cfg = _setup(tmp_path)
    db = tmp_path / "w.db"
    real = resources.rules_version
    monkeypatch.setattr(resources, "rules_version", lambda settings: "rules-of-last-year")
    _ingest(src, cfg, db)
    monkeypatch.setattr(resources, "rules_version", real)

    dry = _reprocess(src, cfg, db)  # report only: what the current rules would change
    assert dry["selected"] == 3 and dry["status"] == "dry-run"
    assert [r[0] for r in _runs(db)] == ["nightly-ingest"]  # a dry run writes no run record

    applied = _reprocess(src, cfg, db, apply=True)
    assert applied["selected"] == 3 and applied["processed"] == 3
    _assert_protected(db, tmp_path)
    con = sqlite3.connect(db)
    versions = {v for (v,) in con.execute("select distinct rules_version from note")}
    con.close()
    assert versions == {real(_settings(cfg))}

    again = _reprocess(src, cfg, db, apply=True)
    assert again["selected"] == 0 and again["current_rules"] == 3

    fresh = tmp_path / "fresh.db"
    _ingest(src, cfg, fresh)
    assert _facts(db) == _facts(fresh)

    # the nightly run still resumes from its own watermark after a reprocess
    nightly = _ingest(src, cfg, db)
    assert nightly["read"] == 0 and nightly["skipped"] == 3


def _settings(cfg: Path):
    from pipelines.config import load_config

    return load_config(str(cfg)).nlp_settings()

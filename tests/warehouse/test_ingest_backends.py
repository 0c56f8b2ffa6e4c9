"""The same input ingested twice gives identical row counts on SQLite and PostgreSQL."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipelines.batch import BatchContext, analyse, load, select_changed
from pipelines.sources import SourceOptions, open_source
from schemas.model import Note
from warehouse.engine import make_engine
from warehouse.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
TABLES = ("note", "mention", "mention_coding", "mention_attribute", "fhir_resource",
          "note_nlp", "note_error")


def _notes():
    src = open_source(ROOT / "samples" / "notes.jsonl")
    return [r for r in src.records(SourceOptions()) if isinstance(r, Note)]


def _counts(engine):
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in TABLES}


def _ingest(nlp, engine, notes, run, force=False):
    ctx = BatchContext(run_id=run, now=datetime(2026, 1, 1, tzinfo=UTC), rules_version="v",
                       pipeline_version="t", force=force)
    changed, unchanged = select_changed(engine, notes, ctx)
    results, errors = analyse(nlp, changed, ctx)
    load(engine, results, errors, ctx)
    return len(changed), unchanged


@pytest.fixture(scope="module")
def sample_notes():
    notes = _notes()
    assert len(notes) >= 20
    return notes


def _twice(nlp, url, notes):
    engine = make_engine(url)
    upgrade(engine)
    try:
        assert _ingest(nlp, engine, notes, "r1") == (len(notes), 0)
        first = _counts(engine)
        assert first["mention"] > 50
        # second night: nothing changed, nothing re-processed
        assert _ingest(nlp, engine, notes, "r2") == (0, len(notes))
        assert _counts(engine) == first
        # forced re-processing replaces everything with the same rows
        _ingest(nlp, engine, notes, "r3", force=True)
        assert _counts(engine) == first
        return first
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_same_counts_twice_on_sqlite_and_postgres(nlp, sqlite_url, pg_url, sample_notes):
    on_sqlite = _twice(nlp, sqlite_url, sample_notes)
    on_postgres = _twice(nlp, pg_url, sample_notes)
    assert on_sqlite == on_postgres

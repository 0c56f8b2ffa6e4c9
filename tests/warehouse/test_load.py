"""Loading is idempotent: the same results loaded twice leave the same rows."""

from datetime import UTC, datetime

import sqlalchemy as sa

from schemas.ids import mention_id
from schemas.model import Assertion, Coding, Mention, Note, NoteResult, Provenance
from warehouse.engine import make_engine
from warehouse.load import LoadSettings, load_results
from warehouse.migrate import upgrade

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _result(text="Denies chest pain.", note_id="n1", status="current"):
    note = Note(note_id=note_id, text=text, patient_ref="p1", status=status)
    start = text.find("chest pain")
    mentions = ()
    if start >= 0:
        mentions = (
            Mention(
                mention_id=mention_id(note_id, start, start + 10, "PROBLEM", "dictionary"),
                note_id=note_id,
                start_char=start,
                end_char=start + 10,
                text="chest pain",
                label="PROBLEM",
                assertion=Assertion(is_negated=True),
                codings=(Coding(system="http://snomed.info/sct", code="29857009"),),
                provenance=Provenance(
                    extractor="dictionary", extractor_version=1, pipeline_version="t"
                ),
            ),
        )
    return NoteResult(note=note, mentions=mentions)


def _counts(engine):
    with engine.connect() as conn:
        return {
            t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("note", "mention", "mention_coding")
        }


def _load(engine, results):
    with engine.begin() as conn:
        load_results(conn, results, run_id="r", now=NOW, settings=LoadSettings(rules_version="v"))


def load_twice_is_idempotent(url):
    engine = make_engine(url)
    upgrade(engine)
    _load(engine, [_result()])
    first = _counts(engine)
    _load(engine, [_result()])
    assert _counts(engine) == first == {"note": 1, "mention": 1, "mention_coding": 1}
    # amended text replaces the facts and bumps the version
    _load(engine, [_result(text="No complaints today.")])
    assert _counts(engine) == {"note": 1, "mention": 0, "mention_coding": 0}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM note")).scalar_one() == 2
    # retraction removes the facts
    _load(engine, [_result()])
    _load(engine, [_result(status="entered-in-error")])
    assert _counts(engine)["mention"] == 0
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT status FROM note")).scalar_one() == "retracted"
    engine.dispose()


def test_sqlite_load_twice_is_idempotent(sqlite_url):
    load_twice_is_idempotent(sqlite_url)


def test_postgres_load_twice_is_idempotent(pg_url):
    load_twice_is_idempotent(pg_url)

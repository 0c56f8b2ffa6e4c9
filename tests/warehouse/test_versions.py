"""Versions: re-loading changes nothing, an amended note replaces its facts, a retracted one
loses them (mentions, codes, attributes and FHIR resources), on SQLite and PostgreSQL."""

import pytest
import sqlalchemy as sa

from tests.warehouse.builders import METFORMIN_ATTRS, NOW, RXN, day, part, result
from warehouse.engine import make_engine
from warehouse.load import LoadSettings, load_results
from warehouse.migrate import upgrade

TABLES = ("note", "mention", "mention_coding", "mention_attribute", "fhir_resource", "note_nlp")


def _dump(engine):
    out = {}
    with engine.connect() as conn:
        for t in TABLES:
            rows = conn.execute(sa.text(f"SELECT * FROM {t}")).all()
            out[t] = sorted(tuple(str(v) for v in r) for r in rows)
    return out


def _load(engine, results, run_id="r1"):
    with engine.begin() as conn:
        return load_results(conn, results, run_id=run_id, now=NOW,
                            settings=LoadSettings(rules_version="v1"))


def _first(**kw):
    return result("a1", "p1", day(1), [
        part("hypertension", "PROBLEM", "38341003"),
        part("metformin 500 mg 1 tab po bid", "MEDICATION", "6809", RXN, "metformin",
             attrs=METFORMIN_ATTRS),
    ], **kw)


def _amended():
    return result("a1", "p1", day(1), [part("asthma", "PROBLEM", "195967001")],
                  filler="Addendum:")


def _scalar(engine, sql):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar_one()


def _versions(url):
    engine = make_engine(url)
    upgrade(engine)
    try:
        _load(engine, [_first(), result("b1", "p2", day(2), [part("copd", "PROBLEM", "1")])])
        before = _dump(engine)
        assert len(before["mention"]) == 3 and len(before["fhir_resource"]) == 5
        assert len(before["mention_attribute"]) > 5
        # re-running the same night changes nothing, row for row
        _load(engine, [_first(), result("b1", "p2", day(2), [part("copd", "PROBLEM", "1")])])
        assert _dump(engine) == before
        assert _scalar(engine, "SELECT version FROM note WHERE note_id = 'a1'") == 1
        # an amended text replaces the note's facts and bumps its version; b1 is untouched
        _load(engine, [_amended()], run_id="r2")
        assert _scalar(engine, "SELECT version FROM note WHERE note_id = 'a1'") == 2
        labels = _scalar(engine, "SELECT count(*) FROM mention_current WHERE note_id = 'a1'")
        assert labels == 1
        assert _scalar(engine, "SELECT concept_display FROM problem_list WHERE patient_ref='p1'") \
            == "asthma"
        assert _scalar(engine, "SELECT count(*) FROM mention_attribute WHERE note_id='a1'") == 0
        assert _scalar(engine, "SELECT count(*) FROM fhir_resource WHERE note_id = 'a1'") == 2
        assert _scalar(engine, "SELECT count(*) FROM mention WHERE note_id = 'b1'") == 1
        # the same amended text again: same version
        _load(engine, [_amended()], run_id="r3")
        assert _scalar(engine, "SELECT version FROM note WHERE note_id = 'a1'") == 2
        # entered-in-error at the source retracts every fact and resource of the note
        _load(engine, [_amended().model_copy(update={
            "note": _amended().note.model_copy(update={"status": "entered-in-error"})})],
            run_id="r4")
        for t in ("mention", "mention_coding", "mention_attribute", "fhir_resource", "note_nlp"):
            assert _scalar(engine, f"SELECT count(*) FROM {t} WHERE "
                                   f"{'note_key' if t == 'note_nlp' else 'note_id'} = 'a1'") == 0
        assert _scalar(engine, "SELECT status FROM note_status WHERE note_id = 'a1'") == \
            "retracted"
        assert _scalar(engine, "SELECT count(*) FROM problem_list WHERE patient_ref='p1'") == 0
        # a batch holding the same note twice keeps the last one
        _load(engine, [_first(), _amended()], run_id="r5")
        assert _scalar(engine, "SELECT count(*) FROM mention WHERE note_id = 'a1'") == 1
    finally:
        engine.dispose()


def test_versions_sqlite(sqlite_url):
    _versions(sqlite_url)


@pytest.mark.postgres
def test_versions_postgres(pg_url):
    _versions(pg_url)

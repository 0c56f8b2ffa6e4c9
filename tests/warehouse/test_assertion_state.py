"""One assertion precedence: the warehouse view's ``assertion`` column, the FHIR policy state
and OMOP's ``term_exists`` all follow ``schemas.model.assertion_state``, on every combination
of flags, on SQLite and PostgreSQL."""

from itertools import product

import pytest
import sqlalchemy as sa

from schemas.model import ASSERTION_STATES, assertion_state
from schemas.omop import term_exists
from tests.warehouse.builders import NOW, part, result
from warehouse.engine import make_engine
from warehouse.load import LoadSettings, finish_run, load_results, start_run
from warehouse.migrate import upgrade

FLAGS = ("is_negated", "is_uncertain", "is_historical", "is_hypothetical", "is_family")


def _cases() -> list[tuple[str, str, dict, dict]]:
    """(phrase, label, attributes, flags): every flag combination for a problem, a resolved
    negation, and no-known-allergy statements."""
    cases = []
    for i, values in enumerate(product((False, True), repeat=len(FLAGS))):
        flags = dict(zip(FLAGS, values, strict=True))
        cases.append((f"finding {i}", "PROBLEM", {}, flags))
        cases.append((f"resolved {i}", "PROBLEM", {"resolved": True}, flags))
    cases.append(("no known allergies", "ALLERGY", {"no_known_allergy": True}, {}))
    cases.append(("no known allergies h", "ALLERGY", {"no_known_allergy": True},
                  {"is_historical": True}))
    return cases


def _check(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
        parts = [
            part(phrase, label, attrs=attrs, **{**flags, **({"experiencer": "mother"}
                                                            if flags.get("is_family") else {})})
            for phrase, label, attrs, flags in _cases()
        ]
        note = result("s1", "p1", NOW, parts)
        with engine.begin() as conn:
            start_run(
                conn, run_id="rs", flow="nightly-ingest", started_at=NOW, pipeline_version="t",
                rules_version="v1", dictionary_version=None, source_kind="jsonl",
                source_key="k",
            )
            load_results(conn, [note], run_id="rs", now=NOW,
                         settings=LoadSettings(rules_version="v1"))
            finish_run(conn, run_id="rs", finished_at=NOW, status="completed")
        with engine.connect() as conn:
            view = dict(
                conn.execute(sa.text("SELECT mention_id, assertion FROM mention_current"))
                .tuples()
                .all()
            )
        expected = {m.mention_id: assertion_state(m) for m in note.mentions}
        assert view == expected
        assert set(view.values()) == set(ASSERTION_STATES)  # every state is reached
        for m in note.mentions:  # OMOP: exists in the affirmed states, and only there
            assert term_exists(m) == (assertion_state(m) in
                                      {"affirmed", "historical", "no_known_allergy"})
    finally:
        engine.dispose()


def test_view_state_is_the_model_state_sqlite(sqlite_url):
    _check(sqlite_url)


@pytest.mark.postgres
def test_view_state_is_the_model_state_postgres(pg_url):
    _check(pg_url)

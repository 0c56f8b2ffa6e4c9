"""Uncoded mentions get a readable concept_display (migration 0012), derived from their rule id
and never from note text, on SQLite and PostgreSQL; the downgrade restores revision 0011."""

import pytest

from tests.warehouse.builders import (
    check_view_columns,
    day,
    load_run,
    migrate_across,
    part,
    result,
    rows,
    view_column_types,
    view_definitions,
)
from warehouse.engine import make_engine
from warehouse.migrate import downgrade, upgrade
from warehouse.views import VIEWS

SCT = "http://snomed.info/sct"


def _notes():
    """p1: a coded problem and uncoded ones (curated, predicate, an id with '_', none at all),
    the curated one again in a later note with other words; p2: an uncoded drug."""
    n1 = result(
        "u1",
        "p1",
        day(1),
        [
            part("free pelvic fluid", "PROBLEM", rule_id="curated:free-fluid"),
            part(
                "htn",
                "PROBLEM",
                "38341003",
                display="Hypertensive disorder",
                rule_id="curated:hypertension",
            ),
            part("heart is enlarged", "PROBLEM", rule_id="predicate:cardiomegaly"),
            part("LM plaque", "PROBLEM", rule_id="site:left_main-lesion"),
            part("an odd finding", "PROBLEM", rule_id=None),
        ],
    )
    n2 = result("u2", "p1", day(2), [part("Fluid, free", "PROBLEM", rule_id="curated:free-fluid")])
    n3 = result(
        "u3",
        "p2",
        day(3),
        [
            part("glyxambi", "MEDICATION", rule_id="pattern:drug-combination"),
        ],
    )
    return [n1, n2, n3]


PHRASES = (
    "free pelvic fluid",
    "htn",
    "heart is enlarged",
    "LM plaque",
    "an odd finding",
    "Fluid, free",
    "glyxambi",
)

#: problem_list of p1 by concept_key: (concept_display, concept_code, note_count)
EXPECTED = [
    (f"{SCT}|38341003", "Hypertensive disorder", "38341003", 1),
    ("label:PROBLEM", "problem", None, 1),
    ("rule:curated:free-fluid", "free fluid", None, 2),
    ("rule:predicate:cardiomegaly", "cardiomegaly", None, 1),
    ("rule:site:left_main-lesion", "left main lesion", None, 1),
]


def _load(engine):
    # text storage on: mention.text is in the base table, and must still stay out of views
    load_run(engine, _notes(), "ru", store_text=True)


def _problems(engine):
    return rows(
        engine,
        "SELECT concept_key, concept_display, concept_code, note_count "
        "FROM problem_list WHERE patient_ref = 'p1' ORDER BY concept_key",
    )


def _check(url):
    engine = make_engine(url)
    try:
        before, types_before, head = migrate_across(engine, "0011")
        assert head["mention_current"] != before["mention_current"]
        _load(engine)

        # the uncoded problems are named by their rule, one name per group; the coded one
        # keeps its code's display
        assert _problems(engine) == EXPECTED
        assert rows(engine, "SELECT concept_display, concept_key FROM medication_list") == [
            ("drug combination", "rule:pattern:drug-combination")
        ]
        assert rows(
            engine,
            "SELECT count(*) FROM mention_current "
            "WHERE concept_display IS NULL OR concept_display = ''",
        ) == [(0,)]

        # the warehouse holds the mention text, no view shows it
        stored = {t for (t,) in rows(engine, "SELECT text FROM mention")}
        assert stored == set(PHRASES)
        for v in VIEWS:
            for row in rows(engine, f"SELECT * FROM {v.name}"):
                for cell in row:
                    if isinstance(cell, str):
                        assert not [p for p in PHRASES if p in cell], (v.name, cell)

        # down to 0011: its SQL exactly, uncoded displays empty again, same columns
        downgrade(engine, "0011")
        assert view_definitions(engine) == before
        check_view_columns(engine)
        assert view_column_types(engine) == types_before
        assert _problems(engine) == [
            (key, None if code is None else display, code, n) for key, display, code, n in EXPECTED
        ]
        # and up again
        upgrade(engine)
        assert view_definitions(engine) == head
        assert _problems(engine) == EXPECTED
    finally:
        engine.dispose()


def test_uncoded_display_sqlite(sqlite_url):
    _check(sqlite_url)


@pytest.mark.postgres
def test_uncoded_display_postgres(pg_url):
    _check(pg_url)

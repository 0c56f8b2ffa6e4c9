"""Uncoded drugs are told apart by the hash of their name (migration 0013): two drugs are two
medication_list rows, one drug in two notes is one; no view shows a drug's name; the report's
top concepts list each drug on its own; on SQLite and PostgreSQL; the downgrade restores 0012."""

import pytest

from schemas.ids import name_key
from tests.warehouse.builders import (
    RXN,
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
from warehouse.report import NAME_KEY_SHOWN, collect
from warehouse.views import VIEWS


def _uncoded(phrase, **flags):
    """An uncoded drug as the medications extractor (version 5) leaves it."""
    attrs = {
        "drug": phrase,
        "drug_source": "dictionary",
        "drug_rule_id": "pattern:drug-combination",
        "name_key": name_key("MEDICATION", phrase),
        "parts": {"drug": [0, len(phrase)]},
    }
    return part(phrase, "MEDICATION", attrs=attrs, rule_id="med-sig", **flags)


FLUTICASONE = name_key("MEDICATION", "Fluticasone-salmeterol")
IPRATROPIUM = name_key("MEDICATION", "ipratropium-albuterol")


def _notes():
    """p1: two uncoded drugs and a coded one, one of the uncoded again in a later note
    (another case, as past history); p2: the same uncoded drug in two notes written the same
    way, and a drug loaded before name keys (no key)."""
    n1 = result(
        "k1",
        "p1",
        day(1),
        [
            _uncoded("Fluticasone-salmeterol"),
            _uncoded("ipratropium-albuterol"),
            part("metformin", "MEDICATION", "6809", RXN, "metformin", rule_id="med-sig"),
        ],
    )
    n2 = result("k2", "p1", day(2), [_uncoded("fluticasone-salmeterol", is_historical=True)])
    n3 = result(
        "k3",
        "p2",
        day(3),
        [
            _uncoded("Fluticasone-salmeterol"),
            part("sacubitril-valsartan", "MEDICATION", rule_id="med-sig"),
        ],
    )
    n4 = result("k4", "p2", day(4), [_uncoded("Fluticasone-salmeterol")])
    return [n1, n2, n3, n4]


#: the drug names as the notes write them (the warehouse stores them: store_text is on)
NAMES = ("Fluticasone-salmeterol", "fluticasone-salmeterol", "ipratropium-albuterol",
         "sacubitril-valsartan")  # fmt: skip
#: pieces of the names no view may show, in any case
WORDS = ("fluticasone", "salmeterol", "ipratropium", "albuterol", "sacubitril", "valsartan")


def _load(engine):
    load_run(engine, _notes(), "rk", store_text=True)


def _medications(engine):
    return sorted(
        rows(
            engine,
            "SELECT patient_ref, concept_key, concept_display, concept_code, status, last_note_id "
            "FROM medication_list",
        )
    )


#: medication_list at head: one row per patient and drug
EXPECTED = sorted(
    [
        ("p1", f"{RXN}|6809", "metformin", "6809", "active", "k1"),
        ("p1", f"name:{FLUTICASONE}", "uncoded medication", None, "completed", "k2"),
        ("p1", f"name:{IPRATROPIUM}", "uncoded medication", None, "active", "k1"),
        ("p2", f"name:{FLUTICASONE}", "uncoded medication", None, "active", "k4"),
        ("p2", "rule:med-sig", "med sig", None, "active", "k3"),
    ]
)


def _check(url):
    engine = make_engine(url)
    try:
        before, types_before, head = migrate_across(engine, "0012")
        assert head["mention_current"] != before["mention_current"]
        _load(engine)

        # two uncoded drugs of p1 are two rows, the one written twice is one row (its latest
        # note wins); p2's same drug has the same key; a mention without a key stays by rule
        assert _medications(engine) == EXPECTED
        features = rows(
            engine,
            "SELECT patient_ref, concept_key, assertion, mention_count, note_count "
            "FROM patient_concept_feature WHERE concept_key LIKE 'name:%'",
        )
        assert sorted(features) == sorted(
            [
                ("p1", f"name:{FLUTICASONE}", "affirmed", 1, 1),
                ("p1", f"name:{FLUTICASONE}", "historical", 1, 1),
                ("p1", f"name:{IPRATROPIUM}", "affirmed", 1, 1),
                ("p2", f"name:{FLUTICASONE}", "affirmed", 2, 2),
            ]
        )

        # the warehouse holds the names (store_text), no view shows them or their words
        stored = {t for (t,) in rows(engine, "SELECT text FROM mention")}
        assert stored == {*NAMES, "metformin"}
        for v in VIEWS:
            for row in rows(engine, f"SELECT * FROM {v.name}"):
                for cell in row:
                    if isinstance(cell, str):
                        assert not [w for w in WORDS if w in cell.lower()], (v.name, cell)

        # the report: each uncoded drug is a concept of its own, told apart by its hash
        with engine.connect() as conn:
            top = dict(collect(conn, top=50).top_concepts)
        fluticasone = f"uncoded medication #{FLUTICASONE[:NAME_KEY_SHOWN]} [MEDICATION]"
        ipratropium = f"uncoded medication #{IPRATROPIUM[:NAME_KEY_SHOWN]} [MEDICATION]"
        assert top[fluticasone] == 4
        assert top[ipratropium] == 1
        assert top["med sig [MEDICATION]"] == 1  # only the mention loaded without a key
        assert top["metformin [MEDICATION]"] == 1

        # down to 0012: its SQL exactly, same columns, the uncoded drugs lumped by rule again
        downgrade(engine, "0012")
        assert view_definitions(engine) == before
        check_view_columns(engine)
        assert view_column_types(engine) == types_before
        assert _medications(engine) == [
            ("p1", f"{RXN}|6809", "metformin", "6809", "active", "k1"),
            ("p1", "rule:med-sig", "med sig", None, "completed", "k2"),
            ("p2", "rule:med-sig", "med sig", None, "active", "k4"),
        ]
        # and up again
        upgrade(engine)
        assert view_definitions(engine) == head
        assert _medications(engine) == EXPECTED
    finally:
        engine.dispose()


def test_uncoded_name_key_sqlite(sqlite_url):
    _check(sqlite_url)


@pytest.mark.postgres
def test_uncoded_name_key_postgres(pg_url):
    _check(pg_url)

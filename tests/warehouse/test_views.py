"""The analyst views give the documented answers, identically on SQLite and PostgreSQL."""

import pytest
import sqlalchemy as sa

from tests.warehouse.builders import build_story_warehouse
from warehouse.views import VIEWS

_build = build_story_warehouse


def _rows(engine, sql):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def _check_views(url):
    engine = _build(url)
    try:
        # latest note wins: hypertension negated in n2 leaves the list, diabetes joins it
        assert _rows(engine, "SELECT patient_ref, concept_display, last_note_id, note_count "
                             "FROM problem_list ORDER BY patient_ref, concept_display") == [
            ("p1", "appendicitis", "n1", 1),
            ("p1", "diabetes", "n2", 1),
            ("p2", "copd", "n3", 1),
        ]
        hist = _rows(engine, "SELECT concept_display FROM problem_list WHERE historical_only")
        assert hist == [("appendicitis",)]
        meds = _rows(engine, "SELECT concept_display, status, strength, dose, route, frequency, "
                             "prn FROM medication_list ORDER BY concept_display")
        assert meds == [
            ("lisinopril", "not-taken", None, None, None, None, False),
            ("metformin", "active", "500 mg", "1 tablet", "oral", "BID", False),
        ]
        obs = _rows(engine, "SELECT note_id, concept_display, value_num, value_text, unit, "
                            "systolic, diastolic, interpretation FROM observation_series "
                            "ORDER BY note_id, concept_display")
        assert obs == [
            ("n1", "Blood pressure", None, "140/90", "mm[Hg]", 140.0, 90.0, None),
            ("n1", "Hemoglobin A1c", 7.2, "7.2", "%", None, None, "H"),
            ("n2", "Hemoglobin A1c", 6.8, "6.8", "%", None, None, None),
        ]
        assert _rows(engine, "SELECT note_id, concept_display FROM negated_finding "
                             "ORDER BY note_id, concept_display") == [
            ("n1", "diabetes"), ("n2", "hypertension"), ("n2", "lisinopril"),
        ]
        assert _rows(engine, "SELECT patient_ref, concept_display, relative, is_negated "
                             "FROM family_history") == [("p1", "breast cancer", "mother", False)]
        assert _rows(engine, "SELECT note_id, status, error_stage, error_type FROM note_status "
                             "ORDER BY note_id") == [
            ("n1", "processed", None, None), ("n2", "processed", None, None),
            ("n3", "processed", None, None), ("n4", "retracted", None, None),
            ("n5", "failed", "nlp", "ValueError"),
        ]
        run = _rows(engine, "SELECT run_id, status, notes_per_s, error_rows FROM run_history")
        assert run == [("r1", "completed", 2.5, 1)]
        cond = _rows(engine, "SELECT concept_display, verification_status, clinical_status "
                             "FROM condition_current WHERE note_id = 'n1' "
                             "ORDER BY concept_display")
        assert ("diabetes", "refuted", None) in cond
        assert ("hypertension", "confirmed", "active") in cond
        assert ("asthma", "provisional", "active") in cond
        # a past problem is inactive/resolved only where the text says so (schemas.fhir.POLICY)
        assert ("appendicitis", "confirmed", None) in cond
        # attributes are flattened, without the keys that echo note text
        keys = {k for (k,) in _rows(engine, "SELECT DISTINCT key FROM mention_attribute_current")}
        assert {"strength.value", "route.display", "frequency.code", "systolic"} <= keys
        assert not {k for k in keys if k.split(".")[-1] in {"text", "drug", "unit_text"}}
        assert not {k for k in keys if k.startswith("parts")}
        feat = _rows(engine, "SELECT assertion, mention_count, note_count FROM "
                             "patient_concept_feature WHERE patient_ref = 'p1' AND "
                             "concept_display = 'hypertension' ORDER BY assertion")
        assert feat == [("affirmed", 1, 1), ("negated", 1, 1)]
        # hypothetical mentions stay in mention_current but out of the lists
        hyp = _rows(engine, "SELECT count(*) FROM mention_current WHERE assertion='hypothetical'")
        assert hyp == [(1,)]
        # no view exposes note text
        for v in VIEWS:
            assert not {"text", "snippet", "lexical_variant", "unit_text"} & set(v.column_names)
    finally:
        engine.dispose()


def test_views_sqlite(sqlite_url):
    _check_views(sqlite_url)


@pytest.mark.postgres
def test_views_postgres(pg_url):
    _check_views(pg_url)

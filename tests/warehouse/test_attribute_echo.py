"""Attributes that repeat the note's words (a sig, a drug or allergen as written) are not stored
unless the deployment stores text, and a re-run does not see their absence as a change."""

import json

import pytest
import sqlalchemy as sa

from tests.warehouse.builders import NOW, RXN, day, part, result
from warehouse.engine import make_engine
from warehouse.load import LoadSettings, load_results, stored_attributes
from warehouse.migrate import upgrade
from warehouse.reprocess import diff_results

SIG = "metformin 500 mg po bid with meals"
ATTRS = {
    "drug": "metformin",
    "sig": "500 mg po bid with meals",
    "dose": {"value": 500, "unit": "mg", "text": "500 mg"},
    "route": {"code": "PO", "text": "po"},
    # a list of readings, each with the words of its strength
    "dose_changes": [{"direction": "increase", "strength": {"value": 1000, "text": "1000 mg"}}],
    "parts": {"drug": [0, 9], "sig": [10, 34]},
}
ALLERGY = {"allergen": "shellfish", "reaction": "hives", "substance": "Shellfish"}


def _result(note_id="n1"):
    return result(
        note_id,
        "p1",
        day(1),
        [
            part(SIG, "MEDICATION", "6809", RXN, "metformin", attrs=ATTRS),
            part("shellfish causing hives", "ALLERGY", attrs=ALLERGY),
        ],
    )


def _stored(engine):
    with engine.connect() as conn:
        attrs = [
            json.loads(a) if isinstance(a, str) else a
            for (a,) in conn.execute(sa.text("SELECT attributes FROM mention ORDER BY start_char"))
        ]
        keys = {k for (k,) in conn.execute(sa.text("SELECT key FROM mention_attribute"))}
    return attrs, keys


def _check(url, store_text):
    engine = make_engine(url)
    upgrade(engine)
    settings = LoadSettings(rules_version="v", store_text=store_text)
    with engine.begin() as conn:
        load_results(conn, [_result()], run_id="r", now=NOW, settings=settings)
    (med, allergy), keys = _stored(engine)
    echoes = {"drug", "sig", "allergen", "reaction"}
    if store_text:
        assert med["sig"] == ATTRS["sig"] and allergy["reaction"] == "hives"
    else:
        assert not echoes & (set(med) | set(allergy))
        assert "text" not in med["dose"] and "text" not in med["route"]
        assert med["dose_changes"] == [{"direction": "increase", "strength": {"value": 1000}}]
        # the structured values and the offsets stay
        assert med["dose"] == {"value": 500, "unit": "mg"} and med["parts"] == ATTRS["parts"]
        assert allergy["substance"] == "Shellfish"
    # the analyst-facing key/value rows never hold them
    assert not {k for k in keys if k.split(".")[-1] in echoes | {"text"}}
    with engine.connect() as conn:
        [changes] = conn.execute(
            sa.text("SELECT value_text FROM mention_attribute WHERE key = 'dose_changes'")
        ).scalars()
    assert json.loads(changes) == [{"direction": "increase", "strength": {"value": 1000}}]
    assert {"dose.value", "route.code", "substance"} <= keys
    # reading the same note again changes nothing
    with engine.connect() as conn:
        plan = diff_results(conn, [_result()])
    assert plan.notes_changed == 0
    engine.dispose()


@pytest.mark.parametrize("store_text", [False, True])
def test_echoed_words_are_not_stored_by_default_sqlite(sqlite_url, store_text):
    _check(sqlite_url, store_text)


@pytest.mark.postgres
def test_echoed_words_are_not_stored_by_default_postgres(pg_url):
    _check(pg_url, False)


def test_stored_attributes_keeps_everything_when_text_is_stored():
    assert stored_attributes(ATTRS, True) == ATTRS
    assert "sig" not in stored_attributes(ATTRS, False)


def _migrates(url):
    """Rows loaded before this release (the words stored) lose them at revision 0014, except
    in ``mention.attributes`` of a note whose text the deployment stores."""
    engine = make_engine(url)
    upgrade(engine, "0013")
    with engine.begin() as conn:
        # load as the old release did: every attribute in both places
        load_results(
            conn, [_result()], run_id="r", now=NOW,
            settings=LoadSettings(rules_version="v", store_text=True),
        )  # fmt: skip
        conn.execute(sa.text("UPDATE note SET text = NULL, text_stored = false"))
        load_results(  # the second note keeps its text
            conn, [_result("n2")], run_id="r", now=NOW,
            settings=LoadSettings(rules_version="v", store_text=True),
        )  # fmt: skip
        conn.execute(
            sa.text(
                "INSERT INTO mention_attribute (mention_id, key, note_id, value_text) "
                "SELECT mention_id, 'sig', note_id, 'old words' FROM mention "
                "WHERE label = 'MEDICATION'"
            )
        )
    upgrade(engine)
    with engine.connect() as conn:
        keys = {k for (k,) in conn.execute(sa.text("SELECT key FROM mention_attribute"))}
        by_note = {
            n: json.loads(a) if isinstance(a, str) else a
            for n, a in conn.execute(
                sa.text("SELECT note_id, attributes FROM mention WHERE label = 'MEDICATION'")
            )
        }
    assert "sig" not in keys and "dose.value" in keys
    assert "sig" not in by_note["n1"] and by_note["n1"]["parts"] == ATTRS["parts"]
    assert by_note["n2"]["sig"] == ATTRS["sig"]  # its note text is stored
    engine.dispose()


def test_revision_0014_scrubs_rows_loaded_before_sqlite(sqlite_url):
    _migrates(sqlite_url)


@pytest.mark.postgres
def test_revision_0014_scrubs_rows_loaded_before_postgres(pg_url):
    _migrates(pg_url)

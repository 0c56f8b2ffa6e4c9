"""``notestruct view`` from the warehouse: stored note text and the loaded mentions."""

from __future__ import annotations

from pipelines.view_html import render_view
from pipelines.viewer import stored_view_notes
from tests.warehouse.builders import NOW, patient_story, result
from warehouse.engine import make_engine
from warehouse.load import LoadSettings, load_results, start_run
from warehouse.migrate import upgrade
from warehouse.stored_notes import read_stored_notes


def _warehouse(url, store_text):
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        start_run(
            conn, run_id="r1", flow="nightly-ingest", started_at=NOW, pipeline_version="t",
            rules_version="v1", dictionary_version=None, source_kind="jsonl", source_key="k",
        )  # fmt: skip
        load_results(
            conn, [*patient_story(), result("n9", "p3", None, [])], run_id="r1", now=NOW,
            settings=LoadSettings(rules_version="v1", store_text=store_text),
        )  # fmt: skip
    return engine


def test_stored_notes_come_back_with_their_mentions_codes_and_flags(sqlite_url, nlp):
    engine = _warehouse(sqlite_url, store_text=True)
    try:
        got = read_stored_notes(engine, ["n1", "nope"], limit=10)
    finally:
        engine.dispose()
    assert got.missing == ("nope",) and got.without_text == ()
    (n1,) = got.notes
    by_text = {n1.text[m["start"] : m["end"]]: m for m in n1.mentions}
    assert by_text["diabetes"]["negated"] is True
    assert by_text["breast cancer"]["family"] is True
    assert by_text["hypertension"]["codes"][0]["code"] == "38341003"
    assert by_text["hypertension"]["rule_id"] == "r-PROBLEM"
    assert by_text["metformin 500 mg 1 tab po bid"]["attributes"]
    page = render_view(stored_view_notes(nlp, got.notes))
    assert page.count('class="head m L-') == len(n1.mentions)


def test_notes_without_stored_text_are_reported_not_drawn(sqlite_url):
    engine = _warehouse(sqlite_url, store_text=False)
    try:
        assert read_stored_notes(engine, [], limit=10).notes == ()
        got = read_stored_notes(engine, ["n1"], limit=10)
    finally:
        engine.dispose()
    assert got.notes == () and got.without_text == ("n1",)

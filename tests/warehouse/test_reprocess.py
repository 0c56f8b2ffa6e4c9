"""Re-processing reports its changes per label first and writes only when applied."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipelines.batch import BatchContext, analyse, load
from pipelines.reprocess import reprocess
from pipelines.sources import SourceOptions, open_source
from schemas.model import Note
from tests.warehouse.builders import NOW, day, part, result
from warehouse.engine import make_engine
from warehouse.load import LoadSettings, load_results
from warehouse.migrate import upgrade
from warehouse.reprocess import diff_results

ROOT = Path(__file__).resolve().parents[2]
SOURCE = str(ROOT / "samples" / "notes.jsonl")


def _diff_counts(url):
    engine = make_engine(url)
    upgrade(engine)
    old = result("a", "p", day(1), [part("cough", "PROBLEM", "1"), part("fever", "PROBLEM", "2"),
                                    part("aspirin", "MEDICATION", "3")])
    with engine.begin() as conn:
        load_results(conn, [old], run_id="r", now=NOW, settings=LoadSettings(rules_version="v"))
    new = result("a", "p", day(1), [part("cough", "PROBLEM", "1", is_negated=True),
                                    part("fever", "PROBLEM", "2"),
                                    part("aspirin", "MEDICATION", "3", system="x")])
    # drop fever's mention and add a new one elsewhere
    mentions = (new.mentions[0], new.mentions[2])
    new = new.model_copy(update={"mentions": mentions})
    with engine.connect() as conn:
        plan = diff_results(conn, [new])
    assert plan.notes == 1 and plan.notes_changed == 1
    assert vars(plan.by_label["PROBLEM"]) == {"added": 0, "removed": 1, "changed": 1,
                                              "unchanged": 0}
    assert vars(plan.by_label["MEDICATION"]) == {"added": 0, "removed": 0, "changed": 1,
                                                 "unchanged": 0}
    engine.dispose()


def test_diff_counts_added_removed_changed_sqlite(sqlite_url):
    _diff_counts(sqlite_url)


@pytest.mark.postgres
def test_diff_counts_added_removed_changed_postgres(pg_url):
    _diff_counts(pg_url)


def test_nightly_does_not_reprocess_on_a_rules_change_alone(sqlite_url):
    from pipelines.batch import select_changed

    engine = make_engine(sqlite_url)
    upgrade(engine)
    stored = result("a", "p", day(1), [part("cough", "PROBLEM", "1")])
    with engine.begin() as conn:
        load_results(conn, [stored], run_id="r", now=NOW, settings=LoadSettings(rules_version="v1"))
    ctx = BatchContext(run_id="r2", now=NOW, rules_version="v2", pipeline_version="t")
    amended = result("a", "p", day(1), [part("fever", "PROBLEM", "2")])
    retracted = stored.note.model_copy(update={"status": "entered-in-error"})
    assert select_changed(engine, [stored.note], ctx) == ([], 1)
    assert select_changed(engine, [amended.note], ctx) == ([amended.note], 0)
    assert select_changed(engine, [retracted], ctx) == ([retracted], 0)
    forced = BatchContext(run_id="r3", now=NOW, rules_version="v2", pipeline_version="t",
                          force=True)
    assert select_changed(engine, [stored.note], forced) == ([stored.note], 0)
    engine.dispose()


@pytest.mark.slow
def test_reprocess_reports_then_applies(nlp, sqlite_url, harness):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    notes = [r for r in open_source(SOURCE).records(SourceOptions()) if isinstance(r, Note)]
    ctx = BatchContext(run_id="old", now=datetime(2026, 1, 1, tzinfo=UTC), rules_version="old",
                       pipeline_version="t")
    results, errors = analyse(nlp, notes, ctx)
    # the "old rules" missed the first PROBLEM of every note
    dropped = 0
    older = []
    for r in results:
        first = next((m for m in r.mentions if m.label == "PROBLEM"), None)
        dropped += first is not None
        older.append(r.model_copy(update={"mentions": tuple(m for m in r.mentions
                                                             if m is not first)}))
    load(engine, older, errors, ctx)

    def mentions():
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM mention")).scalar_one()

    before = mentions()
    dry = reprocess(SOURCE, warehouse_url=sqlite_url, workers=0)
    assert dry.notes_selected == len(notes) and not dry.applied
    assert dry.plan.by_label["PROBLEM"].added == dropped
    assert sum(c.removed + c.changed for c in dry.plan.by_label.values()) == 0
    assert mentions() == before  # the dry run wrote nothing
    applied = reprocess(SOURCE, warehouse_url=sqlite_url, workers=0, apply=True)
    assert applied.plan.by_label["PROBLEM"].added == dropped
    assert mentions() == before + dropped
    # now everything is under the current rules: nothing left to do
    again = reprocess(SOURCE, warehouse_url=sqlite_url, workers=0)
    assert again.notes_selected == 0 and again.notes_current_rules == len(notes)
    with engine.connect() as conn:
        flows = conn.execute(sa.text("SELECT flow, status FROM run_history "
                                     "WHERE flow = 'reprocess'")).all()
    assert [tuple(f) for f in flows] == [("reprocess", "completed")]
    engine.dispose()

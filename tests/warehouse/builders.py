"""Synthetic note results for warehouse tests (no real patient text)."""

from datetime import UTC, datetime

import sqlalchemy as sa

from schemas.fhir import map_note
from schemas.ids import mention_id
from schemas.model import Assertion, Coding, Mention, Note, NoteError, NoteResult, Provenance
from warehouse.engine import make_engine
from warehouse.load import LoadSettings, finish_run, load_results, start_run
from warehouse.migrate import upgrade
from warehouse.views import VIEWS

SCT = "http://snomed.info/sct"
RXN = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def part(phrase, label, code=None, system=SCT, display=None, attrs=None, **flags):
    """One mention to place in a synthetic note (``rule_id=`` among ``flags`` sets its rule id,
    ``r-<label>`` by default)."""
    return (phrase, label, code, system, display or phrase, attrs or {}, flags)


def result(note_id, patient, day, parts, status="current", filler=""):
    """A NoteResult whose mentions sit at the right offsets of a generated text."""
    pieces, spans, pos = [], [], 0
    if filler:
        pieces.append(filler + " ")
        pos = len(filler) + 1
    for p in parts:
        phrase = p[0]
        spans.append((pos, pos + len(phrase), p))
        pieces.append(phrase + ". ")
        pos += len(phrase) + 2
    text = "".join(pieces)
    note = Note(
        note_id=note_id,
        text=text,
        patient_ref=patient,
        authored_at=day,
        status=status,
        source="urn:test",
    )
    mentions = []
    for start, end, (phrase, label, code, system, display, attrs, flags) in spans:
        flags = dict(flags)  # a part may be placed in more than one note
        relative = flags.pop("experiencer", None)
        rule_id = flags.pop("rule_id", f"r-{label}")
        mentions.append(
            Mention(
                mention_id=mention_id(note_id, start, end, label, "test"),
                note_id=note_id,
                start_char=start,
                end_char=end,
                text=phrase,
                label=label,
                section="hpi",
                assertion=Assertion(**flags, experiencer=relative),
                codings=(Coding(system=system, code=code, display=display, coder="test"),)
                if code
                else (),
                attributes=attrs,
                provenance=Provenance(
                    extractor="test", extractor_version=1, rule_id=rule_id,
                    pipeline_version="t",
                ),
            )
        )
    mentions = tuple(mentions)
    resources = () if status == "entered-in-error" else map_note(note, mentions)
    return NoteResult(note=note, mentions=mentions, resources=resources)


def day(month, d=1):
    return datetime(2025, month, d, 9, 30, tzinfo=UTC)


METFORMIN_ATTRS = {
    "drug": "metformin",
    "strength": {"value": 500, "unit": "mg", "ucum": "mg", "text": "500 mg"},
    "dose": {"value": 1, "unit": "tablet", "text": "1 tab"},
    "route": {"code": "PO", "display": "oral", "snomed": "26643006", "text": "po"},
    "frequency": {"code": "BID", "frequency": 2, "period": 1, "period_unit": "d", "text": "bid"},
    "form": "tablet",
    "parts": {"drug": [0, 9]},
}


def patient_story():
    """Two notes of patient p1, one of p2, exercising every view."""
    n1 = result(
        "n1",
        "p1",
        day(1),
        [
            part("hypertension", "PROBLEM", "38341003"),
            part("diabetes", "PROBLEM", "44054006", is_negated=True),
            part("asthma", "PROBLEM", "195967001", is_uncertain=True),
            part("breast cancer", "PROBLEM", "254837009", is_family=True, experiencer="mother"),
            part("metformin 500 mg 1 tab po bid", "MEDICATION", "6809", RXN, "metformin",
                 attrs=METFORMIN_ATTRS),
            part("BP 140/90", "VITAL", "85354-9", LOINC, "Blood pressure",
                 attrs={"vital": "blood_pressure", "systolic": 140, "diastolic": 90,
                        "unit": "mm[Hg]", "ucum": "mm[Hg]", "unit_text": "mmHg"}),
            part("HbA1c 7.2 %", "LAB", "4548-4", LOINC, "Hemoglobin A1c",
                 attrs={"value": 7.2, "unit": "%", "ucum": "%", "flag": "H"}),
            part("appendicitis", "PROBLEM", "74400008", is_historical=True),
            part("if chest pain", "PROBLEM", "29857009", display="Chest pain",
                 is_hypothetical=True),
        ],
    )
    n2 = result(
        "n2",
        "p1",
        day(2),
        [
            part("hypertension", "PROBLEM", "38341003", is_negated=True),
            part("diabetes", "PROBLEM", "44054006"),
            part("lisinopril", "MEDICATION", "29046", RXN, "lisinopril", is_negated=True),
            part("HbA1c 6.8 %", "LAB", "4548-4", LOINC, "Hemoglobin A1c",
                 attrs={"value": 6.8, "unit": "%", "ucum": "%"}),
        ],
    )
    n3 = result("n3", "p2", day(3), [part("copd", "PROBLEM", "13645005")])
    return [n1, n2, n3]


def build_story_warehouse(url):
    """A migrated warehouse holding patient_story(), a retracted and a failed note, one run."""
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        start_run(
            conn, run_id="r1", flow="nightly-ingest", started_at=NOW, pipeline_version="t",
            rules_version="v1", dictionary_version=None, source_kind="jsonl", source_key="k",
        )
        load_results(
            conn,
            [*patient_story(), result("n4", "p2", None, [], status="entered-in-error")],
            run_id="r1",
            now=NOW,
            settings=LoadSettings(rules_version="v1"),
            failed=[NoteError(note_id="n5", source="urn:test", stage="nlp",
                              error_type="ValueError", message="boom")],
        )
        finish_run(conn, "r1", status="completed", finished_at=NOW, notes_seen=5,
                   notes_processed=3, notes_failed=1, notes_retracted=1, mentions=14,
                   resources=10, duration_s=2.0, metrics={"seconds": {"load": 0.1}})
    return engine


# -- inspecting the analyst views across a migration (SQLite and PostgreSQL) ---------------


def rows(engine, sql):
    """Every row of ``sql`` as a tuple."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def view_definitions(engine):
    """Every view's SQL as the database keeps it."""
    if engine.dialect.name == "postgresql":
        sql = (
            "SELECT viewname, definition FROM pg_views WHERE schemaname = current_schema() "
            "ORDER BY 1"
        )
    else:
        sql = "SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY 1"
    return dict(rows(engine, sql))


def view_column_types(engine):
    """(view, column) -> type as PostgreSQL reports it (SQLite views have no real types)."""
    if engine.dialect.name != "postgresql":
        return {}
    return {
        (t, c): d
        for t, c, d in rows(
            engine,
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name IN "
            "(SELECT viewname FROM pg_views WHERE schemaname = current_schema())",
        )
    }


def check_view_columns(engine):
    """Every documented view has exactly its documented columns, in order."""
    for v in VIEWS:
        with engine.connect() as conn:
            cols = tuple(conn.execute(sa.text(f"SELECT * FROM {v.name} WHERE 1 = 0")).keys())
        assert cols == v.column_names, v.name


def load_run(engine, results, run_id, store_text=False):
    """Load ``results`` in one completed run of the nightly flow."""
    with engine.begin() as conn:
        start_run(
            conn,
            run_id=run_id,
            flow="nightly-ingest",
            started_at=NOW,
            pipeline_version="t",
            rules_version="v1",
            dictionary_version=None,
            source_kind="jsonl",
            source_key="k",
        )
        load_results(
            conn,
            results,
            run_id=run_id,
            now=NOW,
            settings=LoadSettings(store_text=store_text, rules_version="v1"),
        )
        finish_run(conn, run_id, status="completed", finished_at=NOW)


def migrate_across(engine, previous):
    """Upgrade to ``previous`` then to head; the views keep their documented columns and
    PostgreSQL types. Returns the view definitions before, their column types, and the
    definitions after."""
    upgrade(engine, previous)
    before, types_before = view_definitions(engine), view_column_types(engine)
    upgrade(engine)
    check_view_columns(engine)
    assert view_column_types(engine) == types_before
    return before, types_before, view_definitions(engine)

"""A batch loaded a chunk at a time (mapped as it is loaded) leaves exactly the rows of the
same batch mapped first and loaded at once; a note that fails its mapping in a later chunk
is a dead letter and the rest of the batch loads."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from pipelines import batch
from pipelines.batch import BatchContext, Mapped, ToMap, Unpacked, analyse, extract_for_load, load
from schemas.model import Note
from schemas.wire import mentions_to_wire, pack
from warehouse.engine import make_engine
from warehouse.migrate import upgrade

TABLES = ("note", "mention", "mention_coding", "mention_attribute", "fhir_resource", "note_nlp")
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _notes() -> list[Note]:
    texts = [
        "Assessment: community acquired pneumonia. Start amoxicillin 500 mg PO TID.",
        "No chest pain. Denies fever. BP 132/84, HR 88.",
        "Family history: mother with breast cancer. Patient has type 2 diabetes.",
        "Hemoglobin A1c 7.2 %. Metformin 1000 mg twice daily.",
        "Allergies: penicillin (rash). History of appendectomy in 2010.",
        "Rule out pulmonary embolism. Lisinopril 10 mg daily for hypertension.",
        "Glucose 145 mg/dL. Creatinine 1.1 mg/dL.",
    ]
    notes = [Note(note_id=f"n{i}", text=t, patient_ref=f"p{i % 3}") for i, t in enumerate(texts)]
    notes.insert(
        3, Note(note_id="gone", text="old text", patient_ref="p1", status="entered-in-error")
    )
    return notes


def _ctx() -> BatchContext:
    return BatchContext(run_id="run-1", now=NOW, rules_version="r", pipeline_version="t")


def _rows(url: str) -> dict[str, list[tuple]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            out = {}
            for t in TABLES:
                rows = conn.execute(sa.text(f"SELECT * FROM {t}")).all()
                out[t] = sorted(tuple(map(str, r)) for r in rows)
            return out
    finally:
        engine.dispose()


def _load(url: str, analysed, **kw) -> batch.Counts:
    engine = make_engine(url)
    try:
        upgrade(engine)
        return load(engine, analysed, [], _ctx(), now=NOW, **kw)
    finally:
        engine.dispose()


@pytest.fixture()
def chunk_of_two(monkeypatch):
    monkeypatch.setattr(batch, "LOAD_CHUNK", 2)


def test_chunked_mapping_loads_the_rows_of_an_all_at_once_load(nlp, tmp_path, monkeypatch):
    notes, ctx = _notes(), _ctx()
    results, errors = analyse(nlp, notes, ctx)
    assert errors == []
    monkeypatch.setattr(batch, "LOAD_CHUNK", 1000)  # the whole batch in one chunk
    whole = _load(f"sqlite:///{tmp_path / 'whole.db'}", results)
    monkeypatch.setattr(batch, "LOAD_CHUNK", 2)
    lazy = extract_for_load(nlp, notes, ctx)
    assert isinstance(lazy, ToMap)
    chunked = _load(f"sqlite:///{tmp_path / 'chunked.db'}", lazy)
    # the tuples a worker process sends, mapped in the flow a chunk at a time
    wire = ToMap(
        notes,
        {r.note.note_id: mentions_to_wire(r.mentions) for r in results},
        [],
        ctx,
        wire=True,
    )
    from_wire = _load(f"sqlite:///{tmp_path / 'wire.db'}", wire)
    # results mapped in a worker and packed, unpacked a chunk at a time
    packed = _load(f"sqlite:///{tmp_path / 'packed.db'}", Unpacked([pack(r) for r in results], []))
    assert whole.mentions > 10 and whole.retracted == 1 and whole.processed == len(notes) - 1
    assert chunked == whole == from_wire == packed
    expected = _rows(f"sqlite:///{tmp_path / 'whole.db'}")
    assert expected["fhir_resource"] and expected["note_nlp"]
    for name in ("chunked", "wire", "packed"):
        assert _rows(f"sqlite:///{tmp_path / f'{name}.db'}") == expected, name


def test_a_note_failing_its_mapping_in_a_later_chunk_is_a_dead_letter(
    nlp, tmp_path, chunk_of_two, monkeypatch
):
    notes, ctx = _notes(), _ctx()
    lazy = extract_for_load(nlp, notes, ctx)
    real = batch.map_note

    def flaky(note, *args, **kwargs):
        if note.note_id == "n5":  # in the fourth chunk of two
            raise ValueError("boom")
        return real(note, *args, **kwargs)

    monkeypatch.setattr(batch, "map_note", flaky)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    report = _load(url, lazy)
    assert report.failed == 1
    assert report.processed == len(notes) - 2  # all but the retraction and n5
    engine = make_engine(url)
    with engine.connect() as conn:
        dead = conn.execute(sa.text("SELECT note_id, stage, error_type FROM note_error")).all()
        loaded = {r[0] for r in conn.execute(sa.text("SELECT DISTINCT note_id FROM mention"))}
    engine.dispose()
    assert [tuple(d) for d in dead] == [("n5", "map", "ValueError")]
    assert "n5" not in loaded and {"n0", "n6"} <= loaded


def test_a_mapped_batch_chunks_in_order(chunk_of_two):
    notes = _notes()
    from schemas.model import NoteResult

    results = [NoteResult(note=n) for n in notes]
    chunks = list(Mapped(results, []).chunks(3))
    assert [len(c) for c, _ in chunks] == [3, 3, 2]
    assert [r for c, _ in chunks for r in c] == results

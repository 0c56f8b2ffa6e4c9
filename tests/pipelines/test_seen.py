"""Duplicate ids within a run: ``SeenNotes`` behaves as the dict it replaces, off the heap."""

import sqlite3
import tracemalloc

from pipelines.batch import SeenNotes, screen
from schemas.model import Note

SOURCE = "urn:test:notes"


def _note(note_id: str, text: str) -> Note:
    return Note(note_id=note_id, source=SOURCE, patient_ref="Patient/p1", text=text)


def _chunks():
    return [
        [_note("a", "Chest pain."), _note("b", "No fever."), _note("a", "Chest pain.")],
        [_note("b", "Cough."), _note("c", "   "), _note("d", "Rash.")],
        [_note("d", "Rash."), _note("a", "Headache."), _note("e", "Nausea.")],
    ]


def _screen_all(seen) -> list[tuple[list[str], list[tuple[str, str]]]]:
    out = []
    for chunk in _chunks():
        notes, errors = screen(chunk, seen)
        out.append(([n.note_id for n in notes], [(e.note_id, e.error_type) for e in errors]))
    return out


def test_seen_notes_screens_as_a_dict_does():
    with SeenNotes() as seen:
        got = _screen_all(seen)
    assert got == _screen_all({})
    assert got == [
        (["a", "b"], []),  # the identical repeat of "a" is dropped silently
        (["d"], [("b", "DuplicateId"), ("c", "EmptyNote")]),
        (["e"], [("a", "DuplicateId")]),
    ]


def test_seen_notes_keeps_the_first_hash_and_stores_no_id():
    seen = SeenNotes()
    seen["note-17"] = "ab" * 32
    assert seen.get("note-17") == "ab" * 32
    assert seen.get("note-18") is None
    dump = "\n".join(seen._db.iterdump())
    assert "note-17" not in dump
    seen.close()
    try:
        seen.get("note-17")
    except sqlite3.ProgrammingError:
        pass
    else:
        raise AssertionError("a closed SeenNotes must not answer")


def _fill(seen, n: int) -> int:
    """Python heap grown by putting ``n`` fresh ids and hashes (as a source reads them)."""
    tracemalloc.start()
    try:
        for i in range(n):
            seen[f"note-{i:07d}"] = f"{i:064x}"
        grown, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return grown


def test_seen_notes_memory_does_not_grow_with_the_ids_it_holds():
    with SeenNotes() as seen:
        grown = _fill(seen, 20_000)
        assert seen.get("note-0019999") == f"{19_999:064x}"
    grown_dict = _fill({}, 20_000)
    # a dict keeps every id and hash (~200 bytes a note: 4 MB here); SeenNotes keeps them
    # in SQLite's page cache, off the Python heap and bounded, whatever the count
    assert grown_dict > 2_000_000
    assert grown < 100_000

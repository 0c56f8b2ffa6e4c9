"""OMOP CDM v5.4 NOTE_NLP rows: columns, ids shared with mentions, privacy, CDM conventions."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.ids import note_nlp_id
from schemas.omop import NOTE_NLP_COLUMNS, omop_note_id, term_modifiers, to_note_nlp
from tests.schemas.fhir_cases import MED_ATTRS, labelled, make_mention, make_note

NOW = datetime(2025, 3, 15, 2, 0, tzinfo=UTC)


def _row(store_text: bool = False, **kw: object) -> dict[str, object]:
    note, m = labelled("MEDICATION", **kw)  # type: ignore[arg-type]
    return to_note_nlp(
        m, note, processed_at=NOW, nlp_system="notestruct 0.1.0", store_text=store_text
    )


def test_row_has_every_cdm_column_and_shares_the_mention_id() -> None:
    note, m = labelled("MEDICATION")
    row = to_note_nlp(m, note, processed_at=NOW, nlp_system="notestruct 0.1.0")
    assert set(NOTE_NLP_COLUMNS) <= set(row)
    assert row["note_nlp_id"] == note_nlp_id(m.mention_id)
    assert row["mention_id"] == m.mention_id
    assert row["note_id"] == omop_note_id(note.note_id) and 0 < row["note_id"] < 2**63
    assert row["offset"] == str(m.start_char)
    assert row["nlp_date"] == "2025-03-15" and row["nlp_datetime"] == NOW
    assert row["term_exists"] == "Y" and row["term_temporal"] == "present"
    assert row["section_concept_id"] == 0 and row["note_nlp_concept_id"] == 0


def test_text_is_withheld_by_default() -> None:
    row = _row()
    assert row["snippet"] is None and row["lexical_variant"] == ""
    modifiers = str(row["term_modifiers"])
    for secret in ("Metformin", "1000 mg PO BID"):
        assert secret not in modifiers
    assert "strength.value=1000" in modifiers and "route.code=PO" in modifiers
    assert "parts" not in modifiers


def test_text_is_kept_when_stored_and_snippet_is_bounded() -> None:
    note = make_note("x" * 400 + " Metformin " + "y" * 400)
    m = make_mention(note, "Metformin", "MEDICATION", attributes=MED_ATTRS)
    row = to_note_nlp(m, note, processed_at=NOW, nlp_system="s", store_text=True)
    assert row["lexical_variant"] == "Metformin"
    assert "Metformin" in str(row["snippet"]) and len(str(row["snippet"])) <= 250
    assert "drug=Metformin" in str(row["term_modifiers"])


def test_term_exists_follows_the_cdm_convention() -> None:
    for flags in (
        {"is_negated": True},
        {"is_family": True},
        {"is_conditional": True},
        {"is_hypothetical": True},
        {"is_uncertain": True},
    ):
        assert _row(**flags)["term_exists"] == "N", flags
    assert _row(is_historical=True)["term_exists"] == "Y"
    assert _row(is_historical=True)["term_temporal"] == "past"


def test_modifiers_name_the_subject_and_stay_within_2000_chars() -> None:
    note, m = labelled("PROBLEM", is_family=True, experiencer="mother")
    assert "Subject=mother" in term_modifiers(m)
    huge = make_mention(note, "hypertension", "PROBLEM", attributes={"k": list(range(2000))})
    assert len(term_modifiers(huge)) <= 2000

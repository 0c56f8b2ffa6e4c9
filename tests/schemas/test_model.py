"""Record invariants and deterministic ids."""

import pytest
from pydantic import ValidationError

from schemas.ids import mention_id, note_nlp_id, resource_id
from schemas.model import Mention, Note, Provenance


def test_note_hash_filled_and_stable():
    a = Note(note_id="n1", text="abc")
    b = Note(note_id="n1", text="abc")
    assert a.text_sha256 == b.text_sha256 and len(a.text_sha256) == 64
    assert Note(note_id="n1", text="abd").text_sha256 != a.text_sha256


def test_note_rejects_naive_dates():
    from datetime import datetime

    with pytest.raises(ValidationError):
        Note(note_id="n", text="x", authored_at=datetime(2024, 1, 1))


def test_mention_text_must_match_offsets():
    prov = Provenance(extractor="x", extractor_version=1, pipeline_version="0")
    with pytest.raises(ValidationError):
        Mention(
            mention_id="m",
            note_id="n",
            start_char=0,
            end_char=5,
            text="abc",
            label="PROBLEM",
            provenance=prov,
        )


def test_ids_are_deterministic_and_distinct():
    assert mention_id("n", 1, 4, "PROBLEM", "dictionary") == mention_id(
        "n", 1, 4, "PROBLEM", "dictionary"
    )
    assert mention_id("n", 1, 4, "PROBLEM", "dictionary") != mention_id(
        "n", 1, 5, "PROBLEM", "dictionary"
    )
    assert resource_id("Condition", "a") != resource_id("Observation", "a")
    nid = note_nlp_id(mention_id("n", 1, 4, "PROBLEM", "dictionary"))
    assert 0 < nid < 2**63

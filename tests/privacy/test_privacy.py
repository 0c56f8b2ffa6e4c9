"""Pseudonyms, key handling, redaction of results and data-free error messages."""

from __future__ import annotations

import base64
import pickle
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from pydantic import BaseModel, SecretStr

from pipelines.batch import BatchContext, _dead, analyse
from pipelines.config import ConfigError, load_config
from pipelines.privacy import (
    Pseudonymiser,
    ScrubbedError,
    protect_records,
    protect_results,
    redact_result,
    scrub_errors,
)
from schemas.fhir import map_note
from schemas.model import Note, NoteError, NoteResult
from schemas.omop import to_note_nlp

KEY = SecretStr("0123456789abcdef-secret")
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _note(**kw: object) -> Note:
    data = {
        "note_id": "acc-123",
        "patient_ref": "PAT-42",
        "encounter_ref": "ENC-7",
        "text": "Seen by Dr. Jane Placeholder on 03/14/2025. Hypertension. MRN 000123456.",
    }
    data.update(kw)
    return Note(**data)


def test_pseudonyms_are_keyed_deterministic_and_kind_separated() -> None:
    a = Pseudonymiser(KEY)
    assert a.pseudonym("patient", "PAT-42") == Pseudonymiser(KEY).pseudonym("patient", "PAT-42")
    assert a.pseudonym("patient", "PAT-42") != Pseudonymiser(
        SecretStr("another-key-0123456")
    ).pseudonym("patient", "PAT-42")
    assert a.pseudonym("patient", "X1") != a.pseudonym("encounter", "X1")
    assert len(a.pseudonym("patient", "PAT-42")) == 32


def test_note_ids_pseudonymised_only_when_asked() -> None:
    note = _note()
    plain = Pseudonymiser(KEY).note(note)
    assert plain.note_id == "acc-123"
    assert plain.patient_ref != "PAT-42" and plain.encounter_ref != "ENC-7"
    assert plain.text == note.text
    # the text hash is keyed: deterministic, but not the plain SHA-256 of the text
    assert plain.text_sha256 != note.text_sha256 and len(plain.text_sha256) == 64
    assert Pseudonymiser(KEY).note(note).text_sha256 == plain.text_sha256
    full = Pseudonymiser(KEY, note_ids=True).note(note)
    assert full.note_id == Pseudonymiser(KEY).pseudonym("note", "acc-123")
    err = NoteError(
        note_id="acc-123",
        source="s",
        stage="read",
        error_type="X",
        message="m",
        locator="notes/acc-123.txt",
    )
    scrubbed = Pseudonymiser(KEY, note_ids=True).error(err)
    assert "acc-123" not in scrubbed.model_dump_json()
    assert scrubbed.note_id == full.note_id


def test_key_never_shown_or_serialised() -> None:
    alias = Pseudonymiser(KEY)
    assert "secret" not in repr(alias)
    with pytest.raises(TypeError):
        pickle.dumps(alias)
    cfg = load_config(None, environ={"NOTESTRUCT_PSEUDONYM_KEY": KEY.get_secret_value()})
    assert "secret" not in repr(cfg) and "secret" not in cfg.model_dump_json()


def test_short_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={"NOTESTRUCT_PSEUDONYM_KEY": "shortsecret"})
    assert "shortsecret" not in str(info.value)


def test_key_file_and_privacy_settings_from_toml(tmp_path) -> None:
    keyfile = tmp_path / "key"
    keyfile.write_text("a-file-key-of-enough-length\n", encoding="utf-8")
    toml = tmp_path / "pipeline.toml"
    toml.write_text(
        f'[privacy]\npseudonym_key_file = "{keyfile}"\nredact_text = true\n'
        "pseudonymise_note_ids = true\n",
        encoding="utf-8",
    )
    cfg = load_config(toml, environ={})
    assert cfg.pseudonym_key is not None
    assert cfg.pseudonym_key.get_secret_value() == "a-file-key-of-enough-length"
    assert cfg.redact_text and cfg.pseudonymise_note_ids
    defaults = load_config(None, environ={})
    assert not defaults.store_text and not defaults.redact_text and defaults.pseudonym_key is None


def test_protect_records_maps_notes_and_errors() -> None:
    err = NoteError(note_id="acc-9", source="s", stage="read", error_type="X", message="m")
    out = list(protect_records([_note(), err], KEY, note_ids=True))
    assert all("acc-" not in (r.note_id or "") for r in out)
    assert isinstance(out[0], Note) and out[0].patient_ref != "PAT-42"
    same = list(protect_records([_note()], None))
    assert same[0].patient_ref == "PAT-42"


def test_fhir_references_carry_only_pseudonyms(nlp) -> None:
    note = Pseudonymiser(KEY).note(_note())
    ctx = BatchContext(run_id="r", now=NOW, rules_version="v", pipeline_version="p")
    results, errors = analyse(nlp, [note], ctx)
    assert not errors
    dumped = str([r.model_dump() for r in results])
    assert "PAT-42" not in dumped and "ENC-7" not in dumped
    assert f"Patient/{note.patient_ref}" in dumped


def test_redact_result_masks_everything_stored_with_offsets_intact(nlp) -> None:
    note = _note()
    ctx = BatchContext(
        run_id="r", now=NOW, rules_version="v", pipeline_version="p", store_text=True
    )
    results, _ = analyse(nlp, [note], ctx)
    red = redact_result(results[0])
    assert len(red.note.text) == len(note.text)
    assert red.note.text_sha256 == note.text_sha256
    for phi in ("Placeholder", "03/14/2025", "000123456"):
        assert phi not in red.model_dump_json()
        b64 = base64.b64encode(red.note.text.encode()).decode()
        assert phi not in base64.b64decode(b64).decode()
    for m in red.mentions:
        assert red.note.text[m.start_char : m.end_char] == m.text
    assert any(m.text == "Hypertension" for m in red.mentions)
    docref = next(r for r in red.resources if r["resourceType"] == "DocumentReference")
    data = base64.b64decode(docref["content"][0]["attachment"]["data"]).decode()
    assert data == red.note.text
    assert all("Placeholder" not in (row["snippet"] or "") for row in red.note_nlp)
    assert protect_results(results, redact_text=False) == results


def test_snippet_redaction_uses_the_whole_note_context() -> None:
    note = _note(text="Dr. Jane Placeholder saw him. " + "x" * 10 + " hypertension")
    from schemas.ids import mention_id
    from schemas.model import Mention, Provenance

    start = note.text.index("hypertension")
    m = Mention(
        mention_id=mention_id(note.note_id, start, start + 12, "PROBLEM", "d"),
        note_id=note.note_id,
        start_char=start,
        end_char=start + 12,
        text="hypertension",
        label="PROBLEM",
        provenance=Provenance(extractor="d", extractor_version=1, pipeline_version="p"),
    )
    row = to_note_nlp(m, note, processed_at=NOW, nlp_system="n", store_text=True)
    # the snippet starts after "Dr." so the title rule alone would not see the name
    assert "Placeholder" in row["snippet"]
    red = redact_result(
        NoteResult(
            note=note,
            mentions=(m,),
            note_nlp=(row,),
            resources=map_note(note, (m,), include_text=True),
        )
    )
    assert "Placeholder" not in red.note_nlp[0]["snippet"]
    assert red.note_nlp[0]["lexical_variant"] == "hypertension"


def test_scrubbed_database_errors_quote_no_values(tmp_path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id TEXT PRIMARY KEY, body TEXT)"))

    @scrub_errors("load")
    def insert_twice() -> None:
        with engine.begin() as conn:
            for _ in range(2):
                conn.execute(
                    sa.text("INSERT INTO t VALUES (:i, :b)"),
                    {"i": "RAWID-1", "b": "note text QZXSECRET"},
                )

    with pytest.raises(ScrubbedError) as info:
        insert_twice()
    message = str(info.value)
    assert "RAWID" not in message and "QZXSECRET" not in message
    assert "IntegrityError" in message and "load" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_validation_errors_become_data_free_dead_letters() -> None:
    class Strict(BaseModel):
        n: int

    try:
        Strict(n="QZXSECRET text")  # type: ignore[arg-type]
    except Exception as exc:
        assert "QZXSECRET" in str(exc)  # pydantic does quote its input
        dead = _dead(_note(), "map", exc)
    assert "QZXSECRET" not in dead.message
    assert dead.error_type == "ValidationError"


def test_scrub_errors_on_a_failing_analyse(nlp) -> None:
    ctx = BatchContext(run_id="r", now=NOW, rules_version="v", pipeline_version="p")

    class Boom:
        status = "current"

        def __getattr__(self, name: str) -> object:
            raise ValueError("QZXSECRET from a note")

    with pytest.raises(ScrubbedError) as info:
        analyse(nlp, [Boom()], ctx)  # type: ignore[list-item]
    assert "QZXSECRET" not in str(info.value)

"""SQLAlchemy 2 table models of the warehouse; every column carries a comment for analysts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s__%(column_0_N_name)s",
    "uq": "uq_%(table_name)s__%(column_0_N_name)s",
    "ck": "ck_%(table_name)s__%(constraint_name)s",
    "fk": "fk_%(table_name)s__%(column_0_N_name)s__%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def json_type() -> TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL (indexable, compact); Python None is SQL NULL."""
    return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class Base(DeclarativeBase):
    """Declarative base with the naming convention used by migrations."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: json_type(), datetime: DateTime(timezone=True)}


class PipelineRun(Base):
    """One execution of the ingestion flow."""

    __tablename__ = "pipeline_run"
    __table_args__ = {"comment": "One row per ingestion run: versions, watermark, counts, timing."}

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True, comment="Run id (UUID).")
    flow: Mapped[str] = mapped_column(String(64), comment="Flow name, e.g. nightly-ingest.")
    status: Mapped[str] = mapped_column(
        String(16), comment="running, completed, failed (error rate above limit) or crashed."
    )
    started_at: Mapped[datetime] = mapped_column(comment="When the run started (UTC).")
    finished_at: Mapped[datetime | None] = mapped_column(comment="When the run ended (UTC).")
    pipeline_version: Mapped[str] = mapped_column(String(64), comment="notestruct version.")
    rules_version: Mapped[str] = mapped_column(
        String(64), comment="Hash of the extractor names, versions and rule files in effect."
    )
    dictionary_version: Mapped[str | None] = mapped_column(
        String(64), comment="Version hash of the compiled terminology dictionary."
    )
    source_kind: Mapped[str] = mapped_column(
        String(32), comment="directory, jsonl, csv, fhir, sql."
    )
    source_key: Mapped[str] = mapped_column(
        String(64), comment="Hash identifying the source (path or URL hashed; no credentials)."
    )
    watermark: Mapped[str | None] = mapped_column(
        Text, comment="Source position reached by this run (JSON); the next run starts after it."
    )
    notes_seen: Mapped[int] = mapped_column(Integer, default=0, comment="Records read.")
    notes_processed: Mapped[int] = mapped_column(
        Integer, default=0, comment="Notes extracted and loaded (new or changed)."
    )
    notes_unchanged: Mapped[int] = mapped_column(
        Integer, default=0, comment="Notes skipped because the same text was already loaded."
    )
    notes_failed: Mapped[int] = mapped_column(Integer, default=0, comment="Dead-lettered records.")
    notes_retracted: Mapped[int] = mapped_column(
        Integer, default=0, comment="Notes withdrawn at the source whose facts were removed."
    )
    mentions: Mapped[int] = mapped_column(Integer, default=0, comment="Mentions loaded.")
    resources: Mapped[int] = mapped_column(Integer, default=0, comment="FHIR resources loaded.")
    duration_s: Mapped[float | None] = mapped_column(Float, comment="Wall time in seconds.")
    metrics: Mapped[dict[str, Any] | None] = mapped_column(
        json_type(), comment="Timings per stage and throughput (JSON)."
    )


class NoteRow(Base):
    """A note as last loaded: ids, hash and processing status; text only if configured."""

    __tablename__ = "note"
    __table_args__ = (
        Index("ix_note__patient_ref", "patient_ref"),
        {"comment": "One row per source note (latest version): ids, text hash, status."},
    )

    note_id: Mapped[str] = mapped_column(String(512), primary_key=True, comment="Source note id.")
    source: Mapped[str] = mapped_column(String(256), comment="Source system URI.")
    patient_ref: Mapped[str | None] = mapped_column(
        String(256), comment="Patient id (pseudonymised when a key is configured)."
    )
    encounter_ref: Mapped[str | None] = mapped_column(
        String(256), comment="Encounter id (pseudonymised when a key is configured)."
    )
    note_type: Mapped[str | None] = mapped_column(String(128), comment="Kind of note.")
    authored_at: Mapped[datetime | None] = mapped_column(comment="Note date (UTC).")
    text_sha256: Mapped[str] = mapped_column(String(64), comment="SHA-256 of the note text.")
    text_length: Mapped[int] = mapped_column(Integer, comment="Length of the text in characters.")
    version: Mapped[int] = mapped_column(
        Integer, default=1, comment="Times a changed text replaced this note's facts (1 = first)."
    )
    status: Mapped[str] = mapped_column(
        String(16), comment="processed, empty, failed or retracted."
    )
    source_status: Mapped[str] = mapped_column(
        String(32), comment="Status at the source: current, superseded, entered-in-error."
    )
    text_stored: Mapped[bool] = mapped_column(Boolean, comment="Whether `text` holds the note.")
    text: Mapped[str | None] = mapped_column(
        Text, comment="Note text, only when the deployment stores text (off by default)."
    )
    pipeline_version: Mapped[str] = mapped_column(String(64), comment="notestruct version used.")
    rules_version: Mapped[str] = mapped_column(String(64), comment="Rule-set version used.")
    run_id: Mapped[str] = mapped_column(String(64), comment="Run that last loaded this note.")
    processed_at: Mapped[datetime] = mapped_column(comment="When this note was last loaded (UTC).")
    mention_count: Mapped[int] = mapped_column(Integer, default=0, comment="Mentions loaded.")


class MentionRow(Base):
    """A finding in a note, with assertion flags and provenance."""

    __tablename__ = "mention"
    __table_args__ = (
        Index("ix_mention__note_id", "note_id"),
        Index("ix_mention__label", "label"),
        {"comment": "One row per mention: span offsets, label, assertion flags, provenance."},
    )

    mention_id: Mapped[str] = mapped_column(
        String(36),
        primary_key=True,
        comment="Deterministic UUIDv5 (note, offsets, label, extractor).",
    )
    note_id: Mapped[str] = mapped_column(String(512), comment="Note the mention is in.")
    start_char: Mapped[int] = mapped_column(Integer, comment="Start offset in the note text.")
    end_char: Mapped[int] = mapped_column(Integer, comment="End offset (exclusive).")
    label: Mapped[str] = mapped_column(
        String(32), comment="PROBLEM, MEDICATION, PROCEDURE, LAB, VITAL, ALLERGY, ..."
    )
    text: Mapped[str | None] = mapped_column(
        Text, comment="Mention text, only when the deployment stores text (off by default)."
    )
    section: Mapped[str | None] = mapped_column(String(64), comment="Section category.")
    is_negated: Mapped[bool] = mapped_column(Boolean, comment="Said to be absent.")
    is_uncertain: Mapped[bool] = mapped_column(Boolean, comment="Possible, suspected.")
    is_historical: Mapped[bool] = mapped_column(Boolean, comment="In the past, not current.")
    is_hypothetical: Mapped[bool] = mapped_column(Boolean, comment="Might happen (if, should).")
    is_family: Mapped[bool] = mapped_column(Boolean, comment="About a family member.")
    is_conditional: Mapped[bool] = mapped_column(Boolean, comment="Depends on a condition.")
    experiencer: Mapped[str | None] = mapped_column(
        String(64), comment="Family member the mention is about, when is_family."
    )
    attributes: Mapped[dict[str, Any] | None] = mapped_column(
        json_type(),
        comment="Structured values: dose, route, frequency, value, unit, flags (JSON); "
        "also flattened into mention_attribute.",
    )
    extractor: Mapped[str] = mapped_column(String(64), comment="Extractor that found it.")
    extractor_version: Mapped[int] = mapped_column(Integer, comment="Extractor version.")
    rule_id: Mapped[str | None] = mapped_column(String(256), comment="Rule or dictionary entry.")
    pipeline_version: Mapped[str] = mapped_column(String(64), comment="notestruct version.")
    run_id: Mapped[str] = mapped_column(String(64), comment="Run that loaded it.")


class MentionCoding(Base):
    """A code attached to a mention."""

    __tablename__ = "mention_coding"
    __table_args__ = (
        Index("ix_mention_coding__system_code", "system", "code"),
        {"comment": "Codes of each mention (ICD-10-CM, SNOMED CT, RxNorm, LOINC, ...)."},
    )

    mention_id: Mapped[str] = mapped_column(String(36), primary_key=True, comment="Mention.")
    system: Mapped[str] = mapped_column(String(128), primary_key=True, comment="Code system URI.")
    code: Mapped[str] = mapped_column(String(64), primary_key=True, comment="Code.")
    display: Mapped[str | None] = mapped_column(Text, comment="Display name of the code.")
    coder: Mapped[str | None] = mapped_column(String(64), comment="Coder that attached it.")
    score: Mapped[float | None] = mapped_column(Float, comment="Coder confidence, if any.")
    note_id: Mapped[str] = mapped_column(String(512), index=True, comment="Note (for deletes).")


class MentionAttribute(Base):
    """One structured value of a mention (flattened from ``mention.attributes`` at load)."""

    __tablename__ = "mention_attribute"
    __table_args__ = (
        Index("ix_mention_attribute__note_id", "note_id"),
        Index("ix_mention_attribute__key", "key"),
        {
            "comment": "Mention attributes as key/value rows (dose, route, frequency, value, "
            "unit, ...), so views read them with portable SQL on SQLite and PostgreSQL."
        },
    )

    mention_id: Mapped[str] = mapped_column(String(36), primary_key=True, comment="Mention.")
    key: Mapped[str] = mapped_column(
        String(128),
        primary_key=True,
        comment="Attribute name; nested objects are flattened with dots (e.g. dose.unit).",
    )
    note_id: Mapped[str] = mapped_column(String(512), comment="Note (for deletes).")
    value_text: Mapped[str | None] = mapped_column(
        Text, comment="Value as text (lists as JSON, booleans as true/false)."
    )
    value_num: Mapped[float | None] = mapped_column(
        Float, comment="Value as a number when it is one, else NULL."
    )


class FhirResource(Base):
    """A FHIR R4 resource derived from a note (JSON as exported)."""

    __tablename__ = "fhir_resource"
    __table_args__ = (
        Index("ix_fhir_resource__note_id", "note_id"),
        Index("ix_fhir_resource__resource_type", "resource_type"),
        {"comment": "FHIR R4 resources derived from notes, as JSON."},
    )

    resource_type: Mapped[str] = mapped_column(
        String(64), primary_key=True, comment="FHIR resource type."
    )
    resource_id: Mapped[str] = mapped_column(
        String(64), primary_key=True, comment="Resource id (deterministic)."
    )
    note_id: Mapped[str] = mapped_column(String(512), comment="Source note.")
    mention_id: Mapped[str | None] = mapped_column(String(36), comment="Source mention, if any.")
    resource: Mapped[dict[str, Any]] = mapped_column(
        json_type(), comment="The resource as FHIR JSON."
    )
    run_id: Mapped[str] = mapped_column(String(64), comment="Run that loaded it.")


class NoteNlp(Base):
    """OMOP CDM v5.4 NOTE_NLP rows, one per mention."""

    __tablename__ = "note_nlp"
    __table_args__ = (
        Index("ix_note_nlp__note_key", "note_key"),
        {"comment": "OMOP CDM v5.4 NOTE_NLP shape; one row per mention (ids shared)."},
    )

    note_nlp_id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=False, comment="From the mention id."
    )
    mention_id: Mapped[str] = mapped_column(String(36), comment="notestruct mention id.")
    note_key: Mapped[str] = mapped_column(String(512), comment="notestruct note id (source id).")
    note_id: Mapped[int] = mapped_column(BigInteger, comment="OMOP integer note id (hash).")
    section_concept_id: Mapped[int] = mapped_column(Integer, comment="OMOP section concept (0).")
    snippet: Mapped[str | None] = mapped_column(Text, comment="Text around the mention (privacy).")
    offset: Mapped[str] = mapped_column(String(50), comment="Character offset of the mention.")
    lexical_variant: Mapped[str] = mapped_column(Text, comment="Mention text (privacy setting).")
    note_nlp_concept_id: Mapped[int] = mapped_column(Integer, comment="Standard concept (0).")
    note_nlp_source_concept_id: Mapped[int] = mapped_column(Integer, comment="Source concept.")
    nlp_system: Mapped[str] = mapped_column(String(250), comment="notestruct and versions.")
    nlp_date: Mapped[str] = mapped_column(String(10), comment="Processing date (YYYY-MM-DD).")
    nlp_datetime: Mapped[datetime | None] = mapped_column(comment="Processing time (UTC).")
    term_exists: Mapped[str] = mapped_column(String(1), comment="Y if affirmed for the patient.")
    term_temporal: Mapped[str | None] = mapped_column(String(50), comment="present or past.")
    term_modifiers: Mapped[str | None] = mapped_column(
        String(2000), comment="Assertions, codes and attributes (key=value; ...)."
    )


class NoteErrorRow(Base):
    """A dead letter: a note or record that could not be processed. Never holds note text."""

    __tablename__ = "note_error"
    __table_args__ = (
        Index("ix_note_error__run_id", "run_id"),
        Index("ix_note_error__note_id", "note_id"),
        {"comment": "Dead letters: records that failed, with stage and error type, no text."},
    )

    error_id: Mapped[int] = mapped_column(
        Integer, primary_key=True, autoincrement=True, comment="Row id."
    )
    run_id: Mapped[str] = mapped_column(String(64), comment="Run that met the error.")
    note_id: Mapped[str | None] = mapped_column(String(512), comment="Note id, if it had one.")
    source: Mapped[str] = mapped_column(String(256), comment="Source system URI.")
    locator: Mapped[str | None] = mapped_column(
        String(512), comment="Where in the source (file name and line), to find the record."
    )
    stage: Mapped[str] = mapped_column(String(32), comment="read, validate, nlp, map, load.")
    error_type: Mapped[str] = mapped_column(String(128), comment="Error class.")
    message: Mapped[str] = mapped_column(Text, comment="What went wrong (never note text).")
    created_at: Mapped[datetime] = mapped_column(comment="When (UTC).")


class RunLock(Base):
    """A lease on a source: one ingestion run at a time per source, taken over when stale."""

    __tablename__ = "run_lock"
    __table_args__ = {
        "comment": "Which run is ingesting a source now; a crashed run's lease goes stale."
    }

    lock_key: Mapped[str] = mapped_column(
        String(64),
        primary_key=True,
        comment="Source key being ingested (hash, as in pipeline_run).",
    )
    run_id: Mapped[str] = mapped_column(String(64), comment="Run holding the lease.")
    owner: Mapped[str] = mapped_column(
        String(256), comment="Host and process id holding the lease (host:pid)."
    )
    acquired_at: Mapped[datetime] = mapped_column(comment="When the lease was taken (UTC).")
    heartbeat_at: Mapped[datetime] = mapped_column(
        comment="Last sign of life of the holder (UTC); stale after the configured age."
    )

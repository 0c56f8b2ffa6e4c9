"""The analyst views: names, purpose and column contract (the SQL lives in the migrations).

A view's SQL is frozen in the migration that creates it (``0003`` and later), because a
migration must keep producing the same schema when it is replayed. This module is the
contract analysts rely on: which views exist and which typed columns they have. A test
compares it with the columns of the views a real ``upgrade head`` creates, on SQLite and
PostgreSQL; renaming a view column is a breaking change and needs a new migration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnType = Literal["string", "int", "float", "bool", "timestamp"]


@dataclass(frozen=True)
class ViewColumn:
    """One column of a view."""

    name: str
    type: ColumnType
    description: str


@dataclass(frozen=True)
class View:
    """One analyst view."""

    name: str
    purpose: str
    columns: tuple[ViewColumn, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        """Column names in view order."""
        return tuple(c.name for c in self.columns)


def _c(name: str, type_: ColumnType, description: str) -> ViewColumn:
    return ViewColumn(name, type_, description)


_CONCEPT = (
    _c("concept_system", "string", "Code system URI of the mention's primary code."),
    _c("concept_code", "string", "Primary code (SNOMED CT, RxNorm, LOINC, ICD-10-CM, ...)."),
    _c(
        "concept_display",
        "string",
        "Display name of the primary code. A mention without a code is 'uncoded <label>' "
        "when only its name identifies it (uncoded medication), else named by its rule id: "
        "the part after the first ':', with '-' and '_' as spaces (curated:free-fluid -> "
        "free fluid), or by its label in lower case when it has no rule id; never by note text.",
    ),
)
_CONCEPT_KEY = _c(
    "concept_key",
    "string",
    "system|code; when uncoded name:<hash of the normalised name> (a drug nothing codes), "
    "else rule:<rule id>, else label:<label>.",
)
_FLAGS = tuple(
    _c(f"is_{flag}", "bool", f"Assertion flag: {flag}.")
    for flag in ("negated", "uncertain", "historical", "hypothetical", "family", "conditional")
)

VIEWS: tuple[View, ...] = (
    View(
        "mention_current",
        "Every mention of every currently processed note, with patient, note date, "
        "assertion and primary code; no note text, no versions.",
        (
            _c("mention_id", "string", "Mention id (deterministic)."),
            _c("note_id", "string", "Source note id."),
            _c("patient_ref", "string", "Patient id (pseudonymised when configured)."),
            _c("encounter_ref", "string", "Encounter id."),
            _c("note_type", "string", "Kind of note."),
            _c("note_date", "timestamp", "Note date (UTC)."),
            _c("label", "string", "PROBLEM, MEDICATION, PROCEDURE, LAB, VITAL, ALLERGY, ..."),
            _c("section", "string", "Section category."),
            _c("start_char", "int", "Start offset in the note text."),
            _c("end_char", "int", "End offset (exclusive)."),
            _c(
                "assertion",
                "string",
                "One word, the first that applies: hypothetical, family_negated, family, "
                "no_known_allergy, negated, uncertain, historical (also a negation that "
                "resolved), affirmed; the order of FHIR and OMOP (schemas.model.assertion_state).",
            ),
            *_FLAGS,
            _c("experiencer", "string", "Family member, when is_family."),
            *_CONCEPT,
            _CONCEPT_KEY,
            _c("extractor", "string", "Extractor that found it."),
            _c("extractor_version", "int", "Extractor version."),
            _c("rule_id", "string", "Rule or dictionary entry."),
        ),
    ),
    View(
        "condition_current",
        "FHIR Condition resources of current notes, with verification and clinical status "
        "read from the resource JSON.",
        (
            _c("condition_id", "string", "FHIR Condition id."),
            _c("patient_ref", "string", "Patient id."),
            _c("note_id", "string", "Source note id."),
            _c("note_date", "timestamp", "Note date (UTC)."),
            _c("mention_id", "string", "Source mention."),
            *_CONCEPT,
            _c("verification_status", "string", "confirmed, provisional, refuted, ..."),
            _c("clinical_status", "string", "active, inactive, resolved, or NULL when unset."),
            _c("section", "string", "Section category."),
        ),
    ),
    View(
        "problem_list",
        "Active problem list per patient: problems affirmed for the patient (not negated, "
        "not uncertain, not family, not hypothetical) in the latest note that mentions them.",
        (
            _c("patient_ref", "string", "Patient id."),
            *_CONCEPT,
            _CONCEPT_KEY,
            _c("first_noted", "timestamp", "Date of the first note affirming the problem."),
            _c("last_noted", "timestamp", "Date of the latest note mentioning it."),
            _c("last_note_id", "string", "Latest note mentioning it."),
            _c("note_count", "int", "Notes affirming it."),
            _c("historical_only", "bool", "True when the latest note only mentions it as past."),
        ),
    ),
    View(
        "medication_list",
        "Medication list per patient: each drug as last mentioned (latest note wins), with "
        "status, strength, dose, route, frequency and PRN.",
        (
            _c("patient_ref", "string", "Patient id."),
            *_CONCEPT,
            _CONCEPT_KEY,
            _c("status", "string", "active, not-taken (negated), completed (historical), unknown."),
            _c("strength", "string", "Strength, e.g. 500 mg."),
            _c("dose", "string", "Dose, e.g. 1 tablet."),
            _c("route", "string", "Route, e.g. oral."),
            _c("frequency", "string", "Frequency code, e.g. BID."),
            _c("prn", "bool", "As needed."),
            _c("last_noted", "timestamp", "Date of the latest note mentioning it."),
            _c("last_note_id", "string", "Latest note mentioning it."),
            _c("mention_id", "string", "The mention the row comes from."),
        ),
    ),
    View(
        "observation_series",
        "Vital signs and lab results as a time series: value, unit and note date.",
        (
            _c("patient_ref", "string", "Patient id."),
            _c("note_id", "string", "Source note id."),
            _c("note_date", "timestamp", "Note date (UTC): the time of the observation."),
            _c("label", "string", "VITAL or LAB."),
            *_CONCEPT,
            _c("value_num", "float", "Numeric value."),
            _c("value_text", "string", "Value as written in structured form (or qualitative)."),
            _c("unit", "string", "UCUM unit."),
            _c("systolic", "float", "Blood pressure systolic value."),
            _c("diastolic", "float", "Blood pressure diastolic value."),
            _c("interpretation", "string", "Abnormal flag (H, L, HH, LL, A, ...)."),
            _c("is_negated", "bool", "Said not to have been done."),
            _c("mention_id", "string", "Source mention."),
        ),
    ),
    View(
        "negated_finding",
        "Findings stated as absent for the patient (pertinent negatives).",
        (
            _c("patient_ref", "string", "Patient id."),
            _c("note_id", "string", "Source note id."),
            _c("note_date", "timestamp", "Note date (UTC)."),
            _c("label", "string", "Mention label."),
            *_CONCEPT,
            _c("section", "string", "Section category."),
            _c("mention_id", "string", "Source mention."),
        ),
    ),
    View(
        "family_history",
        "Findings about family members, with the relative when known.",
        (
            _c("patient_ref", "string", "Patient id."),
            _c("note_id", "string", "Source note id."),
            _c("note_date", "timestamp", "Note date (UTC)."),
            _c("label", "string", "Mention label."),
            *_CONCEPT,
            _c("relative", "string", "Family member (mother, brother, ...), when stated."),
            _c("is_negated", "bool", "Stated as absent in the family."),
            _c("mention_id", "string", "Source mention."),
        ),
    ),
    View(
        "note_status",
        "Processing status of every note seen: processed, empty, failed or retracted, "
        "with the last error for failed ones.",
        (
            _c("note_id", "string", "Source note id."),
            _c("source", "string", "Source system URI."),
            _c("patient_ref", "string", "Patient id."),
            _c("note_type", "string", "Kind of note."),
            _c("note_date", "timestamp", "Note date (UTC)."),
            _c("status", "string", "processed, empty, failed or retracted."),
            _c("source_status", "string", "Status at the source."),
            _c("mention_count", "int", "Mentions loaded."),
            _c("processed_at", "timestamp", "When last loaded or when the error happened."),
            _c("error_stage", "string", "Stage of the last error, for failed notes."),
            _c("error_type", "string", "Error class of the last error, for failed notes."),
        ),
    ),
    View(
        "run_history",
        "One row per pipeline run: status, versions, counts, errors, duration, throughput.",
        (
            _c("run_id", "string", "Run id."),
            _c("flow", "string", "nightly-ingest, reprocess, ..."),
            _c("status", "string", "running, completed, failed or crashed."),
            _c("started_at", "timestamp", "Start (UTC)."),
            _c("finished_at", "timestamp", "End (UTC)."),
            _c("duration_s", "float", "Wall time in seconds."),
            _c("pipeline_version", "string", "notestruct version."),
            _c("rules_version", "string", "Rule-set version."),
            _c("dictionary_version", "string", "Terminology dictionary version."),
            _c("source_kind", "string", "directory, jsonl, csv, fhir, sql."),
            _c("notes_seen", "int", "Records read."),
            _c("notes_processed", "int", "Notes extracted and loaded."),
            _c("notes_unchanged", "int", "Notes skipped as unchanged."),
            _c("notes_failed", "int", "Records dead-lettered."),
            _c("notes_retracted", "int", "Notes retracted."),
            _c("mentions", "int", "Mentions loaded."),
            _c("resources", "int", "FHIR resources loaded."),
            _c("notes_per_s", "float", "Records read per second of wall time."),
            _c("error_rows", "int", "note_error rows recorded by the run."),
        ),
    ),
    View(
        "mention_attribute_current",
        "Structured attributes of current mentions as key/value rows (any extractor).",
        (
            _c("mention_id", "string", "Mention."),
            _c("note_id", "string", "Source note id."),
            _c("patient_ref", "string", "Patient id."),
            _c("label", "string", "Mention label."),
            _c("key", "string", "Attribute name (nested names joined with dots)."),
            _c("value_text", "string", "Value as text."),
            _c("value_num", "float", "Value as a number, when numeric."),
        ),
    ),
    View(
        "patient_concept_feature",
        "Patient-by-concept features for models (long format): mention and note counts and "
        "first/last-seen dates per assertion class.",
        (
            _c("patient_ref", "string", "Patient id."),
            _c("label", "string", "Mention label."),
            *_CONCEPT,
            _CONCEPT_KEY,
            _c(
                "assertion",
                "string",
                "affirmed, negated, uncertain, historical, hypothetical, conditional or family.",
            ),
            _c("mention_count", "int", "Mentions."),
            _c("note_count", "int", "Distinct notes."),
            _c("first_seen", "timestamp", "Earliest note date."),
            _c("last_seen", "timestamp", "Latest note date."),
        ),
    ),
)

VIEW_NAMES: tuple[str, ...] = tuple(v.name for v in VIEWS)


def view(name: str) -> View:
    """The view called ``name``.

    Raises:
        KeyError: no such view.
    """
    for v in VIEWS:
        if v.name == name:
            return v
    raise KeyError(name)

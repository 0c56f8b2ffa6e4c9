"""Frozen pydantic records passed between notestruct stages (no spaCy objects cross them)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Labels the built-in extractors emit. Extractors may declare more.
LABELS: frozenset[str] = frozenset(
    {"PROBLEM", "MEDICATION", "PROCEDURE", "LAB", "VITAL", "ALLERGY"}
)

#: Assertion flag names, in output order; they match medspaCy's span attributes minus ``is_``.
ASSERTION_FLAGS: tuple[str, ...] = (
    "negated",
    "uncertain",
    "historical",
    "hypothetical",
    "family",
    "conditional",
)


class Record(BaseModel):
    """Base for every record: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Coding(Record):
    """A code from a terminology attached to a mention."""

    system: str
    code: str
    display: str | None = None
    score: float | None = None
    coder: str | None = None


class Assertion(Record):
    """Context of a mention; all flags default to affirmed, current, about the patient."""

    is_negated: bool = False
    is_uncertain: bool = False
    is_historical: bool = False
    is_hypothetical: bool = False
    is_family: bool = False
    is_conditional: bool = False
    #: Who the mention is about when ``is_family`` (e.g. "mother"); None for the patient.
    experiencer: str | None = None


class Provenance(Record):
    """Which code produced a mention."""

    extractor: str
    extractor_version: int
    rule_id: str | None = None
    pipeline_version: str
    run_id: str | None = None


class Section(Record):
    """A section of a note as found by the sectionizer."""

    category: str | None
    start_char: int
    end_char: int
    parent: str | None = None


def sha256_text(text: str) -> str:
    """Hex SHA-256 of the UTF-8 encoding of ``text``."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class Note(Record):
    """A clinical note as read from a source system; ``text`` is never altered."""

    note_id: str = Field(min_length=1, max_length=512)
    source: str = "urn:notestruct:source:unknown"
    patient_ref: str | None = None
    encounter_ref: str | None = None
    note_type: str | None = None
    authored_at: datetime | None = None
    text: str
    text_sha256: str = ""
    #: Source status: "current", "superseded" or "entered-in-error" (FHIR DocumentReference).
    status: str = "current"
    #: For text derived from a document (HTML, RTF, PDF, CDA, HL7 v2): the converter and its
    #: version (``pdf@1+pypdf-5.1.0``); offsets are into ``text``, the derived text. None for
    #: notes that arrived as plain text.
    converter: str | None = None
    #: The document the text was derived from: ``Type/id`` (a FHIR resource) or
    #: ``system|value`` (an identifier, e.g. a CDA id or an HL7 v2 message control id).
    source_document: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _fill_hash(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and not data.get("text_sha256")
            and isinstance(data.get("text"), str)
        ):
            data = {**data, "text_sha256": sha256_text(data["text"])}
        return data

    @field_validator("authored_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("authored_at must be timezone-aware")
        return value


class Mention(Record):
    """One finding in a note: span, label, assertion, codes, structured attributes."""

    mention_id: str
    note_id: str
    start_char: int = Field(ge=0)
    end_char: int = Field(ge=0)
    text: str
    label: str
    section: str | None = None
    assertion: Assertion = Assertion()
    codings: tuple[Coding, ...] = ()
    #: Structured values (dose, route, value, unit, ...); JSON-able scalars or lists.
    attributes: dict[str, Any] = Field(default_factory=dict)
    provenance: Provenance

    @model_validator(mode="after")
    def _span_ok(self) -> Mention:
        if self.end_char < self.start_char:
            raise ValueError("end_char before start_char")
        if len(self.text) != self.end_char - self.start_char:
            raise ValueError("mention text length does not match its offsets")
        return self

    def to_contract(self) -> dict[str, Any]:
        """The ``notestruct extract`` output shape of this mention."""
        a = self.assertion
        return {
            "start": self.start_char,
            "end": self.end_char,
            "text": self.text,
            "label": self.label,
            "codes": [
                {"system": c.system, "code": c.code, "display": c.display} for c in self.codings
            ],
            "negated": a.is_negated,
            "uncertain": a.is_uncertain,
            "historical": a.is_historical,
            "hypothetical": a.is_hypothetical,
            "family": a.is_family,
            "conditional": a.is_conditional,
            "section": self.section,
            "extractor": self.provenance.extractor,
            "rule_id": self.provenance.rule_id,
            "attributes": dict(self.attributes),
        }


#: A mention's assertion state: the first state of this list whose test holds. One order for
#: every consumer: the FHIR policy table (``schemas.fhir``), OMOP's ``term_exists``
#: (``schemas.omop``) and the warehouse's ``mention_current.assertion`` (migration 0011,
#: checked against this function by tests/warehouse/test_assertion_state.py).
ASSERTION_STATES: tuple[str, ...] = (
    "hypothetical",  # planned, conditional on the future, or asked about: nothing happened yet
    "family_negated",  # about a relative, stated absent in them
    "family",  # about a relative
    "no_known_allergy",  # an ALLERGY mention stating there is none
    "negated",  # absent (a negation with the attribute resolved is "historical": it went away)
    "uncertain",
    "historical",
    "affirmed",
)


def assertion_state(mention: Mention) -> str:
    """The assertion state of a mention: the first of ``ASSERTION_STATES`` that applies."""
    a = mention.assertion
    if a.is_hypothetical:
        return "hypothetical"
    if a.is_family:
        return "family_negated" if a.is_negated else "family"
    if mention.label == "ALLERGY" and mention.attributes.get("no_known_allergy") is True:
        return "no_known_allergy"
    if a.is_negated:
        # "the effusion resolved": absent now because it went away, not refuted
        return "historical" if mention.attributes.get("resolved") is True else "negated"
    if a.is_uncertain:
        return "uncertain"
    if a.is_historical:
        return "historical"
    return "affirmed"


class NoteResult(Record):
    """Everything the pure stages produced for one note."""

    note: Note
    mentions: tuple[Mention, ...] = ()
    sections: tuple[Section, ...] = ()
    #: FHIR resources as plain JSON dicts (already validated through fhir.resources).
    resources: tuple[dict[str, Any], ...] = ()
    #: OMOP NOTE_NLP rows as dicts.
    note_nlp: tuple[dict[str, Any], ...] = ()


class NoteError(Record):
    """A dead letter: a note (or source record) that failed at some stage. No note text."""

    note_id: str | None
    source: str
    stage: str
    error_type: str
    message: str
    #: Position in the source (line number, file name) so a person can find the record.
    locator: str | None = None

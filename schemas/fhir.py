"""FHIR R4 mapping (fhir.resources R4B models): mentions and notes to validated resource dicts."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.familymemberhistory import FamilyMemberHistory
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.provenance import Provenance

from schemas.ai import label_ai
from schemas.ids import resource_id
from schemas.model import Mention, Note, assertion_state

Resource = dict[str, Any]

# -- systems and URLs ------------------------------------------------------------------------
DERIVATION_URL = "http://hl7.org/fhir/StructureDefinition/derivation-reference"
DATA_ABSENT_URL = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
#: notestruct's own extensions (assertion flags, run versions); URNs, not resolvable URLs.
ASSERTION_URL = "urn:notestruct:fhir:StructureDefinition:mention-assertion"
VERSIONS_URL = "urn:notestruct:fhir:StructureDefinition:run-versions"
TAG_EXTRACTOR = "urn:notestruct:extractor"
TAG_MENTION = "urn:notestruct:mention"
TAG_RUN = "urn:notestruct:run"
CONDITION_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
US_CORE_CONDITION_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/condition-category"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VER = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
OBS_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
TIMING_ABBREVIATION = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
PROVENANCE_AGENT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"


class MappingError(Exception):
    """A mention could not be expressed as a valid FHIR resource."""


# -- the assertion policy --------------------------------------------------------------------
#: Assertion states, in precedence order: a mention takes the first state whose flags it has.
STATES: tuple[str, ...] = (
    "hypothetical",
    "family_negated",
    "family",
    "no_known_allergy",
    "negated",
    "uncertain",
    "historical",
    "affirmed",
)

#: Value of a status element that is read from the text around the mention (cue tables below)
#: and otherwise left unset.
FROM_TEXT = "@text"
#: Read from the text around the mention, otherwise ``active``.
FROM_TEXT_OR_ACTIVE = "@text|active"
#: Observation.effectiveDateTime is the note's date.
NOTE_DATE = "@note-date"


@dataclass(frozen=True)
class PolicyRow:
    """One row of the assertion-to-FHIR policy: what a mention in ``state`` with ``label`` becomes.

    ``label`` ``"*"`` matches every label without a row of its own. ``resource`` ``None`` means
    no clinical resource (the mention stays in the mention table and NOTE_NLP). ``elements``
    gives the FHIR element values the mapper sets (codes from required bindings, or one of the
    markers ``FROM_TEXT``, ``FROM_TEXT_OR_ACTIVE``, ``NOTE_DATE``); an element absent here is
    left unset.
    """

    state: str
    label: str
    resource: str | None
    elements: Mapping[str, str] = field(default_factory=dict)
    why: str = ""


#: THE assertion policy. Mappers read it; they hold no assertion logic of their own. Change a
#: row only together with its test (tests/schemas/test_fhir_policy.py) and docs/fhir.md
#: (``python -m schemas.fhir`` prints the table).
POLICY: tuple[PolicyRow, ...] = (
    PolicyRow("hypothetical", "*", None, {}, "Not a fact about the patient (if/should/risk of)."),
    PolicyRow(
        "family_negated",
        "*",
        None,
        {},
        "R4 FamilyMemberHistory cannot refute a condition; NOTE_NLP keeps term_exists=N.",
    ),
    PolicyRow(
        "family",
        "PROBLEM",
        "FamilyMemberHistory",
        {"status": "partial"},
        "A relative's condition; relationship from v3 RoleCode, one condition per resource.",
    ),
    PolicyRow(
        "family", "*", None, {}, "A relative's medication, lab or procedure: not the patient's."
    ),
    PolicyRow(
        "no_known_allergy",
        "ALLERGY",
        "AllergyIntolerance",
        {"code": "no-known-allergy", "clinicalStatus": "active", "verificationStatus": "confirmed"},
        "The negation is in the code (SNOMED 'No known ... allergy'), not in the status.",
    ),
    PolicyRow(
        "negated", "PROBLEM", "Condition", {"verificationStatus": "refuted"}, "Denied problem."
    ),
    PolicyRow(
        "negated", "MEDICATION", "MedicationStatement", {"status": "not-taken"}, "Not taking it."
    ),
    PolicyRow("negated", "PROCEDURE", "Procedure", {"status": "not-done"}, "Not performed."),
    PolicyRow(
        "negated",
        "ALLERGY",
        "AllergyIntolerance",
        {"verificationStatus": "refuted", "clinicalStatus": "inactive"},
        "Not allergic; clinicalStatus is mandatory (ait-1).",
    ),
    PolicyRow(
        "negated", "*", None, {}, "A measurement cannot be refuted; negation on one is noise."
    ),
    PolicyRow(
        "uncertain",
        "PROBLEM",
        "Condition",
        {"verificationStatus": "provisional", "clinicalStatus": FROM_TEXT_OR_ACTIVE},
        "Possible / rule out: a working diagnosis, active unless the text says otherwise.",
    ),
    PolicyRow(
        "uncertain", "MEDICATION", "MedicationStatement", {"status": "unknown"}, "Unclear use."
    ),
    PolicyRow("uncertain", "PROCEDURE", "Procedure", {"status": "unknown"}, "Unclear if done."),
    PolicyRow(
        "uncertain",
        "ALLERGY",
        "AllergyIntolerance",
        {"verificationStatus": "unconfirmed", "clinicalStatus": "active"},
        "Suspected allergy.",
    ),
    PolicyRow(
        "uncertain",
        "LAB",
        "Observation",
        {"status": "preliminary", "effectiveDateTime": NOTE_DATE},
        "Unverified result.",
    ),
    PolicyRow(
        "uncertain",
        "VITAL",
        "Observation",
        {"status": "preliminary", "effectiveDateTime": NOTE_DATE},
        "Unverified measurement.",
    ),
    PolicyRow(
        "historical",
        "PROBLEM",
        "Condition",
        {"verificationStatus": "confirmed", "clinicalStatus": FROM_TEXT},
        "Past problem: inactive/resolved/remission only where the text says so.",
    ),
    PolicyRow(
        "historical",
        "MEDICATION",
        "MedicationStatement",
        {"status": "completed"},
        "Past use.",
    ),
    PolicyRow("historical", "PROCEDURE", "Procedure", {"status": "completed"}, "Past procedure."),
    PolicyRow(
        "historical",
        "ALLERGY",
        "AllergyIntolerance",
        {"verificationStatus": "confirmed", "clinicalStatus": FROM_TEXT_OR_ACTIVE},
        "An allergy stays active unless the text says it resolved.",
    ),
    PolicyRow(
        "historical", "LAB", "Observation", {"status": "final"}, "Past result: date unknown."
    ),
    PolicyRow(
        "historical", "VITAL", "Observation", {"status": "final"}, "Past value: date unknown."
    ),
    PolicyRow(
        "affirmed",
        "PROBLEM",
        "Condition",
        {"verificationStatus": "confirmed", "clinicalStatus": FROM_TEXT_OR_ACTIVE},
        "Current problem.",
    ),
    PolicyRow(
        "affirmed",
        "MEDICATION",
        "MedicationStatement",
        {"status": FROM_TEXT_OR_ACTIVE},
        "Current medication; on-hold/stopped where the text says so.",
    ),
    PolicyRow("affirmed", "PROCEDURE", "Procedure", {"status": "completed"}, "Procedure done."),
    PolicyRow(
        "affirmed",
        "ALLERGY",
        "AllergyIntolerance",
        {"verificationStatus": "confirmed", "clinicalStatus": FROM_TEXT_OR_ACTIVE},
        "Allergy.",
    ),
    PolicyRow(
        "affirmed",
        "LAB",
        "Observation",
        {"status": "final", "effectiveDateTime": NOTE_DATE},
        "Result in the note.",
    ),
    PolicyRow(
        "affirmed",
        "VITAL",
        "Observation",
        {"status": "final", "effectiveDateTime": NOTE_DATE},
        "Measurement in the note.",
    ),
)

_POLICY_INDEX: dict[tuple[str, str], PolicyRow] = {(r.state, r.label): r for r in POLICY}

#: Legal codes per status element (the required bindings of FHIR R4); the policy and the cue
#: tables may only use these, which the tests check.
REQUIRED_CODES: dict[tuple[str, str], frozenset[str]] = {
    ("Condition", "verificationStatus"): frozenset(
        {"unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"}
    ),
    ("Condition", "clinicalStatus"): frozenset(
        {"active", "recurrence", "relapse", "inactive", "remission", "resolved"}
    ),
    ("MedicationStatement", "status"): frozenset(
        {
            "active",
            "completed",
            "entered-in-error",
            "intended",
            "stopped",
            "on-hold",
            "unknown",
            "not-taken",
        }
    ),
    ("Procedure", "status"): frozenset(
        {
            "preparation",
            "in-progress",
            "not-done",
            "on-hold",
            "stopped",
            "completed",
            "entered-in-error",
            "unknown",
        }
    ),
    ("AllergyIntolerance", "clinicalStatus"): frozenset({"active", "inactive", "resolved"}),
    ("AllergyIntolerance", "verificationStatus"): frozenset(
        {"unconfirmed", "confirmed", "refuted", "entered-in-error"}
    ),
    ("Observation", "status"): frozenset(
        {
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    ("FamilyMemberHistory", "status"): frozenset(
        {"partial", "completed", "entered-in-error", "health-unknown"}
    ),
}

#: Status cues read from the clause around a mention (FROM_TEXT markers), per element.
STATUS_CUES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("Condition", "clinicalStatus"): (
        (r"in\s+(?:complete\s+|partial\s+)?remission", "remission"),
        (r"resolved|resolving\s+completely|healed|cured|no\s+longer\s+present", "resolved"),
        (r"inactive|quiescent|no\s+longer\s+active|burnt\s+out", "inactive"),
        (r"recurren(?:t|ce)|recurred", "recurrence"),
        (r"relaps(?:e|ed)", "relapse"),
    ),
    ("AllergyIntolerance", "clinicalStatus"): (
        (r"resolved|outgrew|outgrown|tolerated\s+since", "resolved"),
        (r"inactive|no\s+longer\s+allergic", "inactive"),
    ),
    ("MedicationStatement", "status"): (
        (r"held|holding|on\s+hold|hold(?=\s+(?:for|on|until|while))", "on-hold"),
        (r"discontinued|stopped|d/c'?d|ceased", "stopped"),
    ),
}
_CUE_RE = {
    key: [(re.compile(rf"(?<![\w-])(?:{p})(?![\w-])", re.IGNORECASE), code) for p, code in cues]
    for key, cues in STATUS_CUES.items()
}
_CLAUSE_END = re.compile(r"[.;\n]|\s,\s|,\s+(?:and|but)\s")

#: Section category -> Condition.category (system, code).
#: - Problem lists and past history are list items (``problem-list-item``).
#: - A chief complaint, reason for visit or reason for consultation is what the patient (or
#:   the referrer) brings to the visit, in their words: a symptom or concern, not the
#:   clinician's diagnosis of this encounter. It is a US Core ``health-concern``, so that
#:   ``encounter-diagnosis`` keeps meaning what was assessed in this encounter.
#: - Everything else is an ``encounter-diagnosis``.
SECTION_CONDITION_CATEGORY: dict[str, tuple[str, str]] = {
    "problem_list": (CONDITION_CATEGORY, "problem-list-item"),
    "past_medical_history": (CONDITION_CATEGORY, "problem-list-item"),
    "chief_complaint": (US_CORE_CONDITION_CATEGORY, "health-concern"),
    # the indication of a report ("INDICATION: Edema. FINDINGS: ...") is the question the
    # imaging or procedure answers, brought by the referrer: not what the report found
    "indication": (US_CORE_CONDITION_CATEGORY, "health-concern"),
}
DEFAULT_CONDITION_CATEGORY: tuple[str, str] = (CONDITION_CATEGORY, "encounter-diagnosis")


def condition_category(section: str | None) -> tuple[str, str]:
    """Condition.category (system, code) of a problem mentioned in ``section``."""
    return SECTION_CONDITION_CATEGORY.get(section or "", DEFAULT_CONDITION_CATEGORY)


#: Relative named in the text (ConText experiencer) -> v3 RoleCode (code, display).
RELATIONSHIPS: dict[str, tuple[str, str]] = {
    "mother": ("MTH", "mother"),
    "mom": ("MTH", "mother"),
    "mum": ("MTH", "mother"),
    "father": ("FTH", "father"),
    "dad": ("FTH", "father"),
    "parent": ("PRN", "parent"),
    "parents": ("PRN", "parent"),
    "brother": ("BRO", "brother"),
    "brothers": ("BRO", "brother"),
    "sister": ("SIS", "sister"),
    "sisters": ("SIS", "sister"),
    "sibling": ("SIB", "sibling"),
    "siblings": ("SIB", "sibling"),
    "twin": ("TWIN", "twin"),
    "son": ("SONC", "son"),
    "sons": ("SONC", "son"),
    "daughter": ("DAUC", "daughter"),
    "daughters": ("DAUC", "daughter"),
    "child": ("CHILD", "child"),
    "children": ("CHILD", "child"),
    "kids": ("CHILD", "child"),
    "grandmother": ("GRMTH", "grandmother"),
    "grandma": ("GRMTH", "grandmother"),
    "grandfather": ("GRFTH", "grandfather"),
    "grandpa": ("GRFTH", "grandfather"),
    "grandparent": ("GRPRN", "grandparent"),
    "grandparents": ("GRPRN", "grandparent"),
    "aunt": ("AUNT", "aunt"),
    "aunts": ("AUNT", "aunt"),
    "uncle": ("UNCLE", "uncle"),
    "uncles": ("UNCLE", "uncle"),
    "cousin": ("COUSN", "cousin"),
    "cousins": ("COUSN", "cousin"),
    "niece": ("NIECE", "niece"),
    "nephew": ("NEPHEW", "nephew"),
    "husband": ("HUSB", "husband"),
    "wife": ("WIFE", "wife"),
    "spouse": ("SPS", "spouse"),
}
FAMILY_MEMBER = ("FAMMEMB", "family member")
_RELATIVE_RE = re.compile(
    rf"(?<![\w-])({'|'.join(sorted(RELATIONSHIPS, key=len, reverse=True))})"
    r"(?![\w-])",
    re.IGNORECASE,
)

#: "No known allergy" statements by scope -> SNOMED CT situation (IPS absent/unknown codes).
NO_KNOWN_ALLERGY: dict[str, tuple[str, str]] = {
    "drug": ("409137002", "No known drug allergy"),
    "medication": ("409137002", "No known drug allergy"),
    "food": ("429625007", "No known food allergy"),
    "environment": ("428607008", "No known environmental allergy"),
    "environmental": ("428607008", "No known environmental allergy"),
}
NO_KNOWN_ALLERGY_DEFAULT = ("716186003", "No known allergy")
ALLERGY_CATEGORIES = frozenset({"food", "medication", "environment", "biologic"})

#: Abnormal flags -> v3 ObservationInterpretation.
INTERPRETATIONS: dict[str, tuple[str, str]] = {
    "H": ("H", "High"),
    "L": ("L", "Low"),
    "HH": ("HH", "Critical high"),
    "LL": ("LL", "Critical low"),
    "A": ("A", "Abnormal"),
    "AA": ("AA", "Critical abnormal"),
    "N": ("N", "Normal"),
    "HIGH": ("H", "High"),
    "LOW": ("L", "Low"),
    "ABNORMAL": ("A", "Abnormal"),
    "CRITICAL": ("AA", "Critical abnormal"),
    "NORMAL": ("N", "Normal"),
    "C": ("AA", "Critical abnormal"),
}
#: Qualitative lab results -> SNOMED CT qualifier values.
QUALITATIVE_RESULTS: dict[str, tuple[str, str]] = {
    "negative": ("260385009", "Negative"),
    "positive": ("10828004", "Positive"),
    "detected": ("260373001", "Detected"),
    "not detected": ("260415000", "Not detected"),
    "undetectable": ("260415000", "Not detected"),
    "normal": ("17621005", "Normal"),
    "within normal limits": ("17621005", "Normal"),
    "wnl": ("17621005", "Normal"),
    "unremarkable": ("17621005", "Normal"),
}
#: Sig frequency codes -> v3 GTSAbbreviation (TimingAbbreviation value set) where one exists.
TIMING_CODES: dict[str, str] = {
    "BID": "BID",
    "TID": "TID",
    "QID": "QID",
    "QD": "QD",
    "QOD": "QOD",
    "QAM": "AM",
    "QPM": "PM",
    "QH": "Q1H",
    "QWK": "WK",
    "QMO": "MO",
}
UNITS_OF_TIME = frozenset({"s", "min", "h", "d", "wk", "mo", "a"})
EVENT_TIMING = frozenset(
    {
        "MORN",
        "MORN.early",
        "MORN.late",
        "NOON",
        "AFT",
        "AFT.early",
        "AFT.late",
        "EVE",
        "EVE.early",
        "EVE.late",
        "NIGHT",
        "PHS",
        "HS",
        "WAKE",
        "C",
        "CM",
        "CD",
        "CV",
        "AC",
        "ACM",
        "ACD",
        "ACV",
        "PC",
        "PCM",
        "PCD",
        "PCV",
    }
)
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
BP_SYSTOLIC = ("8480-6", "Systolic blood pressure")
BP_DIASTOLIC = ("8462-4", "Diastolic blood pressure")
O2_FLOW = ("3151-8", "Inhaled oxygen flow rate")
VITAL_SIGNS_CATEGORY = {"system": OBS_CATEGORY, "code": "vital-signs", "display": "Vital Signs"}
LABORATORY_CATEGORY = {"system": OBS_CATEGORY, "code": "laboratory", "display": "Laboratory"}


def policy_row(mention: Mention) -> PolicyRow | None:
    """The policy row for a mention, or None for a label the policy does not know."""
    state = assertion_state(mention)
    return _POLICY_INDEX.get((state, mention.label)) or _POLICY_INDEX.get((state, "*"))


def policy_markdown() -> str:
    """The policy table (and cue tables) as markdown, for docs/fhir.md."""
    lines = [
        "| state | label | resource | elements | why |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in POLICY:
        elements = ", ".join(f"`{k}={v}`" for k, v in r.elements.items()).replace("|", "\\|")
        elements = elements or "—"
        lines.append(
            f"| {r.state} | {r.label} | {r.resource or '— (mention row only)'} | {elements} "
            f"| {r.why} |"
        )
    lines += ["", "| resource.element | text cue (regex) | code |", "| --- | --- | --- |"]
    for (rtype, element), cues in STATUS_CUES.items():
        for pattern, code in cues:
            escaped = pattern.replace("|", "\\|")
            lines.append(f"| {rtype}.{element} | `{escaped}` | {code} |")
    return "\n".join(lines) + "\n"


# -- value guards: anything from a note or an extractor passes through one of these ----------
_CODE_OK = re.compile(r"[^\s]+(?: [^\s]+)*")
_ID_OK = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_BAD_SPACE = re.compile(r"[^\S \r\n\t]")  # whitespace FHIR strings may not contain (NBSP, FF, …)


def _string(value: object) -> str | None:
    """A legal FHIR ``string`` or None."""
    if type(value) is not str:
        return None
    if _BAD_SPACE.search(value):
        value = _BAD_SPACE.sub(" ", value)
    return value if value.strip() else None


def _code(value: object) -> str | None:
    """A legal FHIR ``code`` (no leading/trailing or repeated whitespace) or None."""
    if type(value) is str and _CODE_OK.fullmatch(value):
        return value  # the common case: already clean
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = " ".join(str(value).split())
    return text if text and _CODE_OK.fullmatch(text) else None


_SPACE = re.compile(r"\s")


def _uri(value: object) -> str | None:
    if not isinstance(value, str) or not value or _SPACE.search(value):
        return None
    return value


def _decimal(value: object) -> int | float | None:
    """A finite JSON number or None (bools, NaN, infinities and strings are rejected)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _positive_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and 0 < value < 2**31 else None


_MAX_OFFSET = timedelta(hours=14)


def _instant(value: datetime) -> str:
    """FHIR instant/dateTime text; offsets FHIR cannot express (seconds, beyond ±14 h) → UTC."""
    offset = value.utcoffset()
    if offset is None or offset.seconds % 60 or abs(offset) > _MAX_OFFSET:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="seconds" if not value.microsecond else "microseconds")


def _partial_date(value: object) -> str | None:
    """A FHIR date (YYYY, YYYY-MM or a real YYYY-MM-DD) or None."""
    if not isinstance(value, str) or not _DATE_OK.fullmatch(value):
        return None
    if len(value) == 10:
        try:
            date.fromisoformat(value)
        except ValueError:
            return None  # 2019-02-31
    return value


def _coding(system: object, code: object, display: object = None) -> dict[str, str] | None:
    c = _code(code)
    if c is None:
        return None
    out = {"code": c}
    s = _uri(system)
    if s:
        out = {"system": s, "code": c}
    d = _string(display)
    if d:
        out["display"] = d
    return out


# -- shared parts ----------------------------------------------------------------------------
def document_id(note: Note) -> str:
    """Deterministic DocumentReference id of a note."""
    return resource_id("DocumentReference", note.note_id)


def _reference(kind: str, ident: str | None, system: str) -> dict[str, Any] | None:
    """A literal reference when ``ident`` is a legal FHIR id, else a logical (identifier) one."""
    if not ident:
        return None
    if _ID_OK.fullmatch(ident):
        return {"reference": f"{kind}/{ident}"}
    value = _string(ident)
    return {"type": kind, "identifier": {"system": system, "value": value}} if value else None


def _patient(note: Note) -> dict[str, Any]:
    ref = _reference(
        "Patient", note.patient_ref, f"{_uri(note.source) or 'urn:notestruct'}:patient"
    )
    return ref or {"display": "unknown patient"}


def _encounter(note: Note) -> dict[str, Any] | None:
    return _reference(
        "Encounter", note.encounter_ref, f"{_uri(note.source) or 'urn:notestruct'}:encounter"
    )


@dataclass(frozen=True, slots=True)
class NoteParts:
    """What every resource of a note repeats, computed once per note (see ``note_parts``).

    References are kept as tuples and turned into fresh dicts per resource, so no two
    resources share a mutable sub-object.
    """

    document: str
    patient: tuple[tuple[str, Any], ...]
    encounter: tuple[tuple[str, Any], ...] | None
    instant: str | None

    def subject(self) -> dict[str, Any]:
        """A fresh Patient reference dict."""
        return _thaw(self.patient)

    def context(self) -> dict[str, Any] | None:
        """A fresh Encounter reference dict, or None."""
        return _thaw(self.encounter) if self.encounter else None


def _freeze(value: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple((k, _freeze(v) if isinstance(v, dict) else v) for k, v in value.items())


def _thaw(value: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {k: _thaw(v) if isinstance(v, tuple) else v for k, v in value}


def note_parts(note: Note) -> NoteParts:
    """The per-note parts of every resource: DocumentReference, Patient, Encounter, date."""
    encounter = _encounter(note)
    return NoteParts(
        document=f"DocumentReference/{document_id(note)}",
        patient=_freeze(_patient(note)),
        encounter=_freeze(encounter) if encounter else None,
        instant=_instant(note.authored_at) if note.authored_at else None,
    )


def _provenance(mention: Mention, parts: NoteParts, resource_type: str, rid: str) -> Resource:
    """id, meta tags (extractor@version, mention id) and the derivation-reference extension."""
    extractor = _code(f"{mention.provenance.extractor}@{mention.provenance.extractor_version}")
    mention_code = _code(mention.mention_id)
    tags = [{"system": TAG_MENTION, "code": mention_code}] if mention_code else []
    if extractor:
        tags.insert(0, {"system": TAG_EXTRACTOR, "code": extractor})
    extensions: list[dict[str, Any]] = [
        {
            "url": DERIVATION_URL,
            "extension": [
                {
                    "url": "reference",
                    "valueReference": {"reference": parts.document},
                },
                {"url": "offset", "valueInteger": mention.start_char},
                {"url": "length", "valueInteger": mention.end_char - mention.start_char},
            ],
        }
    ]
    a = mention.assertion
    if (
        a.is_negated
        or a.is_uncertain
        or a.is_historical
        or a.is_hypothetical
        or a.is_family
        or a.is_conditional
    ):
        flags = [
            {"url": name, "valueBoolean": True}
            for name, on in (
                ("negated", a.is_negated),
                ("uncertain", a.is_uncertain),
                ("historical", a.is_historical),
                ("hypothetical", a.is_hypothetical),
                ("family", a.is_family),
                ("conditional", a.is_conditional),
            )
            if on
        ]
        extensions.append({"url": ASSERTION_URL, "extension": flags})
    if not tags:  # FHIR forbids empty arrays
        return label_ai(
            {"resourceType": resource_type, "id": rid, "extension": extensions}, mention
        )
    return label_ai(
        {"resourceType": resource_type, "id": rid, "meta": {"tag": tags}, "extension": extensions},
        mention,
    )


def _source_ref(data: Resource) -> str:
    """The DocumentReference reference ``_provenance`` put in the derivation extension."""
    return str(data["extension"][0]["extension"][0]["valueReference"]["reference"])


def _codings(mention: Mention, extra: Iterable[dict[str, str] | None] = ()) -> list[dict[str, str]]:
    """The mention's codings (deduplicated), preceded by ``extra`` ones it does not have."""
    out: list[dict[str, str]] = []
    seen: set[tuple[str | None, str]] = set()
    for coding in mention.codings:
        system, code, display = coding.system, coding.code, coding.display
        c: dict[str, str] | None
        if system and _CODE_OK.fullmatch(code) and not _SPACE.search(system):
            # the common case inline (this runs for every coding): clean system and code
            c = {"system": system, "code": code}
            if display and not _BAD_SPACE.search(display) and not display.isspace():
                c["display"] = display
            elif display:
                d = _string(display)
                if d:
                    c["display"] = d
        else:
            c = _coding(system, code, display)
        if c is not None and (c.get("system"), c["code"]) not in seen:
            seen.add((c.get("system"), c["code"]))
            out.append(c)
    front = []
    for c in extra:
        if c is not None and (c.get("system"), c["code"]) not in seen:
            seen.add((c.get("system"), c["code"]))
            front.append(c)
    return front + out


def _concept(
    mention: Mention,
    include_text: bool,
    *,
    extra: Iterable[dict[str, str] | None] = (),
    name: object = None,
) -> dict[str, Any]:
    """CodeableConcept: codings, and text from a dictionary name or (if allowed) the span.

    Without codings, a dictionary name or permission to copy note text, the concept carries
    the data-absent-reason ``masked``: the value exists in the note but is withheld.
    """
    codings = _codings(mention, extra)
    out: dict[str, Any] = {}
    if codings:
        out["coding"] = codings
    text = _string(mention.text) if include_text else None
    text = text or _string(name) or (codings[0].get("display") if codings else None)
    if text:
        out["text"] = text
    if not out:
        out["extension"] = [{"url": DATA_ABSENT_URL, "valueCode": "masked"}]
    return out


def _clause(note: Note, mention: Mention) -> tuple[str, str]:
    """Text of the clause before and after the mention (for status cues), at most 80 chars."""
    text = note.text
    after = text[mention.end_char : mention.end_char + 80]
    m = _CLAUSE_END.search(after)
    after = after[: m.start()] if m else after
    before = text[max(0, mention.start_char - 60) : mention.start_char]
    cut = max(before.rfind("."), before.rfind(";"), before.rfind("\n"))
    return before[cut + 1 :], after


def _status(value: str, resource: str, element: str, note: Note, mention: Mention) -> str | None:
    """Resolve a policy element value (code, FROM_TEXT or FROM_TEXT_OR_ACTIVE)."""
    if value not in (FROM_TEXT, FROM_TEXT_OR_ACTIVE):
        return value
    if element == "clinicalStatus" and mention.attributes.get("resolved") is True:
        # assertion found a resolution cue ("has cleared", "resolution of"): the text says so
        return "resolved"
    before, after = _clause(note, mention)
    for pattern, code in _CUE_RE.get((resource, element), ()):
        if pattern.search(after) or pattern.search(before):
            return code
    return "active" if value == FROM_TEXT_OR_ACTIVE else None


def _concept_code(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _quantity(value: object, ucum: object = None, unit: object = None) -> dict[str, Any] | None:
    v = _decimal(value)
    if v is None:
        return None
    q: dict[str, Any] = {"value": v}
    code = _code(ucum)
    label = _string(unit) or code
    if label:
        q["unit"] = label
    if code:
        q["system"] = UCUM
        q["code"] = code
    return q


def _attr(mention: Mention, key: str) -> Any:
    return mention.attributes.get(key)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# -- mappers ---------------------------------------------------------------------------------
def to_document_reference(note: Note, *, include_text: bool = False) -> Resource:
    """The note itself; the text is attached only when the deployment stores text."""
    attachment: dict[str, Any] = {
        "contentType": "text/plain; charset=utf-8",
        "size": len(note.text.encode("utf-8", "surrogatepass")),
    }
    if include_text:
        attachment["data"] = base64.b64encode(note.text.encode("utf-8", "surrogatepass")).decode(
            "ascii"
        )
    data: Resource = {
        "resourceType": "DocumentReference",
        "id": document_id(note),
        "status": "entered-in-error" if note.status == "entered-in-error" else "current",
        "content": [{"attachment": attachment}],
    }
    value = _string(note.note_id)
    if value:
        data["identifier"] = [
            {"system": _uri(note.source) or "urn:notestruct:source", "value": value}
        ]
    if note.status == "superseded":
        data["status"] = "superseded"
    note_type = _string(note.note_type)
    if note_type:
        data["type"] = {"text": note_type}
    if note.patient_ref:
        data["subject"] = _patient(note)
    if note.authored_at:
        data["date"] = _instant(note.authored_at)
    encounter = _encounter(note)
    if encounter:
        data["context"] = {"encounter": [encounter]}
    return data


def _onset(mention: Mention, note: Note) -> tuple[str, Any] | None:
    """onset[x] from the ``onset`` attribute or "since 2019" / "in 2019" / "at age 52" cues."""
    onset = _attr(mention, "onset")
    stated = _partial_date(onset)
    if stated:
        return "onsetDateTime", stated
    _, after = _clause(note, mention)
    m = _ONSET_RE.match(after)
    if not m:
        return None
    if m.group("year"):
        return "onsetDateTime", m.group("year")
    age = int(m.group("age"))
    if 0 < age < 130:
        return "onsetAge", {"value": age, "unit": "a", "system": UCUM, "code": "a"}
    return None


_DATE_OK = re.compile(r"(?:19|20)\d{2}(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01]))?)?")
_FAMILY_AGE_RE = re.compile(
    r"[ \t,]*at\s+(?:the\s+)?(?:age\s+(?:of\s+)?)?(?P<age>\d{1,3})(?!\d)"
    r"(?:\s*(?:years?(?:\s+old)?|yrs?|y/?o))?(?=\s*(?:[.,;:)]|$)|\s+(?:and|with|from|in)\b)",
    re.IGNORECASE,
)
_ONSET_RE = re.compile(
    r"[ \t,]*(?:(?:diagnosed|dx'?d?|first\s+noted|onset)\s+)?"
    r"(?:(?:in|since|from)\s+(?P<year>(?:19|20)\d{2})(?!\d)|(?:at\s+)?age\s+(?P<age>\d{1,3})(?!\d))",
    re.IGNORECASE,
)


def to_condition(
    mention: Mention,
    note: Note,
    *,
    include_text: bool = False,
    row: PolicyRow | None = None,
    parts: NoteParts | None = None,
) -> Resource | None:
    """A Condition; the assertion goes into verificationStatus and clinicalStatus (POLICY)."""
    row = row or policy_row(mention)
    if row is None or row.resource != "Condition":
        return None
    rid = resource_id("Condition", mention.mention_id)
    parts = parts or note_parts(note)
    data = _provenance(mention, parts, "Condition", rid)
    clinical = _status(
        row.elements.get("clinicalStatus", ""), "Condition", "clinicalStatus", note, mention
    )
    if clinical:
        data["clinicalStatus"] = _concept_code(CONDITION_CLINICAL, clinical)
    data["verificationStatus"] = _concept_code(CONDITION_VER, row.elements["verificationStatus"])
    system, category = condition_category(mention.section)
    data["category"] = [{"coding": [{"system": system, "code": category}]}]
    data["code"] = _concept(mention, include_text)
    data["subject"] = parts.subject()
    encounter = parts.context()
    if encounter:
        data["encounter"] = encounter
    onset = _onset(mention, note)
    if onset:
        data[onset[0]] = onset[1]
    if parts.instant:
        data["recordedDate"] = parts.instant
    data["evidence"] = [{"detail": [{"reference": _source_ref(data)}]}]
    return data


def _relationship(mention: Mention, note: Note) -> tuple[str, str]:
    """The relative: ConText's experiencer, else the last relative named earlier in the clause."""
    who = (mention.assertion.experiencer or "").lower().strip()
    if who in RELATIONSHIPS:
        return RELATIONSHIPS[who]
    before, after = _clause(note, mention)
    found = _RELATIVE_RE.findall(before)
    if found:
        return RELATIONSHIPS[found[-1].lower()]
    found = _RELATIVE_RE.findall(after[:40])
    return RELATIONSHIPS[found[0].lower()] if found else FAMILY_MEMBER


def to_family_member_history(
    mention: Mention,
    note: Note,
    *,
    include_text: bool = False,
    row: PolicyRow | None = None,
    parts: NoteParts | None = None,
) -> Resource | None:
    """FamilyMemberHistory for a relative's condition (relationship from v3 RoleCode)."""
    row = row or policy_row(mention)
    if row is None or row.resource != "FamilyMemberHistory":
        return None
    rid = resource_id("FamilyMemberHistory", mention.mention_id)
    parts = parts or note_parts(note)
    data = _provenance(mention, parts, "FamilyMemberHistory", rid)
    data["status"] = row.elements["status"]
    data["patient"] = parts.subject()
    if parts.instant:
        data["date"] = parts.instant
    code, display = _relationship(mention, note)
    data["relationship"] = _concept_code(ROLE_CODE, code, display)
    condition: dict[str, Any] = {"code": _concept(mention, include_text)}
    onset = _onset(mention, note)
    if onset and onset[0] == "onsetAge":
        condition["onsetAge"] = onset[1]
    else:
        # family histories say "father had an MI at 52": a bare number after "at" is an age
        _, after = _clause(note, mention)
        m = _FAMILY_AGE_RE.match(after)
        if m and 0 < int(m.group("age")) < 130:
            age = int(m.group("age"))
            condition["onsetAge"] = {"value": age, "unit": "a", "system": UCUM, "code": "a"}
    data["condition"] = [condition]
    return data


def map_problem(
    mention: Mention, note: Note, *, include_text: bool = False, parts: NoteParts | None = None
) -> Resource | None:
    """PROBLEM: Condition, or FamilyMemberHistory for a relative's problem (POLICY)."""
    row = policy_row(mention)
    if row is None or row.resource is None:
        return None
    if row.resource == "FamilyMemberHistory":
        return to_family_member_history(
            mention, note, include_text=include_text, row=row, parts=parts
        )
    return to_condition(mention, note, include_text=include_text, row=row, parts=parts)


def _dosage(mention: Mention, include_text: bool) -> dict[str, Any] | None:
    attrs = mention.attributes
    dosage: dict[str, Any] = {}
    sig = _string(attrs.get("sig")) if include_text else None
    if sig:
        dosage["text"] = sig
    timing = _timing(_mapping(attrs.get("frequency")), _mapping(attrs.get("duration")))
    if timing:
        dosage["timing"] = timing
    if attrs.get("prn") is True:
        reason = _string(attrs.get("prn_reason")) if include_text else None
        if reason:
            dosage["asNeededCodeableConcept"] = {"text": reason}
        else:
            dosage["asNeededBoolean"] = True
    route = _mapping(attrs.get("route"))
    route_coding = _coding(SNOMED, route.get("snomed"), route.get("display"))
    route_text = _string(route.get("display")) or _string(route.get("code"))
    if route_coding or route_text:
        dosage["route"] = {
            k: v
            for k, v in (("coding", [route_coding] if route_coding else None), ("text", route_text))
            if v
        }
    dose_and_rate = _dose(_mapping(attrs.get("dose")), _mapping(attrs.get("strength")))
    if dose_and_rate:
        dosage["doseAndRate"] = [dose_and_rate]
    return dosage or None


def _timing(freq: Mapping[str, Any], duration: Mapping[str, Any]) -> dict[str, Any] | None:
    repeat: dict[str, Any] = {}
    bounds = _quantity(duration.get("value"), duration.get("unit"))
    if bounds and bounds.get("code") in UNITS_OF_TIME:
        repeat["boundsDuration"] = bounds
    count = _positive_int(freq.get("count"))
    if count:
        repeat["count"] = count
    frequency = _positive_int(freq.get("frequency"))
    if frequency:
        repeat["frequency"] = frequency
    period = _decimal(freq.get("period"))
    unit = freq.get("period_unit")
    if period is not None and period >= 0 and unit in UNITS_OF_TIME:
        repeat["period"] = period
        period_max = _decimal(freq.get("period_max"))
        if period_max is not None and period_max >= period:
            repeat["periodMax"] = period_max
        repeat["periodUnit"] = unit
    when = freq.get("when")
    if isinstance(when, list | tuple):
        codes = sorted({w for w in when if isinstance(w, str) and w in EVENT_TIMING})
        if codes:
            repeat["when"] = codes
    timing: dict[str, Any] = {}
    if repeat:
        timing["repeat"] = repeat
    code = _code(freq.get("code"))
    if code:
        standard = TIMING_CODES.get(code.upper())
        timing["code"] = (
            {"coding": [{"system": TIMING_ABBREVIATION, "code": standard}], "text": code}
            if standard
            else {"text": code}
        )
    return timing or None


def _dose(dose: Mapping[str, Any], strength: Mapping[str, Any]) -> dict[str, Any] | None:
    if dose:
        unit = _string(dose.get("unit"))
        low = _quantity(dose.get("value_low"), unit=unit)
        high = _quantity(dose.get("value_high"), unit=unit)
        if low and high and low["value"] <= high["value"]:
            return {"doseRange": {"low": low, "high": high}}
        quantity = _quantity(dose.get("value"), unit=unit)
        if quantity and quantity["value"] >= 0:
            return {"doseQuantity": quantity}
    if strength:
        ucum = strength.get("ucum")
        quantity = _quantity(strength.get("value"), ucum, strength.get("unit") or ucum)
        if quantity and quantity["value"] >= 0:
            return {"doseQuantity": quantity}
    return None


def to_medication_statement(
    mention: Mention, note: Note, *, include_text: bool = False, parts: NoteParts | None = None
) -> Resource | None:
    """MedicationStatement: code, dosage from the sig attributes, status from POLICY."""
    row = policy_row(mention)
    if row is None or row.resource != "MedicationStatement":
        return None
    rid = resource_id("MedicationStatement", mention.mention_id)
    parts = parts or note_parts(note)
    data = _provenance(mention, parts, "MedicationStatement", rid)
    status = _status(row.elements["status"], "MedicationStatement", "status", note, mention)
    data["status"] = status or "unknown"
    data["medicationCodeableConcept"] = _concept(
        mention, include_text, name=_attr(mention, "ingredient")
    )
    data["subject"] = parts.subject()
    encounter = parts.context()
    if encounter:
        data["context"] = encounter
    if parts.instant:
        data["dateAsserted"] = parts.instant
    data["derivedFrom"] = [{"reference": _source_ref(data)}]
    dosage = _dosage(mention, include_text)
    if dosage:
        data["dosage"] = [dosage]
    return data


def to_procedure(
    mention: Mention, note: Note, *, include_text: bool = False, parts: NoteParts | None = None
) -> Resource | None:
    """Procedure: completed, or not-done when negated (POLICY)."""
    row = policy_row(mention)
    if row is None or row.resource != "Procedure":
        return None
    rid = resource_id("Procedure", mention.mention_id)
    parts = parts or note_parts(note)
    data = _provenance(mention, parts, "Procedure", rid)
    data["status"] = row.elements["status"]
    data["code"] = _concept(mention, include_text)
    data["subject"] = parts.subject()
    encounter = parts.context()
    if encounter:
        data["encounter"] = encounter
    return data


def to_allergy_intolerance(
    mention: Mention, note: Note, *, include_text: bool = False, parts: NoteParts | None = None
) -> Resource | None:
    """AllergyIntolerance; a no-known-allergy statement gets the SNOMED CT situation code."""
    row = policy_row(mention)
    if row is None or row.resource != "AllergyIntolerance":
        return None
    attrs = mention.attributes
    rid = resource_id("AllergyIntolerance", mention.mention_id)
    parts = parts or note_parts(note)
    data = _provenance(mention, parts, "AllergyIntolerance", rid)
    clinical = _status(
        row.elements["clinicalStatus"], "AllergyIntolerance", "clinicalStatus", note, mention
    )
    data["clinicalStatus"] = _concept_code(ALLERGY_CLINICAL, clinical or "active")
    data["verificationStatus"] = _concept_code(ALLERGY_VER, row.elements["verificationStatus"])
    category = attrs.get("category")
    if category in ALLERGY_CATEGORIES:
        data["category"] = [category]
    if row.elements.get("code") == "no-known-allergy":
        scope = attrs.get("scope")
        code, display = NO_KNOWN_ALLERGY.get(
            scope if isinstance(scope, str) else "", NO_KNOWN_ALLERGY_DEFAULT
        )
        data["code"] = {
            "coding": [{"system": SNOMED, "code": code, "display": display}],
            "text": display,
        }
    else:
        data["code"] = _concept(mention, include_text, name=attrs.get("substance"))
    data["patient"] = parts.subject()
    encounter = parts.context()
    if encounter:
        data["encounter"] = encounter
    if parts.instant:
        data["recordedDate"] = parts.instant
    reaction = _reaction(attrs, include_text)
    if reaction and row.elements.get("verificationStatus") != "refuted":
        data["reaction"] = [reaction]
    return data


def _reaction(attrs: Mapping[str, Any], include_text: bool) -> dict[str, Any] | None:
    codes = attrs.get("reaction_codes")
    codings = []
    if isinstance(codes, list):
        for c in codes:
            m = _mapping(c)
            coding = _coding(m.get("system"), m.get("code"), m.get("display"))
            if coding:
                codings.append(coding)
    text = _string(attrs.get("reaction")) if include_text else None
    manifestations: list[dict[str, Any]] = [{"coding": [c]} for c in codings]
    if text and not manifestations:
        manifestations = [{"text": text}]
    return {"manifestation": manifestations} if manifestations else None


def _loinc(mention: Mention) -> str | None:
    code = _code(_attr(mention, "loinc"))
    if code:
        return code
    for c in mention.codings:
        if c.system == LOINC:
            return _code(c.code)
    return None


def to_observation(
    mention: Mention, note: Note, *, include_text: bool = False, parts: NoteParts | None = None
) -> Resource | None:
    """Observation for a VITAL or LAB: LOINC code, UCUM valueQuantity, interpretation."""
    row = policy_row(mention)
    if row is None or row.resource != "Observation":
        return None
    attrs = mention.attributes
    rid = resource_id("Observation", mention.mention_id)
    parts = parts or note_parts(note)
    data = _provenance(mention, parts, "Observation", rid)
    data["status"] = row.elements["status"]
    vital = mention.label == "VITAL"
    data["category"] = [{"coding": [VITAL_SIGNS_CATEGORY if vital else LABORATORY_CATEGORY]}]
    loinc = _loinc(mention)
    systolic, diastolic = _decimal(attrs.get("systolic")), _decimal(attrs.get("diastolic"))
    is_bp = systolic is not None and diastolic is not None
    extra: list[dict[str, str] | None] = []
    if is_bp:
        extra.append({"system": LOINC, "code": BP_PANEL[0], "display": BP_PANEL[1]})
    if loinc:
        extra.append({"system": LOINC, "code": loinc})
    name = attrs.get("test") if not vital else None  # vitals: the LOINC display reads better
    data["code"] = _concept(mention, include_text, extra=extra, name=name)
    data["subject"] = parts.subject()
    encounter = parts.context()
    if encounter:
        data["encounter"] = encounter
    if row.elements.get("effectiveDateTime") == NOTE_DATE and parts.instant:
        data["effectiveDateTime"] = parts.instant
    ucum = attrs.get("ucum")
    if is_bp:
        data["component"] = [
            {
                "code": _concept_code(LOINC, code, display),
                "valueQuantity": _quantity(value, ucum or "mm[Hg]", "mmHg"),
            }
            for (code, display), value in ((BP_SYSTOLIC, systolic), (BP_DIASTOLIC, diastolic))
        ]
    else:
        _observation_value(data, attrs)
    flow = _mapping(attrs.get("oxygen_flow"))
    flow_q = _quantity(flow.get("value"), "L/min", "L/min") if flow else None
    if flow_q:
        data.setdefault("component", []).append(
            {"code": _concept_code(LOINC, *O2_FLOW), "valueQuantity": flow_q}
        )
    flag = attrs.get("interpretation") or attrs.get("flag")
    interpretation = INTERPRETATIONS.get(flag.strip().upper()) if isinstance(flag, str) else None
    if interpretation:
        data["interpretation"] = [_concept_code(OBS_INTERPRETATION, *interpretation)]
    reference_range = _reference_range(_mapping(attrs.get("reference_range")), ucum, attrs)
    if reference_range:
        data["referenceRange"] = [reference_range]
    data["derivedFrom"] = [{"reference": _source_ref(data)}]
    return data


def _observation_value(data: Resource, attrs: Mapping[str, Any]) -> None:
    quantity = _quantity(attrs.get("value"), attrs.get("ucum"), attrs.get("ucum"))
    if quantity:
        comparator = attrs.get("comparator")
        if comparator in ("<", "<=", ">=", ">"):
            quantity["comparator"] = comparator
        data["valueQuantity"] = quantity
        return
    qualitative = attrs.get("value_string")
    if isinstance(qualitative, str):
        known = QUALITATIVE_RESULTS.get(" ".join(qualitative.lower().split()))
        if known:
            data["valueCodeableConcept"] = {
                "coding": [{"system": SNOMED, "code": known[0], "display": known[1]}],
                "text": known[1],
            }


def _reference_range(
    rng: Mapping[str, Any], ucum: object, attrs: Mapping[str, Any]
) -> dict[str, Any] | None:
    if not rng:
        return None
    out: dict[str, Any] = {}
    for key in ("low", "high"):
        q = _quantity(rng.get(key), ucum, ucum)
        if q:
            out[key] = q
    if "low" in out and "high" in out and out["low"]["value"] > out["high"]["value"]:
        return None
    return out or None


class Mapper(Protocol):
    """A label mapper: one mention to at most one resource dict."""

    def __call__(
        self,
        mention: Mention,
        note: Note,
        *,
        include_text: bool = False,
        parts: NoteParts | None = None,
    ) -> Resource | None: ...


#: Label -> mapper; ``None`` means the label yields no clinical resource (mention row only).
#: Every label an installed extractor declares must appear here (registry test).
MAPPERS: dict[str, Mapper | None] = {
    "PROBLEM": map_problem,
    "MEDICATION": to_medication_statement,
    "PROCEDURE": to_procedure,
    "LAB": to_observation,
    "VITAL": to_observation,
    "ALLERGY": to_allergy_intolerance,
}

#: The fhir.resources model of every resource type the mappers emit.
MODELS: dict[str, Any] = {
    "Condition": Condition,
    "FamilyMemberHistory": FamilyMemberHistory,
    "MedicationStatement": MedicationStatement,
    "Observation": Observation,
    "Procedure": Procedure,
    "AllergyIntolerance": AllergyIntolerance,
    "DocumentReference": DocumentReference,
    "Provenance": Provenance,
    "Bundle": Bundle,
    "OperationOutcome": OperationOutcome,
}


# -- validation ------------------------------------------------------------------------------
def _shape(value: dict[str, Any]) -> Any:
    """The structure of a JSON object: keys, nesting and scalar types, without the values.

    A flat tuple ``(key, shape-or-type, key, shape-or-type, ...)``. Lists collapse to the set
    of their element shapes, so a list of three codings has the shape of a list of one.
    Written without generators or pairs: this runs for every resource.
    """
    out: list[Any] = []
    append = out.append
    for key, item in value.items():
        append(key)
        t = type(item)
        if t is dict:
            append(_shape(item))
        elif t is list:
            append(frozenset([_shape(e) if type(e) is dict else type(e) for e in item]))
        else:
            append(t)
    return tuple(out)


class ShapeValidator:
    """Validates resource dicts through their fhir.resources model once per distinct shape.

    Mappers build dicts from fixed code tables (the policy, required bindings) and pass every
    value that comes from a note or extractor through a guard (_string, _code, _uri, _decimal,
    _positive_int) that enforces the FHIR primitive's rules. What the model can still reject
    is structure (a wrong key, a missing required element, a wrong type), which the shape
    captures: a resource whose shape was validated has been validated in all but its guarded
    values. ``full=True`` validates every resource (tests, debugging).
    """

    def __init__(self, *, full: bool = False, max_shapes: int = 20_000) -> None:
        self.full = full
        self.max_shapes = max_shapes
        self._seen: set[Any] = set()
        self.validated = 0
        self.skipped = 0

    def check(self, resource: Resource) -> Resource:
        """Return ``resource`` after validating it (or its shape); raise MappingError if bad."""
        rtype = resource.get("resourceType")
        if not self.full:
            key = (rtype, _shape(resource))
            if key in self._seen:
                self.skipped += 1
                return resource
        model = MODELS.get(str(rtype))
        if model is None:
            raise MappingError(f"no model for resource type {rtype!r}")
        try:
            model.model_validate(resource)
        except Exception as exc:
            # The model's message may quote values (mention text): keep only field locations.
            locs = _error_locations(exc)
            raise MappingError(
                f"{rtype} failed FHIR validation ({type(exc).__name__}) at {locs}"
            ) from None
        self.validated += 1
        if not self.full:
            if len(self._seen) >= self.max_shapes:  # bound memory on pathological input
                self._seen.clear()
            self._seen.add(key)
        return resource

    def __reduce__(self) -> tuple[Any, tuple[bool]]:
        # A validator sent to a worker process (inside a BatchContext, with every batch)
        # arrives as that process's shared one, so each shape is validated once per process,
        # not once per batch.
        return shared_validator, (self.full,)


_SHARED_VALIDATORS: dict[bool, ShapeValidator] = {}


def shared_validator(full: bool = False) -> ShapeValidator:
    """This process's long-lived validator (what a pickled ``ShapeValidator`` becomes)."""
    validator = _SHARED_VALIDATORS.get(full)
    if validator is None:
        validator = _SHARED_VALIDATORS.setdefault(full, ShapeValidator(full=full))
    return validator


def _error_locations(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            return ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in errors()[:5])
        except Exception:
            return "?"
    return "?"


def map_mention(
    mention: Mention,
    note: Note,
    *,
    include_text: bool = False,
    mappers: Mapping[str, Mapper | None] = MAPPERS,
    parts: NoteParts | None = None,
) -> Resource | None:
    """The resource for one mention (unvalidated dict), or None when POLICY says none."""
    mapper = mappers.get(mention.label)
    if mapper is None:
        return None
    return mapper(mention, note, include_text=include_text, parts=parts)


def map_note(
    note: Note,
    mentions: Sequence[Mention],
    *,
    include_text: bool = False,
    mappers: Mapping[str, Mapper | None] = MAPPERS,
    validator: ShapeValidator | None = None,
) -> tuple[Resource, ...]:
    """DocumentReference plus one resource per mappable mention, validated (see POLICY).

    Pass one ``validator`` for a whole batch or run so each resource shape is validated
    through its model once; without one, shapes are validated once per call.

    Raises:
        MappingError: a resource failed model validation (a mapper bug, reported per note).
    """
    validator = validator or ShapeValidator()
    out = [validator.check(to_document_reference(note, include_text=include_text))]
    parts = note_parts(note)
    for m in mentions:
        resource = map_mention(m, note, include_text=include_text, mappers=mappers, parts=parts)
        if resource is not None:
            out.append(validator.check(resource))
    return tuple(out)


# -- bundles and run provenance ---------------------------------------------------------------
def to_bundle(resources: Sequence[Resource], *, bundle_id: str | None = None) -> Resource:
    """A transaction Bundle that PUTs ``resources`` by their deterministic ids (idempotent).

    Raises:
        MappingError: the bundle failed model validation.
    """
    entries = [
        {
            "fullUrl": f"urn:uuid:{r['id']}"
            if _is_uuid(r["id"])
            else f"{r['resourceType']}/{r['id']}",
            "resource": r,
            "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
        }
        for r in resources
    ]
    bundle: Resource = {
        "resourceType": "Bundle",
        "id": bundle_id or resource_id("Bundle", *(r["id"] for r in resources[:1])),
        "type": "transaction",
        "entry": entries,
    }
    return ShapeValidator(full=True).check(bundle)


def note_bundle(note: Note, resources: Sequence[Resource]) -> Resource:
    """The transaction Bundle of one note's resources (id derived from the note id)."""
    return to_bundle(resources, bundle_id=resource_id("Bundle", note.note_id))


_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _is_uuid(value: object) -> bool:
    return isinstance(value, str) and bool(_UUID_RE.fullmatch(value))


def to_provenance(
    targets: Iterable[str],
    *,
    run_id: str,
    recorded: datetime,
    software_version: str,
    rules_version: str | None = None,
    dictionary_version: str | None = None,
    extractors: Mapping[str, int] | None = None,
) -> Resource:
    """One Provenance for a run: agent notestruct@version, targets the run's resources.

    Args:
        targets: references ``"Type/id"`` of every resource the run wrote.
        run_id: the run id (the Provenance id derives from it).
        recorded: when the run happened (timezone-aware).
        software_version: notestruct's version.
        rules_version: version (hash) of the rule set.
        dictionary_version: version (hash) of the compiled terminology dictionary.
        extractors: extractor name -> version of the extractors that ran.

    Raises:
        MappingError: no targets, or the resource failed model validation.
    """
    refs = [{"reference": t} for t in dict.fromkeys(targets) if _string(t)]
    if not refs:
        raise MappingError("a Provenance needs at least one target")
    software = _string(f"notestruct {software_version}") or "notestruct"
    versions = [
        {"url": key, "valueString": value}
        for key, value in (
            ("software", _string(software_version)),
            ("rules", _string(rules_version)),
            ("dictionary", _string(dictionary_version)),
            *(
                ("extractor", _string(f"{name}@{version}"))
                for name, version in sorted((extractors or {}).items())
            ),
        )
        if value
    ]
    data: Resource = {
        "resourceType": "Provenance",
        "id": resource_id("Provenance", run_id),
        "meta": {"tag": [{"system": TAG_RUN, "code": _code(run_id) or "unknown"}]},
        "target": refs,
        "recorded": _instant(recorded),
        "activity": _concept_code(DATA_OPERATION, "CREATE", "create"),
        "agent": [
            {
                "type": _concept_code(PROVENANCE_AGENT_TYPE, "assembler", "Assembler"),
                "who": {
                    "identifier": {"system": "urn:notestruct:software", "value": software},
                    "display": software,
                },
            }
        ],
    }
    if versions:
        data["extension"] = [{"url": VERSIONS_URL, "extension": versions}]
    return ShapeValidator(full=True).check(data)


def to_operation_outcome(
    ident: str,
    *,
    stage: str,
    error_type: str,
    message: str,
    note_id: str | None = None,
    locator: str | None = None,
) -> Resource:
    """An OperationOutcome for a dead letter (Bulk Data error file); never holds note text.

    Raises:
        MappingError: the resource failed model validation.
    """
    diagnostics = _string(f"{stage}: {error_type}: {message}") or "processing error"
    issue: dict[str, Any] = {"severity": "error", "code": "processing", "diagnostics": diagnostics}
    where = [w for w in (_string(note_id), _string(locator)) if w]
    if where:
        issue["location"] = where
    data: Resource = {
        "resourceType": "OperationOutcome",
        "id": ident if _ID_OK.fullmatch(ident) else resource_id("OperationOutcome", ident),
        "issue": [issue],
    }
    return ShapeValidator(full=True).check(data)


if __name__ == "__main__":  # pragma: no cover - renders the policy for docs/fhir.md
    import sys

    sys.stdout.write(policy_markdown())

"""The assertion policy (one row per assertion state and label) and the code tables the
mappers read (relationships, interpretations, timing codes, categories)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.fhir.codes import CONDITION_CATEGORY, OBS_CATEGORY, US_CORE_CONDITION_CATEGORY
from schemas.model import Mention, assertion_state

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

#: FROM_TEXT elements take the status the mention's clause states: the cues are extractor
#: rules (``extractors/rules/statements/statements.json``), read into ``stated_status``.

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
#: A score of an assessment scale (GCS, ECOG, NIHSS): FHIR's "survey" category
SURVEY_CATEGORY = {"system": OBS_CATEGORY, "code": "survey", "display": "Survey"}


def policy_row(mention: Mention) -> PolicyRow | None:
    """The policy row for a mention, or None for a label the policy does not know."""
    state = assertion_state(mention)
    return _POLICY_INDEX.get((state, mention.label)) or _POLICY_INDEX.get((state, "*"))


def policy_markdown() -> str:
    """The policy table as markdown, for docs/fhir.md."""
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
    lines += [
        "",
        "`@text` takes the status the mention's clause states, the `stated_status` attribute "
        "(cues in `extractors/rules/statements/statements.json`); `@text|active` falls back "
        "to `active`.",
    ]
    return "\n".join(lines) + "\n"

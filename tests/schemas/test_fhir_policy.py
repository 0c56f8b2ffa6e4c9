"""The assertion-to-FHIR policy: one test per row of schemas.fhir.POLICY, and its documentation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from extractors.statements import rules as statement_rules
from schemas import fhir
from schemas.fhir import POLICY, REQUIRED_CODES, ShapeValidator, map_mention
from schemas.model import assertion_state
from tests.schemas.fhir_cases import NKA_ATTRS, SENTENCE, labelled, make_mention, make_note

ROOT = Path(__file__).resolve().parents[2]

#: Assertion flags (and attributes) that put a mention in each policy state.
STATE_FLAGS: dict[str, dict[str, Any]] = {
    "hypothetical": {"is_hypothetical": True},
    "family_negated": {"is_family": True, "is_negated": True},
    "family": {"is_family": True},
    # ConText often marks "No known allergies" negated: the state must still win
    "no_known_allergy": {"is_negated": True},
    "negated": {"is_negated": True},
    "uncertain": {"is_uncertain": True},
    "historical": {"is_historical": True},
    "affirmed": {},
}


def _coded(resource: dict[str, Any], element: str) -> str | None:
    value = resource.get(element)
    return value["coding"][0]["code"] if value else None


def _summary(resource: dict[str, Any] | None) -> tuple[str | None, dict[str, Any]]:
    """Resource type and the policy-governed elements of a mapped resource."""
    if resource is None:
        return None, {}
    rtype = resource["resourceType"]
    if rtype == "Condition":
        return rtype, {
            "verificationStatus": _coded(resource, "verificationStatus"),
            "clinicalStatus": _coded(resource, "clinicalStatus"),
        }
    if rtype == "AllergyIntolerance":
        return rtype, {
            "verificationStatus": _coded(resource, "verificationStatus"),
            "clinicalStatus": _coded(resource, "clinicalStatus"),
            "code": resource["code"]["coding"][0]["code"] if "coding" in resource["code"] else None,
        }
    if rtype == "Observation":
        return rtype, {"status": resource["status"], "effective": "effectiveDateTime" in resource}
    if rtype == "FamilyMemberHistory":
        return rtype, {
            "status": resource["status"],
            "relationship": resource["relationship"]["coding"][0]["code"],
        }
    return rtype, {"status": resource["status"]}


#: Expected outcome per policy row, for the standard sentence of each label (no status cues).
#: (state, label) -> (resource type or None, governed elements). "*" rows list each label.
EXPECTED: dict[tuple[str, str], dict[str, tuple[str | None, dict[str, Any]]]] = {
    ("hypothetical", "*"): {lbl: (None, {}) for lbl in SENTENCE},
    ("family_negated", "*"): {lbl: (None, {}) for lbl in SENTENCE},
    ("family", "PROBLEM"): {
        "PROBLEM": ("FamilyMemberHistory", {"status": "partial", "relationship": "FAMMEMB"})
    },
    ("family", "*"): {lbl: (None, {}) for lbl in SENTENCE if lbl != "PROBLEM"},
    ("no_known_allergy", "ALLERGY"): {
        "ALLERGY": (
            "AllergyIntolerance",
            {"verificationStatus": "confirmed", "clinicalStatus": "active", "code": "409137002"},
        )
    },
    ("negated", "PROBLEM"): {
        "PROBLEM": ("Condition", {"verificationStatus": "refuted", "clinicalStatus": None})
    },
    ("negated", "MEDICATION"): {"MEDICATION": ("MedicationStatement", {"status": "not-taken"})},
    ("negated", "PROCEDURE"): {"PROCEDURE": ("Procedure", {"status": "not-done"})},
    ("negated", "ALLERGY"): {
        "ALLERGY": (
            "AllergyIntolerance",
            {"verificationStatus": "refuted", "clinicalStatus": "inactive", "code": None},
        )
    },
    ("negated", "*"): {"LAB": (None, {}), "VITAL": (None, {})},
    ("uncertain", "PROBLEM"): {
        "PROBLEM": ("Condition", {"verificationStatus": "provisional", "clinicalStatus": "active"})
    },
    ("uncertain", "MEDICATION"): {"MEDICATION": ("MedicationStatement", {"status": "unknown"})},
    ("uncertain", "PROCEDURE"): {"PROCEDURE": ("Procedure", {"status": "unknown"})},
    ("uncertain", "ALLERGY"): {
        "ALLERGY": (
            "AllergyIntolerance",
            {"verificationStatus": "unconfirmed", "clinicalStatus": "active", "code": None},
        )
    },
    ("uncertain", "LAB"): {"LAB": ("Observation", {"status": "preliminary", "effective": True})},
    ("uncertain", "VITAL"): {
        "VITAL": ("Observation", {"status": "preliminary", "effective": True})
    },
    ("historical", "PROBLEM"): {
        "PROBLEM": ("Condition", {"verificationStatus": "confirmed", "clinicalStatus": None})
    },
    ("historical", "MEDICATION"): {"MEDICATION": ("MedicationStatement", {"status": "completed"})},
    ("historical", "PROCEDURE"): {"PROCEDURE": ("Procedure", {"status": "completed"})},
    ("historical", "ALLERGY"): {
        "ALLERGY": (
            "AllergyIntolerance",
            {"verificationStatus": "confirmed", "clinicalStatus": "active", "code": None},
        )
    },
    ("historical", "LAB"): {"LAB": ("Observation", {"status": "final", "effective": False})},
    ("historical", "VITAL"): {"VITAL": ("Observation", {"status": "final", "effective": False})},
    ("affirmed", "PROBLEM"): {
        "PROBLEM": ("Condition", {"verificationStatus": "confirmed", "clinicalStatus": "active"})
    },
    ("affirmed", "MEDICATION"): {"MEDICATION": ("MedicationStatement", {"status": "active"})},
    ("affirmed", "PROCEDURE"): {"PROCEDURE": ("Procedure", {"status": "completed"})},
    ("affirmed", "ALLERGY"): {
        "ALLERGY": (
            "AllergyIntolerance",
            {"verificationStatus": "confirmed", "clinicalStatus": "active", "code": None},
        )
    },
    ("affirmed", "LAB"): {"LAB": ("Observation", {"status": "final", "effective": True})},
    ("affirmed", "VITAL"): {"VITAL": ("Observation", {"status": "final", "effective": True})},
}


def test_every_policy_row_has_a_test_and_no_test_lacks_a_row() -> None:
    assert set(EXPECTED) == {(r.state, r.label) for r in POLICY}
    assert len(POLICY) == len({(r.state, r.label) for r in POLICY}), "duplicate policy rows"


@pytest.mark.parametrize("row", POLICY, ids=lambda r: f"{r.state}-{r.label}")
def test_policy_row(row: fhir.PolicyRow) -> None:
    validator = ShapeValidator(full=True)
    for label, expected in EXPECTED[(row.state, row.label)].items():
        attributes = NKA_ATTRS if row.state == "no_known_allergy" else None
        note, mention = labelled(label, attributes=attributes, **STATE_FLAGS[row.state])
        assert assertion_state(mention) == row.state
        assert fhir.policy_row(mention) == row
        resource = map_mention(mention, note)
        assert _summary(resource) == expected, (row.state, label)
        if resource is not None:
            validator.check(resource)


def test_policy_codes_are_legal_for_their_required_bindings() -> None:
    for row in POLICY:
        for element, value in row.elements.items():
            if value.startswith("@") or element == "code":
                continue
            assert row.resource is not None
            assert value in REQUIRED_CODES[(row.resource, element)], (row, element)
    # the status a clause states (extractor rules) must be a code of the element it fills
    element_of = {
        "PROBLEM": ("Condition", "clinicalStatus"),
        "ALLERGY": ("AllergyIntolerance", "clinicalStatus"),
        "MEDICATION": ("MedicationStatement", "status"),
    }
    for label, cues in statement_rules().status_cues.items():
        for _, code, _ in cues:
            assert code in REQUIRED_CODES[element_of[label]]


def test_policy_states_cover_the_precedence_order() -> None:
    assert {r.state for r in POLICY} == set(fhir.STATES)


@pytest.mark.parametrize(
    ("text", "flags", "expected"),
    [
        ("Hypertension, resolved.", {"is_historical": True}, "resolved"),
        ("Hypertension in remission.", {"is_historical": True}, "remission"),
        ("Hypertension, now inactive.", {}, "inactive"),
        ("Hypertension noted.", {"is_historical": True}, None),
        ("Hypertension noted.", {}, "active"),
        ("Possible hypertension.", {"is_uncertain": True}, "active"),
        ("Possible hypertension, resolved.", {"is_uncertain": True}, "resolved"),
    ],
)
def test_condition_clinical_status_follows_the_text(
    text: str, flags: dict[str, bool], expected: str | None
) -> None:
    note = make_note(text)
    mention = make_mention(note, "ypertension", "PROBLEM", **flags)
    resource = map_mention(mention, note)
    assert resource is not None
    assert _coded(resource, "clinicalStatus") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Metformin 1000 mg PO BID (held on admission).", "on-hold"),
        ("Metformin discontinued last week.", "stopped"),
        ("Metformin 1000 mg PO BID.", "active"),
    ],
)
def test_medication_status_follows_the_text(text: str, expected: str) -> None:
    note = make_note(text)
    resource = map_mention(make_mention(note, "Metformin", "MEDICATION"), note)
    assert resource is not None and resource["status"] == expected


def test_historical_flag_extension_is_set() -> None:
    note, mention = labelled("PROBLEM", is_historical=True)
    resource = map_mention(mention, note)
    assert resource is not None
    flags = next(e for e in resource["extension"] if e["url"] == fhir.ASSERTION_URL)
    assert flags["extension"] == [{"url": "historical", "valueBoolean": True}]


def test_docs_render_the_policy_table() -> None:
    doc = (ROOT / "docs" / "fhir.md").read_text(encoding="utf-8")
    assert fhir.policy_markdown() in doc, "regenerate with: python -m schemas.fhir"


def test_a_resolved_problem_is_a_resolved_condition_not_a_refuted_one() -> None:
    note = make_note("Her pneumonia resolved within a week.")
    gone = make_mention(note, "pneumonia", "PROBLEM", attributes={"resolved": True},
                        is_negated=True)  # fmt: skip
    resource = map_mention(gone, note)
    assert resource is not None and resource["resourceType"] == "Condition"
    assert _coded(resource, "clinicalStatus") == "resolved"
    assert _coded(resource, "verificationStatus") != "refuted"
    denied = map_mention(make_mention(note, "pneumonia", "PROBLEM", is_negated=True), note)
    assert denied is not None and _coded(denied, "verificationStatus") == "refuted"

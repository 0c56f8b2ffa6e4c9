"""Typed models of ``Mention.attributes``: the medication, lab, vital and allergy contract.

``Mention.attributes`` stays a JSON-able dict on the record (it is stored as JSON and
extractors from other packages may add keys), but what the built-in extractors write is
declared here, field by field, and a test runs the pipeline and checks every attribute it
writes against these models (no undeclared key, no wrong type). docs/structured-attributes.md
explains each field; ``typed_attributes`` gives a mapper or an analyst the typed view.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

Number = int | float


class _Model(BaseModel):
    #: unknown keys are kept (plug-in extractors); ``model_extra`` lists them
    model_config = ConfigDict(extra="allow", frozen=True)


class Quantity(_Model):
    """A number with its unit as written and as UCUM; ``value`` is a list for combinations
    ("5/325 mg"); a range has ``value_low`` and ``value_high``."""

    value: Number | list[Number] | None = None
    value_low: Number | None = None
    value_high: Number | None = None
    unit: str | None = None
    ucum: str | None = None
    text: str | None = None


class Route(_Model):
    """A route of administration: abbreviation, display, SNOMED CT code (None where not
    verified) and the text as written."""

    code: str | None = None
    display: str | None = None
    snomed: str | None = None
    text: str | None = None


class Frequency(_Model):
    """A timing: FHIR ``Timing.repeat`` fields and the timing abbreviation."""

    code: str | None = None
    frequency: int | None = None
    period: Number | None = None
    period_max: Number | None = None
    period_unit: str | None = None
    when: list[str] | None = None
    count: int | None = None
    text: str | None = None


class Regimen(_Model):
    """A dosing regimen written as prose ("a tapering course")."""

    text: str | None = None


class DoseChange(_Model):
    """A later dose of the drug in its clause ("tapered to 10 mg daily"): which way it went
    (``increase``, ``decrease`` or ``change``) and the new strength or dose with its timing."""

    direction: str | None = None
    strength: Quantity | None = None
    dose: Quantity | None = None
    frequency: Frequency | None = None
    route: Route | None = None


class Common(_Model):
    """Attributes any label may carry."""

    #: character offsets of the pieces an attribute was read from: name -> [start, end]
    parts: dict[str, list[int]] = {}
    #: the mention sits in allergy context (an allergies section)
    allergy: bool | None = None
    #: assertion found a resolution cue ("has cleared")
    resolved: bool | None = None
    #: what the mention's clause states (``extractors.statements``)
    stated_status: str | None = None
    onset: str | None = None
    onset_age: int | None = None
    relative: str | None = None
    relative_age: int | None = None
    #: an uncoded concept that only its name identifies: ``schemas.ids.name_key`` of the name
    #: (the warehouse's ``concept_key`` is then ``name:<name_key>``)
    name_key: str | None = None


class ProblemAttributes(Common):
    """PROBLEM and PROCEDURE mentions: only the common attributes."""


class MedicationAttributes(Common):
    """MEDICATION: the drug name and the sig read around it."""

    drug: str | None = None
    drug_source: str | None = None
    drug_rule_id: str | None = None
    ingredient: str | None = None
    #: the drugs of a combination named in one token ("piperacillin-tazobactam")
    ingredients: list[str] | None = None
    strength: Quantity | None = None
    dose: Quantity | None = None
    form: str | None = None
    route: Route | None = None
    frequency: Frequency | None = None
    duration: Quantity | None = None
    prn: bool | None = None
    prn_reason: str | None = None
    regimen: Regimen | None = None
    #: later doses in the same clause, in order (a taper's steps)
    dose_changes: list[DoseChange] | None = None
    sig: str | None = None


class LabAttributes(Common):
    """LAB: a test with its value, unit, flag and range."""

    test: str | None = None
    value: Number | None = None
    value_string: str | None = None
    comparator: str | None = None
    unit: str | None = None
    ucum: str | None = None
    interpretation: str | None = None
    reference_range: dict[str, Number | str | None] | None = None
    specimen: str | None = None
    #: "score": the value of an assessment scale (GCS, ECOG), a FHIR survey Observation;
    #: "measurement": a pressure, length or time measured by an instrument, a catheter or
    #: imaging (an unlisted test), an Observation without a category
    kind: str | None = None
    #: a range of values in criteria ("ECOG 0-1"): low and high
    value_range: dict[str, Number] | None = None


class VitalAttributes(Common):
    """VITAL: a vital sign with its value and unit (blood pressure as components)."""

    vital: str | None = None
    loinc: str | None = None
    value: Number | None = None
    comparator: str | None = None
    unit: str | None = None
    ucum: str | None = None
    unit_text: str | None = None
    components: dict[str, Any] | None = None
    systolic: Number | None = None
    diastolic: Number | None = None
    #: the oxygen a saturation was measured on ("on 2 L", "room air") and its flow
    oxygen: str | None = None
    oxygen_flow: Quantity | None = None
    #: a range of values, as criteria write one ("BMI 30-42")
    value_range: dict[str, Number] | None = None


class AllergyAttributes(Common):
    """ALLERGY: an allergen with its reaction, or a no-known-allergy statement."""

    allergen: str | None = None
    category: str | None = None
    substance: str | None = None
    reaction: str | None = None
    reaction_codes: list[dict[str, str]] | None = None
    no_known_allergy: bool | None = None
    scope: str | None = None


#: The model of each built-in label's attributes.
ATTRIBUTE_MODELS: dict[str, type[Common]] = {
    "PROBLEM": ProblemAttributes,
    "PROCEDURE": ProblemAttributes,
    "MEDICATION": MedicationAttributes,
    "LAB": LabAttributes,
    "VITAL": VitalAttributes,
    "ALLERGY": AllergyAttributes,
}


def typed_attributes(label: str, attributes: dict[str, Any]) -> Common:
    """The typed view of a mention's attributes (``Common`` for a label not declared here).

    Raises:
        pydantic.ValidationError: a declared attribute has the wrong type.
    """
    return ATTRIBUTE_MODELS.get(label, Common).model_validate(attributes)

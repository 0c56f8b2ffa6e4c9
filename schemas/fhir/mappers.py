"""One mapper per mention label: DocumentReference, Condition, FamilyMemberHistory,
MedicationStatement, Procedure, AllergyIntolerance, Observation."""

from __future__ import annotations

import base64
from collections.abc import Mapping
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

from schemas.fhir.codes import (
    ALLERGY_CLINICAL,
    ALLERGY_VER,
    CONDITION_CLINICAL,
    CONDITION_VER,
    LOINC,
    OBS_INTERPRETATION,
    ROLE_CODE,
    SNOMED,
    TIMING_ABBREVIATION,
    UCUM,
    Resource,
)
from schemas.fhir.parts import (
    NoteParts,
    _attr,
    _concept,
    _concept_code,
    _encounter,
    _mapping,
    _patient,
    _provenance,
    _quantity,
    _source_ref,
    _status,
    document_id,
    note_parts,
)
from schemas.fhir.policy import (
    ALLERGY_CATEGORIES,
    BP_DIASTOLIC,
    BP_PANEL,
    BP_SYSTOLIC,
    EVENT_TIMING,
    FAMILY_MEMBER,
    INTERPRETATIONS,
    LABORATORY_CATEGORY,
    NO_KNOWN_ALLERGY,
    NO_KNOWN_ALLERGY_DEFAULT,
    NOTE_DATE,
    O2_FLOW,
    QUALITATIVE_RESULTS,
    RELATIONSHIPS,
    SURVEY_CATEGORY,
    TIMING_CODES,
    UNITS_OF_TIME,
    VITAL_SIGNS_CATEGORY,
    PolicyRow,
    condition_category,
    policy_row,
)
from schemas.fhir.values import (
    _ID_OK,
    _code,
    _coding,
    _decimal,
    _instant,
    _partial_date,
    _positive_int,
    _string,
    _uri,
)
from schemas.ids import resource_id
from schemas.model import Mention, Note


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
    if note.converter:
        _derived(data, note)
    return data


#: ``DocumentReference.content.format`` system naming the converter that derived a note's text.
CONVERTER_SYSTEM = "urn:notestruct:converter"


def _derived(data: Resource, note: Note) -> None:
    """Mark a DocumentReference whose text was derived from another document (issue 18).

    The attachment is the derived plain text, which every derivation-reference offset
    points into; ``content.format`` names the converter and its version, and ``relatesTo``
    (``transforms``) points at the source document by identifier (it lives in the source
    system, not in this export).
    """
    data["content"][0]["format"] = {
        "system": CONVERTER_SYSTEM,
        "code": _code(note.converter) or "unknown",
        "display": "plain text derived by this converter; offsets are into this text",
    }
    ref = note.source_document
    if not ref:
        return
    kind, _, ident = ref.partition("/")
    if "|" in ref:
        system, _, value = ref.partition("|")
        target: dict[str, Any] = {"identifier": {"system": system, "value": value}}
    elif ident and _ID_OK.fullmatch(ident):
        system = f"{_uri(note.source) or 'urn:notestruct:source'}:{kind}"
        target = {"type": kind, "identifier": {"system": system, "value": ident}}
    else:
        return
    data["relatesTo"] = [{"code": "transforms", "target": target}]


def _onset(mention: Mention) -> tuple[str, Any] | None:
    """onset[x] from the ``onset`` (a date) or ``onset_age`` (years) attribute ("since 2019",
    "at age 52": ``extractors.statements``)."""
    stated = _partial_date(_attr(mention, "onset"))
    if stated:
        return "onsetDateTime", stated
    return _age("onsetAge", _attr(mention, "onset_age"))


def _age(element: str, value: object) -> tuple[str, Any] | None:
    age = _positive_int(value)
    if age is None or not 0 < age < 130:
        return None
    return element, {"value": age, "unit": "a", "system": UCUM, "code": "a"}


def _begin(
    mention: Mention,
    note: Note,
    resource: str,
    row: PolicyRow | None,
    parts: NoteParts | None,
) -> tuple[PolicyRow, NoteParts, Resource] | None:
    """What every mapper starts with: the policy row (None when the mention's state does not
    make this resource), the note's shared parts and the resource with its id, provenance
    extension and tags."""
    row = row or policy_row(mention)
    if row is None or row.resource != resource:
        return None
    parts = parts or note_parts(note)
    rid = resource_id(resource, mention.mention_id)
    return row, parts, _provenance(mention, parts, resource, rid)


def to_condition(
    mention: Mention,
    note: Note,
    *,
    include_text: bool = False,
    row: PolicyRow | None = None,
    parts: NoteParts | None = None,
) -> Resource | None:
    """A Condition; the assertion goes into verificationStatus and clinicalStatus (POLICY)."""
    begun = _begin(mention, note, "Condition", row, parts)
    if begun is None:
        return None
    row, parts, data = begun
    clinical = _status(row.elements.get("clinicalStatus", ""), "clinicalStatus", mention)
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
    onset = _onset(mention)
    if onset:
        data[onset[0]] = onset[1]
    if parts.instant:
        data["recordedDate"] = parts.instant
    data["evidence"] = [{"detail": [{"reference": _source_ref(data)}]}]
    return data


def _relationship(mention: Mention) -> tuple[str, str]:
    """The relative: ConText's experiencer, else the relative the clause names (``relative``,
    set by ``extractors.statements``), else a family member."""
    for who in (mention.assertion.experiencer, _attr(mention, "relative")):
        key = str(who or "").lower().strip()
        if key in RELATIONSHIPS:
            return RELATIONSHIPS[key]
    return FAMILY_MEMBER


def to_family_member_history(
    mention: Mention,
    note: Note,
    *,
    include_text: bool = False,
    row: PolicyRow | None = None,
    parts: NoteParts | None = None,
) -> Resource | None:
    """FamilyMemberHistory for a relative's condition (relationship from v3 RoleCode)."""
    begun = _begin(mention, note, "FamilyMemberHistory", row, parts)
    if begun is None:
        return None
    row, parts, data = begun
    data["status"] = row.elements["status"]
    data["patient"] = parts.subject()
    if parts.instant:
        data["date"] = parts.instant
    code, display = _relationship(mention)
    data["relationship"] = _concept_code(ROLE_CODE, code, display)
    condition: dict[str, Any] = {"code": _concept(mention, include_text)}
    onset = _onset(mention)
    if not onset or onset[0] != "onsetAge":
        # family histories say "father had an MI at 52": a bare number after "at" is an age
        onset = _age("onsetAge", _attr(mention, "relative_age"))
    if onset:
        condition["onsetAge"] = onset[1]
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
        quantity = _quantity(dose.get("value"), dose.get("ucum"), unit)
        if quantity and quantity["value"] >= 0:
            return {"doseQuantity": quantity}
    if strength:
        ucum = strength.get("ucum")
        unit = strength.get("unit") or ucum
        low = _quantity(strength.get("value_low"), ucum, unit)
        high = _quantity(strength.get("value_high"), ucum, unit)
        if low and high and 0 <= low["value"] <= high["value"]:
            return {"doseRange": {"low": low, "high": high}}
        quantity = _quantity(strength.get("value"), ucum, unit)
        if quantity and quantity["value"] >= 0:
            return {"doseQuantity": quantity}
    return None


def to_medication_statement(
    mention: Mention, note: Note, *, include_text: bool = False, parts: NoteParts | None = None
) -> Resource | None:
    """MedicationStatement: code, dosage from the sig attributes, status from POLICY."""
    begun = _begin(mention, note, "MedicationStatement", None, parts)
    if begun is None:
        return None
    row, parts, data = begun
    status = _status(row.elements["status"], "status", mention)
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
    changes = _dose_changes(mention)
    if dosage or changes:
        # a taper or titration: the first instruction, then each later dose in order
        data["dosage"] = [dosage or {}, *changes] if changes else [dosage]
        if changes:
            for i, step in enumerate(data["dosage"], start=1):
                step["sequence"] = i
    return data


def _dose_changes(mention: Mention) -> list[dict[str, Any]]:
    """Later doses read in the drug's clause (``dose_changes``) as further Dosage entries."""
    out: list[dict[str, Any]] = []
    changes = mention.attributes.get("dose_changes")
    for change in changes if isinstance(changes, list) else ():
        change = _mapping(change)
        step: dict[str, Any] = {}
        timing = _timing(_mapping(change.get("frequency")), {})
        if timing:
            step["timing"] = timing
        dose_and_rate = _dose(_mapping(change.get("dose")), _mapping(change.get("strength")))
        if dose_and_rate:
            step["doseAndRate"] = [dose_and_rate]
            out.append(step)
    return out


def to_procedure(
    mention: Mention, note: Note, *, include_text: bool = False, parts: NoteParts | None = None
) -> Resource | None:
    """Procedure: completed, or not-done when negated (POLICY)."""
    begun = _begin(mention, note, "Procedure", None, parts)
    if begun is None:
        return None
    row, parts, data = begun
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
    begun = _begin(mention, note, "AllergyIntolerance", None, parts)
    if begun is None:
        return None
    row, parts, data = begun
    attrs = mention.attributes
    clinical = _status(row.elements["clinicalStatus"], "clinicalStatus", mention)
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
    begun = _begin(mention, note, "Observation", None, parts)
    if begun is None:
        return None
    row, parts, data = begun
    attrs = mention.attributes
    data["status"] = row.elements["status"]
    vital = mention.label == "VITAL"
    category = (
        VITAL_SIGNS_CATEGORY
        if vital
        else SURVEY_CATEGORY
        if attrs.get("kind") == "score"
        # a pressure measured by an instrument or a catheter ("intraocular pressure 15 mm Hg",
        # "lower esophageal sphincter pressure of 50 mmHg"): no laboratory test, and the note
        # does not say whether by exam, imaging or procedure, so no category
        else None
        if attrs.get("kind") == "measurement"
        else LABORATORY_CATEGORY
    )
    if category is not None:
        data["category"] = [{"coding": [category]}]
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
    rng = _mapping(attrs.get("value_range"))
    if rng:  # a range in criteria ("ECOG 0-1")
        low = _quantity(rng.get("low"), attrs.get("ucum"), attrs.get("ucum"))
        high = _quantity(rng.get("high"), attrs.get("ucum"), attrs.get("ucum"))
        if low and high:
            data["valueRange"] = {"low": low, "high": high}
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

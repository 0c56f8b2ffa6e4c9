"""FHIR mappers: structure from extractor attributes, provenance, privacy, ids, defensive input."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas import fhir
from schemas.fhir import (
    MAPPERS,
    MappingError,
    ShapeValidator,
    map_mention,
    map_note,
    note_bundle,
    to_provenance,
)
from schemas.model import LABELS, Coding
from tests.schemas.fhir_cases import (
    BP_ATTRS,
    LAB_ATTRS,
    NKA_ATTRS,
    SENTENCE,
    SPAN,
    labelled,
    make_mention,
    make_note,
    walk_strings,
)
from tests.schemas.r4_schema import schema_errors

AUTHORED_OK = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def _map(label: str, **kw: Any) -> dict[str, Any]:
    note, mention = labelled(label, **kw)
    resource = map_mention(mention, note)
    assert resource is not None
    ShapeValidator(full=True).check(resource)
    return resource


def test_every_built_in_label_has_a_mapping_entry() -> None:
    assert set(LABELS) <= set(MAPPERS)


def test_medication_dosage_from_sig_attributes() -> None:
    r = _map("MEDICATION")
    assert r["medicationCodeableConcept"]["coding"][0]["code"] == "6809"
    dosage = r["dosage"][0]
    assert dosage["timing"]["repeat"] == {"frequency": 2, "period": 1, "periodUnit": "d"}
    assert dosage["timing"]["code"]["coding"][0]["code"] == "BID"
    assert dosage["route"]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "26643006",
        "display": "Oral route",
    }
    assert dosage["doseAndRate"][0]["doseQuantity"] == {
        "value": 1000,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    assert "text" not in dosage  # the sig is note text
    derivation = r["extension"][0]["extension"][0]["valueReference"]["reference"]
    assert r["derivedFrom"] == [{"reference": derivation}]
    assert derivation.startswith("DocumentReference/")


def test_medication_prn_dose_range_when_and_duration() -> None:
    attrs = {
        "drug": "oxycodone",
        "dose": {"unit": "tablet", "value_low": 1, "value_high": 2, "text": "1-2 tabs"},
        "frequency": {
            "code": "Q4H",
            "frequency": 1,
            "period": 4,
            "period_max": 6,
            "period_unit": "h",
            "when": ["PC", "bogus"],
            "text": "q4-6h",
        },
        "duration": {"value": 5, "unit": "d", "text": "x5 days"},
        "prn": True,
        "prn_reason": "pain",
        "route": {"code": "PO", "display": "Oral route", "snomed": "26643006"},
    }
    note = make_note("oxycodone 1-2 tabs PO q4-6h prn pain x5 days")
    mention = make_mention(note, "oxycodone", "MEDICATION", attributes=attrs, codings=())
    r = map_mention(mention, note)
    assert r is not None
    ShapeValidator(full=True).check(r)
    dosage = r["dosage"][0]
    assert dosage["doseAndRate"][0]["doseRange"]["low"]["value"] == 1
    assert dosage["timing"]["repeat"]["periodMax"] == 6
    assert dosage["timing"]["repeat"]["when"] == ["PC"]
    assert dosage["timing"]["repeat"]["boundsDuration"]["code"] == "d"
    assert dosage["timing"]["code"] == {"text": "Q4H"}
    assert dosage["asNeededBoolean"] is True  # the reason is note text: withheld by default
    with_text = map_mention(mention, note, include_text=True)
    assert with_text is not None
    assert with_text["dosage"][0]["asNeededCodeableConcept"] == {"text": "pain"}
    # no code and no dictionary name, text withheld: the concept says "masked"
    assert r["medicationCodeableConcept"]["extension"][0]["valueCode"] == "masked"
    assert with_text["medicationCodeableConcept"] == {"text": "oxycodone"}


def test_lab_observation() -> None:
    r = _map("LAB")
    assert r["category"][0]["coding"][0]["code"] == "laboratory"
    assert r["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "2823-3",
        "display": "Potassium",
    }
    assert r["valueQuantity"] == {
        "value": 5.9,
        "unit": "mmol/L",
        "system": "http://unitsofmeasure.org",
        "code": "mmol/L",
    }
    assert r["interpretation"][0]["coding"][0]["code"] == "H"
    assert r["interpretation"][0]["coding"][0]["system"] == fhir.OBS_INTERPRETATION
    assert r["referenceRange"][0]["low"]["value"] == 3.5
    assert r["effectiveDateTime"] == "2025-03-14T09:30:00+00:00"
    assert r["derivedFrom"][0]["reference"].startswith("DocumentReference/")


@pytest.mark.parametrize("flag", ["L", "HH", "LL", "A", "N", "high", "abnormal"])
def test_lab_interpretation_flags(flag: str) -> None:
    r = _map("LAB", attributes={**LAB_ATTRS, "interpretation": flag})
    code = r["interpretation"][0]["coding"][0]["code"]
    assert code == fhir.INTERPRETATIONS[flag.upper()][0]


def test_lab_loinc_from_attributes_only_and_qualitative_value() -> None:
    attrs = {"test": "Troponin I", "loinc": "10839-9", "value_string": "negative"}
    r = _map("LAB", attributes=attrs, codings=())
    assert r["code"]["coding"] == [{"system": "http://loinc.org", "code": "10839-9"}]
    assert r["code"]["text"] == "Troponin I"
    assert r["valueCodeableConcept"]["coding"][0]["code"] == "260385009"


def test_lab_comparator() -> None:
    r = _map("LAB", attributes={**LAB_ATTRS, "comparator": "<", "interpretation": None})
    assert r["valueQuantity"]["comparator"] == "<"
    assert "interpretation" not in r


def test_blood_pressure_panel() -> None:
    note = make_note("Vitals: BP 142/88 mmHg.")
    m = make_mention(note, "BP 142/88 mmHg", "VITAL", attributes=BP_ATTRS, codings=())
    r = map_mention(m, note)
    assert r is not None
    ShapeValidator(full=True).check(r)
    assert r["category"][0]["coding"][0]["code"] == "vital-signs"
    assert r["code"]["coding"][0]["code"] == "85354-9"
    assert "valueQuantity" not in r
    comps = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in r["component"]}
    assert comps["8480-6"]["value"] == 142 and comps["8462-4"]["value"] == 88
    assert comps["8480-6"]["code"] == "mm[Hg]"
    assert comps["8480-6"]["system"] == "http://unitsofmeasure.org"


def test_vital_with_oxygen_flow() -> None:
    attrs = {
        "vital": "oxygen_saturation",
        "loinc": "2708-6",
        "value": 94,
        "unit": "%",
        "ucum": "%",
        "oxygen": "2L NC",
        "oxygen_flow": {"value": 2, "unit": "L/min"},
    }
    note = make_note("SpO2 94% on 2L NC")
    m = make_mention(note, "SpO2 94% on 2L NC", "VITAL", attributes=attrs, codings=())
    r = map_mention(m, note)
    assert r is not None
    ShapeValidator(full=True).check(r)
    assert r["valueQuantity"]["code"] == "%"
    assert r["component"][0]["code"]["coding"][0]["code"] == "3151-8"


@pytest.mark.parametrize(
    ("scope", "code"),
    [
        ("drug", "409137002"),
        ("food", "429625007"),
        ("environment", "428607008"),
        ("all", "716186003"),
        (None, "716186003"),
    ],
)
def test_no_known_allergy_codes(scope: str | None, code: str) -> None:
    note = make_note("Allergies: NKDA.")
    attrs = {**NKA_ATTRS, "scope": scope}
    m = make_mention(note, "NKDA", "ALLERGY", attributes=attrs, codings=(), is_negated=True)
    r = map_mention(m, note)
    assert r is not None
    ShapeValidator(full=True).check(r)
    assert r["code"]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": code,
        "display": dict(fhir.NO_KNOWN_ALLERGY.values()).get(code, "No known allergy"),
    }
    assert r["verificationStatus"]["coding"][0]["code"] == "confirmed"


def test_allergy_reaction_and_category() -> None:
    r = _map("ALLERGY")
    assert r["category"] == ["medication"]
    assert r["code"] == {"text": "penicillin"}  # dictionary name, not the note's spelling
    assert r["reaction"][0]["manifestation"][0]["coding"][0]["code"] == "126485001"


@pytest.mark.parametrize(
    ("text", "span", "experiencer", "code"),
    [
        ("Mother with breast cancer.", "breast cancer", "mother", "MTH"),
        ("Father had an MI at age 52.", "MI", None, "FTH"),
        ("Father had an MI at 52.", "MI", "father", "FTH"),
        ("Mother with breast cancer, alive at 88.", "breast cancer", None, "MTH"),
        ("Brother with diabetes.", "diabetes", None, "BRO"),
        ("Family history of diabetes.", "diabetes", "family", "FAMMEMB"),
    ],
)
def test_family_member_history_relationship(
    text: str, span: str, experiencer: str | None, code: str
) -> None:
    note = make_note(text)
    m = make_mention(note, span, "PROBLEM", is_family=True, experiencer=experiencer)
    r = map_mention(m, note)
    assert r is not None
    ShapeValidator(full=True).check(r)
    assert r["resourceType"] == "FamilyMemberHistory"
    assert r["relationship"]["coding"][0] == {
        "system": fhir.ROLE_CODE,
        "code": code,
        "display": dict(fhir.RELATIONSHIPS.values()).get(code, "family member"),
    }
    if "52" in text:
        assert r["condition"][0]["onsetAge"]["value"] == 52
    else:
        assert "onsetAge" not in r["condition"][0]  # "alive at 88" is not an onset


def test_condition_category_onset_and_evidence() -> None:
    note = make_note("PAST MEDICAL HISTORY: Prior DVT in 2019.")
    m = make_mention(note, "DVT", "PROBLEM", section="past_medical_history", is_historical=True)
    r = map_mention(m, note)
    assert r is not None
    ShapeValidator(full=True).check(r)
    assert r["category"][0]["coding"][0]["code"] == "problem-list-item"
    assert r["onsetDateTime"] == "2019"
    assert (
        r["evidence"][0]["detail"][0]["reference"] == f"DocumentReference/{fhir.document_id(note)}"
    )
    note2, m2 = labelled("PROBLEM")
    r2 = map_mention(m2, note2)
    assert r2 is not None and r2["category"][0]["coding"][0]["code"] == "encounter-diagnosis"


@pytest.mark.parametrize(
    ("header", "section"),
    [
        ("CHIEF COMPLAINT:", "chief_complaint"),
        ("Reason for Visit:", "chief_complaint"),
        # a report's indication is the question it answers, not what it found
        ("INDICATION:", "indication"),
    ],
)
def test_chief_complaint_is_a_health_concern_not_an_encounter_diagnosis(
    header: str, section: str
) -> None:
    """The presenting complaint is the patient's concern; the assessment is the diagnosis."""
    note = make_note(f"{header} Cough.\nASSESSMENT: Pneumonia.")
    cough = make_mention(note, "Cough", "PROBLEM", section=section)
    pneumonia = make_mention(note, "Pneumonia", "PROBLEM", section="observation_and_plan")
    r1, r2 = map_mention(cough, note), map_mention(pneumonia, note)
    assert r1 is not None and r2 is not None
    ShapeValidator(full=True).check(r1)
    assert r1["category"][0]["coding"] == [
        {"system": fhir.US_CORE_CONDITION_CATEGORY, "code": "health-concern"}
    ]
    assert r2["category"][0]["coding"] == [
        {"system": fhir.CONDITION_CATEGORY, "code": "encounter-diagnosis"}
    ]
    assert schema_errors([r1, r2]) == []


@pytest.mark.parametrize("label", sorted(SENTENCE))
def test_span_provenance_and_tags(label: str) -> None:
    note, m = labelled(label)
    r = map_mention(m, note)
    assert r is not None
    derivation = next(e for e in r["extension"] if e["url"] == fhir.DERIVATION_URL)
    parts = {e["url"]: e for e in derivation["extension"]}
    assert parts["reference"]["valueReference"]["reference"] == (
        f"DocumentReference/{fhir.document_id(note)}"
    )
    offset, length = parts["offset"]["valueInteger"], parts["length"]["valueInteger"]
    assert note.text[offset : offset + length] == SPAN[label]
    tags = {t["system"]: t["code"] for t in r["meta"]["tag"]}
    assert tags[fhir.TAG_MENTION] == m.mention_id
    assert tags[fhir.TAG_EXTRACTOR] == f"{m.provenance.extractor}@1"
    assert r["id"] == fhir.resource_id(r["resourceType"], m.mention_id)


def test_no_note_text_in_resources_unless_allowed() -> None:
    text = "Meds: Zorblatin 5 mg daily. Allergies: Quuxamine - hives."
    note = make_note(text)
    mentions = (
        make_mention(
            note,
            "Zorblatin",
            "MEDICATION",
            codings=(),
            attributes={"drug": "Zorblatin", "sig": "5 mg daily"},
        ),
        make_mention(
            note,
            "Quuxamine",
            "ALLERGY",
            codings=(),
            attributes={"allergen": "Quuxamine", "reaction": "hives"},
        ),
    )
    resources = map_note(note, mentions)
    strings = [s for r in resources for s in walk_strings(r)]
    for secret in ("Zorblatin", "Quuxamine", "5 mg daily", "hives"):
        assert not any(secret in s for s in strings), secret
    assert "data" not in resources[0]["content"][0]["attachment"]
    shown = map_note(note, mentions, include_text=True)
    strings = [s for r in shown for s in walk_strings(r)]
    assert any("Zorblatin" in s for s in strings)
    assert shown[0]["content"][0]["attachment"]["data"]


def test_ids_are_deterministic() -> None:
    note, m = labelled("PROBLEM")
    first = map_note(note, (m,))
    again = map_note(note, (m,))
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)


ODD_ATTRIBUTES: list[dict[str, Any]] = [
    {"value": math.nan, "ucum": "mg/dL"},
    {"value": math.inf, "unit": "", "ucum": " "},
    {"value": True, "ucum": "mm  Hg"},
    {"value": "12", "ucum": 7, "interpretation": "weird", "reference_range": {"low": 9, "high": 1}},
    {"systolic": 120, "diastolic": None, "loinc": "bad code  x"},
    {"systolic": "120", "diastolic": 80},
    {"strength": "10 mg", "route": "PO", "frequency": ["BID"], "dose": 3},
    {
        "strength": {"value": [5, 325], "unit": "mg"},
        "frequency": {
            "frequency": 0,
            "period": -1,
            "period_unit": "fortnight",
            "when": "HS",
            "code": " ",
        },
    },
    {"frequency": {"frequency": 2.5, "period": 1, "period_unit": "d", "period_max": 0.5}},
    {"dose": {"unit": "\u00a0", "value": -1}, "prn": "yes", "prn_reason": ""},
    {"category": "plant", "reaction_codes": [{"code": ""}, "x", {"system": "s p", "code": "1"}]},
    {"no_known_allergy": "true", "scope": ["drug"]},
    {"onset": "last year", "oxygen_flow": {"value": "2"}},
    {"test": "", "value_string": "???", "comparator": "~"},
]


@pytest.mark.parametrize("label", sorted(SENTENCE))
@pytest.mark.parametrize("attrs", ODD_ATTRIBUTES, ids=range(len(ODD_ATTRIBUTES)))
def test_odd_attributes_never_produce_an_invalid_resource(
    label: str, attrs: dict[str, Any]
) -> None:
    odd = (
        Coding(system="not a uri", code="a  b", display="\u00a0"),
        Coding(system="http://loinc.org", code=" 1234-5 ", display=""),
    )
    for codings in ((), odd):
        note, m = labelled(label, attributes=attrs, codings=codings)
        resource = map_mention(m, note)
        if resource is not None:
            ShapeValidator(full=True).check(resource)


def test_strange_patient_and_note_ids_give_valid_references() -> None:
    note = make_note(
        "Assessment: hypertension.",
        patient_ref="MRN:000 123/45",
        note_id="n 1",
        encounter_ref=None,
        source="not a uri",
        note_type="  ",
    )
    m = make_mention(note, "hypertension", "PROBLEM")
    resources = map_note(note, (m,), validator=ShapeValidator(full=True))
    condition = resources[1]
    assert condition["subject"]["identifier"]["value"] == "MRN:000 123/45"
    assert "encounter" not in condition


def test_shape_validator_validates_each_shape_once_and_reports_without_values() -> None:
    validator = ShapeValidator()
    note = make_note("Assessment: hypertension and hypertension.")
    mentions = tuple(make_mention(note, "hypertension", "PROBLEM", occurrence=i) for i in (0, 1))
    map_note(note, mentions, validator=validator)
    assert validator.validated == 2  # DocumentReference, Condition
    assert validator.skipped == 1
    with pytest.raises(MappingError) as info:
        ShapeValidator().check(
            {
                "resourceType": "Condition",
                "id": "x",
                "code": {"text": "SECRET"},
                "subject": {"reference": "Patient/1"},
                "onsetAge": "SECRET",
            }
        )
    assert "SECRET" not in str(info.value)


def test_note_bundle_is_a_transaction_of_puts() -> None:
    note, m = labelled("PROBLEM")
    resources = map_note(note, (m,))
    bundle = note_bundle(note, resources)
    assert bundle["type"] == "transaction"
    assert [e["request"] for e in bundle["entry"]] == [
        {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"} for r in resources
    ]
    assert bundle["entry"][0]["fullUrl"] == f"urn:uuid:{resources[0]['id']}"
    assert note_bundle(note, resources)["id"] == bundle["id"]


def test_run_provenance() -> None:
    note, m = labelled("PROBLEM")
    resources = map_note(note, (m,))
    prov = to_provenance(
        [f"{r['resourceType']}/{r['id']}" for r in resources],
        run_id="run-1",
        recorded=datetime(2025, 3, 15, 2, 0, tzinfo=UTC),
        software_version="0.1.0",
        rules_version="abc123",
        dictionary_version="dict-9",
        extractors={"dictionary": 1, "labs": 2},
    )
    assert prov["id"] == fhir.resource_id("Provenance", "run-1")
    assert len(prov["target"]) == 2
    assert prov["agent"][0]["who"]["display"] == "notestruct 0.1.0"
    versions = {
        e["url"]: e["valueString"]
        for e in prov["extension"][0]["extension"]
        if e["url"] != "extractor"
    }
    assert versions == {"software": "0.1.0", "rules": "abc123", "dictionary": "dict-9"}
    with pytest.raises(MappingError):
        to_provenance([], run_id="r", recorded=datetime.now(UTC), software_version="0.1.0")


def test_fast_uuid5_matches_the_standard_library() -> None:
    import uuid

    from schemas.ids import NAMESPACE, uuid5_str

    for name in ("", "fhir|Condition|x", "é漢字|\u0000", "a" * 500, *(str(i) for i in range(300))):
        assert uuid5_str(name) == str(uuid.uuid5(NAMESPACE, name))


def test_values_the_shape_check_cannot_see_are_guarded() -> None:
    """Same shape as a valid resource, values that would be invalid: the guards fix them."""
    from datetime import timedelta, timezone

    validator = ShapeValidator()
    odd_zone = timezone(timedelta(hours=15, seconds=7))
    for authored, onset in (
        (AUTHORED_OK, "2019-02-28"),
        (datetime(2025, 3, 14, tzinfo=odd_zone), "2019-02-31"),
    ):
        note = make_note("Assessment: hypertension.", authored_at=authored)
        m = make_mention(note, "hypertension", "PROBLEM", attributes={"onset": onset})
        resource = map_mention(m, note)
        assert resource is not None
        validator.check(resource)
        ShapeValidator(full=True).check(resource)
        assert schema_errors([resource]) == []
    assert resource["recordedDate"].endswith("+00:00")
    assert "onsetDateTime" not in resource


def test_a_strength_range_is_a_dose_range() -> None:
    """"warfarin 2.5-3.75 mg daily": a range of strengths becomes doseRange in UCUM."""
    attrs = {"strength": {"value_low": 2.5, "value_high": 3.75, "unit": "mg", "ucum": "mg"}}
    note = make_note("warfarin 2.5-3.75 mg daily")
    mention = make_mention(note, "warfarin", "MEDICATION", attributes=attrs, codings=())
    r = map_mention(mention, note)
    assert r is not None
    ShapeValidator(full=True).check(r)
    dose = r["dosage"][0]["doseAndRate"][0]["doseRange"]
    assert (dose["low"]["value"], dose["high"]["value"], dose["high"]["code"]) == (2.5, 3.75, "mg")


def test_dose_changes_are_further_dosages_in_sequence() -> None:
    text = "prednisone 60 mg daily, tapered to 10 mg daily, then 5 mg"
    mg = {"unit": "mg", "ucum": "mg"}
    attrs = {
        "drug": "prednisone",
        "strength": {"value": 60, **mg, "text": "60 mg"},
        "frequency": {"code": "QD", "frequency": 1, "period": 1, "period_unit": "d"},
        "dose_changes": [
            {
                "direction": "decrease",
                "strength": {"value": 10, **mg, "text": "10 mg"},
                "frequency": {"code": "QD", "frequency": 1, "period": 1, "period_unit": "d"},
            },
            {"direction": "decrease", "strength": {"value": 5, **mg, "text": "5 mg"}},
            {"direction": "decrease", "strength": {"text": "no value"}},  # nothing to map
        ],
    }
    note = make_note(text)
    mention = make_mention(note, "prednisone", "MEDICATION", attributes=attrs, codings=())
    r = map_mention(mention, note)
    assert r is not None
    ShapeValidator(full=True).check(r)
    assert schema_errors([r]) == []
    doses = [d["doseAndRate"][0]["doseQuantity"]["value"] for d in r["dosage"]]
    assert doses == [60, 10, 5]
    assert [d["sequence"] for d in r["dosage"]] == [1, 2, 3]
    assert r["dosage"][1]["timing"]["repeat"]["frequency"] == 1
    assert "timing" not in r["dosage"][2]


def test_a_volume_amount_is_the_dose_quantity_in_ucum() -> None:
    attrs = {
        "drug": "lidocaine",
        "dose": {"value": 10, "unit": "mL", "ucum": "mL", "text": "10 mL"},
        "strength": {"value": 1, "unit": "%", "ucum": "%", "text": "1%"},
    }
    note = make_note("10 mL of 1% lidocaine")
    mention = make_mention(note, "lidocaine", "MEDICATION", attributes=attrs, codings=())
    r = map_mention(mention, note)
    assert r is not None
    assert r["dosage"] == [
        {
            "doseAndRate": [
                {
                    "doseQuantity": {
                        "value": 10,
                        "unit": "mL",
                        "system": "http://unitsofmeasure.org",
                        "code": "mL",
                    }
                }
            ]
        }
    ]


def test_uncoded_lab_is_an_observation_named_by_its_text() -> None:
    """A result of a test no table lists (labs' ``lab-unlisted``): no coding, the test's name
    as the code's text, the value with its comparator; a valid R4 Observation."""
    attrs = {"test": "free carnitine level", "value": 3, "comparator": "<", "unit": "μmol/L",
             "ucum": "umol/L"}  # fmt: skip
    r = _map("LAB", attributes=attrs, codings=())
    assert r["code"] == {"text": "free carnitine level"}
    assert r["valueQuantity"]["comparator"] == "<"
    assert r["valueQuantity"]["code"] == "umol/L"
    assert schema_errors([r]) == []


def test_a_measured_pressure_is_no_laboratory_observation() -> None:
    attrs = {"test": "intraocular pressure", "value": 15, "unit": "mm Hg", "ucum": "mm[Hg]",
             "kind": "measurement"}  # fmt: skip
    r = _map("LAB", attributes=attrs, codings=())
    assert "category" not in r
    assert r["valueQuantity"]["code"] == "mm[Hg]"
    assert schema_errors([r]) == []

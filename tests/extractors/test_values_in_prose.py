"""Table tests: tests and vital signs with values in prose and in eligibility criteria, with
comparators (FHIR Quantity.comparator) and counts written per microlitre."""

from typing import Any

import pytest

from extractors.nlp import NlpSettings, build_nlp, extract
from schemas.model import Note


@pytest.fixture(scope="module")
def nlp() -> Any:
    return build_nlp(NlpSettings(extractors=("labs", "vitals")))


def found(nlp: Any, text: str) -> list[tuple[str, str, dict[str, Any]]]:
    [(_, mentions)] = list(extract(nlp, [(Note(note_id="t", text=text), ())]))
    assert not isinstance(mentions, Exception)
    return [(m.label, m.text, m.attributes) for m in mentions]


# sentence, label, test or vital name, value, comparator, ucum
CASES: list[tuple[str, str, str, float, str | None, str | None]] = [
    ("HbA1c > 7%", "LAB", "Hemoglobin A1c", 7, ">", "%"),
    ("HbA1c ≥ 6.5% at screening", "LAB", "Hemoglobin A1c", 6.5, ">=", "%"),
    ("serum creatinine of more than 1.5 mg/dL", "LAB", "Creatinine", 1.5, ">", "mg/dL"),
    ("eGFR < 30 mL/min/1.73 m2", "LAB", "eGFR", 30, "<", "mL/min/{1.73_m2}"),
    ("creatinine clearance below 60 ml/min", "LAB", "Creatinine clearance", 60, "<", "mL/min"),
    ("a haemoglobin of 8 g/dl on admission", "LAB", "Hemoglobin", 8, None, "g/dL"),
    ("platelet count 24000/mm3", "LAB", "Platelet count", 24000, None, "/mm3"),
    ("platelets were 45,000/µL.", "LAB", "Platelet count", 45000, None, "/uL"),
    ("platelets at least 100,000/µL", "LAB", "Platelet count", 100000, ">=", "/uL"),
    ("BMI >= 35 kg/m2", "VITAL", "bmi", 35, ">=", "kg/m2"),
    ("body mass index of at least 30", "VITAL", "bmi", 30, ">=", "kg/m2"),
    ("systolic blood pressure ≥ 160 mmHg", "VITAL", "systolic_blood_pressure", 160, ">=",
     "mm[Hg]"),
    ("diastolic blood pressure above 100 mmHg", "VITAL", "diastolic_blood_pressure", 100, ">",
     "mm[Hg]"),
    ("weight > 150 kg", "VITAL", "body_weight", 150, ">", "kg"),
]


@pytest.mark.parametrize(("text", "label", "name", "value", "comparator", "ucum"), CASES)
def test_values_with_comparators(
    nlp: Any, text: str, label: str, name: str, value: float, comparator: str | None,
    ucum: str | None,
) -> None:
    hits = [(lab, attrs) for lab, _, attrs in found(nlp, text) if lab == label]
    assert len(hits) == 1, found(nlp, text)
    attrs = hits[0][1]
    assert attrs.get("test", attrs.get("vital")) == name
    assert attrs["value"] == value
    assert attrs.get("comparator") == comparator
    assert attrs["ucum"] == ucum


def test_blood_pressure_pair_is_not_read_as_a_systolic_value(nlp: Any) -> None:
    [(_, _, attrs)] = found(nlp, "Systolic/diastolic 150/90 mmHg")
    assert attrs["vital"] == "blood_pressure" and attrs["systolic"] == 150


def test_comparator_reaches_fhir(nlp: Any) -> None:
    from schemas.fhir import map_note

    note = Note(note_id="t", text="HbA1c > 7%")
    [(_, mentions)] = list(extract(nlp, [(note, ())]))
    [obs] = [r for r in map_note(note, mentions) if r["resourceType"] == "Observation"]
    assert obs["valueQuantity"]["comparator"] == ">"
    assert obs["valueQuantity"]["value"] == 7


# As case reports write results: a gloss after the name, a comma or bracket before the value,
# verbs of change, typeset spaces before the unit, Greek mu, a lost superscript in ×10^9/L.
# sentence, label, test or vital name, value, ucum
CASE_REPORT: list[tuple[str, str, str, float, str | None]] = [
    ("C-reactive protein (CRP) level of 119 mg/L", "LAB", "C reactive protein", 119, "mg/L"),
    ("potassium level, 3.8 mEq/L; sodium 139", "LAB", "Potassium", 3.8, "meq/L"),
    ("mildly elevated bilirubin (2.2 mg/dL) on day 3", "LAB", "Bilirubin, total", 2.2, "mg/dL"),
    ("her serum calcium had further increased to 19.2 mg/dL", "LAB", "Calcium", 19.2, "mg/dL"),
    ("ALT was 12\u200aU/L", "LAB", "ALT", 12, "U/L"),
    ("alanine transaminase 19 IU/L", "LAB", "ALT", 19, "[IU]/L"),
    ("creatinine increased to 362 μmol/L", "LAB", "Creatinine", 362, "umol/L"),
    ("platelets 52 × 109/L", "LAB", "Platelet count", 52, "10*9/L"),
    ("serum prolactin was 74 ng/mL", "LAB", "Prolactin", 74, "ng/mL"),
    ("FEV1 1.2 L (45% predicted)", "LAB", "FEV1", 1.2, "L"),  # a litre is no drug amount here
    ("The FEV1/FVC ratio was 85%.", "LAB", "FEV1/FVC", 85, "%"),
    ("DLCO 42% of predicted", "LAB", "DLCO", 42, "%"),
    ("pulse rate, 101/min", "VITAL", "heart_rate", 101, "/min"),
    ("an elevated heart rate (98/min)", "VITAL", "heart_rate", 98, "/min"),
    ("blood pressure, 145/95\u200amm\u200aHg", "VITAL", "blood_pressure", 145, "mm[Hg]"),
    ("his blood pressure increased to 160/90 mmHg", "VITAL", "blood_pressure", 160, "mm[Hg]"),
]


@pytest.mark.parametrize(("text", "label", "name", "value", "ucum"), CASE_REPORT)
def test_results_as_case_reports_write_them(
    nlp: Any, text: str, label: str, name: str, value: float, ucum: str | None
) -> None:
    hits = [attrs for lab, _, attrs in found(nlp, text) if lab == label]
    assert hits, found(nlp, text)
    attrs = hits[0]
    assert attrs.get("test", attrs.get("vital")) == name
    assert attrs.get("value", attrs.get("systolic")) == value
    assert attrs["ucum"] == ucum


@pytest.mark.parametrize(
    "text",
    [
        "heart rate, blood pressure and temperature were normal",  # a list of names, no value
        "HR 120/80",  # a blood pressure under the wrong name is not a pulse of 120
        "platelet count (see table 2)",  # a bracket that is no value
    ],
)
def test_no_result_without_a_value_of_its_own(nlp: Any, text: str) -> None:
    assert [x for x in found(nlp, text) if x[0] in ("LAB", "VITAL")] == []


# sentence, score name, value (or (low, high) for a range)
SCORES: list[tuple[str, str, Any]] = [
    ("Glasgow Coma Scale 10/15 on arrival.", "Glasgow coma score", 10),
    ("GCS was 15.", "Glasgow coma score", 15),
    ("ECOG performance status of 0-1.", "ECOG performance status", (0, 1)),
    ("MMSE score of 24/30.", "Mini-mental state examination", 24),
    ("Model for End-Stage Liver Disease (MELD) score was 11.", "MELD score", 11),
    ("APACHE II score of 18", "APACHE II score", 18),
    ("NIHSS: 4-25;", "NIH stroke scale", (4, 25)),
    ("Karnofsky performance status >= 70%", "Karnofsky performance status", 70),
    # classes in Roman numerals, for the scales written that way
    ("NYHA class III/IV heart failure.", "NYHA functional class", (3, 4)),
    ("NYHA II at discharge.", "NYHA functional class", 2),
    ("ASA status I or II.", "ASA physical status", (1, 2)),
    ("ASA physical status 1-3.", "ASA physical status", (1, 3)),
    ("COPD, GOLD stage III.", "GOLD grade", 3),
    ("Epworth Sleepiness Scale > 18.", "Epworth Sleepiness Scale", 18),
]


@pytest.mark.parametrize(("text", "name", "value"), SCORES)
def test_clinical_scores_are_read_with_their_value(nlp: Any, text: str, name: str, value) -> None:
    hits = [attrs for lab, _, attrs in found(nlp, text) if lab == "LAB"]
    assert len(hits) == 1, found(nlp, text)
    attrs = hits[0]
    assert (attrs["test"], attrs["kind"], attrs["ucum"]) == (name, "score", "{score}")
    assert_value(attrs, value)


def assert_value(attrs: dict[str, Any], value: Any) -> None:
    """One value, or (low, high) for a range (then no single value)."""
    if isinstance(value, tuple):
        assert attrs["value_range"] == {"low": value[0], "high": value[1]}
        assert "value" not in attrs
    else:
        assert attrs["value"] == value


@pytest.mark.parametrize(
    "text",
    [
        "Gleason 3+4=7 adenocarcinoma",  # a sum of patterns, not a score of 3
        "Gleason 3 + 3 on the left",
        "GCS 3/4",  # out of another maximum
        "ECOG 7",  # outside the scale
        "APACHE II score of 1.5.5",
        "ECOG 2-0",  # not a range
        "GCS III",  # a scale not written in Roman numerals
        "NYHA class V",  # outside the scale
        "ASA 1 tablet daily.",  # bare "ASA" with a number is aspirin
    ],
)
def test_no_score_outside_its_scale(nlp: Any, text: str) -> None:
    assert [x for x in found(nlp, text) if x[0] == "LAB"] == []


def test_a_score_is_a_survey_observation_and_a_range_a_value_range() -> None:
    from extractors.nlp import build_nlp as build
    from schemas.fhir.mappers import MODELS, to_observation

    pipeline = build(NlpSettings(extractors=("dictionary", "labs")))
    text = "ECOG performance status 0-1. MELD score was 11."
    note = Note(note_id="s", text=text)
    [(_, mentions)] = list(extract(pipeline, [(note, ())]))
    labs = [m for m in mentions if m.label == "LAB"]
    # no liver disease inside the score's name
    assert not [m for m in mentions if m.label == "PROBLEM"]
    ecog, meld = (to_observation(m, note) for m in labs)
    for resource in (ecog, meld):
        MODELS["Observation"].model_validate(resource)
        assert resource["category"][0]["coding"][0]["code"] == "survey"
    assert ecog["valueRange"]["low"]["value"] == 0 and ecog["valueRange"]["high"]["value"] == 1
    assert meld["valueQuantity"] == {
        "value": 11,
        "unit": "{score}",
        "system": "http://unitsofmeasure.org",
        "code": "{score}",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Serum sodium, potassium and chloride were 135, 4.2 and 101 mmol/L, respectively.",
            [("sodium", 135, "mmol/L"), ("potassium", 4.2, "mmol/L"), ("chloride", 101, "mmol/L")],
        ),
        (
            "Her brain natriuretic peptide and high-sensitivity troponin T levels were 97.2 pg/mL "
            "and 0.0061 ng/mL, respectively.",
            [("brain natriuretic peptide", 97.2, "pg/mL"), ("troponin T", 0.0061, "ng/mL")],
        ),
    ],
)
def test_results_written_as_two_lists_are_paired(nlp: Any, text: str, expected) -> None:
    got = [(t, a["value"], a["ucum"]) for lab, t, a in found(nlp, text) if lab == "LAB"]
    assert got == expected


def test_lists_of_unequal_length_are_not_paired(nlp: Any) -> None:
    text = "The sodium and potassium were 135 and 4.2 on days 3 and 5, respectively."
    assert [x for x in found(nlp, text) if x[0] == "LAB"] == []


@pytest.mark.parametrize(
    "text",
    [
        "The patient received 7 platelets, 23 fresh-frozen plasma.",  # counts of units given
        "White count 25,500 (26 neutrophils, 1 band, 7 lymphocytes, 1 monocyte)",
        "platelet count is normal, 89% segments",  # the comma ends the result
    ],
)
def test_a_comma_joins_a_name_to_its_value_only_right_after_the_name(nlp: Any, text: str) -> None:
    values = [a.get("value") for lab, _, a in found(nlp, text) if lab == "LAB"]
    # only the white count's own value; "normal" is the platelet count's (no number)
    assert set(values) <= {None, 25500}, found(nlp, text)


def test_a_preposition_after_the_value_is_no_unit(nlp: Any) -> None:
    [(label, span, attrs)] = found(nlp, "CD4 count of 350 in 03/2008.")
    assert (label, span, attrs["value"], attrs["ucum"]) == ("LAB", "CD4 count of 350", 350, None)


# sentence, test, value (or (low, high)), ucum
RESULTS: list[tuple[str, str, Any, str | None]] = [
    # left ventricular ejection fraction, as echo reports and criteria write it
    ("Echo: EF 55-60%, mild MR.", "Left ventricular ejection fraction", (55, 60), "%"),
    ("LVEF =40% at rest.", "Left ventricular ejection fraction", 40, "%"),
    ("Left ventricular ejection fraction < 40%.", "Left ventricular ejection fraction", 40, "%"),
    ("Ejection fraction was 35%.", "Left ventricular ejection fraction", 35, "%"),
    ("Estimated ejection fraction of 70% to 75%.", "Left ventricular ejection fraction",
     (70, 75), "%"),
    # a range with its unit is a value range
    ("HbA1c 7-10% at screening.", "Hemoglobin A1c", (7, 10), "%"),
    ("Potassium 3.5 to 5.0 mmol/L.", "Potassium", (3.5, 5.0), "mmol/L"),
    # names and powers of ten as case reports write them
    ("Her international normalized ratio (INR) was 2.1.", "INR", 2.1, None),
    ("Leukocytes 13 × 109/L on day 2.", "White blood cell count", 13, "10*9/L"),
    ("Platelets 97 × 103/mm3.", "Platelet count", 97, "10*3/mm3"),
    # a Greek letter printed in the name
    ("Serum α-fetoprotein was 5 ng/mL.", "AFP", 5, "ng/mL"),
    # units written out
    ("A hemoglobin of 11.6 grams per deciliter.", "Hemoglobin", 11.6, "g/dL"),
    ("His blood urea nitrogen was 55 milligrams per deciliter.", "Urea nitrogen", 55, "mg/dL"),
    # a multiple of the upper limit of normal
    ("ALT > 3 x upper limit of normal.", "ALT", 3, "{ULN}"),
    ("Bilirubin <= 1.5 x ULN.", "Bilirubin, total", 1.5, "{ULN}"),
    ("Creatinine > 1.5 times the upper limit of normal.", "Creatinine", 1.5, "{ULN}"),
]


@pytest.mark.parametrize(("text", "test", "value", "ucum"), RESULTS)
def test_ranges_fractions_and_multiples_of_normal(
    nlp: Any, text: str, test: str, value: Any, ucum: str | None
) -> None:
    [attrs] = [a for lab, _, a in found(nlp, text) if lab == "LAB"]
    assert (attrs["test"], attrs["ucum"]) == (test, ucum)
    assert_value(attrs, value)


@pytest.mark.parametrize(
    "text",
    [
        "WBC 5-10 on the smear.",  # a range without its unit may be a reference range
        "EF 60-55%.",  # not a range
        "HbA1c 7-40%.",  # outside the plausible values
    ],
)
def test_no_value_range_without_a_unit_or_order(nlp: Any, text: str) -> None:
    assert [a for lab, _, a in found(nlp, text) if lab == "LAB" and "value_range" in a] == []


@pytest.mark.parametrize(
    ("text", "vital", "low", "high", "ucum"),
    [
        ("Female BMI 30-42 at screening.", "bmi", 30, 42, "kg/m2"),
        ("BMI between 20 and 34 kg/m2.", "bmi", 20, 34, "kg/m2"),
        ("Body mass index (BMI) from 18 to 35kg/m2.", "bmi", 18, 35, "kg/m2"),
        ("Heart rate 60-100 bpm.", "heart_rate", 60, 100, "/min"),
    ],
)
def test_vital_sign_ranges_in_criteria(
    nlp: Any, text: str, vital: str, low: float, high: float, ucum: str
) -> None:
    [attrs] = [a for lab, _, a in found(nlp, text) if lab == "VITAL"]
    assert (attrs["vital"], attrs["ucum"]) == (vital, ucum)
    assert attrs["value_range"] == {"low": low, "high": high}
    assert "value" not in attrs


@pytest.mark.parametrize(
    "text",
    [
        "BMI 42-30.",  # not a range
        "Weight 70 and height 170.",  # two values, not a range ("and" only after "between")
        "Heart rate 60-400 bpm.",  # the high end is no heart rate
    ],
)
def test_no_vital_range_out_of_order_or_bounds(nlp: Any, text: str) -> None:
    assert [a for lab, _, a in found(nlp, text) if lab == "VITAL" and "value_range" in a] == []


def test_a_share_before_the_cells_it_counts(nlp: Any) -> None:
    text = "Leukocytosis of 49,500/mm3 with 97.4% neutrophils, 2% eosinophils and 1% bands."
    got = {a["test"]: (a["value"], a["ucum"]) for lab, _, a in found(nlp, text) if lab == "LAB"}
    assert got["Neutrophils %"] == (97.4, "%")
    assert got["Eosinophils %"] == (2, "%")
    assert got["Band neutrophils %"] == (1, "%")


@pytest.mark.parametrize(
    "text",
    [
        "Urine: leukocytes 1+, nitrite negative.",  # a dipstick grade, not a count
        "Urinalysis significant for 2+ leukocytes, positive nitrites.",
        "Urine white blood cells 10 to 25.",  # a range without its unit
        "A 50% reduction of neutrophils was seen.",  # a share of something else
    ],
)
def test_no_white_cell_result_from_a_dipstick_or_a_bare_range(nlp: Any, text: str) -> None:
    assert [a for lab, _, a in found(nlp, text) if lab == "LAB"] == []


def test_paired_values_may_carry_a_unit_with_a_slash(nlp: Any) -> None:
    text = "His WBC and neutrophils were 8,800/µL and 2%, respectively."
    got = {a["test"]: (a["value"], a["ucum"]) for lab, _, a in found(nlp, text) if lab == "LAB"}
    assert got == {"White blood cell count": (8800, "/uL"), "Neutrophils %": (2, "%")}


# Comparators as criteria type them: for want of a key ("WBC >_3000/mm3"), with "or equal"
# before or after the direction, and in words. sentence, test or vital, value, comparator
COMPARATOR_WORDS: list[tuple[str, str, float, str]] = [
    ("WBC >_3000/mm3 at screening", "White blood cell count", 3000, ">="),
    ("Creatinine <_2.0 mg/dl", "Creatinine", 2.0, "<="),
    ("serum albumin equal or less than 3.0 g/dL", "Albumin", 3.0, "<="),
    ("total bilirubin equal to or greater than 3 mg/dL", "Bilirubin, total", 3, ">="),
    ("creatinine clearance greater or equal to 50 mL/min", "Creatinine clearance", 50, ">="),
    ("calcium more than or equal to 11 mg/dL", "Calcium", 11, ">="),
    ("potassium no less than 3.0 mmol/L", "Potassium", 3.0, ">="),
    ("sodium not exceeding 150 mmol/L", "Sodium", 150, "<="),
    ("hemoglobin <or= 9 g/dL", "Hemoglobin", 9, "<="),
    ("platelets ≧ 100,000/µL", "Platelet count", 100000, ">="),
]


@pytest.mark.parametrize(("text", "test", "value", "comparator"), COMPARATOR_WORDS)
def test_comparators_as_criteria_type_and_word_them(
    nlp: Any, text: str, test: str, value: float, comparator: str
) -> None:
    [attrs] = [a for lab, _, a in found(nlp, text) if lab == "LAB"]
    assert (attrs["test"], attrs["value"], attrs["comparator"]) == (test, value, comparator)


# One limit for several tests named before it: each test gets the value.
# sentence, [(test name as written, test, value, ucum, comparator)]
LISTED: list[tuple[str, list[tuple[str, str, float, str | None, str | None]]]] = [
    (
        "Exclude AST/ALT > 2.5 x ULN.",
        [("AST", "AST", 2.5, "{ULN}", ">"), ("ALT > 2.5 x ULN", "ALT", 2.5, "{ULN}", ">")],
    ),
    (
        "SGOT, SGPT or bilirubin < 3 times the upper limit of normal",
        [("SGOT", "AST", 3, "{ULN}", "<"), ("SGPT", "ALT", 3, "{ULN}", "<"),
         ("bilirubin < 3 times the upper limit of normal", "Bilirubin, total", 3, "{ULN}", "<")],
    ),
    (
        "AST and ALT above 120 U/L",
        [("AST", "AST", 120, "U/L", ">"), ("ALT above 120 U/L", "ALT", 120, "U/L", ">")],
    ),
    (
        "ALT or AST > 100",
        [("ALT", "ALT", 100, None, ">"), ("AST > 100", "AST", 100, None, ">")],
    ),
    # without the multiplication sign, or "normal" for its upper limit
    (
        "creatinine > 1.5 upper limit of normal",
        [("creatinine > 1.5 upper limit of normal", "Creatinine", 1.5, "{ULN}", ">")],
    ),
    ("ALT 3 times higher than normal", [("ALT 3 times higher than normal", "ALT", 3, "{ULN}",
                                         None)]),
]


@pytest.mark.parametrize(("text", "expected"), LISTED)
def test_a_limit_written_once_for_a_list_of_tests(nlp: Any, text: str, expected) -> None:
    got = [
        (t, a["test"], a["value"], a["ucum"], a.get("comparator"))
        for lab, t, a in found(nlp, text)
        if lab == "LAB"
    ]
    assert sorted(got) == sorted(expected)


@pytest.mark.parametrize(
    ("text", "only"),
    [
        ("AST and ALT 45 and 60 U/L", "ALT"),  # two values: not ALT's for AST
        ("AST and ALT were 45 and 60 on day 2", "ALT"),  # the same, and no unit to share
        ("AST and ALT 45", "ALT"),  # no comparator and no unit: may be ALT's alone
        ("sodium, potassium > 5.5 mmol/L", "Potassium"),  # implausible for sodium
        ("AST, ALT 45, 60 U/L", "ALT"),  # a list of values too
    ],
)
def test_no_shared_value_when_it_may_be_one_tests_own(nlp: Any, text: str, only: str) -> None:
    got = [a["test"] for lab, _, a in found(nlp, text) if lab == "LAB"]
    assert got == [only], found(nlp, text)


def test_a_slashed_test_name_is_one_test(nlp: Any) -> None:
    [(_, span, attrs)] = [x for x in found(nlp, "FEV1/FVC 0.65 after bronchodilator") if
                          x[0] == "LAB"]  # fmt: skip
    assert (span, attrs["test"]) == ("FEV1/FVC 0.65", "FEV1/FVC")


@pytest.mark.parametrize(
    "text",
    [
        "intact PTH, 2nd generation assay",  # an ordinal, not a value of 2
        "PTH 3rd generation assay, normal range 8-40",
    ],
)
def test_an_ordinal_is_no_value(nlp: Any, text: str) -> None:
    assert [a for lab, _, a in found(nlp, text) if lab == "LAB"] == []


# Names added with their LOINC codes. sentence, test, LOINC, value, ucum
NAMES: list[tuple[str, str, str, float, str | None]] = [
    ("LDL-cholesterol 160 mg/dL", "LDL cholesterol", "2089-1", 160, "mg/dL"),
    ("HDL-cholesterol < 40 mg/dL", "HDL cholesterol", "2085-9", 40, "mg/dL"),
    ("The TBil was 13.3 μmol/L and the DBil 4.5 μmol/L.", "Bilirubin, total", "1975-2", 13.3,
     "umol/L"),
    ("Serum urea was 12 mmol/L.", "Urea", "3091-6", 12, "mmol/L"),
    ("fasting plasma glucose ≥ 126 mg/dL", "Glucose, fasting", "1558-6", 126, "mg/dL"),
    ("Quantitative hCG was 1500 mIU/mL.", "Choriogonadotropin (hCG)", "19080-1", 1500,
     "m[IU]/mL"),
    ("beta-hCG 20 mIU/mL", "Choriogonadotropin beta subunit (beta-hCG)", "21198-7", 20,
     "m[IU]/mL"),
]


@pytest.mark.parametrize(("text", "test", "loinc", "value", "ucum"), NAMES)
def test_more_test_names(
    nlp: Any, text: str, test: str, loinc: str, value: float, ucum: str | None
) -> None:
    [(_, mentions)] = list(extract(nlp, [(Note(note_id="t", text=text), ())]))
    m = next(m for m in mentions if m.label == "LAB")
    assert (m.attributes["test"], m.attributes["value"], m.attributes["ucum"]) == (
        test, value, ucum)  # fmt: skip
    assert [c.code for c in m.codings if c.system == "http://loinc.org"] == [loinc]


@pytest.mark.parametrize(
    ("text", "vital", "loinc", "value", "ucum"),
    [
        ("Head circumference 34 cm (25th centile).", "head_circumference", "9843-4", 34, "cm"),
        ("mean arterial pressure < 65 mmHg despite fluids", "mean_blood_pressure", "8478-0",
         65, "mm[Hg]"),
        ("MAP 58 on arrival", "mean_blood_pressure", "8478-0", 58, "mm[Hg]"),
    ],
)
def test_more_vital_signs(
    nlp: Any, text: str, vital: str, loinc: str, value: float, ucum: str
) -> None:
    [(_, mentions)] = list(extract(nlp, [(Note(note_id="t", text=text), ())]))
    [m] = [m for m in mentions if m.label == "VITAL"]
    assert (m.attributes["vital"], m.attributes["value"], m.attributes["ucum"]) == (
        vital, value, ucum)  # fmt: skip
    assert [c.code for c in m.codings] == [loinc]


@pytest.mark.parametrize(
    "text",
    [
        "Apply urea cream 10% twice daily.",  # a drug
        "Urea 40% cream to the heels.",  # a preparation's strength, not a result in per cent
        "Glucose 5% at 80 mL/h.",
        "head circumference was normal",  # no value
        "the map of the lesions was 3 cm wide",  # "map" in lower case is no pressure
    ],
)
def test_no_reading_from_new_names_without_a_result(nlp: Any, text: str) -> None:
    assert [x for x in found(nlp, text) if x[0] in ("LAB", "VITAL")] == []


@pytest.mark.parametrize(
    "text",
    [
        "Estimated PA systolic pressure of 45 mmHg.",  # echo: pulmonary artery pressure
        "Calculated pulmonary systolic pressure 42 mmHg.",
        "right ventricular systolic pressure in excess of 60 mmHg",
        "left ventricular end-diastolic pressure ≤15 mmHg",
    ],
)
def test_a_pressure_of_a_heart_chamber_or_vessel_is_no_blood_pressure(
    nlp: Any, text: str
) -> None:
    assert [x for x in found(nlp, text) if x[0] == "VITAL"] == []


@pytest.mark.parametrize(
    "text",
    [
        "Vitals: T 98.6 HR 80 RR 16 SpO2 98% RA BP 120/80",  # RA: room air
        "Over the weekend blood pressure was 120/80.",  # not "end" (end-diastolic)
        "We recommend BP 120/80 as goal.",
    ],
)
def test_the_arms_blood_pressure_after_a_chamber_like_word(nlp: Any, text: str) -> None:
    [(_, _, attrs)] = [x for x in found(nlp, text) if x[0] == "VITAL" and "systolic" in x[2]]
    assert (attrs["systolic"], attrs["diastolic"]) == (120, 80)


def test_a_run_on_text_of_respectively_lists_stays_fast(nlp: Any) -> None:
    # each "respectively" reads a bounded sentence: once cubic in the text's length
    text = "AST were 10 and ALT were 20, respectively, " * 300
    assert len([x for x in found(nlp, text) if x[0] == "LAB"]) > 0


def test_peak_blood_pressure_is_a_blood_pressure(nlp: Any) -> None:
    [(_, _, attrs)] = [x for x in found(nlp, "Peak blood pressure was 182/90.") if x[0] == "VITAL"]
    assert (attrs["systolic"], attrs["diastolic"]) == (182, 90)


def test_a_word_after_a_result_in_words_is_no_unit(nlp: Any) -> None:
    [(_, span, attrs)] = [x for x in found(nlp, "PT/INR was normal as well.") if x[0] == "LAB"]
    assert (span, attrs["value_string"], attrs["ucum"]) == ("INR was normal", "normal", None)


# A comparator written after the value. sentence, label, value, comparator
AFTER: list[tuple[str, str, float, str]] = [
    ("HbA1c 7.5% or greater at screening", "LAB", 7.5, ">="),
    ("INR 1.5 or more", "LAB", 1.5, ">="),
    ("eGFR 30 mL/min/1.73 m2 or less", "LAB", 30, "<="),
    ("a NIHSS score of 4 or higher", "LAB", 4, ">="),
    ("BMI 40 kg/m2 or more", "VITAL", 40, ">="),
]


@pytest.mark.parametrize(("text", "label", "value", "comparator"), AFTER)
def test_a_comparator_after_the_value(
    nlp: Any, text: str, label: str, value: float, comparator: str
) -> None:
    [attrs] = [a for lab, _, a in found(nlp, text) if lab == label]
    assert (attrs["value"], attrs["comparator"]) == (value, comparator)


def test_or_more_than_something_else_is_no_comparator(nlp: Any) -> None:
    [attrs] = [a for lab, _, a in found(nlp, "creatinine 1.5 or more than twice baseline")
               if lab == "LAB"]  # fmt: skip
    assert "comparator" not in attrs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # a verb of change, an aside after a value, "only" between the values
            "Her WBC and neutrophil counts decreased to 3,290/µL and only 1% (33/µL), "
            "respectively.",
            [("WBC", 3290, "/uL"), ("neutrophil", 1, "%")],
        ),
        (  # a gloss after each name, words before the values
            "ALT (alanine aminotransferase) and AST (aspartate aminotransferase) were markedly "
            "elevated up to 1200 U/L and 2400 U/L respectively.",
            [("ALT", 1200, "U/L"), ("AST", 2400, "U/L")],
        ),
    ],
)
def test_respectively_as_case_reports_write_it(nlp: Any, text: str, expected) -> None:
    got = [(t, a["value"], a["ucum"]) for lab, t, a in found(nlp, text) if lab == "LAB"]
    assert got == expected
    assert all("comparator" not in a for lab, _, a in found(nlp, text) if lab == "LAB")


@pytest.mark.parametrize(
    ("text", "test", "value", "ucum"),
    [
        ("The prolactin level fell (to 80 ng/mL) after cabergoline.", "Prolactin", 80, "ng/mL"),
        ("serum prolactin was very high—900 µg/L", "Prolactin", 900, "ug/L"),
        ("creatine kinase was 67 UI/L", "Creatine kinase", 67, "[IU]/L"),
        # an ejection fraction written as a fraction of one: UCUM unity
        ("Echo showed an LVEF of 0.35.", "Left ventricular ejection fraction", 0.35, "1"),
    ],
)
def test_more_ways_of_writing_a_result(
    nlp: Any, text: str, test: str, value: float, ucum: str
) -> None:
    [attrs] = [a for lab, _, a in found(nlp, text) if lab == "LAB"]
    assert (attrs["test"], attrs["value"], attrs["ucum"]) == (test, value, ucum)


@pytest.mark.parametrize(
    "text",
    [
        "LVEF 1.5",  # no fraction of one, and no per cent
        "creatinine rose from 1.2 to 3.4",  # a change, not a range ("from" is no connector)
        "potassium -lowering diet 2",
    ],
)
def test_no_fraction_or_range_where_none_is_written(nlp: Any, text: str) -> None:
    assert [a for lab, _, a in found(nlp, text) if lab == "LAB"
            and ("value_range" in a or a.get("ucum") == "1" or a.get("value") == 2)] == []


@pytest.mark.parametrize(
    ("text", "vital", "value"),
    [
        ("Her oxygen saturation on room air at rest was 94%.", "oxygen_saturation", 94),
        ("Heart rate remains 52 beats per min.", "heart_rate", 52),
    ],
)
def test_vital_connectors(nlp: Any, text: str, vital: str, value: float) -> None:
    [attrs] = [a for lab, _, a in found(nlp, text) if lab == "VITAL"]
    assert (attrs["vital"], attrs["value"]) == (vital, value)
    if vital == "oxygen_saturation":
        assert attrs["oxygen"] == "room air"


def test_a_weight_change_is_no_weight(nlp: Any) -> None:
    assert [x for x in found(nlp, "Her weight showed a 5 kg loss.") if x[0] == "VITAL"] == []


# More tests with their LOINC codes. sentence, test, LOINC, value, ucum
MORE_NAMES: list[tuple[str, str, str, float, str | None]] = [
    ("HIV-1 RNA less than 50 copies/mL", "HIV-1 RNA (viral load)", "20447-9", 50,
     "{copies}/mL"),
    ("morning total testosterone 210 ng/dL", "Testosterone", "2986-8", 210, "ng/dL"),
    ("transferrin saturation 12%", "Transferrin saturation", "2502-3", 12, "%"),
    # a urine test keeps its code although the word urine is there
    ("urine albumin-to-creatinine ratio of 45 mg/g", "Albumin/creatinine ratio, urine",
     "9318-7", 45, "mg/g"),
    ("urinary protein/creatinine ratio > 0.5", "Protein/creatinine ratio, urine", "2890-2",
     0.5, None),
    ("on FiO2 of 40%", "Inhaled oxygen concentration (FiO2)", "3150-0", 40, "%"),
    ("FiO2 0.6 on the ventilator", "Inhaled oxygen concentration (FiO2)", "3150-0", 0.6, "1"),
    # the cells counted per volume are the absolute count, not the share
    ("neutrophils < 1,500/mm3", "Absolute neutrophil count", "751-8", 1500, "/mm3"),
    ("Neutrophil count ≥ 1.5 x 109/L", "Absolute neutrophil count", "751-8", 1.5, "10*9/L"),
    ("brain-type natriuretic peptide 450 pg/mL", "BNP", "30934-4", 450, "pg/mL"),
]


@pytest.mark.parametrize(("text", "test", "loinc", "value", "ucum"), MORE_NAMES)
def test_more_tests_with_codes(
    nlp: Any, text: str, test: str, loinc: str, value: float, ucum: str | None
) -> None:
    test_more_test_names(nlp, text, test, loinc, value, ucum)


@pytest.mark.parametrize(
    "text",
    [
        "Testosterone cypionate 200 mg IM every 2 weeks.",  # a drug and its dose
        "neutrophils 80%",  # the share stays the share (checked below)
    ],
)
def test_no_new_name_read_from_a_dose(nlp: Any, text: str) -> None:
    labs = [a for lab, _, a in found(nlp, text) if lab == "LAB"]
    assert all(a["test"] == "Neutrophils %" for a in labs)


def test_a_listed_name_may_have_a_gloss(nlp: Any) -> None:
    text = ("Aspartate aminotransferase (AST)/Alanine aminotransferase (ALT) < 5 x upper "
            "limit of normal")  # fmt: skip
    got = {a["test"]: (a["value"], a["ucum"]) for lab, _, a in found(nlp, text) if lab == "LAB"}
    assert got == {"AST": (5, "{ULN}"), "ALT": (5, "{ULN}")}


# A score before the scale's name. sentence, score, value, comparator
SCORES_BEFORE: list[tuple[str, str, float, str | None]] = [
    ("She scored 14 on the Glasgow Coma Scale.", "Glasgow coma score", 14, None),
    ("a score of > 10 on the Epworth Sleepiness Scale", "Epworth Sleepiness Scale", 10, ">"),
    ("< 24 points on the MMSE", "Mini-mental state examination", 24, "<"),
    ("a total score of 26/30 on the MoCA", "Montreal cognitive assessment", 26, None),
]


@pytest.mark.parametrize(("text", "name", "value", "comparator"), SCORES_BEFORE)
def test_a_score_before_the_scale_name(
    nlp: Any, text: str, name: str, value: float, comparator: str | None
) -> None:
    [attrs] = [a for lab, _, a in found(nlp, text) if lab == "LAB"]
    assert (attrs["test"], attrs["value"], attrs.get("comparator")) == (name, value, comparator)


@pytest.mark.parametrize(
    "text",
    [
        "He scored 40 on the GCS.",  # outside the scale
        "a 3 cm lesion in the MMSE region",  # no score word, no points
        "score 2 on the ASA",  # bare "ASA" is aspirin
    ],
)
def test_no_score_before_a_name_without_a_score(nlp: Any, text: str) -> None:
    assert [a for lab, _, a in found(nlp, text) if lab == "LAB"] == []


@pytest.mark.parametrize(
    ("text", "test", "value"),
    [
        ("The Child–Pugh score was 7.", "Child-Pugh score", 7),  # an en dash in the name
        ("CA 19–9 was 45 U/mL.", "CA 19-9", 45),
        ("a partial pressure of oxygen (PaO2) of 64 mmHg", "pO2 (arterial)", 64),
        ("partial pressure of carbon dioxide 48 mmHg", "pCO2 (arterial)", 48),
        ("N-terminal pro-B-type natriuretic peptide was 3,996 pg/mL", "NT-proBNP", 3996),
    ],
)
def test_names_as_typeset_and_spelled_out(nlp: Any, text: str, test: str, value: float) -> None:
    [attrs] = [a for lab, _, a in found(nlp, text) if lab == "LAB"]
    assert (attrs["test"], attrs["value"]) == (test, value)


def test_a_range_after_fluctuated(nlp: Any) -> None:
    [attrs] = [a for lab, _, a in found(nlp, "Her ammonia fluctuated (95–160 μmol/L).")
               if lab == "LAB"]  # fmt: skip
    assert (attrs["value_range"], attrs["ucum"]) == ({"low": 95, "high": 160}, "umol/L")


def test_respectively_lists_of_vital_signs(nlp: Any) -> None:
    text = ("Her blood pressure and heart rate were 94/50 mmHg and 132 beats per minute, "
            "respectively.")  # fmt: skip
    got = {t: a for lab, t, a in found(nlp, text) if lab == "VITAL"}
    assert (got["blood pressure"]["systolic"], got["blood pressure"]["diastolic"]) == (94, 50)
    assert (got["heart rate"]["value"], got["heart rate"]["ucum"]) == (132, "/min")


def test_respectively_lists_of_tests_and_vital_signs(nlp: Any) -> None:
    text = ("On room air, pH, PaCO2, bicarbonate and oxygen saturation were 7.48, 32 mmHg, "
            "24 mmol/L and 93%, respectively.")  # fmt: skip
    got = {t: (lab, a.get("value"), a.get("ucum")) for lab, t, a in found(nlp, text)}
    assert got == {
        "pH": ("LAB", 7.48, None),
        "PaCO2": ("LAB", 32, "mm[Hg]"),
        "bicarbonate": ("LAB", 24, "mmol/L"),
        "oxygen saturation": ("VITAL", 93, "%"),
    }


def test_a_paired_value_is_not_read_after_the_wrong_name(nlp: Any) -> None:
    text = "His weight and height were 50 kg and 160 cm, respectively."
    got = {a["vital"]: (a["value"], a["ucum"]) for lab, _, a in found(nlp, text) if lab == "VITAL"}
    assert got == {"body_weight": (50, "kg"), "body_height": (160, "cm")}


def test_or_higher_before_a_word_it_qualifies_is_no_comparator(nlp: Any) -> None:
    got = found(nlp, "Hemoglobin 12 or higher dose needed")
    [(_, span, attrs)] = [x for x in got if x[0] == "LAB"]
    assert span == "Hemoglobin 12" and attrs.get("comparator") is None

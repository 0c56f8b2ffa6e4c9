"""Table tests for the labs extractor on the real pipeline, plus unit tests of its parts."""

import json
from typing import Any

import pytest

from extractors.labs import LabExtractor, LabTagger
from extractors.nlp import NlpSettings, build_nlp, extract
from extractors.patterns import load_rules
from schemas.model import Mention, Note


def run(nlp: Any, text: str) -> tuple[Mention, ...]:
    note = Note(note_id="t", text=text)
    [(_, mentions)] = list(extract(nlp, [(note, ())]))
    assert not isinstance(mentions, Exception), mentions
    for m in mentions:
        assert text[m.start_char : m.end_char] == m.text
        json.dumps(m.attributes)
    return mentions


@pytest.fixture(scope="module")
def nlp() -> Any:
    return build_nlp(NlpSettings(extractors=("dictionary", "labs")))


# (sentence, mention text, LOINC, expected attributes subset)
CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("Na 140, K 4.1, Cl 102.", "Na 140", "2951-2", {"value": 140, "test": "Sodium"}),
    ("Na 140, K 4.1, Cl 102.", "K 4.1", "2823-3", {"value": 4.1}),
    ("Na 140, K 4.1, Cl 102.", "Cl 102", "2075-0", {"value": 102}),
    (
        "Hemoglobin 10.2 g/dL (L).",
        "Hemoglobin 10.2 g/dL (L)",
        "718-7",
        {"value": 10.2, "unit": "g/dL", "ucum": "g/dL", "interpretation": "L"},
    ),
    ("WBC of 12.3.", "WBC of 12.3", "6690-2", {"value": 12.3}),
    # the name's short form in the bracket before the value
    (
        "He had low hemoglobin (Hb 4.7 g/dl).",
        "hemoglobin (Hb 4.7 g/dl",
        "718-7",
        {"value": 4.7, "ucum": "g/dL"},
    ),
    # a range with the unit after each end
    (
        "The platelet count had ranged between 52 × 109/L and 69 × 109/L.",
        "platelet count had ranged between 52 × 109/L and 69 × 109/L",
        "777-3",
        {"value_range": {"low": 52, "high": 69}},
    ),
    ("Calcium was also normal at 9.1 mg/dL.", "Calcium was also normal at 9.1 mg/dL", "17861-6",
     {"value": 9.1}),
    ("Her creatinine was 1.8 today.", "creatinine was 1.8", "2160-0", {"value": 1.8}),
    (
        "Creatinine was elevated at 2.3 mg/dL.",
        "Creatinine was elevated at 2.3 mg/dL",
        "2160-0",
        {"value": 2.3, "ucum": "mg/dL", "interpretation": "H"},
    ),
    (
        "TSH 6.2 mIU/L (0.4-4.0).",
        "TSH 6.2 mIU/L (0.4-4.0)",
        "3016-3",
        {"ucum": "m[IU]/L", "reference_range": {"low": 0.4, "high": 4.0}, "interpretation": "H"},
    ),
    ("Potassium 5.9 mEq/L H.", "Potassium 5.9 mEq/L H", "2823-3", {"ucum": "meq/L"}),
    ("Sodium 128 (L).", "Sodium 128 (L)", "2951-2", {"interpretation": "L"}),
    ("BNP >5000.", "BNP >5000", "30934-4", {"value": 5000, "comparator": ">"}),
    ("Troponin <0.01.", "Troponin <0.01", "10839-9", {"comparator": "<"}),
    ("Troponin was negative.", "Troponin was negative", "10839-9", {"value_string": "negative"}),
    ("INR 2.5, PTT 35.2 seconds.", "PTT 35.2 seconds", "3173-2", {"ucum": "s"}),
    ("INR 2.5, PTT 35.2 seconds.", "INR 2.5", "6301-6", {"value": 2.5}),
    ("Hgb A1c 7.2%.", "Hgb A1c 7.2%", "4548-4", {"value": 7.2, "ucum": "%"}),
    ("LDL 130 mg/dL, HDL 45.", "LDL 130 mg/dL", "2089-1", {"value": 130}),
    ("LDL 130 mg/dL, HDL 45.", "HDL 45", "2085-9", {"value": 45}),
    ("Platelets 250,000.", "Platelets 250,000", "777-3", {"value": 250000}),
    ("Platelet count 150 K/uL.", "Platelet count 150 K/uL", "777-3", {"ucum": "10*3/uL"}),
    ("Lactate 4.2 mmol/L.", "Lactate 4.2 mmol/L", "2524-7", {"ucum": "mmol/L"}),
    ("BUN 18, Cr 1.2.", "Cr 1.2", "2160-0", {"value": 1.2}),
    ("Glucose 105.", "Glucose 105", "2345-7", {"value": 105}),
    ("ALT 45, AST 38, alk phos 110.", "alk phos 110", "6768-6", {"value": 110}),
    ("Total bilirubin 1.1.", "Total bilirubin 1.1", "1975-2", {"value": 1.1}),
    ("Lipase 300 U/L.", "Lipase 300 U/L", "3040-3", {"ucum": "U/L"}),
    # tumour markers (and "CA 19-9" is not calcium)
    ("CEA was 5.2 ng/mL.", "CEA was 5.2 ng/mL", "2039-6", {"value": 5.2, "ucum": "ng/mL"}),
    ("AFP 12 ng/mL.", "AFP 12 ng/mL", "1834-1", {"value": 12}),
    ("CA-125 was 340 U/mL.", "CA-125 was 340 U/mL", "10334-1", {"value": 340}),
    ("CA 19-9 was 40.", "CA 19-9 was 40", "24108-3", {"value": 40}),
]


@pytest.mark.parametrize(("sentence", "text", "loinc", "expected"), CASES)
def test_lab_table(
    nlp: Any, sentence: str, text: str, loinc: str, expected: dict[str, Any]
) -> None:
    labs = [m for m in run(nlp, sentence) if m.label == "LAB"]
    found = [m for m in labs if m.text == text]
    assert len(found) == 1, [m.text for m in labs]
    m = found[0]
    assert [(c.system, c.code) for c in m.codings] == [("http://loinc.org", loinc)]
    for key, value in expected.items():
        assert m.attributes[key] == value, (key, m.attributes)
    start, end = m.attributes["parts"]["value"]
    assert (
        sentence[start:end].replace(",", "").lower()
        in {
            str(m.attributes.get("value")),
            str(m.attributes.get("value_string")),
        }
        or sentence[start:end] in sentence
    )


@pytest.mark.parametrize(
    "sentence",
    [
        "PT 2 times a week.",  # physical therapy, not a prothrombin time
        "Potassium 45.",  # implausible
        "The patient's sodium intake is high.",  # no value
        "K-Dur 20 mEq daily.",
    ],
)
def test_no_lab(nlp: Any, sentence: str) -> None:
    assert [m.text for m in run(nlp, sentence) if m.label == "LAB"] == []


def test_loinc_table_is_well_formed() -> None:
    rules = load_rules("labs", "labs.json")["labs"]
    assert len(rules) >= 75
    ids = [r["rule_id"] for r in rules]
    assert len(ids) == len(set(ids))
    for rule in rules:
        [code] = rule["codes"]
        assert code["system"] == "http://loinc.org"
        number, check = code["code"].split("-")
        assert _loinc_check_digit(number) == int(check), rule["rule_id"]


def _loinc_check_digit(number: str) -> int:
    """LOINC's Mod 10 check digit (the same algorithm as in the LOINC users' guide)."""
    digits = [int(d) for d in number]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            total += d // 10 + d % 10
        else:
            total += d
    return (10 - total % 10) % 10


def test_tagger_find_unit() -> None:
    tagger = LabTagger(None, "ns_labs")  # type: ignore[arg-type]
    [found] = tagger.find("magnesium 1.4 mg/dL (1.6-2.6)")
    assert found["attributes"]["interpretation"] == "L"
    assert found["attributes"]["reference_range"] == {"low": 1.6, "high": 2.6}
    assert found["rule"]["codes"][0]["code"] == "19123-9"


def test_extractor_class() -> None:
    assert LabExtractor.labels == frozenset({"LAB"})


@pytest.mark.parametrize(
    "sentence",
    [
        "Docusate sodium 100 mg twice daily.",  # a drug strength, not a sodium result
        "Vitamin B12 1000 mcg IM daily.",
    ],
)
def test_drug_strength_is_not_a_lab(nlp: Any, sentence: str) -> None:
    assert [m.text for m in run(nlp, sentence) if m.label == "LAB"] == []


def test_mean_cell_hemoglobin_is_mch(nlp: Any) -> None:
    [m] = [m for m in run(nlp, "The mean cell hemoglobin was 25.0.") if m.label == "LAB"]
    assert m.attributes["test"] == "MCH"
    assert [c.code for c in m.codings] == ["785-6"]


def test_immunostain_is_not_creatine_kinase(nlp: Any) -> None:
    assert [m.text for m in run(nlp, "Stains for CK-7, CK-20 and TTF.") if m.label == "LAB"] == []


@pytest.mark.parametrize(
    ("sentence", "text", "specimen"),
    [
        ("Urine Na 35 meq/L.", "Na 35 meq/L", "urine"),
        ("Lumbar puncture revealed: RBC 2, WBC 12, glucose 57.", "glucose 57", "csf"),
        ("CSF: protein 126, glucose 35.", "glucose 35", "csf"),
    ],
)
def test_other_specimen_keeps_value_drops_serum_loinc(
    nlp: Any, sentence: str, text: str, specimen: str
) -> None:
    [m] = [m for m in run(nlp, sentence) if m.label == "LAB" and m.text == text]
    assert m.attributes["specimen"] == specimen
    assert m.codings == ()


def test_serum_after_another_sentence_keeps_loinc(nlp: Any) -> None:
    [m] = [m for m in run(nlp, "Urinalysis was clear. Sodium 140.") if m.label == "LAB"]
    assert [c.code for c in m.codings] == ["2951-2"]


def test_reference_range_text_is_not_a_result(nlp: Any) -> None:
    text = "Normal ranges for TSH and free T4 are 0.5-4.7 uIU/mL and 0.8-1.8 ng/dL."
    assert [m.text for m in run(nlp, text) if m.label == "LAB"] == []


@pytest.fixture(scope="module")
def default_nlp() -> Any:
    """The default extractors in their configured order (medications before labs)."""
    return build_nlp()


# (sentence, analyte text that must not be a MEDICATION, whether it is a LAB result's name)
ANALYTES = [
    ("Alkaline phosphatase elevated at 184.", "Alkaline phosphatase", True),
    ("Alkaline phosphatase 184 U/L.", "Alkaline phosphatase", True),
    ("Her alkaline phosphatase was normal.", "alkaline phosphatase", True),
    ("Potassium 5.1.", "Potassium", True),
    ("Magnesium low.", "Magnesium", False),
    ("Magnesium low at 1.4.", "Magnesium", True),
    ("Calcium 8.2.", "Calcium", True),
    ("Calcium 8.2 mg/dL.", "Calcium", True),
    ("Iron studies pending.", "Iron", False),
    ("Iron studies showed low ferritin.", "ferritin", False),
    ("Ferritin level pending.", "Ferritin", False),
    ("Arterial bicarbonate 11 mEq/L, pH 7.21.", "bicarbonate", True),
    ("Vitamin D 15 ng/mL.", "Vitamin D", True),
    ("Vitamin B12 low, folate normal.", "Vitamin B12", False),
    ("Vitamin B12 low, folate normal.", "folate", False),
    ("Elevated alkaline phosphatase and GGT.", "alkaline phosphatase", False),
    ("LABS: ferritin, folate and vitamin B12 sent.", "ferritin", False),
    ("LABS: ferritin, folate and vitamin B12 sent.", "vitamin B12", False),
]


@pytest.mark.parametrize(("sentence", "analyte", "is_lab"), ANALYTES)
def test_analyte_said_as_a_result_is_not_a_medication(
    default_nlp: Any, sentence: str, analyte: str, is_lab: bool
) -> None:
    mentions = run(default_nlp, sentence)
    start = sentence.index(analyte)
    meds = [m for m in mentions if m.label == "MEDICATION"]
    assert not [m for m in meds if m.start_char < start + len(analyte) and start < m.end_char]
    labs = [m for m in mentions if m.label == "LAB" and m.start_char == start]
    assert bool(labs) == is_lab, [(m.text, m.label) for m in mentions]


# (sentence, drug text that stays a MEDICATION)
DRUGS = [
    ("Potassium chloride 20 mEq PO daily.", "Potassium chloride"),
    ("Magnesium oxide 400 mg PO daily.", "Magnesium oxide"),
    ("Calcium carbonate 500 mg PO BID.", "Calcium carbonate"),
    ("Sodium bicarbonate 650 mg PO TID.", "Sodium bicarbonate"),
    ("Continue vitamin D 50,000 units weekly.", "vitamin D"),
    ("Vitamin B12 1000 mcg IM monthly.", "Vitamin B12"),
    ("Folate 1 mg PO daily.", "Folate"),
    ("Digoxin level 2.1 ng/mL.", "Digoxin"),  # a drug level: the drug is the patient's
    ("LABS: potassium chloride 40 mEq given for K 3.1.", "potassium chloride"),
]


@pytest.mark.parametrize(("sentence", "drug"), DRUGS)
def test_drug_named_like_an_analyte_stays_a_medication(
    default_nlp: Any, sentence: str, drug: str
) -> None:
    meds = [m.text for m in run(default_nlp, sentence) if m.label == "MEDICATION"]
    assert drug in meds, meds


def test_analytes_are_the_table_terms_and_listed_names() -> None:
    tagger = LabTagger(build_nlp(NlpSettings(extractors=())), "ns_labs")
    assert {"alkaline phosphatase", "potassium", "K", "ferritin", "iron", "folate"} <= (
        tagger.analyte_names
    )
    assert "digoxin" not in tagger.analyte_names
    assert LabExtractor.version >= 2


@pytest.mark.parametrize(
    ("sentence", "other"),
    [
        ("CEA was 5.2 ng/mL.", "CEA"),  # not a carotid endarterectomy
        ("PT 14.2 sec, INR 1.1.", "PT"),  # not physical therapy
    ],
)
def test_a_test_name_is_not_read_as_a_procedure(nlp: Any, sentence: str, other: str) -> None:
    mentions = run(nlp, sentence)
    assert [m.label for m in mentions if m.text.startswith(other)] == ["LAB"]
    # the same word without a result keeps its other sense
    later = run(nlp, f"She underwent {other} in 2015.")
    assert [m.label for m in later if m.text == other] == ["PROCEDURE"]


# (sentence, mention text or None, expected attributes subset): results of tests the table does
# not list, read by their head word and a unit of concentration or activity, uncoded
UNLISTED: list[tuple[str, str | None, dict[str, Any]]] = [
    (
        "At that time, her total carnitine level was <3 μmol/L.",
        "total carnitine level was <3 μmol/L",
        {"test": "total carnitine level", "value": 3, "comparator": "<", "ucum": "umol/L"},
    ),
    ("His factor IX activity was 3%.", "factor IX activity was 3%", {"ucum": "%"}),
    (
        "Serum copper concentration of 52 µg/dL.",
        "Serum copper concentration of 52 µg/dL",
        {"test": "Serum copper concentration", "value": 52},
    ),
    (
        "The ceruloplasmin levels were elevated at 61 mg/dL.",
        "ceruloplasmin levels were elevated at 61 mg/dL",
        {"interpretation": "H"},
    ),
    ("The dose level was 40 mg/dL.", None, {}),  # no test is named "dose"
    ("The third dose level was 40 mg.", None, {}),  # an amount, no concentration
    ("Her activity level was 3 hours a day.", None, {}),
    ("Noise level was 80 dB.", None, {}),
    ("He was given the drug at a level of 2 mg/kg.", None, {}),
    # a pressure measured by an instrument or a catheter: no laboratory test (kind)
    (
        "The intraocular pressure 15 mm Hg bilaterally.",
        "intraocular pressure 15 mm Hg",
        {"kind": "measurement", "ucum": "mm[Hg]"},
    ),
    (
        "An elevated lower esophageal sphincter pressure of 50mmHg.",
        "lower esophageal sphincter pressure of 50mmHg",
        {"test": "lower esophageal sphincter pressure", "value": 50},
    ),
    ("PFA closure time was 195 seconds.", "PFA closure time was 195 seconds", {"ucum": "s"}),
    ("Cross-clamp time was 60 min.", None, {}),  # a procedure's duration
    ("Insufflation to a steady pressure of 16 mmHg.", None, {}),  # a device's setting
    ("Her blood pressure was 120 mmHg.", None, {}),  # a vital sign
    # criteria: a name, a comparator sign, a value with or without its unit
    (
        "Endometrial thickness < 7 mm.",
        "Endometrial thickness < 7 mm",
        {"test": "Endometrial thickness", "comparator": "<", "value": 7, "ucum": "mm"},
    ),
    ("HBV DNA < 200 IU/ml during therapy", "HBV DNA < 200 IU/ml", {"ucum": "[IU]/mL"}),
    ("Kx < 70", None, {}),  # a criterion's value needs a unit that names the result
    ("FETAL BIOMETRY: BPD = 8.3 cm", None, {}),  # a length of no named dimension
    (
        "Endometrial thickness < 7 mm.",
        "Endometrial thickness < 7 mm",
        {"kind": "measurement"},
    ),
    ("QRS width > 120 ms", "QRS width > 120 ms", {"kind": "measurement", "ucum": "ms"}),
    ("FEV1/SVC >= 70%", "FEV1/SVC >= 70%", {"comparator": ">="}),
    (
        "CD4 T-lymphocyte count = 225 cells/mm3",
        "CD4 T-lymphocyte count = 225 cells/mm3",
        {"value": 225},
    ),
    (
        "Yesterday tacrolimus level was 12 ng/mL",
        "tacrolimus level was 12 ng/mL",
        {"test": "tacrolimus level"},
    ),
    ("Platelets = 120,000 thou/µL", None, {}),  # a listed test: its reader refused the value
    ("Vital signs: Resp =12 pm", None, {}),  # a vital sign: the vitals' to read
    ("Superior > 95 and Impaired < 2", None, {}),  # the bands of a score table
    ("Deficient/Impaired < 2", None, {}),
    # read by the review of labs 8: none of these is a result of a test
    *[
        (sentence, None, {})
        for sentence in (
            "Tumor > 5 cm", "Margin < 1 mm", "Odds ratio = 2.3", "Sensitivity = 92%",
            "P value = 0.03", "PEEP = 5", "Pressure support = 10 cmH2O", "Gravida = 3",
            "Methotrexate > 25 mg/week", "Prior radiotherapy > 30 Gy",
            "Smoking history > 10 pack-years", "Age at diagnosis < 40",
            "Creatinine increase > 0.3 mg/dL", "Troponin rise > 20%", "Symptom onset < 4.5 h",
            "Blood loss > 1 L", "ANA titer = 1:160", "Start time = 08:15",
            "Lesion size = 2 x 3 cm", "Length < 5th percentile", "Potassium level was 45 mmol/L",
            "Glucose level 5% dextrose", "Lidocaine concentration of 1%",
            "Oxygen concentration of 40%", "Battery level 85%", "Confidence level 95%",
            "Seizure activity was 50% less", "Oxygen level 88%",
            "Pump pressure of 40 mmHg", "Pneumoperitoneum pressure of 12 mmHg",
            "Fluoroscopy time was 12 seconds", "Capillary refill time was 3 seconds",
            "Mean arterial pressure was 65 mmHg", "Systolic arterial pressure was 85 mmHg",
            "Goal tacrolimus level of 8 ng/mL", "Normal copper level is 70 ug/dL",
            "Therapeutic phenytoin level is 15 mcg/mL",
            "The patient's oxygen saturation level was 92%",
        )
    ],
    ("Age > 18 years", None, {}),  # an age
    ("Disease duration > 3 years", None, {}),  # a time
    ("Grade >= 3 neuropathy", None, {}),  # a grade of a disease
    ("Patients >= 2 prior lines", None, {}),
    ("The EBL was < 50 mL.", None, {}),  # no name right before the sign
]


@pytest.mark.parametrize(("sentence", "text", "expected"), UNLISTED)
def test_unlisted_test_with_a_concentration(
    nlp: Any, sentence: str, text: str | None, expected: dict[str, Any]
) -> None:
    labs = [m for m in run(nlp, sentence) if m.label == "LAB"]
    if text is None:
        assert not labs
        return
    [lab] = labs
    assert lab.text == text
    assert lab.codings == ()
    assert lab.attributes.get("comparator") != "="
    assert lab.provenance.rule_id == "lab-unlisted"
    assert expected.items() <= lab.attributes.items()


def test_a_listed_test_keeps_its_code_beside_the_unlisted_reader(nlp: Any) -> None:
    [lab] = [m for m in run(nlp, "Her hemoglobin level was 8 g/dL.") if m.label == "LAB"]
    assert lab.provenance.rule_id == "lab-hgb"


@pytest.mark.parametrize(
    "sentence",
    [
        "Hemoglobin (day 3 9.1).",  # a day in the bracket, not the test's short form
        "WBC (day 10 0.5).",
        "Platelets (cycle 2 day 8 45).",
        "Cortisol level between 8 am and 9 am.",  # clock times, no range of results
        "Hemoglobin was measured between 8 pm and 10 pm.",
    ],
)
def test_no_value_from_a_bracketed_day_or_clock_times(nlp: Any, sentence: str) -> None:
    assert not [m for m in run(nlp, sentence) if m.label == "LAB"]


@pytest.mark.parametrize(
    "sentence",
    ["Carotid stenosis > 70%.", "Aneurysm > 5.5 cm.", "Weight loss > 10% in 6 months."],
)
def test_an_unlisted_criterion_leaves_its_problem(nlp: Any, sentence: str) -> None:
    mentions = run(nlp, sentence)
    assert any(m.label == "PROBLEM" for m in mentions)
    assert not [m for m in mentions if m.label == "LAB"]


def test_unlisted_reader_is_linear_on_long_lists() -> None:
    tagger = LabTagger(build_nlp(NlpSettings(extractors=("labs",))), "t")
    short = "Kx = 5 mg/dL, " * 500
    found = tagger.find_unlisted(short * 8, [])
    assert len(found) == 4000  # every one read, each once

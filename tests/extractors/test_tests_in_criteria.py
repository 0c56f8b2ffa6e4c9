"""Table tests: tests, scales and measurements as criteria and case reports write them (labs 9,
vitals 6): scales and their classes, lists of classes, a score before the scale's name with a
comparator after it, scores, indices and ratios the tables do not list, comparators in words,
shares of the predicted value, multiples of the upper limit of normal, measurements named by
their unit (velocity, area, stiffness), counts of mitoses per high-power fields."""

from typing import Any

import pytest

from extractors.nlp import NlpSettings, build_nlp, extract
from schemas.model import Note


@pytest.fixture(scope="module")
def nlp() -> Any:
    return build_nlp(NlpSettings())


def labs(nlp: Any, text: str) -> list[tuple[str, dict[str, Any]]]:
    [(_, mentions)] = list(extract(nlp, [(Note(note_id="t", text=text), ())]))
    assert not isinstance(mentions, Exception)
    return [(m.text, m.attributes) for m in mentions if m.label == "LAB"]


# sentence, test name, value or (low, high), comparator
SCALES: list[tuple[str, str, Any, str | None]] = [
    ("ASA 1 & 2", "ASA physical status", (1, 2), None),
    ("ASA (american society of anesthesiologists) class 1-3", "ASA physical status", (1, 3),
     None),
    ("Elective surgery in stable ASA 3 patients", "ASA physical status", 3, None),
    ("WHO performance status: 0, 1 or 2", "ECOG performance status", (0, 2), None),
    ("Canadian Cardiovascular Society class 1, 2, 3, or 4", (
        "Canadian Cardiovascular Society angina class"), (1, 4), None),
    ("Westley croup score between 3 and 11", "Westley croup score", (3, 11), None),
    ("Glasgow Coma Score below or equal to 8", "Glasgow coma score", 8, "<="),
    ("Clinical Dementia Rating (CDR) test inferior or equal to 1", "Clinical Dementia Rating", 1,
     "<="),
    ("Killip class 4 on admission", "Killip class", 4, None),
    ("Killip class III", "Killip class", 3, None),
    ("Kellgren-Lawrence grade > 3", "Kellgren-Lawrence grade", 3, ">"),
    ("Hoehn and Yahr stage 1-3", "Hoehn and Yahr stage", (1, 3), None),
    ("HBI score > 4", "Harvey-Bradshaw index", 4, ">"),
    ("IQ score < 70", "Intelligence quotient", 70, "<"),
    ("CTP score = 7", "Child-Pugh score", 7, None),
    ("American Society of Anesthesiologist classification score (ASA classification) 1-3.",
     "ASA physical status", (1, 3), None),
    ("a Clinical Dementia Rating CDR=0,", "Clinical Dementia Rating", 0, None),
    ("Global Deterioration Scale GDS<2.", "Global Deterioration Scale", 2, "<"),
    ("Glasgow Coma Scale score must be 13-15", "Glasgow coma score", (13, 15), None),
    ("Mini Mental Status (MMS) test between 16 to 26", "Mini-mental state examination",
     (16, 26), None),
    # the score before the scale's name, a comparator after it
    ("A score of 10 or more on the PHQ-9 is required.", "PHQ-9", 10, ">="),
    ("Score 26 or higher on the Montreal Cognitive Assessment", "Montreal cognitive assessment",
     26, ">="),
    ("Score ≤ 10 on the Short Physical Performance Battery", "Short Physical Performance Battery",
     10, "<="),
    ("Baseline scores =16 on the 17-item Hamilton Depression Scale", (
        "Hamilton depression rating scale"), 16, None),
]


@pytest.mark.parametrize(("text", "name", "value", "comparator"), SCALES)
def test_scales_and_their_classes(
    nlp: Any, text: str, name: str, value: Any, comparator: str | None
) -> None:
    [(_, attrs)] = labs(nlp, text)
    assert (attrs["test"], attrs["kind"], attrs["ucum"]) == (name, "score", "{score}")
    if isinstance(value, tuple):
        assert attrs["value_range"] == {"low": value[0], "high": value[1]}
    else:
        assert attrs["value"] == value
    assert attrs.get("comparator") == comparator


@pytest.mark.parametrize(
    "text",
    [
        "ASA 1 tablet daily.",  # aspirin
        "ASA 1-2 tablets as needed.",
        "ASA 2 and stable",  # a single number: only before "patients"
        "vas deferens 2 cm",
        "The odds ratio was 2.3.",  # a statistic
        "The hazard ratio of 0.5 favoured surgery.",
        "Her pain score of 5.",  # a symptom's rating
        "Gleason score 3+4=7",  # a sum of patterns
        "index finger 2 cm laceration",
        "Index patient was 45 years old.",
        "an index of 2 cm",
        "reference level <225 mg/l",  # a normal limit
        "CPAP pressure of 10 cm H2O",  # a device's setting
        "Age greater than 3 times a week",
        "while elevated, did reduce to\napproximately 1.5 times normal value.",  # no name
        "systolic pressure > 160 mmHg",  # the vitals' blood pressure
    ],
)
def test_no_scale_statistic_or_setting(nlp: Any, text: str) -> None:
    assert labs(nlp, text) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Apgar scores of 8 and 9.", 8),  # two scores, not a range: the first is read
        ("ECOG 1, 3 or 5", 1),  # no run of classes
        ("insulin-to-carbohydrate ratio of 1\nunit to 10 g, HbA1c 7.2%", 7.2),  # a setting
    ],
)
def test_a_list_that_is_no_run_of_classes_keeps_one_value(
    nlp: Any, text: str, value: float
) -> None:
    assert [a["value"] for _, a in labs(nlp, text)] == [value]


# sentence, mention text, expected attributes subset
UNLISTED: list[tuple[str, str, dict[str, Any]]] = [
    ("Total RLS severity score of 15 or greater on the IRLS rating scale",
     "Total RLS severity score of 15 or greater", {"comparator": ">=", "value": 15}),
    ("Rotterdam score was 0.15.", "Rotterdam score was 0.15",
     {"test": "Rotterdam score", "value": 0.15, "ucum": "{score}", "kind": "score"}),
    ("Ki-67 labeling index was approximately 2 %.", "Ki-67 labeling index was approximately 2 %",
     {"test": "Ki-67 labeling index", "value": 2, "ucum": "%"}),
    ("The proliferation index was less than 2 %.", "proliferation index was less than 2 %",
     {"comparator": "<", "value": 2}),
    ("an increased CSF/plasma albumin ratio of 7.4", "CSF/plasma albumin ratio of 7.4",
     {"test": "CSF/plasma albumin ratio", "ucum": "{ratio}"}),
    ("mild cardiomegaly (cardiothoracic ratio: 62.8%; Fig. 1)", "cardiothoracic ratio: 62.8%",
     {"test": "cardiothoracic ratio", "value": 62.8, "ucum": "%"}),
    ("The portosystemic pressure gradient (PPG) was decreased from 19 mmHg to 8 mmHg",
     "portosystemic pressure gradient (PPG) was decreased from 19 mmHg",
     {"value": 19, "ucum": "mm[Hg]", "kind": "measurement"}),
    ("an increased alveolar-arterial gradient (44 Torr).", "alveolar-arterial gradient (44 Torr",
     {"value": 44, "ucum": "mm[Hg]"}),
    ("EXTEM clotting time (CT) (228s; Table 1)", "EXTEM clotting time (CT) (228s",
     {"value": 228, "ucum": "s"}),
    ("The CSF opening pressure of 32 cm H2O", "CSF opening pressure of 32 cm H2O",
     {"ucum": "cm[H2O]", "kind": "measurement"}),
    # criteria: a measurement named by its unit, a group of tests by a multiple of normal
    ("maximal velocity = 3 m/s and", "maximal velocity = 3 m/s", {"ucum": "m/s"}),
    ("mitral valve area <1.5 cm^2", "mitral valve area <1.5 cm^2",
     {"ucum": "cm2", "comparator": "<", "kind": "measurement"}),
    ("central subfield thickness ≥ 350µm on OCT", "central subfield thickness ≥ 350µm",
     {"ucum": "um"}),
    ("Minimum joint space > 2 mm", "joint space > 2 mm", {"ucum": "mm"}),
    ("creatinine > 1.5 x upper limit of normal (ULN), serum transaminases greater than 3× ULN, or",
     "serum transaminases greater than 3× ULN",
     {"ucum": "{ULN}", "comparator": ">", "value": 3}),
    ("Viral load < 200 copies", "Viral load < 200 copies", {"ucum": "{copies}"}),
    ("liver enzymes 2.5 folds the upper normal limit", (
        "liver enzymes 2.5 folds the upper normal limit"), {"ucum": "{ULN}", "value": 2.5}),
    ("Resting functional residual capacity (FRC) >120% predicted;",
     "functional residual capacity (FRC) >120% predicted",
     {"test": "functional residual capacity", "ucum": "%", "comparator": ">"}),
    ("Systolic pulmonary artery pressure (SPAP) >40 mmHg", (
        "Systolic pulmonary artery pressure (SPAP) >40 mmHg"), {"kind": "measurement"}),
    ("mean gradient >25 millimeters of mercury", "mean gradient >25 millimeters of mercury",
     {"ucum": "mm[Hg]"}),
    ("aortic valve area <1.5 centimeters squared", "aortic valve area <1.5 centimeters squared",
     {"ucum": "cm2"}),
    ("effective orifice area =1.2 cm², and", "effective orifice area =1.2 cm²", {"ucum": "cm2"}),
    # counts of mitoses per high-power fields
    ("a high mitotic rate of up to 9 per 10 high-power fields (HPF)",
     "mitotic rate of up to 9 per 10 high-power fields",
     {"test": "Mitotic count", "value": 9, "comparator": "<=", "ucum": "/(10.[HPF])"}),
    ("Mitoses were not found (0 per 10 high-power fields).",
     "Mitoses were not found (0 per 10 high-power fields", {"value": 0}),
    ("Mitotic count 5/10 HPF.", "Mitotic count 5/10 HPF", {"value": 5}),
]


@pytest.mark.parametrize(("text", "span", "expected"), UNLISTED)
def test_unlisted_scores_indices_ratios_and_measurements(
    nlp: Any, text: str, span: str, expected: dict[str, Any]
) -> None:
    found = labs(nlp, text)
    matching = [a for got, a in found if got == span]
    assert len(matching) == 1, found
    assert expected.items() <= matching[0].items()


# sentence, test, value, comparator, ucum
LISTED: list[tuple[str, str, float, str | None, str]] = [
    ("Forced expiratory volume (FEV1)< 30% predicted", "FEV1", 30, "<", "%"),
    ("FEV1 69% of predicted", "FEV1", 69, None, "%"),
    ("Total bilirubin level exceeded 2 mg / dL", "Bilirubin, total", 2, ">", "mg/dL"),
    ("hemoglobin not more than 9 g/dL", "Hemoglobin", 9, "<=", "g/dL"),
    ("creatinin > 2 g/dl", "Creatinine", 2, ">", "g/dL"),
    ("Hematochrit >36%", "Hematocrit", 36, ">", "%"),
    ("Lactate deshydrogenase was 281 UI/L", "LDH", 281, None, "[IU]/L"),
    ("low iron (<10 ug/dl)", "Iron", 10, "<", "ug/dL"),
    ("HIV RNA measurement <50 copies/mL", "HIV-1 RNA (viral load)", 50, "<", "{copies}/mL"),
    ("bilirubin > 2N", "Bilirubin, total", 2, ">", "{ULN}"),
    ("hemoglobin must be > 9 g/dL", "Hemoglobin", 9, ">", "g/dL"),
]


@pytest.mark.parametrize(("text", "test", "value", "comparator", "ucum"), LISTED)
def test_listed_tests_in_more_wordings(
    nlp: Any, text: str, test: str, value: float, comparator: str | None, ucum: str
) -> None:
    [(_, attrs)] = labs(nlp, text)
    assert (attrs["test"], attrs["value"], attrs.get("comparator"), attrs["ucum"]) == (
        test, value, comparator, ucum
    )


def test_a_letter_n_after_a_spaced_number_is_no_multiple_of_normal(nlp: Any) -> None:
    assert all(a.get("ucum") != "{ULN}" for _, a in labs(nlp, "sodium 140 N"))


def test_iron_as_a_drug_is_no_test(nlp: Any) -> None:
    assert labs(nlp, "iron 325 mg po daily") == []


def test_a_ventricular_response_is_a_heart_rate(nlp: Any) -> None:
    [(_, mentions)] = list(
        extract(nlp, [(Note(note_id="t", text="ventricular response rate = 100 bpm"), ())])
    )
    [vital] = [m for m in mentions if m.label == "VITAL"]
    assert vital.attributes["vital"] == "heart_rate" and vital.attributes["value"] == 100


# "A and B were x and y, respectively" where the table does not list every name
PAIRED: list[tuple[str, dict[str, float]]] = [
    ("Blood levels of lactate and pyruvate were 1.6 and 0.096 mmol/l, respectively.",
     {"Lactate": 1.6, "pyruvate": 0.096}),
    ("raised concentrations of alanine and glutamine (1567 and 1369 μmol/l, respectively).",
     {"alanine": 1567, "glutamine": 1369}),
    ("her total carnitine and free carnitine levels had dropped to 18 μmol/L and 7 μmol/L, "
     "respectively.", {"total carnitine": 18, "free carnitine": 7}),
    ("The mass and the node measured 3 cm and 2 cm, respectively.", {}),  # no concentration
    ("Male and female patients were 20 and 30, respectively.", {}),
    ("The doses of A and B were 1 and 2 mg/L, respectively.", {}),  # no list of test names
]


@pytest.mark.parametrize(("text", "expected"), PAIRED)
def test_paired_lists_of_unlisted_tests(nlp: Any, text: str, expected: dict[str, float]) -> None:
    assert {a["test"]: a["value"] for _, a in labs(nlp, text)} == expected


@pytest.mark.parametrize(
    ("text", "test", "low", "high"),
    [
        ("a hemoglobin level at the screening visit between 9.5-13.5 g/dl", "Hemoglobin", 9.5,
         13.5),
        ("potassium between 3.5-5 mmol/L", "Potassium", 3.5, 5),
    ],
)
def test_a_range_when_criteria_measure_it(
    nlp: Any, text: str, test: str, low: float, high: float
) -> None:
    [(_, attrs)] = labs(nlp, text)
    assert (attrs["test"], attrs["value_range"]) == (test, {"low": low, "high": high})


def test_a_value_when_criteria_measure_it(nlp: Any) -> None:
    [(_, attrs)] = labs(nlp, "HbA1c at screening > 7%")
    assert (attrs["value"], attrs["comparator"]) == (7, ">")


# when a case report measured it; units the table lacked
PROSE: list[tuple[str, str, float, str]] = [
    ("Her creatinine on presentation was 2.3 mg/dL.", "Creatinine", 2.3, "mg/dL"),
    ("sodium at the time of admission was 120 mmol/L", "Sodium", 120, "mmol/L"),
    ("potassium in serum of 2.9 mmol/L", "Potassium", 2.9, "mmol/L"),
    ("Hemoglobin initially 7.2 g/dL", "Hemoglobin", 7.2, "g/dL"),
    ("platelet count 150 × 10⁹/L", "Platelet count", 150, "10*9/L"),
    # tests the table does not list, right after their name, in a unit of concentration
    ("IgG 1,520 mg/dL and", "IgG", 1520, "mg/dL"),
    ("Serum homocysteine: 45 µmol/L.", "Serum homocysteine", 45, "umol/L"),
    ("Insulin level was 25 µU/mL", "Insulin level", 25, "uU/mL"),
    ("IgE 450 kIU/L", "IgE", 450, "k[IU]/L"),
]


@pytest.mark.parametrize(("text", "test", "value", "ucum"), PROSE)
def test_values_as_case_reports_write_them(
    nlp: Any, text: str, test: str, value: float, ucum: str
) -> None:
    [(_, attrs)] = labs(nlp, text)
    assert (attrs["test"], attrs["value"], attrs["ucum"]) == (test, value, ucum)


@pytest.mark.parametrize(
    "text",
    [
        "Lidocaine 10 mg/mL was injected.",  # a drug's strength
        "Heparin 5000 U/mL",
        "He was given 500 mg/dL",  # a verb before the value
        "including 5 mg/dL",
        "defined as at least 11.4 µmol/L for men",  # a comparator's word is no name
        "proteinuria of 3.2 g/24 h",  # a problem, no test's name
        "Her level last night at X Hospital was 0.42 mEq/L.",  # a place
        "Stimulation test: pre 6.9ug/DL, post 18.5ug/DL",  # a time, no name
    ],
)
def test_no_bare_result_without_a_name(nlp: Any, text: str) -> None:
    assert labs(nlp, text) == []


def test_a_vital_sign_on_arrival(nlp: Any) -> None:
    [(_, mentions)] = list(
        extract(nlp, [(Note(note_id="t", text="Her heart rate on arrival was 120 bpm."), ())])
    )
    [vital] = [m for m in mentions if m.label == "VITAL"]
    assert vital.attributes["value"] == 120


def test_result_lines_of_a_laboratory_system(nlp: Any) -> None:
    text = (
        "Pertinent Results:\n"
        "05/12 07:40AM BLOOD WBC-8.2 RBC-3.45* Hgb-10.1* Hct-31.2* Plt Ct-245\n"
        "05/12 07:40AM BLOOD Glucose-112* UreaN-28* Creat-1.6* Na-134 K-4.8 INR(PT)-1.1\n"
    )
    got = {t: (a["test"], a["value"], a.get("interpretation")) for t, a in labs(nlp, text)}
    assert got["WBC-8.2"][1:] == (8.2, None)
    assert got["Hgb-10.1*"][1:] == (10.1, "A")  # the system's star flags an abnormal result
    assert got["Plt Ct-245"][1] == 245
    assert got["UreaN-28*"][1] == 28 and got["Creat-1.6*"][1] == 1.6
    assert got["INR(PT)-1.1"][1] == 1.1
    assert len(got) == 11


@pytest.mark.parametrize(
    "text",
    [
        # names with a number in prose are no printed results
        "CA-125 was elevated. IL-6 and COVID-19 testing. Markers CA-125, CEA-5 and AFP-3 sent.",
        "Factor-8 deficiency; HLA-B27 positive; CD-4 count pending.",
    ],
)
def test_hyphenated_names_in_prose_are_no_result_line(nlp: Any, text: str) -> None:
    assert not [t for t, a in labs(nlp, text) if "-" in t]


@pytest.mark.parametrize(
    "text",
    [
        # review: readings that are no test results
        "Dextrose 50 g/L was infused.",
        "Her mother 3 mg/dL.",
        "Dr. Smith 3 mg/dL.",
        "Household radon 4 pCi/L.",
        "The standardized mortality ratio was 1.5.",
        "Nurse to patient ratio of 4.",
        "TSH test 3 months ago was normal.",
        "MMSE test 3 days ago.",
        "Iron 2 tablets daily.",
        "He scored 8 on the VAS for pain.",
        "HBI 0.5 mL IM was given to the newborn.",
        "The dog ate 2 times the normal amount.",
        "The mean and median were 3.2 and 2.5 mg/dL, respectively.",
    ],
)
def test_no_result_in(nlp: Any, text: str) -> None:
    assert labs(nlp, text) == []


@pytest.mark.parametrize(
    ("text", "name", "value"),
    [
        ("Labs showed IgG 1,520 mg/dL.", "IgG 1,520 mg/dL", 1520),
        ("Patient with anemia IgG 1520 mg/dL.", "IgG 1520 mg/dL", 1520),
        ("Testing showed homocysteine 45 umol/L.", "homocysteine 45 umol/L", 45),
        ("Transaminases > 3x ULN.", "Transaminases > 3x ULN", 3),
    ],
)
def test_bare_results_keep_only_the_tests_name(nlp: Any, text: str, name: str, value) -> None:
    assert [(t, a["value"]) for t, a in labs(nlp, text)] == [(name, value)]


def test_a_run_of_classes_before_a_full_stop(nlp: Any) -> None:
    [(_, attrs)] = labs(nlp, "ECOG 0, 1 or 2.")
    assert attrs.get("value_range") == {"low": 0, "high": 2} or "value" not in attrs


def test_the_value_before_a_change_has_no_flag(nlp: Any) -> None:
    [(_, attrs)] = labs(nlp, "Homocysteine level decreased from 45 umol/L to 12 umol/L.")
    assert attrs["value"] == 45 and "interpretation" not in attrs

"""Table tests: medication sigs written as prose (case reports, narrative notes) and drugs
named by their class. Each row is a sentence we wrote, the drug, and what must be found on it
(``None`` where the sentence gives nothing of that kind to the drug)."""

from typing import Any

import pytest

from extractors.nlp import NlpSettings, build_nlp
from tests.extractors.test_medications import run

ATC = "http://www.whocc.no/atc"


@pytest.fixture(scope="module")
def nlp() -> Any:
    return build_nlp(NlpSettings(extractors=("dictionary", "medications")))


def part(mention: Any, text: str, name: str) -> str | None:
    bounds = mention.attributes.get("parts", {}).get(name)
    return text[bounds[0] : bounds[1]] if bounds else None


# sentence, drug, strength, route, regimen
PROSE: list[tuple[str, str, str | None, str | None, str | None]] = [
    # dose before the drug, with or without "of"
    ("She was started on 40 mg prednisone per day.", "prednisone", "40 mg", None, None),
    ("He received 2 g of IV cefazolin before the incision.", "cefazolin", "2 g", "IV", None),
    ("The regimen was 500 mg of amoxicillin and 125 mg of clavulanate.", "amoxicillin", "500 mg",
     None, None),
    # the next drug does not take the previous drug's dose
    ("The regimen was 500 mg of amoxicillin and 125 mg of clavulanate.", "clavulanate",
     "125 mg", None, None),
    # route before the drug through words naming the act of giving
    ("She was treated with intravenous infusions of vancomycin.", "vancomycin", None,
     "intravenous", None),
    ("A single dose of intramuscular ceftriaxone was given.", "ceftriaxone", None,
     "intramuscular", "single dose"),
    ("She was given high-dose oral amoxicillin.", "amoxicillin", None, "oral", "high-dose"),
    # route and dose after the drug, across a clause
    ("Heparin was administered intravenously during the procedure.", "Heparin", None,
     "intravenously", None),
    ("Methotrexate was started at a dose of 15 mg/week.", "Methotrexate", "15 mg/week", None,
     None),
    ("Rituximab (375 mg/m2, intravenously) was given weekly.", "Rituximab", "375 mg/m2",
     "intravenously", None),
    ("Penicillin G, 4 million units intravenously every 4 hours, was continued.",
     "Penicillin G", "4 million units", "intravenously", None),
    ("He completed three cycles of cisplatin.", "cisplatin", None, None, "three cycles"),
    # a route inside the drug's name, and a route word that is also a product modifier
    ("She received intravenous immunoglobulin for the flare.", "intravenous immunoglobulin",
     None, "intravenous", None),
    ("The dose of valproate was changed to 500 mg via oral administration.", "valproate",
     "500 mg", "oral", None),
    ("50 mg levodopa was given via nasogastric tube.", "levodopa", "50 mg",
     "via nasogastric tube", None),
    # a clause boundary stops the reading: the dose after the full stop is not the drug's
    ("He took aspirin. 81 mg tablets were found at home.", "aspirin", None, None, None),
    ("Metoprolol was held; 5 mg IV labetalol was given.", "Metoprolol", None, None, None),
    # cycles after the drug ("for", "a total of" link to them)
    ("She received carboplatin for 3 cycles.", "carboplatin", None, None, "3 cycles"),
    ("Chemotherapy with a total of 9 cycles was given.", "Chemotherapy", None, None, "9 cycles"),
    # a word outside the sig ends it: "for his fever" is no dose
    ("Acetaminophen was given for his fever of 39 C.", "Acetaminophen", None, None, None),
    # one regimen for a coordinated list of drugs belongs to each of them
    ("He had 6 cycles of cisplatin, etoposide and ifosfamide.", "etoposide", None, None,
     "6 cycles"),
    ("He had 6 cycles of cisplatin, etoposide and ifosfamide.", "ifosfamide", None, None,
     "6 cycles"),
    ("She got gemcitabine and docetaxel, which she received for 4 cycles.", "gemcitabine",
     None, None, "4 cycles"),
    ("She got gemcitabine and docetaxel, which she received for 4 cycles.", "docetaxel",
     None, None, "4 cycles"),
    # ... but not across a list break, nor to a drug with a regimen of its own
    ("He had 6 cycles of cisplatin; later, etoposide was given.", "etoposide", None, None,
     None),
    ("He had 2 cycles of cisplatin and 3 cycles of etoposide.", "etoposide", None, None,
     "3 cycles"),
    # words naming the drug's role between it and its sig; a class named there is this drug
    ("She took warfarin anticoagulation therapy (2.5 mg per day).", "warfarin", "2.5 mg", None,
     None),
    ("Sildenafil targeted PAH therapy (20 mg twice per day) was added.", "Sildenafil", "20 mg",
     None, None),
    ("Aspirin therapy was stopped and heparin 5000 units given.", "Aspirin", None, None, None),
    # regimen qualifiers link the count to the drug
    ("Then 4 cycles of neoadjuvant first-line chemotherapy were done.", "chemotherapy", None,
     None, "4 cycles"),
    # a strength spelled out, as a sentence starts
    ("Five hundred milligrams of valproate was given.", "valproate", "Five hundred milligrams",
     None, None),
    ("Twenty-five milligrams of hydrochlorothiazide was added.", "hydrochlorothiazide",
     "Twenty-five milligrams", None, None),
    ("She received one gram of cefazolin intravenously.", "cefazolin", "one gram",
     "intravenously", None),
    # an amount joined by "of" to the next drug is the next drug's
    ("Subcutaneous heparin (0.6 ml of enoxaparin) was given.", "heparin", None,
     "Subcutaneous", None),
    ("Subcutaneous heparin (0.6 ml of enoxaparin) was given.", "enoxaparin", "0.6 ml", None,
     None),
    ("The patient was given 50 mg of Demerol IM with 25 mg of Phenergan.", "Demerol", "50 mg",
     "IM", None),
    ("The patient was given 50 mg of Demerol IM with 25 mg of Phenergan.", "Phenergan",
     "25 mg", None, None),
    # route words of case reports
    ("Interferon alfa was administered via hypodermic injection.", "Interferon alfa", None,
     "hypodermic injection", None),
    ("Following ingestion of barium sulfate, films were taken.", "barium sulfate", None,
     "ingestion", None),
    # "doses" is one regimen word, and a regimen before a drug whose sig is whole is read
    ("High doses of prednisone were given.", "prednisone", None, None, "High doses"),
    ("A single dose of intravenous desmopressin (0.3 microgram/kg) was given.",
     "desmopressin", "0.3 microgram/kg", "intravenous", "single dose"),
]


@pytest.mark.parametrize(("sentence", "drug", "strength", "route", "regimen"), PROSE)
def test_prose_sigs(
    nlp: Any, sentence: str, drug: str, strength: str | None, route: str | None,
    regimen: str | None,
) -> None:
    meds = [m for m in run(nlp, sentence) if m.label == "MEDICATION" and m.text == drug]
    assert len(meds) == 1, [m.text for m in run(nlp, sentence)]
    m = meds[0]
    assert part(m, sentence, "strength") == strength
    assert part(m, sentence, "route") == route
    assert part(m, sentence, "regimen") == regimen


def test_a_class_naming_the_drugs_role_is_no_second_drug(nlp: Any) -> None:
    text = "She took warfarin anticoagulation therapy (2.5 mg per day)."
    assert [m.text for m in run(nlp, text) if m.label == "MEDICATION"] == ["warfarin"]
    # a class after a list break is a drug of its own
    text = "She took warfarin. Anticoagulation therapy (2.5 mg per day) went on."
    got = [m.text for m in run(nlp, text) if m.label == "MEDICATION"]
    assert got == ["warfarin", "Anticoagulation therapy"], got


def test_million_units_scale_the_value(nlp: Any) -> None:
    text = "Penicillin G 24 million units IV daily."
    [m] = [m for m in run(nlp, text) if m.label == "MEDICATION"]
    assert m.attributes["strength"]["value"] == 24_000_000


def test_weight_based_strength_keeps_its_denominator(nlp: Any) -> None:
    text = "Infliximab 5 mg/kg IV every 8 weeks."
    [m] = [m for m in run(nlp, text) if m.label == "MEDICATION"]
    assert m.attributes["strength"]["unit"] == "mg/kg"
    assert m.attributes["route"]["code"] == "IV"


# drug named by its class, coded to the ATC class
CLASSES: list[tuple[str, str, str]] = [
    ("She was started on steroids for the flare.", "steroids", "H02"),
    ("Continue the beta-blocker.", "beta-blocker", "C07"),
    ("He was on immunosuppressive drugs after the transplant.", "immunosuppressive drugs", "L04A"),
    ("Proton pump inhibitors were stopped.", "Proton pump inhibitors", "A02BC"),
    ("She required vasopressors overnight.", "vasopressors", "C01C"),
    ("Supplemental oxygen was weaned.", "Supplemental oxygen", "V03AN01"),
    ("She takes a direct oral anticoagulant.", "direct oral anticoagulant", "B01A"),
]


@pytest.mark.parametrize(("sentence", "text", "atc"), CLASSES)
def test_drug_classes_are_coded_to_atc(nlp: Any, sentence: str, text: str, atc: str) -> None:
    meds = [m for m in run(nlp, sentence) if m.label == "MEDICATION"]
    assert [m.text for m in meds] == [text]
    assert (ATC, atc) in {(c.system, c.code) for c in meds[0].codings}


@pytest.mark.parametrize(
    "sentence",
    [
        "Oxygen saturation was 95% on room air.",
        "Steroid-responsive dermatosis was considered.",  # a disease name, not the class
        "Fluid status was reassessed.",
    ],
)
def test_class_words_inside_other_things_are_no_drug(nlp: Any, sentence: str) -> None:
    assert [m.text for m in run(nlp, sentence) if m.label == "MEDICATION"] == []


@pytest.mark.parametrize(
    ("sentence", "drugs"),
    [
        ("Tumour cells were positive for synaptophysin and chromogranin A.", []),
        ("ALT 120 U/L and CRP 45 mg/L on admission.", []),
        ("Serum carnitine was low.", []),
        # given: a route, an amount, or a word of giving keeps the substance a drug
        ("Potassium chloride 20 mEq PO was given.", ["Potassium chloride"]),
        ("Carnitine supplementation was started.", ["Carnitine"]),
        ("Infusions of bicarbonate were continued.", ["bicarbonate"]),
        ("Bicarbonate was 18.", []),
        # a rate per minute or hour is a flow or an infusion, never a level
        ("He required 6 L/min of oxygen by mask.", ["oxygen"]),
        ("Oxygen saturation was 91% on 2 L.", []),
        # one list of measured substances with the labs extractor ("iron", "folate")
        ("Iron studies and folate are pending.", []),
        ("Folate 1 mg PO daily was started.", ["Folate"]),
        # electrolytes: given as drugs, measured as labs
        ("Magnesium 2 g IV was given.", ["Magnesium"]),
        ("She takes calcium tablets daily.", ["calcium"]),
        ("Potassium 10 mEq daily.", ["Potassium"]),
        ("Sodium 140, potassium 3.5, calcium 9.2, magnesium 1.9.", []),
        # markers a pathologist or laboratory measures
        ("Tumour cells were positive for cytokeratin 7 and thyroglobulin.", []),
        ("B-type natriuretic peptide was 900 pg/mL.", []),
        # written with a hyphen, or with one inside the abbreviation
        ("Tumour cells were positive for chromogranin-A and synaptophysin.", []),
        ("Laboratory data were normal: HBs-Ag negative.", []),
        ("Pre-albumin was low at 16.", []),
        ("Serum beta-2 microglobulin was elevated.", []),
        ("A deficient NK-cell cytotoxicity was found.", []),
    ],
)
def test_measured_substances_are_no_drug_unless_given(
    nlp: Any, sentence: str, drugs: list[str]
) -> None:
    assert [m.text for m in run(nlp, sentence) if m.label == "MEDICATION"] == drugs


@pytest.mark.parametrize(
    ("sentence", "drugs"),
    [
        # an abbreviation defined in the note as something else is not its default sense
        ("American Society of Anesthesiologists (ASA) score of I-II.", []),
        ("ASA physical status III or higher.", []),
        ("ASA 3 or more.", []),
        ("HBsAg positive.", []),
        ("Continue ASA 81 mg daily.", ["ASA"]),
        ("Acetylsalicylic acid (ASA) 81 mg daily.", ["Acetylsalicylic acid", "ASA"]),
    ],
)
def test_abbreviation_senses_reach_the_drug_list(
    nlp: Any, sentence: str, drugs: list[str]
) -> None:
    assert [m.text for m in run(nlp, sentence) if m.label == "MEDICATION"] == drugs


def test_investigational_product_is_an_uncoded_drug(nlp: Any) -> None:
    text = "Any investigational drug within 30 days."
    [m] = [m for m in run(nlp, text) if m.label == "MEDICATION"]
    assert m.text == "investigational drug" and m.codings == ()


def test_route_inside_the_drug_name(nlp: Any) -> None:
    text = "A direct oral anticoagulant was started."
    [m] = [m for m in run(nlp, text) if m.label == "MEDICATION"]
    assert m.attributes["route"]["code"] == "PO"


def test_spelled_strength_has_its_value_and_ucum(nlp: Any) -> None:
    text = "Five hundred milligrams of valproate was given."
    [m] = [m for m in run(nlp, text) if m.label == "MEDICATION"]
    assert m.attributes["strength"]["value"] == 500
    assert m.attributes["strength"]["ucum"] == "mg"


@pytest.mark.parametrize(
    ("sentence", "dose", "strength"),
    [
        ("A total of 10 mL of 0.5% Marcaine was injected.", "10 mL", "0.5%"),
        ("One mL of 1% lidocaine was used for the airway.", "One mL", "1%"),
        # no "of" between them: one strength, no amount
        ("She was given 40 mg prednisone.", None, "40 mg"),
    ],
)
def test_amount_before_a_concentration_is_the_dose(
    nlp: Any, sentence: str, dose: str | None, strength: str
) -> None:
    [m] = [m for m in run(nlp, sentence) if m.label == "MEDICATION"]
    assert part(m, sentence, "dose") == dose
    assert part(m, sentence, "strength") == strength
    assert "form" not in m.attributes  # a volume is no dose form
    if dose:
        assert m.attributes["dose"]["ucum"] == "mL"


# sentence, drug, [(direction, new strength as written)], the first strength
CHANGES: list[tuple[str, str, list[tuple[str, str]], str | None]] = [
    ("She was treated with prednisone 60 mg daily for several months and eventually tapered "
     "to 10 mg daily.", "prednisone", [("decrease", "10 mg")], "60 mg"),
    ("The prednisolone dose was tapered from 60 mg daily to a maintenance dose of 5 mg daily.",
     "prednisolone", [("decrease", "5 mg")], "60 mg"),
    ("Metoprolol 25 mg twice daily was increased to 50 mg twice daily, then 100 mg.",
     "Metoprolol", [("increase", "50 mg"), ("increase", "100 mg")], "25 mg"),
    ("Trileptal will be started at 300 mg and eventually raised to 600 mg p.o. b.i.d.",
     "Trileptal", [("increase", "600 mg")], "300 mg"),
    # the first dose already is the change: no second reading of it
    ("Prednisone was reduced to 10 mg daily.", "Prednisone", [], "10 mg"),
    # a level that changes is no dose
    ("Vancomycin was given and her creatinine increased to 2.3 mg/dL.", "Vancomycin", [], None),
    ("Chemotherapy would have reduced this to an 8% risk.", "Chemotherapy", [], None),
    # another drug in between takes what follows
    ("Aspirin was stopped and warfarin was increased to 5 mg daily.", "Aspirin", [], None),
    # the next sentence is another clause
    ("He takes lisinopril 10 mg daily. His dose of metformin was increased to 1000 mg.",
     "lisinopril", [], "10 mg"),
]


@pytest.mark.parametrize(("sentence", "drug", "changes", "strength"), CHANGES)
def test_dose_changes_in_the_clause(
    nlp: Any, sentence: str, drug: str, changes: list[tuple[str, str]], strength: str | None
) -> None:
    [m] = [m for m in run(nlp, sentence) if m.label == "MEDICATION" and m.text == drug]
    got = [
        (c["direction"], (c.get("strength") or c.get("dose"))["text"])
        for c in m.attributes.get("dose_changes", [])
    ]
    assert got == changes
    assert part(m, sentence, "strength") == strength
    if changes:
        start, end = m.attributes["parts"]["dose_change"]
        assert sentence[start:end].startswith(changes[0][1])
        # the sig is the first instruction; the change is not part of it
        assert changes[0][1] not in (m.attributes.get("sig") or "")

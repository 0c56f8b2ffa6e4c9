"""Table tests for the allergies extractor on the real pipeline."""

import json
from typing import Any

import pytest

from extractors.allergies import AllergyExtractor
from extractors.nlp import NlpSettings, build_nlp, extract
from schemas.model import Mention, Note

SCT = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def run(nlp: Any, text: str) -> tuple[Mention, ...]:
    note = Note(note_id="t", text=text)
    [(_, mentions)] = list(extract(nlp, [(note, ())]))
    assert not isinstance(mentions, Exception), mentions
    for m in mentions:
        assert text[m.start_char : m.end_char] == m.text
        json.dumps(m.attributes)
        for start, end in m.attributes.get("parts", {}).values():
            assert 0 <= start <= end <= len(text)
    return mentions


@pytest.fixture(scope="module")
def nlp() -> Any:
    return build_nlp(NlpSettings(extractors=("dictionary", "medications", "allergies")))


# (sentence, allergen text, expected attributes subset, expected codes)
CASES: list[tuple[str, str, dict[str, Any], list[tuple[str, str]]]] = [
    (
        "She is allergic to penicillin (hives).",
        "penicillin",
        {"reaction": "hives", "category": "medication"},
        [(SCT, "373270004")],
    ),
    (  # found as a drug in an allergy context: the allergen table's code for its name
        "ALLERGIES: Patient admits allergies to penicillin resulting in hives.",
        "penicillin",
        {"category": "medication"},
        [(SCT, "373270004")],
    ),
    (
        "ALLERGIES: sulfa - rash; codeine - nausea.",
        "sulfa",
        {"reaction": "rash", "substance": "sulfonamide"},
        [(SCT, "372788003")],
    ),
    (
        "ALLERGIES: sulfa - rash; codeine - nausea.",
        "codeine",
        {"reaction": "nausea"},
        [(RXNORM, "2670")],
    ),
    (
        "ALLERGIES:\nPenicillin - hives\nDemerol causes nausea\nLatex\n\nSOCIAL HISTORY: none.",
        "Latex",
        {"category": "environment"},
        [(SCT, "111088007")],
    ),
    (
        "ALLERGIES:\nPenicillin - hives\nDemerol causes nausea\nLatex\n\nSOCIAL HISTORY: none.",
        "Demerol",
        {"reaction": "nausea", "category": "medication", "substance": "meperidine"},
        [],
    ),
    (
        "ALLERGIES: Equagesic, Bactrim.",
        "Equagesic",
        {"category": "medication"},  # a drug name without a code: a drug, kept uncoded
        [],
    ),
    (
        "He reports an allergy to shellfish and peanuts.",
        "peanuts",
        {"category": "food"},
        [(SCT, "762952008")],
    ),
    ("Allergies: Keflex and aspirin.", "Keflex", {"substance": "cephalexin"}, [(RXNORM, "2231")]),
    (
        "Allergic to IV contrast (anaphylaxis).",
        "IV contrast",
        {"reaction": "anaphylaxis"},
        [(SCT, "426722004")],
    ),
]


@pytest.mark.parametrize(("sentence", "allergen", "expected", "codes"), CASES)
def test_allergy_table(
    nlp: Any, sentence: str, allergen: str, expected: dict[str, Any], codes: list[tuple[str, str]]
) -> None:
    mentions = run(nlp, sentence)
    found = [m for m in mentions if m.label == "ALLERGY" and m.text == allergen]
    assert len(found) == 1, [(m.label, m.text) for m in mentions]
    m = found[0]
    for key, value in expected.items():
        assert m.attributes.get(key) == value, (key, m.attributes)
    assert [(c.system, c.code) for c in m.codings] == codes
    assert not m.assertion.is_negated
    if "reaction" in expected:
        start, end = m.attributes["parts"]["reaction"]
        assert sentence[start:end] == expected["reaction"]
    # an allergen is not also a medication the patient takes
    assert not [x for x in mentions if x.label == "MEDICATION" and x.text == allergen]


def test_reaction_code(nlp: Any) -> None:
    [m] = [m for m in run(nlp, "Allergic to penicillin (hives).") if m.label == "ALLERGY"]
    assert m.attributes["reaction_codes"] == [
        {"system": SCT, "code": "126485001", "display": "Urticaria (disorder)"}
    ]


# (sentence, statement text, scope, SNOMED code)
NO_KNOWN = [
    ("ALLERGIES: NKDA.", "NKDA", "drug", "409137002"),
    ("Allergies: No known drug allergies.", "No known drug allergies", "drug", "409137002"),
    ("She has no known allergies.", "no known allergies", "all", "716186003"),
    ("ALLERGIES: None.", "None", "all", "716186003"),
    ("ALLERGIES: None known.\n\nFAMILY HISTORY: none.", "None known", "all", "716186003"),
    ("DRUG ALLERGIES: NONE KNOWN.", "NONE KNOWN", "drug", "409137002"),
    ("Patient denies any drug allergies.", "denies any drug allergies", "drug", "409137002"),
    ("NKA.", "NKA", "all", "716186003"),
    ("No known food allergies.", "No known food allergies", "food", "429625007"),
]


@pytest.mark.parametrize(("sentence", "text", "scope", "code"), NO_KNOWN)
def test_no_known_allergy(nlp: Any, sentence: str, text: str, scope: str, code: str) -> None:
    allergies = [m for m in run(nlp, sentence) if m.label == "ALLERGY"]
    assert [m.text for m in allergies] == [text]
    m = allergies[0]
    assert m.attributes["no_known_allergy"] is True
    assert m.attributes["scope"] == scope
    assert [(c.system, c.code) for c in m.codings] == [(SCT, code)]
    # an affirmed statement that there are none, not a negated allergy
    assert not m.assertion.is_negated


def test_medication_list_after_allergies(nlp: Any) -> None:
    text = "ALLERGIES: NKDA.\n\nMEDICATIONS: Lisinopril 10 mg daily."
    mentions = run(nlp, text)
    assert [(m.label, m.text) for m in mentions] == [
        ("ALLERGY", "NKDA"),
        ("MEDICATION", "Lisinopril"),
    ]


def test_extractor_class() -> None:
    assert AllergyExtractor.labels == frozenset({"ALLERGY"})


@pytest.mark.parametrize(
    ("sentence", "text", "scope"),
    [
        ("ALLERGIES: Denied.", "Denied", "all"),
        ("ALLERGIES TO MEDICINES: None.", "None", "drug"),
        ("ALLERGIES TO MEDICATIONS ARE NONE.", "ALLERGIES TO MEDICATIONS ARE NONE", "drug"),
        ("ALLERGIES: There are no known drug allergies.", "no known drug allergies", "drug"),
    ],
)
def test_review_no_known(nlp: Any, sentence: str, text: str, scope: str) -> None:
    allergies = [m for m in run(nlp, sentence) if m.label == "ALLERGY"]
    assert [(m.text, m.attributes.get("scope")) for m in allergies] == [(text, scope)]


def test_sentence_fragment_is_not_an_allergen(nlp: Any) -> None:
    text = "History of allergy to clonidine, Medifast does fatigue."
    assert [m.text for m in run(nlp, text) if m.label == "ALLERGY"] == ["clonidine"]


@pytest.mark.parametrize(
    ("sentence", "allergens"),
    [
        (
            "ALLERGIES: Patient admits allergies to aspirin resulting in disorientation, GI upset.",
            ["aspirin"],
        ),
        ("Allergies to adhesive tape resulting in severe\nrash.", ["adhesive tape"]),
        ("ALLERGIES: To penicillin.", ["penicillin"]),
        ("ALLERGIES: Intolerance", []),
    ],
)
def test_review_allergens(nlp: Any, sentence: str, allergens: list[str]) -> None:
    assert [m.text for m in run(nlp, sentence) if m.label == "ALLERGY"] == allergens


@pytest.mark.parametrize(
    ("sentence", "allergens"),
    [
        ("ENDOCRINE: The patient denies intolerance to hot or cold temperature.", []),
        ("Skin: rash, hives, sensitivity to sun exposure, tightness, nodules or bumps.", []),
        ("There were no known allergies to the materials involved with the injection.", []),
        ("She reports intolerance to codeine.", ["codeine"]),
    ],
)
def test_weak_triggers_need_known_allergens(nlp: Any, sentence: str, allergens: list[str]) -> None:
    found = [m.text for m in run(nlp, sentence) if m.label == "ALLERGY"]
    assert [t for t in found if "allerg" not in t] == allergens


@pytest.mark.parametrize(
    ("sentence", "allergens"),
    [
        ("ALLERGIES: Refer to chart.", []),
        ("ALLERGIES: IV morphine causes hives.", ["morphine"]),
        ("ALLERGIES: SHE IS ALLERGIC OR SENSITIVE TO MACRODANTIN.", ["MACRODANTIN"]),
        (
            "ALLERGIES: Zithromax and amoxicillin cause him to feel warm.",
            ["Zithromax", "amoxicillin"],
        ),
    ],
)
def test_final_review_allergens(nlp: Any, sentence: str, allergens: list[str]) -> None:
    assert [m.text for m in run(nlp, sentence) if m.label == "ALLERGY"] == allergens


@pytest.mark.parametrize(
    ("sentence", "allergens", "negated"),
    [
        # a colon after "allergies to"; a brand name in parentheses is no reaction
        (
            "Known allergies to: aspirin, clopidogrel (Plavix) and heparin.",
            ["aspirin", "clopidogrel", "heparin"],
            [],
        ),
        # two allergy words joined, and a "the following" lead-in
        (
            "Hypersensitivity or contraindication to any of the following medications: "
            "Heparin, Aspirin.",
            ["Heparin", "Aspirin"],
            [],
        ),
        ("Allergy or intolerance to aspirin or clopidogrel.", ["aspirin", "clopidogrel"], []),
        ("Adverse reaction to morphine in 2010.", ["morphine"], []),
        # the allergen before the allergy word
        ("He has a penicillin allergy and takes aspirin daily.", ["penicillin"], []),
        ("History of sulfa allergy.", ["sulfa"], []),
        # "no known allergy to X" denies an allergy to X, not every allergy
        ("No known allergy to penicillin.", ["penicillin"], ["penicillin"]),
    ],
)
def test_allergy_statements_beyond_lists(
    nlp: Any, sentence: str, allergens: list[str], negated: list[str]
) -> None:
    mentions = [m for m in run(nlp, sentence) if m.label == "ALLERGY"]
    assert [m.text for m in mentions] == allergens
    assert [m.text for m in mentions if m.assertion.is_negated] == negated
    assert not any(m.attributes.get("no_known_allergy") for m in mentions)
    taken = [m.text for m in run(nlp, sentence) if m.label == "MEDICATION"]
    assert not set(taken) & set(allergens)  # an allergen is not a medication taken


def test_a_drug_named_in_a_reaction_to_treatment_is_no_allergy(nlp: Any) -> None:
    """'reaction to' is a weak trigger: only known allergens count, and the medication
    taken elsewhere in the note stays a medication."""
    mentions = run(nlp, "Good reaction to therapy. Continue metoprolol 25 mg daily.")
    assert [m.label for m in mentions if m.text == "metoprolol"] == ["MEDICATION"]
    assert not [m for m in mentions if m.label == "ALLERGY"]


@pytest.mark.parametrize(
    ("sentence", "allergen", "rxcui"),
    [
        # drugs the curated allergen list does not name, known to the drug dictionary
        ("Known hypersensitivity to ticagrelor.", "ticagrelor", "1116632"),
        ("Allergy to morphine or ketamine.", "ketamine", "6130"),
    ],
)
def test_an_allergen_known_as_a_drug_is_a_coded_medication_allergy(
    nlp: Any, sentence: str, allergen: str, rxcui: str
) -> None:
    got = [m for m in run(nlp, sentence) if m.label == "ALLERGY" and m.text == allergen]
    assert len(got) == 1, run(nlp, sentence)
    assert got[0].attributes["category"] == "medication"
    assert rxcui in {c.code for c in got[0].codings}
    # and no MEDICATION: the patient does not take it
    assert not [m for m in run(nlp, sentence) if m.label == "MEDICATION"]


def test_an_allergen_no_table_codes_is_told_apart_by_its_name(nlp: Any) -> None:
    text = "ALLERGIES: Zorblaxin (rash), floobium, shellfish.\nAllergic to zorblaxin."
    keys = {m.text: m.attributes.get("name_key") for m in run(nlp, text) if m.label == "ALLERGY"}
    # two unknown allergens: two keys; the same one written twice: one key; a coded one: none
    assert keys["Zorblaxin"] and keys["floobium"] and keys["Zorblaxin"] != keys["floobium"]
    assert keys["zorblaxin"] == keys["Zorblaxin"]
    assert keys["shellfish"] is None

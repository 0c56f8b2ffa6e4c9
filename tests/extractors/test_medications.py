"""Table tests for the medications extractor on the real pipeline (build_nlp)."""

import json
from typing import Any

import pytest

from extractors.medications import MedicationExtractor, SigParser, sig_attributes
from extractors.nlp import NlpSettings, build_nlp, extract
from extractors.units import UnitNormalizer
from schemas.model import Mention, Note


def run(nlp: Any, text: str) -> tuple[Mention, ...]:
    note = Note(note_id="t", text=text)
    [(_, mentions)] = list(extract(nlp, [(note, ())]))
    assert not isinstance(mentions, Exception), mentions
    for m in mentions:
        assert text[m.start_char : m.end_char] == m.text
        json.dumps(m.attributes)  # attributes are JSON-able
        for start, end in m.attributes.get("parts", {}).values():
            assert 0 <= start <= end <= len(text)
    return mentions


def subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and subset(v, actual[k]) for k, v in expected.items()
        )
    return bool(expected == actual)


@pytest.fixture(scope="module")
def nlp() -> Any:
    return build_nlp(NlpSettings(extractors=("dictionary", "medications")))


@pytest.fixture(scope="module")
def nlp_alone() -> Any:
    return build_nlp(NlpSettings(extractors=("medications",)))


# (sentence, drug text, expected attributes subset)
CASES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "MEDICATIONS: 1. Metformin 500 mg p.o. b.i.d. 2. Lisinopril 10 mg daily.",
        "Metformin",
        {
            "strength": {"value": 500, "unit": "mg", "ucum": "mg"},
            "route": {"code": "PO", "snomed": "26643006", "text": "p.o."},
            "frequency": {"code": "BID", "frequency": 2, "period": 1, "period_unit": "d"},
            "sig": "500 mg p.o. b.i.d.",
        },
    ),
    (
        "MEDICATIONS: 1. Metformin 500 mg p.o. b.i.d. 2. Lisinopril 10 mg daily.",
        "Lisinopril",
        {"strength": {"value": 10, "unit": "mg"}, "frequency": {"code": "QD", "text": "daily"}},
    ),
    (
        "He was started on lisinopril 10 mg daily for his blood pressure.",
        "lisinopril",
        {"strength": {"value": 10}, "frequency": {"frequency": 1}, "sig": "10 mg daily"},
    ),
    (
        "Percocet 5/325 1-2 tabs q4-6h prn pain.",
        "Percocet",
        {
            "strength": {"value": [5, 325], "unit": None},
            "dose": {"value_low": 1, "value_high": 2, "unit": "tablet"},
            "form": "tablet",
            "frequency": {"frequency": 1, "period": 4, "period_max": 6, "period_unit": "h"},
            "prn": True,
            "prn_reason": "pain",
        },
    ),
    (
        "Albuterol inhaler 2 puffs q.4-6h. p.r.n. shortness of breath or wheezing.",
        "Albuterol",
        {
            "form": "inhaler",
            "dose": {"value": 2, "unit": "puff"},
            "prn": True,
            "prn_reason": "shortness of breath",
        },
    ),
    (
        "Lasix 40 mg IV x1, then furosemide 20 mg PO daily for 7 days.",
        "Lasix",
        {
            "route": {"code": "IV", "snomed": "47625008"},
            "frequency": {"code": "STAT", "count": 1},
        },
    ),
    (
        "Lasix 40 mg IV x1, then furosemide 20 mg PO daily for 7 days.",
        "furosemide",
        {"duration": {"value": 7, "unit": "d", "text": "for 7 days"}, "route": {"code": "PO"}},
    ),
    (
        "Insulin glargine 20 units subcutaneously at bedtime.",
        "Insulin glargine",
        {
            "strength": {"value": 20, "ucum": "U"},
            "route": {"code": "SC", "snomed": "34206005"},
            "frequency": {"code": "QHS", "when": ["HS"]},
        },
    ),
    (
        "Nitroglycerin 0.4 mg SL q5min as needed for chest pain.",
        "Nitroglycerin",
        {
            "strength": {"value": 0.4},
            "route": {"code": "SL", "snomed": "37839007"},
            "frequency": {"period": 5, "period_unit": "min"},
            "prn_reason": "chest pain",
        },
    ),
    (
        "Metformin 1000 mg twice a day with meals.",
        "Metformin",
        {"frequency": {"code": "BID", "when": ["C"]}},
    ),
    (
        "Prednisone 40 mg daily x 5 days.",
        "Prednisone",
        {"duration": {"value": 5, "unit": "d"}, "frequency": {"code": "QD"}},
    ),
    (
        "Toprol XL 50 mg once daily.",
        "Toprol XL",
        {"strength": {"value": 50}, "frequency": {"code": "QD", "text": "once daily"}},
    ),
    (
        "Aspirin 81 mg by mouth every morning.",
        "Aspirin",
        {"route": {"code": "PO", "text": "by mouth"}, "frequency": {"code": "QAM"}},
    ),
    (
        "Tylenol 650 mg by mouth every 6 hours as needed for fever.",
        "Tylenol",
        {"frequency": {"period": 6, "period_unit": "h"}, "prn": True, "prn_reason": "fever"},
    ),
    (
        "Coumadin 5 mg weekly.",
        "Coumadin",
        {"frequency": {"code": "QWK", "period_unit": "wk"}},
    ),
    (
        "Take 2 tablets of ibuprofen 200 mg three times a day.",
        "ibuprofen",
        {"strength": {"value": 200}, "frequency": {"code": "TID"}},
    ),
    (
        "Lovenox 40 mg subq every 12 hours.",
        "Lovenox",
        {"route": {"code": "SC"}, "frequency": {"period": 12, "period_unit": "h"}},
    ),
    (
        "Fluticasone nasal spray 2 sprays in each nostril daily.",
        "Fluticasone",
        {"dose": {"value": 2, "unit": "spray"}, "frequency": {"code": "QD"}},
    ),
    ("Zofran 4 mg IV q.8h.", "Zofran", {"frequency": {"period": 8, "period_unit": "h"}}),
    ("Lorazepam 1 mg qhs.", "Lorazepam", {"frequency": {"code": "QHS"}}),
    ("Lasix 40 daily.", "Lasix", {"strength": {"value": 40, "unit": None}}),
]


@pytest.mark.parametrize(("sentence", "drug", "expected"), CASES)
def test_sig_table(nlp: Any, sentence: str, drug: str, expected: dict[str, Any]) -> None:
    mentions = [m for m in run(nlp, sentence) if m.label == "MEDICATION" and m.text == drug]
    assert len(mentions) == 1, [m.text for m in run(nlp, sentence)]
    attrs = mentions[0].attributes
    assert subset(expected, attrs), attrs
    assert mentions[0].provenance.extractor == "medications"
    for name, (start, end) in attrs["parts"].items():
        if name in ("strength", "dose", "route", "frequency", "duration"):
            assert sentence[start:end] == attrs[name]["text"]


@pytest.mark.parametrize(
    "sentence",
    ["Medications: none.", "MEDICATIONS: None.", "She takes no medications.", "No meds."],
)
def test_no_medications(nlp: Any, sentence: str) -> None:
    assert [m for m in run(nlp, sentence) if m.label == "MEDICATION"] == []


def test_works_without_dictionary(nlp_alone: Any) -> None:
    mentions = run(nlp_alone, "Started on atorvastatin 40 mg p.o. nightly and Plavix 75 mg daily.")
    meds = {m.text: m for m in mentions if m.label == "MEDICATION"}
    assert set(meds) == {"atorvastatin", "Plavix"}
    assert meds["atorvastatin"].attributes["drug_source"] == "medications"
    assert meds["atorvastatin"].attributes["frequency"]["when"] == ["HS"]
    assert [c.code for c in meds["atorvastatin"].codings] == ["83367"]
    assert meds["Plavix"].attributes["ingredient"] == "clopidogrel"
    assert [c.code for c in meds["Plavix"].codings] == ["32968"]


def test_replaces_dictionary_spans_and_keeps_their_codes(nlp: Any) -> None:
    mentions = run(nlp, "Metformin 500 mg twice daily.")
    meds = [m for m in mentions if m.label == "MEDICATION"]
    assert len(meds) == 1  # one mention, not one from each extractor
    assert meds[0].provenance.extractor == "medications"
    assert meds[0].attributes["drug_source"] == "dictionary"
    assert meds[0].codings, "the dictionary's codes are carried over"


def test_allergy_context_is_not_a_medication(nlp: Any) -> None:
    text = "ALLERGIES: Penicillin (hives). Tylenol 650 mg by mouth daily."
    meds = [m.text for m in run(nlp, text) if m.label == "MEDICATION"]
    assert meds == ["Tylenol"]


def test_negated_medication_keeps_sig(nlp: Any) -> None:
    [m] = [m for m in run(nlp, "She denies taking aspirin 81 mg daily.") if m.label == "MEDICATION"]
    assert m.assertion.is_negated
    assert m.attributes["strength"]["value"] == 81


def test_sig_parser_unit() -> None:
    parser = SigParser(UnitNormalizer())
    text = "Keflex 500 mg capsule 1 cap by mouth four times a day for 10 days"
    parts = parser.parse(text, 6, len(text))
    attrs = sig_attributes(parts, (0, 6), text)
    assert attrs["strength"]["value"] == 500
    assert attrs["form"] == "capsule"
    assert attrs["dose"]["value"] == 1
    assert attrs["route"]["code"] == "PO"
    assert attrs["frequency"]["code"] == "QID"
    assert attrs["duration"] == {"value": 10, "unit": "d", "text": "for 10 days"}
    assert text[slice(*attrs["parts"]["sig"])] == attrs["sig"]


def test_sig_stops_at_unrelated_words() -> None:
    parser = SigParser(UnitNormalizer())
    text = "aspirin 81 mg. The patient is doing well daily."
    attrs = sig_attributes(parser.parse(text, 7, len(text)), (0, 7), text)
    assert attrs["sig"] == "81 mg"
    assert "frequency" not in attrs


def test_extractor_class() -> None:
    assert MedicationExtractor.name == "medications"
    assert MedicationExtractor.labels == frozenset({"MEDICATION"})
    assert isinstance(MedicationExtractor.version, int)


# rows added with the MTSamples review fixes (rule changes come with table rows)
REVIEW_CASES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "Lopressor 50 mg one-half tablet twice daily.",
        "Lopressor",
        {"dose": {"value": 0.5, "unit": "tablet"}, "frequency": {"code": "BID"}},
    ),
    ("Continue Lovenox 40 mg subcu daily.", "Lovenox", {"route": {"code": "SC", "text": "subcu"}}),
    ("MEDICATIONS: Ibuprofen PRN.\n\nALLERGIES: None.", "Ibuprofen", {"prn": True, "sig": "PRN."}),
    (
        "7. Potassium\nchloride 20 mEq p.o. daily.",
        "Potassium\nchloride",
        {"strength": {"value": 20, "ucum": "meq"}, "ingredient": "potassium chloride"},
    ),
]


@pytest.mark.parametrize(("sentence", "drug", "expected"), REVIEW_CASES)
def test_review_rows(nlp_alone: Any, sentence: str, drug: str, expected: dict[str, Any]) -> None:
    [m] = [m for m in run(nlp_alone, sentence) if m.label == "MEDICATION" and m.text == drug]
    assert subset(expected, m.attributes), m.attributes
    assert "prn_reason" not in m.attributes or expected.get("prn_reason")


def test_route_of_the_next_drug_is_not_taken(nlp: Any) -> None:
    meds = {m.text: m for m in run(nlp, "3. Aspirin and IV heparin.") if m.label == "MEDICATION"}
    assert "route" not in meds["Aspirin"].attributes


@pytest.mark.parametrize(
    ("sentence", "drug", "route"),
    [
        ("3. Aspirin and IV heparin.", "heparin", "IV"),
        ("He was given inhaled albuterol.", "albuterol", "INH"),
        ("Then oral prednisone 40 mg.", "prednisone", "PO"),
        ("Lasix 40 mg IV Metoprolol 5 mg.", "Metoprolol", None),  # the IV is Lasix's
    ],
)
def test_route_written_before_the_drug(
    nlp: Any, sentence: str, drug: str, route: str | None
) -> None:
    [m] = [m for m in run(nlp, sentence) if m.label == "MEDICATION" and m.text == drug]
    assert (m.attributes.get("route") or {}).get("code") == route
    if route:
        start, end = m.attributes["parts"]["route"]
        assert sentence[start:end] == m.attributes["route"]["text"]
        assert end <= m.start_char
        assert "sig" not in m.attributes or m.attributes["parts"]["sig"][0] >= m.end_char


def test_up_to_frequency(nlp: Any) -> None:
    [m] = [m for m in run(nlp, "Lortab 7.5 mg up to three times daily.") if m.label == "MEDICATION"]
    assert m.attributes["frequency"]["code"] == "TID"


@pytest.mark.parametrize(
    ("sentence", "drug", "rule_id"),
    [
        # the tokenizer keeps a hyphenated or slashed combination as one token
        (
            "She received piperacillin-tazobactam 4.5 g IV.",
            "piperacillin-tazobactam",
            "pattern:drug-combination",
        ),
        (
            "Started on amoxicillin-gentamicin.",
            "amoxicillin-gentamicin",
            "pattern:drug-combination",
        ),
        # the tokenizer splits "word/word"; drugs on both sides are joined again
        (
            "Take hydrocodone/acetaminophen 5/325 mg q6h.",
            "hydrocodone/acetaminophen",
            "pattern:drug-combination",
        ),
        # a prefix before a hyphen leaves the drug; one drug named twice stays one drug
        ("FEV1 measured post-albuterol.", "albuterol", None),
        ("post-albuterol/salbutamol FEV1", "albuterol/salbutamol", None),
        # a suffix after the hyphen ("-based", "-containing") leaves the drug given
        ("Three cycles of a bortezomib-based induction.", "bortezomib", None),
        ("A cisplatin-containing regimen was given.", "cisplatin", None),
        # a therapy named by its class
        (
            "She completed adjuvant chemotherapy in 2019.",
            "adjuvant chemotherapy",
            "curated:class-antineoplastics",
        ),
        (
            "Therapeutic anticoagulation was started.",
            "Therapeutic anticoagulation",
            "curated:class-anticoagulation",
        ),
    ],
)
def test_drugs_inside_tokens_and_therapy_classes(
    nlp: Any, sentence: str, drug: str, rule_id: str | None
) -> None:
    meds = [m for m in run(nlp, sentence) if m.label == "MEDICATION"]
    assert [m.text for m in meds] == [drug]
    if rule_id:
        assert meds[0].attributes["drug_rule_id"] == rule_id
    assert not [m for m in run(nlp, sentence) if m.label == "PROCEDURE"]


def test_words_with_hyphens_that_are_no_drugs_stay_plain(nlp: Any) -> None:
    meds = [
        m
        for m in run(nlp, "Follow-up in two weeks; well-being good; evidence-based care.")
        if m.label == "MEDICATION"
    ]
    assert meds == []


def test_the_sig_after_the_drugs_own_abbreviation_is_the_drugs(nlp: Any) -> None:
    text = "Tazobactam/piperacillin (TAZ/PIPC) (4.5g q12h) was administered."
    [med] = [m for m in run(nlp, text) if m.label == "MEDICATION"]
    assert med.attributes["strength"]["value"] == 4.5
    assert (med.attributes["frequency"]["period"], med.attributes["frequency"]["period_unit"]) == (
        12,
        "h",
    )
    # a measured substance's abbreviation is followed by its value, not a dose
    assert not [
        m for m in run(nlp, "Lactate dehydrogenase (LDH) 500 U/L.") if m.label == "MEDICATION"
    ]


@pytest.mark.parametrize(
    ("sentence", "routes"),
    [
        # a route right before the next drug, and first after this one, is the next drug's
        (
            "Despite oral fluconazole, topical antibiotic ointment.",
            {"fluconazole": "PO", "antibiotic": "TOP"},
        ),
        (
            "We started antiviral therapy with oral ribavirin 400 mg q12h.",
            {"antiviral therapy": None, "ribavirin": "PO"},
        ),
        # after a dose it stays with its drug (a medication list)
        ("Lasix 40 mg IV Metoprolol 5 mg.", {"Lasix": "IV", "Metoprolol": None}),
    ],
)
def test_a_route_between_two_drugs(nlp: Any, sentence: str, routes: dict[str, Any]) -> None:
    meds = {m.text: m for m in run(nlp, sentence) if m.label == "MEDICATION"}
    got = {k: (meds[k].attributes.get("route") or {}).get("code") for k in routes}
    assert got == routes


@pytest.mark.parametrize(
    ("sentence", "drugs"),
    [
        # substances the body makes or a lab measures are drugs only when given
        ("He received 4.0g of fibrinogen concentrate.", ["fibrinogen concentrate"]),
        ("We began to administer 4 L/min of oxygen nasally.", ["oxygen"]),
        ("An intravenous infusion of 15% glucose (7.8 mg/kg/min).", ["glucose"]),
        ("Glucose 105 mg/dL. Zinc level was low.", []),
        # ... and not when the phrase names a test, a class or an intolerance
        ("After a 2-hr oral glucose tolerance test.", []),
        ("Not taking any glucose lowering therapy.", []),
    ],
)
def test_measured_substances_given(nlp: Any, sentence: str, drugs: list[str]) -> None:
    assert [m.text for m in run(nlp, sentence) if m.label == "MEDICATION"] == drugs


@pytest.mark.parametrize(
    ("sentence", "drugs", "code"),
    [
        # names the drug vocabulary leaves out (rules/dictionary/drug_names.json) take the
        # codes of its concept
        ("He was placed on Thiamine 100mg qd.", ["Thiamine"], "DB00152"),
        ("Iron 325 mg p.o. b.i.d.", ["Iron"], "DB01592"),
        ("Iron deficiency; she was started on iron.", ["iron"], "DB01592"),
        ("Given Solu-Cortef 100 mg IV.", ["Solu-Cortef"], "DB00741"),
        ("Senna 2 tabs qhs.", ["Senna"], None),
        ("Kayexalate 30 g PO once.", ["Kayexalate"], None),
        # iron measured is no drug given
        ("Iron studies were sent. Serum iron was 30. Low iron.", [], None),
        ("She has iron deficiency anemia.", [], None),
        ("Iron chelation therapy with deferasirox.", ["deferasirox"], None),
        ("Iron poisoning suspected.", [], None),
    ],
)
def test_drug_names_the_vocabulary_leaves_out(
    nlp: Any, sentence: str, drugs: list[str], code: str | None
) -> None:
    meds = [m for m in run(nlp, sentence) if m.label == "MEDICATION"]
    assert [m.text for m in meds] == drugs
    if code is not None:
        assert code in {c.code for c in meds[0].codings}


@pytest.mark.parametrize(
    ("sentence", "drugs"),
    [
        # a level measured, in a laboratory's unit of concentration
        ("Progesterone 0.4 ng/ml and estradiol 45 pg/mL.", []),
        ("Her insulin was 25 µIU/ml and vitamin B12 150 pg/ml.", []),
        ("Normal hormones (growth hormone (GH), 0.50 ng/ml).", []),
        # a test named by its reagent
        ("The 13C urea breath test was negative.", []),
        ("A dexamethasone suppression test was done.", []),
        # a method named by a class
        ("She must use reliable contraceptive methods.", []),
        ("She takes oral contraceptives.", ["oral contraceptives"]),
        # a specimen before the name and a level after it
        ("Her total carnitine and free carnitine levels had increased.", []),
        ("An increased CSF/plasma albumin ratio of 7.4.", []),
        # the level of a drug the body does not make: the patient takes it
        ("The digoxin concentration was 2.5 ng/ml.", ["digoxin"]),
        ("The blood VPA level was normal.", ["VPA"]),
        # a dose or a product's strength stays a drug's
        ("Lidocaine 10 mg/ml was infused.", ["Lidocaine"]),
        ("He was given oral progesterone 200 mg nightly.", ["progesterone"]),
        ("IV digoxin 0.25 mg, then digoxin 0.125 mg daily.", ["digoxin", "digoxin"]),
    ],
)
def test_levels_and_tests_are_no_drugs_given(nlp: Any, sentence: str, drugs: list[str]) -> None:
    assert [m.text for m in run(nlp, sentence) if m.label == "MEDICATION"] == drugs


@pytest.mark.parametrize(
    ("sentence", "strength", "dose"),
    [
        # a concentration right before the name is its strength, the amount after the dose
        ("An intravenous infusion of 15% glucose (7.8 mg/kg/min).", "15%", "7.8 mg/kg/min"),
        ("He received 10 mL of 1% lidocaine.", "1%", "10 mL"),
        ("5% dextrose at 100 mL/h.", "5%", "100 mL/h"),
        # a second concentration after the name is left as it was (a mixture, another drug)
        ("Infiltrated with 0.25% Marcaine 1% mixture.", "1%", None),
        # a share of something else before the drug is none
        ("In 50% of cases heparin 5000 units was given.", "5000 units", None),
    ],
)
def test_a_concentration_before_the_drug(
    nlp: Any, sentence: str, strength: str, dose: str | None
) -> None:
    [m] = [m for m in run(nlp, sentence) if m.label == "MEDICATION"]
    assert (m.attributes["strength"]["text"], (m.attributes.get("dose") or {}).get("text")) == (
        strength,
        dose,
    )


@pytest.mark.parametrize(
    ("sentence", "low", "high"),
    [
        ("Warfarin 2.5-3.75 mg per day.", 2.5, 3.75),
        ("Aspirin 81\u2013325 mg daily.", 81, 325),
        ("Prednisone 5 to 10 mg daily.", 5, 10),
    ],
)
def test_a_strength_range(nlp: Any, sentence: str, low: float, high: float) -> None:
    [m] = [m for m in run(nlp, sentence) if m.label == "MEDICATION"]
    strength = m.attributes["strength"]
    assert (strength["value_low"], strength["value_high"], strength["ucum"]) == (low, high, "mg")


def test_uncoded_drugs_carry_the_hash_of_their_name(nlp: Any, nlp_alone: Any) -> None:
    """Every drug an earlier extractor found and nothing codes has the rule id med-sig: its
    ``name_key`` tells one from another, the same for the same name written the same way."""
    from schemas.ids import name_key

    text = "Fluticasone-salmeterol 250/50 1 puff inhaled BID. Ipratropium-albuterol nebs q6h."
    first, second = [m for m in run(nlp, text) if m.label == "MEDICATION"]
    assert (first.text, second.text) == ("Fluticasone-salmeterol", "Ipratropium-albuterol")
    assert not first.codings and not second.codings
    assert first.provenance.rule_id == second.provenance.rule_id == "med-sig"
    assert first.attributes["name_key"] == name_key("MEDICATION", "Fluticasone-salmeterol")
    assert second.attributes["name_key"] == name_key("MEDICATION", "Ipratropium-albuterol")
    assert first.attributes["name_key"] != second.attributes["name_key"]
    # the same drug in another note, written the same way (up to case): the same key
    again_text = "Continue fluticasone-salmeterol BID."
    [again] = [m for m in run(nlp, again_text) if m.label == "MEDICATION"]
    assert again.attributes["name_key"] == first.attributes["name_key"]
    # a coded drug has its code, a curated uncoded drug its own rule: no name key
    coded = [m for m in run(nlp, "Metformin 500 mg daily.") if m.label == "MEDICATION"]
    assert coded and coded[0].codings and "name_key" not in coded[0].attributes
    [curated] = [m for m in run(nlp_alone, "Docusate 100 mg BID.") if m.label == "MEDICATION"]
    assert not curated.codings and curated.provenance.rule_id == "med-drug-docusate"
    assert "name_key" not in curated.attributes

"""Dictionary extractor: table tests on the full dictionary, BYO sources, abbreviations."""

import json
import time
from pathlib import Path

import pytest

from extractors.dictionary import DictionaryExtractor, make_dictionary_matcher
from extractors.nlp import NlpSettings, build_nlp, extract
from extractors.terminology import systems
from schemas.model import Note

DATA = Path(__file__).resolve().parents[1] / "data" / "terminology"
SCT, ICD, RX, HPO = systems.SNOMED, systems.ICD10CM, systems.RXNORM, systems.HPO


@pytest.fixture(scope="session")
def full_nlp(tmp_path_factory):
    """The real pipeline with the full open dictionary, built once into a fresh cache."""
    cache = tmp_path_factory.mktemp("dictionary-cache")
    t0 = time.perf_counter()
    nlp = build_nlp(
        NlpSettings(extractors=("dictionary",), options={"dictionary": {"cache_dir": str(cache)}})
    )
    matcher = nlp.get_pipe("ns_dictionary")
    assert matcher.meta["built_now"], "first use must compile the dictionary"
    assert time.perf_counter() - t0 < 240
    return nlp


@pytest.fixture(scope="module")
def small_nlp(tmp_path_factory):
    """Curated tables plus the synthetic BYO files (fast)."""
    cache = tmp_path_factory.mktemp("small-cache")
    options = {
        "cache_dir": str(cache),
        "open_sources": ["curated"],
        "sources": [
            {"kind": "umls", "path": str(DATA / "umls")},
            {"kind": "snomed_rf2", "path": str(DATA / "snomed")},
            {"kind": "fhir", "path": str(DATA / "fhir" / "ValueSet-test.json")},
        ],
    }
    return build_nlp(NlpSettings(options={"dictionary": options}))


def spans(nlp, text: str) -> list[tuple[str, str, set[tuple[str, str]], str]]:
    doc = nlp(text)
    return [
        (s.text, s.label_, {(c["system"], c["code"]) for c in s._.codes}, s._.rule_id)
        for s in doc.spans["mentions"]
    ]


# (sentence, expected (text, label, a code it must carry or None)), unexpected texts
TABLE = [
    (
        "Pt with HTN, T2DM and CAD presents with CP and SOB.",
        [
            ("HTN", "PROBLEM", (SCT, "38341003")),
            ("T2DM", "PROBLEM", (SCT, "44054006")),
            ("CAD", "PROBLEM", (ICD, "I25.10")),
            ("CP", "PROBLEM", (SCT, "29857009")),
            ("SOB", "PROBLEM", (SCT, "267036007")),
        ],
        [],
    ),
    (
        "History of COPD and CHF; AFib on warfarin and metoprolol.",
        [
            ("COPD", "PROBLEM", (SCT, "13645005")),
            ("CHF", "PROBLEM", (SCT, "42343007")),
            ("AFib", "PROBLEM", (SCT, "49436004")),
            ("warfarin", "MEDICATION", (RX, "11289")),
            ("metoprolol", "MEDICATION", (RX, "6918")),
        ],
        [],
    ),
    (
        "Chest x-ray showed community-acquired pneumonia; started on Lasix.",
        [
            ("Chest x-ray", "PROCEDURE", (SCT, "399208008")),
            ("community-acquired pneumonia", "PROBLEM", (SCT, "385093006")),
            ("Lasix", "MEDICATION", (RX, "4603")),
        ],
        [],
    ),
    (
        "She underwent a laparoscopic cholecystectomy for gallstones.",
        [
            ("laparoscopic cholecystectomy", "PROCEDURE", (SCT, "45595009")),
            ("gallstones", "PROBLEM", (ICD, "K80.20")),
        ],
        [],
    ),
    (  # ICD-10-CM title with its "unspecified" tail stripped; plural of an HPO term
        "Findings consistent with iron deficiency anemia and gastric ulcers.",
        [
            ("iron deficiency anemia", "PROBLEM", (SCT, "87522002")),
            ("gastric ulcers", "PROBLEM", None),
        ],
        [],
    ),
    (  # ambiguous English words never match on their own
        "All of the same leads were cold; he will fall back to the plan.",
        [],
        ["All", "same", "leads", "cold", "fall", "plan"],
    ),
    (  # lower-case "cp"/"ms" are not the acronyms
        "The cp and ms of the sample were noted.",
        [],
        ["cp", "ms"],
    ),
    (  # coordinated heads and hereditary qualifiers stay in one span
        "Carriers have hereditary breast and ovarian cancer.",
        [("hereditary breast and ovarian cancer", "PROBLEM", None)],
        ["ovarian cancer"],
    ),
    (
        "Screening showed G6PD deficiency.",
        [("G6PD deficiency", "PROBLEM", None)],
        [],
    ),
    (  # qualifiers of inheritance, cause and behaviour stay in the span
        "Known autosomal recessive ataxia, idiopathic epilepsy and a benign tumor.",
        [
            ("autosomal recessive ataxia", "PROBLEM", None),
            ("idiopathic epilepsy", "PROBLEM", None),
            ("benign tumor", "PROBLEM", None),
        ],
        ["ataxia", "epilepsy", "tumor"],
    ),
    (  # generic inherited-disorder phrases and standard disease abbreviations
        "An X-linked recessive disorder; the boy has DMD, his aunt PKU and FAP.",
        [
            ("X-linked recessive disorder", "PROBLEM", (SCT, "32895009")),
            ("DMD", "PROBLEM", (ICD, "G71.01")),
            ("PKU", "PROBLEM", (ICD, "E70.0")),
            ("FAP", "PROBLEM", (SCT, "72900001")),
        ],
        [],
    ),
    (  # "St." as the tokenizer keeps it when capitalised, and the typeset apostrophe
        "Takes St. John's wort; her sister takes St. John’s wort.",
        [("St. John's wort", "MEDICATION", None), ("St. John’s wort", "MEDICATION", None)],
        [],
    ),
    (  # chest radiograph findings as radiologists word them (CheXpert's mention lexicon)
        "Low lung volumes. Elevated right hemidiaphragm. Reticular markings at the bases, "
        "Kerley B lines and vascular engorgement. The mediastinum is widened.",
        [
            ("Low lung volumes", "PROBLEM", None),
            ("Elevated right hemidiaphragm", "PROBLEM", None),
            ("Reticular markings", "PROBLEM", None),
            ("Kerley B lines", "PROBLEM", None),
            ("vascular engorgement", "PROBLEM", None),
            (
                "mediastinum is widened",
                "PROBLEM",
                ("http://human-phenotype-ontology.org", "HP:0034501"),
            ),
        ],
        [],
    ),
    (  # more chest radiograph findings of CheXpert's and NegBio's lexicons; pulmonary
        # congestion coded (SNOMED CT GPS), a masslike opacity a mass, lobar collapse atelectasis
        "Pulmonary vascular redistribution. Eventration of the right hemidiaphragm. Hyperexpanded "
        "lungs with flattened diaphragms and a large bulla. Left basilar collapse. A masslike "
        "opacity at the right base. The descending thoracic aorta is tortuous.",
        [
            ("Pulmonary vascular redistribution", "PROBLEM", (SCT, "67599009")),
            ("Eventration of the right hemidiaphragm", "PROBLEM", None),
            ("flattened diaphragms", "PROBLEM", None),
            ("large bulla", "PROBLEM", None),
            ("basilar collapse", "PROBLEM", (SCT, "46621007")),
            ("masslike opacity", "PROBLEM", None),
            ("descending thoracic aorta is tortuous", "PROBLEM", None),
        ],
        [],
    ),
    (  # opacification of the lung as CheXpert's 'opaci' reads it; contrast filling is none
        "Hazy opacification of the right hemithorax. Nodular opacification in the left upper lobe. "
        "Hyperlucent lungs. Good opacification of the coronary arteries.",
        [
            ("opacification of the right hemithorax", "PROBLEM", None),
            ("Nodular opacification", "PROBLEM", None),
            ("Hyperlucent lungs", "PROBLEM", None),
        ],
        ["opacification", "opacification of the coronary arteries"],
    ),
    (  # atelectatic densities are atelectasis; the costophrenic angle stated blunted
        "Atelectatic opacities at the bases. Right hilar fullness. The left costophrenic angle is "
        "mildly blunted; the right costophrenic angle is not blunted and the sulci are sharp.",
        [
            ("Atelectatic opacities", "PROBLEM", (SCT, "46621007")),
            ("hilar fullness", "PROBLEM", None),
            ("left costophrenic angle is mildly blunted", "PROBLEM", None),
        ],
        ["right costophrenic angle is not blunted"],
    ),
    (  # the aorta not said to be tortuous; a pneumoperitoneum a surgeon creates is no finding
        "The aorta is not tortuous. Pneumoperitoneum was established with CO2.",
        [],
        ["aorta is not tortuous", "Pneumoperitoneum"],
    ),
    (  # a negation between the organ and the state is left to no rule
        "The mediastinum is not widened.",
        [],
        ["mediastinum is not widened"],
    ),
    (  # conduction findings of an ECG, with their degree
        "ECG: first-degree AV block and QT prolongation; later second degree heart block.",
        [
            ("first-degree AV block", "PROBLEM", (ICD, "I44.0")),
            ("QT prolongation", "PROBLEM", (SCT, "111975006")),
            ("second degree heart block", "PROBLEM", (ICD, "I44.1")),
        ],
        ["AV block"],
    ),
    (  # imaging findings no open source names as a phrase
        "Blunting of the right costophrenic angle, a tortuous aorta and degenerative changes; "
        "MRI: disc herniation at L4-5 and white matter changes.",
        [
            ("Blunting of the right costophrenic angle", "PROBLEM", None),
            ("tortuous aorta", "PROBLEM", None),
            ("degenerative changes", "PROBLEM", None),
            ("disc herniation", "PROBLEM", (SCT, "84857004")),
            ("white matter changes", "PROBLEM", None),
        ],
        [],
    ),
    (  # a bare "injection" is the drug's dose form, not a procedure
        "Paclitaxel 6 mg injection given; a joint injection is planned.",
        [("joint injection", "PROCEDURE", None)],
        ["injection"],
    ),
    (
        "Depression screening using patient health questionnaire two-item score; urine culture.",
        [
            (
                "Depression screening using patient health questionnaire two-item score",
                "PROCEDURE",
                None,
            ),
            ("urine culture", "PROCEDURE", None),
        ],
        [],
    ),
]


@pytest.mark.parametrize(("text", "expected", "absent"), TABLE)
def test_full_dictionary_table(full_nlp, text, expected, absent) -> None:
    got = spans(full_nlp, text)
    by_text = {g[0]: g for g in got}
    for span_text, label, code in expected:
        assert span_text in by_text, (span_text, got)
        assert by_text[span_text][1] == label
        if code:
            assert code in by_text[span_text][2], (span_text, by_text[span_text][2])
    for span_text in absent:
        assert span_text not in by_text, got
    for g in got:
        assert g[3], "every span has a stable rule id"


def test_span_contract(full_nlp) -> None:
    doc = full_nlp("Denies chest pain. Takes metformin.")
    found = list(doc.spans["mentions"])
    assert {s.text for s in found} == {"chest pain", "metformin"}
    for s in found:
        assert s._.extractor == "dictionary"
        assert s._.extractor_version == DictionaryExtractor.version
        assert s._.attributes == {}
        assert all(set(c) == {"system", "code", "display"} for c in s._.codes)
    assert next(s for s in found if s.text == "chest pain")._.is_negated


def test_extract_to_mentions(full_nlp) -> None:
    note = Note(note_id="n1", text="Assessment: pneumonia. Plan: amoxicillin.")
    [(_, mentions)] = list(extract(full_nlp, [(note, ())]))
    assert [(m.text, m.label) for m in mentions] == [
        ("pneumonia", "PROBLEM"),
        ("amoxicillin", "MEDICATION"),
    ]
    assert mentions[0].provenance.rule_id == "curated:pneumonia"
    assert any(c.system == SCT and c.code == "233604007" for c in mentions[0].codings)


def test_abbreviation_takes_long_form_concept(full_nlp) -> None:
    text = "She has retinal vein occlusion (RVO). The RVO was treated."
    got = spans(full_nlp, text)
    rvo = [g for g in got if g[0] == "RVO"]
    long = next(g for g in got if g[0] == "retinal vein occlusion")
    assert len(rvo) == 2 and all(g[3] == long[3] and g[2] == long[2] for g in rvo)


def test_abbreviation_defined_otherwise_drops_dictionary_meaning(full_nlp) -> None:
    # "CP" is chest pain in the dictionary, but this note defines it as something unknown.
    text = "Children with cerebral palsy variant xq (CP) were seen. CP was mild."
    assert not [g for g in spans(full_nlp, text) if g[0] == "CP"]


@pytest.mark.parametrize(
    ("text", "term", "absent"),
    [
        # hard-wrapped prose: a term broken by a line break is one term, and its
        # abbreviation defined right after it keeps the concept
        ("67-year-old man with hypertension and chronic\nkidney disease (CKD) who has",
         "chronic\nkidney disease", ()),
        ("He denies fever or shortness of\nbreath today.", "shortness of\nbreath", ()),
        # a blank line, or a line that starts a list item or a header, still separates
        ("History: chronic\n\nkidney disease was not found.", None, ("chronic\n\nkidney",)),
        ("Problems:\n1. Shortness of\n2. Breath sounds were clear.", None,
         ("Shortness of\n2. Breath",)),
    ],
)  # fmt: skip
def test_terms_across_a_hard_wrap(full_nlp, text, term, absent) -> None:
    got = spans(full_nlp, text)
    texts = [g[0] for g in got]
    if term is not None:
        assert term in texts, got
    for bad in absent:
        assert not any(bad in t for t in texts), got


@pytest.mark.parametrize("quote", ["\u2019", "'"])
def test_typographic_apostrophes_match_the_ascii_term(full_nlp, quote) -> None:
    text = f"Known Hashimoto{quote}s thyroiditis and Crohn{quote}s disease."
    got = {g[0]: g for g in spans(full_nlp, text)}
    assert f"Hashimoto{quote}s thyroiditis" in got and f"Crohn{quote}s disease" in got, got
    assert (
        got[f"Hashimoto{quote}s thyroiditis"][3]
        == spans(full_nlp, "Known Hashimoto's thyroiditis.")[0][3]
    )


@pytest.mark.parametrize(
    ("text", "term", "rule"),
    [
        ("History of thyroid disease.", "thyroid disease", "curated:organ-thyroid"),
        ("Known psychiatric illness.", "psychiatric illness", "curated:organ-mental"),
        ("Mild renal dysfunction.", "renal dysfunction", "curated:organ-kidney-impairment"),
        ("No GI problems.", "GI problems", "curated:organ-digestive"),
        ("Known valvular heart disease.", "valvular heart disease", "curated:organ-heart-valve"),
        ("Denies gall bladder problems.", "gall bladder problems", "curated:organ-gallbladder"),
        ("He reports bladder problems.", "bladder problems", "curated:organ-bladder"),
        # the system's function stated as impaired
        (
            "Decreased renal function was found.",
            "Decreased renal function",
            "curated:organ-kidney-impairment",
        ),
        ("Impaired hepatic function.", "Impaired hepatic function", "curated:organ-liver"),
        ("Liver function impairment.", "Liver function impairment", "curated:organ-liver"),
        (
            "Abnormalities in cardiac function.",
            "Abnormalities in cardiac function",
            "curated:organ-heart",
        ),
    ],
)
def test_disorders_named_by_a_body_system(full_nlp, text, term, rule) -> None:
    got = {g[0]: g[3] for g in spans(full_nlp, text)}
    assert got.get(term) == rule, got


@pytest.mark.parametrize(
    "text",
    [
        "Normal renal function.",
        "Preserved hepatic function.",
        # the kidney's collecting system is anatomy (HPO's "Collecting" is hoarding)
        "Contrast filled the renal collecting system.",
    ],
)
def test_a_normal_function_or_a_structure_is_no_problem(full_nlp, text) -> None:
    assert not [g for g in spans(full_nlp, text) if g[1] == "PROBLEM"]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Infectious Disease consult was obtained.", []),
        ("Depression screening was negative.", []),
        ("Asthma medication review was done.", []),
        ("Her Glasgow Coma Scale was 14.", []),
        ("The Beck Depression Inventory score was 9.", []),
        ("An AMPLATZER PFO Occluder was deployed.", []),
        ("VTE prophylaxis: enoxaparin daily.", []),
        ("Heparin infusion per ACS protocol.", []),
        ("DVT prophylaxis with SCDs; prior DVT in 2019.", ["DVT"]),
        # the problem itself, and a problem before other words, stay
        ("He has asthma and takes his asthma medication daily.", ["asthma", "asthma"]),
        ("Depression was screened for.", ["Depression"]),
    ],
)
def test_a_service_or_activity_named_after_a_problem_is_no_problem(full_nlp, text, kept) -> None:
    assert [g[0] for g in spans(full_nlp, text) if g[1] == "PROBLEM"] == kept


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        # what a test looks for or a vaccine protects against is no problem of the patient
        ("Hepatitis B and C serology were negative.", []),
        ("HIV testing was unremarkable.", []),
        ("We checked HIV\ntesting again.", []),
        ("VDRL and HIV and HTLV testing were negative.", []),
        ("Influenza vaccination was given today.", []),
        ("Tumor markers were normal.", []),
        ("Lupus serology is pending.", []),
        # a test that found it, a test's result named as a finding, and other words stay
        ("She tested positive for COVID-19.", ["COVID-19"]),
        ("The mononucleosis screen is positive.", ["mononucleosis"]),
        ("Chest x-ray shows atelectasis, and RSV antigen is positive.", ["atelectasis"]),
        ("Coronary artery disease status post CABG.", ["Coronary artery disease"]),
        ("Coronary artery disease status\npost CABG.", ["Coronary artery disease"]),
        ("The impact of his HIV status is substantial.", ["HIV"]),
    ],
)
def test_a_test_or_vaccine_named_after_a_problem_is_no_problem(full_nlp, text, kept) -> None:
    assert [g[0] for g in spans(full_nlp, text) if g[1] == "PROBLEM"] == kept


@pytest.mark.parametrize(
    ("text", "name"),
    [
        # a finding named "decreased X" by a source, written with another word for less
        ("He had reduced urine output.", "reduced urine output"),
        ("She reports poor visual acuity.", "poor visual acuity"),
        ("She has diminished appetite.", "diminished appetite"),
        ("He was found with decreased consciousness.", "decreased consciousness"),
    ],
)
def test_words_for_less_name_one_another(full_nlp, text, name) -> None:
    assert [g[0] for g in spans(full_nlp, text) if g[1] == "PROBLEM"] == [name]


@pytest.mark.parametrize(
    "text",
    [
        # less pain is no finding; a drug's or a specimen's measure is none
        "There was a low concentration of the drug in milk.",
        "The products were of reduced size.",
    ],
)
def test_words_for_less_make_no_new_findings(full_nlp, text) -> None:
    assert [g[0] for g in spans(full_nlp, text) if g[1] == "PROBLEM"] == []


@pytest.mark.parametrize(
    ("text", "name", "code"),
    [
        # the adjective of a sign the sources name as a noun
        ("The pharynx was erythematous.", "erythematous", (HPO, "HP:0010783")),
        ("The inferior vena cava appeared plethoric.", "plethoric", (HPO, "HP:0001050")),
        ("He looked unwell and cyanosed.", "cyanosed", (SCT, "3415004")),
        # pallor stated of the patient or of the skin
        ("On examination he looked pale.", "pale", (SCT, "398979000")),
        ("The patient appears mildly pale and fatigued.", "pale", (SCT, "398979000")),
        ("His conjunctivae are pale.", "pale", (SCT, "398979000")),
        ("EYES: Slightly pale conjunctivae.", "pale", (HPO, "HP:0000980")),
        # the state of the part a finding affects
        ("The aortic valve is heavily calcified.", "calcified", None),
        ("The proximal RCA was 95% stenosed.", "stenosed", None),
    ],
)
def test_signs_written_as_adjectives(full_nlp, text, name, code) -> None:
    got = [g for g in spans(full_nlp, text) if g[1] == "PROBLEM" and g[0] == name]
    assert got and (code is None or code in got[0][2]), spans(full_nlp, text)


@pytest.mark.parametrize(
    "text",
    [
        # a colour, an organ or a stool that is pale is no pallor
        "Pale yellow urine was noted.",
        "The liver appears pale but not fatty.",
        "A contusion which is pale purple in color.",
        "She reports pale stools.",
        "The skin was pale-pink.",
    ],
)
def test_pale_that_is_no_pallor(full_nlp, text) -> None:
    assert "pale" not in [g[0].lower() for g in spans(full_nlp, text)]


@pytest.mark.parametrize(
    "text",
    [
        # what a surgeon does is no finding
        "The serous fluid was aspirated from the middle ear.",
        "The dura was perforated with a spinal needle.",
        "The eustachian tube was obstructed with bone wax.",
        "The skin was infiltrated with lidocaine.",
    ],
)
def test_participles_of_acts_are_no_findings(full_nlp, text) -> None:
    assert [g[0] for g in spans(full_nlp, text) if g[1] == "PROBLEM"] == []


def test_abbreviation_of_a_term_that_ends_with_its_long_form(full_nlp) -> None:
    # scispaCy's long form is "adrenoleukodystrophy"; the term is "X-linked ..."
    text = "X-linked adrenoleukodystrophy (ALD) is rare. ALD was confirmed."
    got = spans(full_nlp, text)
    long = next(g for g in got if g[0] == "X-linked adrenoleukodystrophy")
    ald = [g for g in got if g[0] == "ALD"]
    assert len(ald) == 2 and all(g[3] == long[3] for g in ald), got


@pytest.mark.parametrize(
    ("closed", "hyphenated"),
    [
        ("She had preeclampsia.", "She had pre-eclampsia."),
        # a hyphen the term does not have: closed up, or read as a space
        ("She has schizoaffective disorder.", "She has schizo-affective disorder."),
        ("ECG showed ST segment elevation.", "ECG showed ST-segment elevation."),
        ("He had a T cell lymphoma.", "He had a T-cell lymphoma."),
        ("He had end stage liver disease.", "He had end-stage liver disease."),
        ("Treated for Q fever endocarditis.", "Treated for Q-fever endocarditis."),
    ],
)
def test_a_prefix_hyphen_may_be_closed_up(full_nlp, closed, hyphenated) -> None:
    got, want = spans(full_nlp, closed), spans(full_nlp, hyphenated)
    assert got and [(g[1], g[3]) for g in got] == [(w[1], w[3]) for w in want], (got, want)
    # the span is the words as written, hyphens included
    assert all(w[0] in hyphenated for w in want)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("She had Sjögren's syndrome.", "Sjögren's syndrome"),
        ("She had Sjögren syndrome.", "Sjögren syndrome"),
        ("The boy had Henoch-Schönlein purpura.", "Henoch-Schönlein purpura"),
        ("The boy had Henoch-Schonlein purpura.", "Henoch-Schonlein purpura"),
        ("He had Behçet disease.", "Behçet disease"),
    ],
)
def test_letters_with_accents_match_without_them(full_nlp, text, name) -> None:
    # the terminologies write some names with accents and some without; the text stays as
    # written
    assert [(g[0], g[1]) for g in spans(full_nlp, text)] == [(name, "PROBLEM")]


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        # part of a hyphenated word is no term: "hodgkin lymphoma" inside "non-Hodgkin"
        ("He has non-Hodgkin lymphoma.", "Hodgkin lymphoma"),
        # letters spelled one by one are not read as words
        ("A T-L-S spine MRI was done.", "T-L-S"),
    ],
)
def test_hyphen_readings_keep_whole_words(full_nlp, text, absent) -> None:
    got = spans(full_nlp, text)
    assert absent not in [g[0] for g in got], got
    if "non-Hodgkin" in text:
        assert [g[0] for g in got if g[1] == "PROBLEM"] == ["non-Hodgkin lymphoma"], got


def test_short_form_of_a_name_with_its_subtype(full_nlp) -> None:
    text = "She has Gaucher disease type 1 (GD1). GD1 was confirmed."
    got = spans(full_nlp, text)
    long = next(g for g in got if g[0].startswith("Gaucher disease"))
    short = [g for g in got if g[0] == "GD1"]
    assert long[0] == "Gaucher disease type 1" and len(short) == 2, got
    assert all(g[3] == long[3] for g in short), got


@pytest.mark.parametrize(
    ("text", "name", "snomed"),
    [
        # findings written as a verb or an adjective after "was"
        ("He vomited twice.", "vomited", "422400008"),
        ("She fainted at home.", "fainted", "271594007"),
        ("He coughed up blood.", "coughed up blood", "66857006"),
        ("He was short of breath on exertion.", "short of breath", "267036007"),
        ("The abdomen was tender.", "tender", "247348008"),
        ("She was confused on arrival.", "confused", "286933003"),
    ],
)
def test_findings_written_as_verbs_and_adjectives(full_nlp, text, name, snomed) -> None:
    got = [g for g in spans(full_nlp, text) if g[1] == "PROBLEM"]
    assert [g[0] for g in got] == [name], got
    assert (systems.SNOMED, snomed) in got[0][2], got


@pytest.mark.parametrize(
    ("term", "variant"),
    [
        # the heads of a finding named by a function stand for one another
        ("She has memory impairment.", "She has memory deficits."),
        ("He has hearing impairment.", "He has a hearing deficit."),
        ("She had sleep disturbances.", "She had sleep difficulties."),
    ],
)
def test_function_heads_name_one_another(full_nlp, term, variant) -> None:
    want, got = spans(full_nlp, term), spans(full_nlp, variant)
    assert want and [(g[1], g[3]) for g in got] == [(w[1], w[3]) for w in want], (got, want)


def test_a_function_head_alone_is_no_problem(full_nlp) -> None:
    assert spans(full_nlp, "He had no problems and no difficulty.") == []
    # "attention deficit" names ADHD; "attention problems" does not
    assert spans(full_nlp, "She has attention problems at school.") == []


@pytest.mark.parametrize(
    ("written", "tokenised"),
    [
        # tokenised text (PubMed corpora, some exports) puts spaces around every hyphen
        ("X-linked adrenoleukodystrophy was found.", "X - linked adrenoleukodystrophy was found."),
        ("He had end-stage liver disease.", "He had end - stage liver disease."),
        ("Ten A-T patients were seen.", "Ten A - T patients were seen."),
        ("She has schizo-affective disorder.", "She has schizo - affective disorder."),
        # with a hyphenated word after it (the readings are made in token order)
        (
            "X-linked adrenoleukodystrophy seen at follow-up.",
            "X - linked adrenoleukodystrophy seen at follow-up.",
        ),
    ],
)
def test_spaced_hyphens_read_as_the_hyphenated_word(full_nlp, written, tokenised) -> None:
    got, want = spans(full_nlp, tokenised), spans(full_nlp, written)
    assert want and [(g[1], g[3]) for g in got] == [(w[1], w[3]) for w in want], (got, want)
    # the span is the words as written, spaced hyphens included
    assert [g[0].replace(" - ", "-") for g in got] == [w[0] for w in want]


def test_short_form_with_a_spaced_hyphen_is_defined(full_nlp) -> None:
    text = "Families with ataxia - telangiectasia ( A - T ) were studied. Ten A - T patients died."
    got = spans(full_nlp, text)
    long = next(g for g in got if g[0] == "ataxia - telangiectasia")
    short = [g for g in got if g[0] == "A - T"]
    assert len(short) == 2 and all(g[3] == long[3] for g in short), got


@pytest.mark.parametrize(
    "text",
    [
        "Dose 5 - 10 mg was given.",  # a number range
        "A T - L - S spine MRI was done.",  # letters spelled one by one
        "Hypertension - stable on current regimen.",  # a dash between words of prose
    ],
)
def test_spaced_hyphens_make_no_new_words(full_nlp, text) -> None:
    got = spans(full_nlp, text)
    assert all(" - " not in g[0] for g in got), got


@pytest.mark.parametrize(
    ("british", "american"),
    [
        ("Known ischaemic heart disease.", "Known ischemic heart disease."),
        ("A subarachnoid haemorrhage was seen.", "A subarachnoid hemorrhage was seen."),
        ("She had acute myeloid leukaemia.", "She had acute myeloid leukemia."),
        ("Severe oesophagitis on endoscopy.", "Severe esophagitis on endoscopy."),
        ("A carcinoid tumour of the lung.", "A carcinoid tumor of the lung."),
        ("Adrenal phaeochromocytoma.", "Adrenal pheochromocytoma."),
        ("Paraesthesia of both feet.", "Paresthesia of both feet."),
        ("Secondary amenorrhoea.", "Secondary amenorrhea."),
        ("Mild leucopenia.", "Mild leukopenia."),
        ("A naevus on the back.", "A nevus on the back."),
    ],
)
def test_british_spellings_match_as_american_ones(full_nlp, british, american) -> None:
    got, want = spans(full_nlp, british), spans(full_nlp, american)
    assert [(g[1], g[3]) for g in got] == [(w[1], w[3]) for w in want], (got, want)
    assert got and all(g[0] in british for g in got)  # the text stays as written


def test_a_spelling_rule_inside_an_american_word_loses_no_match(full_nlp) -> None:
    # "oedem" (British "oedema") also stands inside the American "angioedema"
    got = spans(full_nlp, "The patient developed angioedema after lisinopril.")
    assert [g[0] for g in got if g[1] == "PROBLEM"] == ["angioedema"], got


def test_spelling_rules_leave_other_words_alone() -> None:
    from extractors.terminology.compiled import _SPELLINGS

    for word in ("exercise", "shoe", "hour", "four", "toe", "advise", "acre", "pemetrexed"):
        assert _SPELLINGS.american(word) == word
    assert _SPELLINGS.american("haematoma") == "hematoma"
    assert _SPELLINGS.american("hospitalisation") == "hospitalization"
    assert _SPELLINGS.american("gonorrhoea") == "gonorrhea"
    assert _SPELLINGS.american("aetiology") == "etiology"
    assert _SPELLINGS.american("leucine") == "leucine"  # an amino acid: only "leucocyt-" etc.
    assert _SPELLINGS.american("centimetres") == "centimeters"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("She is currently pregnant.", [("currently pregnant", "curated:pregnancy")]),
        ("Women who are breastfeeding are excluded.", [("breastfeeding",
                                                        "curated:breastfeeding")]),
        # "pregnancy" alone is a time; a pregnancy test is a procedure
        ("She was well during pregnancy.", []),
        ("A urine pregnancy test was done.", [("urine pregnancy test",
                                               "curated:pregnancy-test")]),
        ("History of pregnancy-induced hypertension.", [("pregnancy-induced hypertension",
                                                         "curated:gestational-hypertension")]),
    ],
)  # fmt: skip
def test_pregnancy_and_breastfeeding_states(full_nlp, text, found) -> None:
    assert [(g[0], g[3]) for g in spans(full_nlp, text)] == found


@pytest.mark.parametrize(
    ("text", "term", "rule"),
    [
        ("Vancomycin nephrotoxicity was suspected.", "nephrotoxicity", "curated:nephrotoxicity"),
        ("Signs of lithium toxicity.", "toxicity", "curated:drug-toxicity"),
        ("Persistent hiccups for two days.", "hiccups", "curated:hiccups"),
        ("The rhythm degenerated into asystole.", "asystole", "curated:asystole"),
        # the adjective of a disease names the disease ("a hypertensive woman")
        ("A hypertensive, diabetic woman.", "hypertensive", "curated:hypertension"),
        ("A hypertensive, diabetic woman.", "diabetic", "curated:diabetes-mellitus"),
        ("He was diaphoretic and tachypneic.", "diaphoretic", "curated:diaphoresis"),
        ("He was diaphoretic and tachypneic.", "tachypneic", "curated:tachypnea"),
        ("The sclerae are icteric.", "icteric", "curated:jaundice"),
    ],
)
def test_curated_findings_drug_toxicity_and_disease_adjectives(full_nlp, text, term, rule) -> None:
    assert (term, rule) in [(g[0], g[3]) for g in spans(full_nlp, text)]


def test_wrapped_term_defines_its_abbreviation(full_nlp) -> None:
    text = "Known chronic\nkidney disease (CKD). The CKD is stable."
    got = spans(full_nlp, text)
    ckd = [g for g in got if g[0] == "CKD"]
    long = next(g for g in got if g[0] == "chronic\nkidney disease")
    assert len(ckd) == 2 and all(g[3] == long[3] for g in ckd), got


def test_byo_sources_match_and_code(small_nlp) -> None:
    got = {
        g[0]: g
        for g in spans(
            small_nlp, "Zorblax disease treated with Florbix after a zorblectomy; quixitis too."
        )
    }
    assert got["Zorblax disease"][1] == "PROBLEM"
    assert (SCT, "900000001") in got["Zorblax disease"][2]
    assert got["Florbix"][1] == "MEDICATION" and (RX, "9000003") in got["Florbix"][2]
    assert got["zorblectomy"][1] == "PROCEDURE"
    assert got["quixitis"][2] == {(SCT, "900000011")}


def test_abbreviation_of_byo_concept(small_nlp) -> None:
    got = spans(small_nlp, "Known wobblefoot syndrome (WFS). WFS is stable.")
    wfs = [g for g in got if g[0] == "WFS"]
    assert len(wfs) == 2 and all((SCT, "900000021") in g[2] for g in wfs)


def test_options_are_checked(small_nlp) -> None:
    with pytest.raises(ValueError, match="unknown dictionary option"):
        DictionaryExtractor().add_pipes(small_nlp, {"cache": "/tmp"})
    with pytest.raises(ValueError, match="labels"):
        make_dictionary_matcher(small_nlp, "x", None, [], ["curated"], ["LAB"], True)


# -- morphologic head nouns and phrases that name no finding --------------------------------
MORPHOLOGY = [
    ("A 3 cm mass was found in the liver.", ["mass"]),
    ("CT showed multiple lesions and a thrombus in the portal vein.", ["lesions", "thrombus"]),
    ("Biopsy showed necrosis and calcifications.", ["necrosis", "calcifications"]),
    # a measure that contains a finding word is no finding
    ("Body mass index was 31.", []),
    ("Muscle mass was preserved; left ventricular mass was normal.", []),
    ("Pupil dilation was performed for the exam.", []),
    ("Apnea/hypopnea index was 35; AHI 20.", []),  # a measurement, not the finding
]


@pytest.mark.parametrize(("sentence", "problems"), MORPHOLOGY)
def test_morphologic_findings_and_blocked_phrases(full_nlp, sentence, problems) -> None:
    from extractors.nlp import extract
    from schemas.model import Note

    [(_, mentions)] = list(extract(full_nlp, [(Note(note_id="t", text=sentence), ())]))
    assert [m.text for m in mentions if m.label == "PROBLEM"] == problems


CHEST_FINDINGS = [
    ("Borderline cardiomegaly.", "cardiomegaly", False),  # a grade, not a hedge
    ("Heart size mildly enlarged for technique.", "Heart size mildly enlarged", False),
    ("Mildly enlarged heart.", "Mildly enlarged heart", False),
    ("The heart is not enlarged.", None, False),
    ("Borderline heart size.", "Borderline heart size", False),
    ("The heart is borderline in size.", "heart is borderline in size", False),
    ("The heart size is persistently enlarged.", "heart size is persistently enlarged", False),
    ("Stable mild heart enlargement.", "heart enlargement", False),
    ("Vascular congestion without overt pulmonary edema.", "Vascular congestion", False),
    ("Pulmonary vascular indistinctness.", "Pulmonary vascular indistinctness", False),
]


@pytest.mark.parametrize(("sentence", "first", "uncertain"), CHEST_FINDINGS)
def test_chest_findings(full_nlp, sentence, first, uncertain) -> None:
    from extractors.nlp import build_nlp, extract
    from schemas.model import Note

    nlp = build_nlp()  # with assertion
    [(_, mentions)] = list(extract(nlp, [(Note(note_id="t", text=sentence), ())]))
    problems = [m for m in mentions if m.label == "PROBLEM"]
    if first is None:
        assert all(m.assertion.is_negated for m in problems) or not problems
        return
    assert problems[0].text == first
    assert problems[0].assertion.is_uncertain is uncertain
    # congestion is no pulmonary edema code
    assert all(c.code != "19242006" for c in problems[0].codings)


# (sentence, the PROBLEM texts in order, the SNOMED CT code every one of them carries or None)
RADIOLOGY_MORPHOLOGY = [
    # a lung or lobe that collapsed is atelectasis; a person who collapsed is not
    ("Complete collapse of the left lung.", ["Complete collapse of the left lung"], "46621007"),
    ("Right middle lobe collapse, unchanged.", ["Right middle lobe collapse"], "46621007"),
    (
        "In the collapsed left upper lobe there is stranding.",
        ["collapsed left upper lobe"],
        "46621007",
    ),
    ("He collapsed at home.", [], None),
    # the fissures and the apical cap are pleura
    ("Mild thickening in the fissure.", ["thickening in the fissure"], "73725006"),
    ("Interlobar fissural thickening.", ["fissural thickening"], "73725006"),
    ("Minimal apical capping.", ["apical capping"], "73725006"),
    ("Thickened pleura at the left apex.", ["Thickened pleura"], "73725006"),
    # radiologists' adjectives and plurals of the findings
    ("Bibasilar atelectases.", ["atelectases"], "46621007"),
    ("Consolidative opacity in the right lower lobe.", ["Consolidative opacity"], "95436008"),
    ("Infiltrative changes at the bases.", ["Infiltrative changes"], "409609008"),
    ("Chronic emphysematous lung disease.", ["emphysematous lung disease"], "87433001"),
    ("Emphysematous lungs.", ["Emphysematous lungs"], "87433001"),
    # ... not the soft tissue finding, which keeps its own name
    ("Subcutaneous emphysema in the neck.", ["Subcutaneous emphysema"], None),
]


@pytest.mark.parametrize(("sentence", "problems", "code"), RADIOLOGY_MORPHOLOGY)
def test_radiology_morphology(full_nlp, sentence, problems, code) -> None:
    from extractors.nlp import extract
    from schemas.model import Note

    [(_, mentions)] = list(extract(full_nlp, [(Note(note_id="t", text=sentence), ())]))
    found = [m for m in mentions if m.label == "PROBLEM"]
    assert [m.text for m in found] == problems
    if code is not None:
        assert all(any(c.code == code for c in m.codings) for m in found)
    else:
        assert all(all(c.code != "87433001" for c in m.codings) for m in found)


# "word/word" is two words: both findings are found; rates, units and short forms stay whole
SLASHES = [
    ("Left basilar scarring/atelectasis.", ["scarring", "atelectasis"]),
    ("Bibasilar atelectasis/airspace disease.", ["Bibasilar atelectasis", "airspace disease"]),
    ("PMH: HTN/HLD.", ["HTN", "HLD"]),
    ("Cough/wheezing since Monday.", ["Cough", "wheezing"]),
]


@pytest.mark.parametrize(("sentence", "problems"), SLASHES)
def test_findings_joined_by_a_slash(full_nlp, sentence, problems) -> None:
    from extractors.nlp import extract
    from schemas.model import Note

    [(_, mentions)] = list(extract(full_nlp, [(Note(note_id="t", text=sentence), ())]))
    assert [m.text for m in mentions if m.label == "PROBLEM"] == problems


@pytest.mark.parametrize(
    "text",
    [
        "s/p",
        "w/o",
        "N/V",
        "and/or",
        "mg/kg",
        "mg/dL",
        "beats/min",
        "breaths/minute",
        "hours/day",
        "mmol/mol",
        "mcg/min",
    ],
)
def test_short_forms_and_rates_keep_their_slash(full_nlp, text) -> None:
    assert [t.text for t in full_nlp.tokenizer(text)] == [text]


# Ambiguous abbreviations (rules/dictionary/senses.json): (sentence, abbreviation, the code
# it must carry, or None when it must not be a mention; the rule id it must not have)
SENSES = [
    # CVA: costovertebral angle where tenderness, flank or percussion stand by
    ("BACK: No CVA or flank tenderness.", "CVA", (HPO, "HP:6000106"), "curated:stroke"),
    ("Abdomen soft. No CVA tenderness bilaterally.", "CVA tenderness", (HPO, "HP:6000106"), None),
    ("Right CVA tenderness to percussion.", "CVA tenderness", (HPO, "HP:6000106"), None),
    ("Tender to percussion over the left CVA.", "CVA", (HPO, "HP:6000106"), "curated:stroke"),
    ("Positive CVA punch on the right.", "CVA", (HPO, "HP:6000106"), "curated:stroke"),
    # ... and still a stroke everywhere else
    ("History of CVA with left hemiparesis.", "CVA", (SCT, "230690007"), None),
    ("She had a CVA in 2015.", "CVA", (SCT, "230690007"), None),
    ("Status post CVA, on aspirin.", "CVA", (SCT, "230690007"), None),
    ("No tenderness. Prior CVA in 2015.", "CVA", (SCT, "230690007"), None),  # another sentence
    ("Flank tender.\nCVA in 2015.", "CVA", (SCT, "230690007"), None),  # another line
    # RA: room air, right atrium, or rheumatoid arthritis
    ("Saturating 95% on RA.", "RA", None, None),
    ("SpO2 93% RA.", "RA", None, None),
    ("The RA is dilated.", "RA", None, None),
    ("Echo: enlarged RA and RV.", "RA", None, None),
    ("History of RA on methotrexate.", "RA", (SCT, "69896004"), None),
    ("Hands show deformities typical of RA.", "RA", (SCT, "69896004"), None),
    # issue 15: short forms whose other sense is a test, a gene, a service or a procedure
    ("Brought in by ALS ambulance.", "ALS", None, None),
    ("Dense PSC cataract OU.", "PSC", (HPO, "HP:0007787"), "curated:psc"),
    ("PSC on MRCP, ulcerative colitis.", "PSC", (SCT, "197441003"), None),
    ("She underwent BCS for breast cancer.", "BCS", None, None),
    ("Conducted per ICH GCP guidelines.", "ICH", None, None),
    ("Large ICH on CT.", "ICH", (SCT, "274100004"), None),
    ("A 2 Mb CNV deletion on microarray.", "CNV", None, None),
    ("DIC panel sent.", "DIC", None, None),
    ("Septic shock with DIC.", "DIC", (SCT, "67406007"), None),
    ("HCV antibody positive, HCV RNA pending.", "HCV", None, None),
    ("HBV DNA undetectable.", "HBV", None, None),
    ("Pathogenic PAH gene variants.", "PAH", None, None),
    # the gene's product and the molecular biology around it
    ("Cells express PAH mRNA and immunoreactive PAH protein.", "PAH", None, None),
    ("Residual PAH activity was 5% of normal.", "PAH", None, None),
    ("Mutations of the peripherin/RDS gene.", "RDS", None, None),
    ("Preterm infant with RDS given surfactant.", "RDS", (SCT, "46775006"), None),
    # three bases beside a codon or another codon: no giant cell arteritis or aneurysm
    ("A missense mutation, GCA to GTA, in exon 2.", "GCA", None, None),
    ("It converts a glutamine (GAA) to a stop (TAA) codon.", "TAA", None, None),
    ("History of GCA on prednisone.", "GCA", (SCT, "400130008"), None),
    ("Anti-GBM antibodies were positive.", "GBM", None, None),
    ("Conditioning with TBI 12 Gy.", "TBI", None, None),
    ("Prior TBI with loss of consciousness.", "TBI", (SCT, "127295002"), None),
    ("CTS consulted for the effusion.", "CTS", None, None),
    ("CHB on tenofovir, HBV DNA undetectable.", "CHB", (SCT, "61977001"), None),
    ("CHB on ECG, pacer placed.", "CHB", (SCT, "27885002"), None),
    ("Vent: VT 450 mL, PEEP 5.", "VT", None, None),
    ("Runs of VT on telemetry.", "VT", (SCT, "25569003"), None),
    ("ACS/Guidant Sport wire.", "ACS", None, None),
    # abbreviations no source lists, read only where the words around name their sense
    ("Denies SI or HI.", "SI", (HPO, "HP:0031589"), None),
    ("Denies SI or HI.", "HI", (ICD, "R45.850"), None),
    ("He endorses passive SI without a plan.", "SI", (HPO, "HP:0031589"), None),
    ("Fell from a ladder with no LOC.", "LOC", (HPO, "HP:0007185"), None),
    ("Brief LOC after the collision.", "LOC", (HPO, "HP:0007185"), None),
    ("No SI joint tenderness.", "SI", None, None),
    ("Results are given in SI units.", "SI", None, None),
    ("LOC: alert and oriented.", "LOC", None, None),
    ("Decreased LOC on arrival.", "LOC", None, None),
    ("HI: 5 ng/mL.", "HI", None, None),
    ("Head trauma w/o LOC.", "LOC", (HPO, "HP:0007185"), None),
    ("Bilateral SI: no erosions or sclerosis.", "SI", None, None),
    ("There is no increased T2 SI in the marrow.", "SI", None, None),
    ("No active SI inflammation.", "SI", None, None),
    ("Fall from a ladder. No HI, no LOC.", "HI", None, None),
    ("With LOC of GCS 14.", "LOC", None, None),
    # valve regurgitation in echo reports, by its grade or beside another valve's
    ("Mild MR, mild TR, trace AR.", "TR", (HPO, "HP:0005180"), None),
    ("Mild MR, mild TR, trace AR.", "AR", (HPO, "HP:0001659"), None),
    ("Moderate AI.", "AI", (HPO, "HP:0001659"), None),
    ("Trace PR.", "PR", (HPO, "HP:0010444"), None),
    ("PR interval 180 ms.", "PR", None, None),
    ("Mild PR prolongation.", "PR", None, None),
    ("ER/PR positive.", "PR", None, None),
    ("TR 2.5 m/s.", "TR", None, None),
    ("AR positive tumour cells.", "AR", None, None),
    ("History of AI on hydrocortisone.", "AI", None, None),
    ("Severe AI requiring stress-dose hydrocortisone.", "AI", None, None),
    ("ER, PR and AR were positive.", "AR", None, None),
    ("TR band placed.", "TR", None, None),
    # curated withdrawal syndromes, the neonate's apart
    ("Alcohol withdrawal delirium.", "Alcohol withdrawal delirium", (SCT, "8635005"), None),
    ("Neonatal opioid withdrawal syndrome.", "Neonatal opioid withdrawal syndrome",
        (ICD, "P96.1"), None),
    ("Admitted for opioid withdrawal.", "opioid withdrawal", (ICD, "F11.93"), None),
    ("Hemorrhagic stroke in 2019.", "Hemorrhagic stroke", (ICD, "I61.9"), None),
]


@pytest.mark.parametrize(("text", "target", "code", "not_rule"), SENSES)
def test_abbreviation_sense_from_context(full_nlp, text, target, code, not_rule) -> None:
    got = [g for g in spans(full_nlp, text) if g[0] == target]
    if code is None:
        assert got == [], got
        return
    assert len(got) == 1, spans(full_nlp, text)
    assert code in got[0][2], got
    assert got[0][3] != not_rule


def test_sense_cue_outweighs_a_definition_elsewhere(full_nlp) -> None:
    text = "History of cerebrovascular accident (CVA). Back: no CVA tenderness."
    got = spans(full_nlp, text)
    assert [g[3] for g in got if g[0] == "CVA"] == ["curated:stroke"]
    assert any(g[0] == "CVA tenderness" and (HPO, "HP:6000106") in g[2] for g in got)


def test_sense_without_a_concept_drops_the_abbreviation(small_nlp) -> None:
    # without HPO no source lists "costovertebral angle tenderness": no stroke either
    assert not [g for g in spans(small_nlp, "No CVA tenderness.") if g[0].startswith("CVA")]
    assert [g[3] for g in spans(small_nlp, "Prior CVA.") if g[0] == "CVA"] == ["curated:stroke"]


@pytest.mark.parametrize(
    ("sentence", "problems"),
    [
        ("He was treated for zinc deficiency.", ["zinc deficiency"]),
        (
            "CT showed a dilated common bile duct and a thickened gallbladder wall.",
            ["dilated", "thickened"],
        ),
        ("Enlarged lymph nodes were palpable.", ["Enlarged"]),
    ],
)
def test_nutrient_deficiencies_and_adjectival_findings(full_nlp, sentence, problems) -> None:
    from extractors.nlp import extract
    from schemas.model import Note

    [(_, mentions)] = list(extract(full_nlp, [(Note(note_id="t", text=sentence), ())]))
    found = [m.text for m in mentions if m.label == "PROBLEM"]
    assert all(any(p in f for f in found) for p in problems), found


@pytest.mark.parametrize(
    ("sentence", "problem"),
    [
        ("Deficiency of aspartoacylase causes the disease.", "Deficiency of aspartoacylase"),
        ("He has a complete deficiency of C9.", "deficiency of C9"),
        (
            "PKU is a deficiency of hepatic phenylalanine hydroxylase.",
            "deficiency of hepatic phenylalanine hydroxylase",
        ),
        ("Galactocerebrosidase deficiency was confirmed.", "Galactocerebrosidase deficiency"),
        ("Labs showed a deficiency of vitamin B12.", "deficiency of vitamin B12"),
        (
            "Glucose-6-phosphate dehydrogenase deficiency was known.",
            "Glucose-6-phosphate dehydrogenase deficiency",
        ),
        ("Stage II colorectal cancer was resected.", "Stage II colorectal cancer"),
    ],
)
def test_enzyme_and_factor_deficiencies_in_either_order(full_nlp, sentence, problem) -> None:
    got = spans(full_nlp, sentence)
    assert problem in [g[0] for g in got if g[1] == "PROBLEM"], got


@pytest.mark.parametrize(
    "sentence",
    [
        "There was no disease deficiency noted.",  # "-ase" words that name no enzyme
        "A deficiency of the posterior wall was repaired.",  # "deficiency of" no factor
        "The increase deficiency was small.",
    ],
)
def test_deficiency_needs_a_factor(full_nlp, sentence) -> None:
    got = spans(full_nlp, sentence)
    assert not [g for g in got if "deficiency" in g[0].lower()], got


@pytest.mark.parametrize(
    ("sentence", "problem"),
    [
        # examination signs that no bundled source names under these words
        ("Neck: supple, no thyromegaly.", "thyromegaly"),
        ("Heart: regular, without murmurs, rubs or gallops.", "gallops"),
        ("Abdomen: tender with voluntary guarding.", "voluntary guarding"),
        ("There was redness and warmth over the joint.", "redness"),
        ("Echo showed inferior hypokinesis.", "hypokinesis"),
        ("CT: no free fluid and no free air.", "free fluid"),
        ("Biopsy showed intestinal metaplasia.", "intestinal metaplasia"),
        ("She was found to have a bone dysplasia.", "bone dysplasia"),
        ("A 1 cm vegetation on the mitral valve.", "vegetation"),
    ],
)
def test_examination_and_morphologic_findings(full_nlp, sentence, problem) -> None:
    got = spans(full_nlp, sentence)
    assert problem in [g[0] for g in got if g[1] == "PROBLEM"], got


@pytest.mark.parametrize(
    "sentence",
    [
        "Hears finger rub bilaterally.",  # a bedside hearing test, not a friction rub
        "A pneumoperitoneum was created with the Veress needle.",  # the surgeon's, no finding
    ],
)
def test_examination_manoeuvres_are_no_findings(full_nlp, sentence) -> None:
    assert not [g for g in spans(full_nlp, sentence) if g[1] == "PROBLEM"]


@pytest.mark.parametrize(
    ("sentence", "breastfeeding"),
    [
        ("Exclusion: pregnant or nursing women.", True),
        ("Pregnancy and/or nursing.", True),
        ("Nursing staff were informed.", False),  # alone: the profession
    ],
)
def test_nursing_beside_pregnancy_is_breastfeeding(full_nlp, sentence, breastfeeding) -> None:
    got = [g for g in spans(full_nlp, sentence) if g[0].lower() == "nursing"]
    assert bool(got) == breastfeeding, got
    assert all(g[3] == "curated:breastfeeding" for g in got)


@pytest.mark.parametrize(
    ("sentence", "is_state"),
    [
        ("Exclusion: pregnancy or breastfeeding.", True),
        ("Known pregnancy.", True),
        ("She had hypertension during pregnancy.", False),  # a time
        ("Her first pregnancy was uneventful.", False),  # one pregnancy among others
        ("Born in the 32nd week of his mother's pregnancy.", False),
        ("History of seven pregnancies.", False),
    ],
)
def test_pregnancy_is_the_state_unless_it_names_a_time(full_nlp, sentence, is_state) -> None:
    got = [g for g in spans(full_nlp, sentence) if g[0].lower().startswith("pregnanc")]
    assert bool(got) == is_state, got


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("THE RESULTS ARE AS FOLLOWS: NORMAL.", []),  # a word of a line in capitals
        ("Severe AS. PMH: AS, CHF.", ["AS", "AS", "CHF"]),
        ("LFT was elevated.", []),  # liver function tests, not HPO's lipoma (LFT)
    ],
)
def test_an_abbreviation_spelling_a_word_is_that_word_in_capitals(full_nlp, text, found) -> None:
    assert [g[0] for g in spans(full_nlp, text) if g[1] == "PROBLEM"] == found


def test_states_services_and_normal_findings_are_no_problems(tmp_path) -> None:
    """SNOMED CT lists life states, follow-up and normal rhythms as findings ("Alive",
    "Lost to follow-up", "Normal sinus rhythm"): never a problem of the patient (stoplist).
    A problem named before a place of care ("tumour board", "pain clinic") is none either,
    and contraception is a procedure, not a problem."""
    concepts = [
        ("900000031", "Alive (finding)"),
        ("900000032", "Lost to follow-up (finding)"),
        ("900000033", "Normal sinus rhythm (finding)"),
        ("900000034", "Menarche (finding)"),
        ("900000035", "Contraception (finding)"),
        ("900000036", "Wobble cough (finding)"),
    ]
    vs = {
        "resourceType": "ValueSet", "id": "states", "name": "States", "status": "active",
        "compose": {"include": [{"system": "http://snomed.info/sct", "concept": [
            {"code": c, "display": d} for c, d in concepts
        ]}]},
    }  # fmt: skip
    path = tmp_path / "ValueSet-states.json"
    path.write_text(json.dumps(vs), encoding="utf-8")
    options = {
        "cache_dir": str(tmp_path / "cache"),
        "open_sources": ["curated"],
        "sources": [{"kind": "fhir", "path": str(path)}],
    }
    nlp = build_nlp(NlpSettings(options={"dictionary": options}))
    text = (
        "She was alive and well but lost to follow-up. ECG: normal sinus rhythm. Her "
        "menarche was at 12. Discussed at the multidisciplinary tumour board; referred to the "
        "pain clinic. She uses contraception. She has a wobble cough."
    )
    got = [(t, label) for t, label, _, _ in spans(nlp, text)]
    problems = [t for t, label in got if label == "PROBLEM"]
    assert problems == ["wobble cough"], got
    assert ("contraception", "PROCEDURE") in got


@pytest.mark.parametrize(
    ("sentence", "meds"),
    [
        # MeSH chemicals that name a receptor, an organ or a body protein: no drug, and
        # they keep the drug inside them from matching
        ("Soluble interleukin-2 receptor levels were high.", []),
        ("The thyroid gland was enlarged.", []),
        ("Reverse transcriptase activity.", []),
        ("The Na-K-Cl cotransporter was blocked.", []),  # a membrane carrier
        ("Hepatitis C antibodies were negative.", []),  # measured, not given
        ("Pars plana vitrectomy.", []),  # Latin anatomy, not a temazepam brand
        # real drugs still are
        ("Interleukin-2 was given.", ["Interleukin-2"]),
        # a procedure that ends inside a drug's name gives way to the drug
        ("Intravenous administration of vitamin B1 helped.", ["vitamin B1"]),
        ("Protein C concentrate was infused.", ["Protein C concentrate"]),
    ],
)
def test_receptors_and_organs_are_no_drugs(full_nlp, sentence, meds) -> None:
    got = [t for t, label, _, _ in spans(full_nlp, sentence) if label == "MEDICATION"]
    assert got == meds


# Standard abbreviations of disorders that notes use undefined (issue 15): (sentence, the
# short form, a code it must carry or None); a sample across specialties, plurals included.
ABBREVIATIONS = [
    ("History of VTE on apixaban.", "VTE", None),
    ("Echo showed LVH and a PFO.", "LVH", (SCT, "55827005")),
    ("Echo showed LVH and a PFO.", "PFO", (ICD, "Q21.12")),
    ("ECG: new LBBB.", "LBBB", (SCT, "63467002")),
    ("Frequent PVCs on Holter.", "PVCs", (SCT, "17338001")),
    ("Known PAF, on warfarin.", "PAF", (ICD, "I48.0")),
    ("Followed for IPAH and CTEPH.", "IPAH", (SCT, "697898008")),
    ("Followed for IPAH and CTEPH.", "CTEPH", (ICD, "I27.24")),
    ("Right parietal AVM.", "AVM", (SCT, "234141001")),
    ("Multiple AVMs were embolised.", "AVMs", (SCT, "234141001")),
    ("HCV and HBV coinfection.", "HCV", (SCT, "50711007")),
    ("HCV and HBV coinfection.", "HBV", (SCT, "66071002")),
    ("Cirrhosis from PBC.", "PBC", (ICD, "K74.3")),
    ("Admitted with SBO.", "SBO", (SCT, "281255004")),
    ("Hepatic vein thrombosis with BCS.", "BCS", (ICD, "I82.0")),
    ("CML in chronic phase, MDS, CLL.", "CML", (SCT, "92818009")),
    ("CML in chronic phase, MDS, CLL.", "MDS", (ICD, "D46.9")),
    ("Platelets 8 from ITP.", "ITP", (SCT, "32273002")),
    ("Pulmonary haemorrhage: DAH.", "DAH", None),
    ("History of PID and STDs.", "STDs", (ICD, "A64")),
    ("Father had ALS.", "ALS", (ICD, "G12.21")),
    ("CT head: acute SAH and a small SDH.", "SAH", (SCT, "21454007")),
    ("Known PCOS and GDM.", "PCOS", (ICD, "E28.2")),
    ("Known PCOS and GDM.", "GDM", (SCT, "11687002")),
    ("Headaches, jaw claudication: GCA.", "GCA", (SCT, "400130008")),
    ("Diagnosed with SSc.", "SSc", (ICD, "M34.9")),
    ("Anti-VEGF for CNV in the left eye.", "CNV", (SCT, "75971007")),
    ("POAG on latanoprost.", "POAG", (SCT, "77075001")),
    ("Brought in with AMS.", "AMS", (ICD, "R41.82")),
]


@pytest.mark.parametrize(("text", "form", "code"), ABBREVIATIONS)
def test_standard_disease_abbreviations(full_nlp, text, form, code) -> None:
    got = [g for g in spans(full_nlp, text) if g[0] == form]
    assert len(got) == 1 and got[0][1] == "PROBLEM", spans(full_nlp, text)
    assert got[0][3].startswith("curated:")
    if code:
        assert code in got[0][2], got


# Short forms left out of the dictionary because another sense is as common in notes, and the
# heading, unit or device words that spell them: none is a problem.
NOT_ABBREVIATIONS = [
    ("ALL MEDICATIONS: none.", "ALL"),
    ("GBS positive mother, given ampicillin.", "GBS"),
    ("NPH 10 units at bedtime.", "NPH"),
    ("Mode DDD, lower rate 60.", "DDD"),
    ("VF full to confrontation.", "VF"),
    ("The Olympus CF colonoscope was inserted.", "CF"),
    ("HIT technique with Deflux.", "HIT"),
    ("Closed on a BV needle.", "BV"),
    ("The PDA was widely patent.", "PDA"),
    ("Abdomen soft, TTP in the LLQ.", "TTP"),
    ("His LFTs are normal.", "LFTs"),
]


@pytest.mark.parametrize(("text", "form"), NOT_ABBREVIATIONS)
def test_ambiguous_short_forms_are_no_problems(full_nlp, text, form) -> None:
    got = spans(full_nlp, text)
    assert not [g for g in got if form in g[0] and g[1] == "PROBLEM"], got


def test_rare_disease_names_are_matched(full_nlp) -> None:
    """The HPO's disease annotations reach the dictionary: a rare disease that no other open
    source names is a problem coded with its OMIM and Orphanet ids."""
    [(text, label, codes, rule)] = spans(full_nlp, "She has Papillon-Lefevre syndrome.")
    assert (text, label, rule) == ("Papillon-Lefevre syndrome", "PROBLEM", "rare:OMIM:245000")
    assert {(systems.OMIM, "245000"), (systems.ORPHANET, "678")} <= codes


def test_a_rare_disease_family_takes_its_heads_codes_but_no_icd_default(full_nlp) -> None:
    """A family name of the annotations ("progressive myoclonic epilepsy" from "Epilepsy,
    progressive myoclonic, 6") is a kind of its head's disorder: it takes the head's codes,
    except ICD-10-CM, whose code of a bare head is a default ("diabetes mellitus" -> E11.9)
    that would misname "insulin-dependent diabetes mellitus"."""
    found = {t: (c, r) for t, _, c, r in spans(full_nlp, "insulin-dependent diabetes mellitus")}
    codes, rule = found["insulin-dependent diabetes mellitus"]
    assert rule == "rare:insulin-dependent-diabetes-mellitus"
    assert (SCT, "73211009") in codes
    assert not any(system == ICD for system, _ in codes)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # the short form of a listed problem and what it is of names that problem, uncoded
        (
            "A solitary fibrous tumor of the liver (SFTL) was found. Biopsy confirmed SFTL.",
            ["SFTL", "SFTL"],
        ),
        ("Acute fatty liver of pregnancy (AFLP) was diagnosed. AFLP resolved.", ["AFLP", "AFLP"]),
        # a society or a lab's name is none
        ("The American Society of Anesthesiologists (ASA) class was 2.", []),
    ],
)
def test_the_short_form_of_a_problem_of_a_site(full_nlp, text: str, found) -> None:
    got = [t for t, _, _, r in spans(full_nlp, text) if r == "pattern:short-form-of-problem"]
    assert got == found


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # a size, rate or recurrence prefix on a listed one-word problem
        ("CT showed microcalcifications.", ["microcalcifications"]),
        ("Prevention of bradyarrhythmias.", ["bradyarrhythmias"]),
        ("There was no reinfarction.", ["reinfarction"]),
        # words that only begin like it: a process, a unit, a listed word
        ("Review of the recording and microscopy.", []),
        ("Bilirubin 30 micromoles per liter.", []),
        # an act done again, a cartilage technique
        ("The lesion was redilated.", []),
        ("Microfracture of the medial femoral condyle.", []),
        ("He has pansinusitis.", []),
    ],
)
def test_a_prefixed_problem_word_is_a_problem(full_nlp, text: str, found) -> None:
    got = [t for t, label, _, r in spans(full_nlp, text) if r.startswith("prefixed:")]
    assert got == found


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # an unlisted acronym named as the diagnosis is a problem wherever the note writes it
        ("She was diagnosed with PUPPP. PUPPP resolved.", ["PUPPP", "PUPPP"]),
        ("The diagnosis of AFLP was confirmed.", ["AFLP"]),
        ("Biopsy features consistent with PAM.", ["PAM"]),
        ("It raised the suspicion of a PC. The tumour was a PC.", ["PC", "PC"]),
        # the agent a test looks for is not the disorder
        ("Consistent with CMV. A CMV blood PCR and CMV serologies.", ["CMV"]),
        # a test, a classification or a listed term after the cue is not one
        ("Findings consistent with CT results.", []),
        ("A diagnosis of DSM-IV depression.", []),
        ("Findings consistent with a C6-7 radiculopathy.", []),
        ("Echo consistent with RV volume overload.", []),
        ("Diagnosed with COPD.", []),
        # an acronym without the cue is left alone
        ("The XYZQ was repeated.", []),
    ],
)
def test_an_acronym_named_as_the_diagnosis_is_a_problem(full_nlp, text: str, found) -> None:
    got = [t for t, label, _, r in spans(full_nlp, text) if r == "pattern:diagnosed-acronym"]
    assert got == found
    assert all(label == "PROBLEM" for t, label, _, r in spans(full_nlp, text) if t in found)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # a word formed as a disorder's name that no open source lists
        ("Biopsy showed a pneumomycosis.", [("pneumomycosis", "morphology:pneumomycosis")]),
        ("Known hypocomplementemia.", [("hypocomplementemia", "morphology:hypocomplementemia")]),
        ("Pilomatricomas were excised.", [("Pilomatricomas", "morphology:pilomatricomas")]),
        ("She has proctosigmoiditis.", [("proctosigmoiditis", "morphology:proctosigmoiditis")]),
        # the measurement, not a disorder: a level without hyper-/hypo-
        ("Glycaemia 110 mg/dl and lactatemia were normal.", []),
        # a process, a procedure, a structure, a solution, a drug's adjective, a verb, a name
        ("Apoptosis and phagocytosis were studied.", []),
        ("A reanastomosis of the tracheostoma.", []),
        ("Cardioplegia was given; the aponeurosis was closed.", []),
        ("He was started on antituberculosis therapy.", []),
        ("He moved to Oklahoma.", []),
        ("The study exposes and discloses flaws.", []),
        # a word the dictionary knows keeps its own entry (and sense rules)
        ("Hepatitis B surface antigen was negative.", []),
    ],
)
def test_a_word_formed_as_a_disorder_name_is_a_problem(full_nlp, text: str, found) -> None:
    got = [(t, r) for t, label, _, r in spans(full_nlp, text) if r.startswith("morphology:")]
    assert got == found


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("alpha-1 antitrypsin deficiency", [("alpha-1 antitrypsin deficiency", "PROBLEM")]),
        ("antithrombin deficiency", [("antithrombin deficiency", "PROBLEM")]),
        # given, the substance is a drug
        ("Antithrombin was given.", [("Antithrombin", "MEDICATION")]),
        # a disorder of clotting is named by its system
        ("a known coagulation disorder", [("coagulation disorder", "PROBLEM")]),
    ],
)
def test_a_substance_before_deficiency_is_a_disorder(full_nlp, text: str, found) -> None:
    assert [(t, label) for t, label, _, _ in spans(full_nlp, text)] == found


def test_greek_letters_match_their_names(full_nlp) -> None:
    got = spans(full_nlp, "He received interferon β-1a weekly.")
    want = spans(full_nlp, "He received interferon beta-1a weekly.")
    assert got and [(g[1], g[3]) for g in got] == [(w[1], w[3]) for w in want], (got, want)
    assert got[0][0] == "interferon β-1a"


@pytest.mark.parametrize(
    ("sentence", "found", "absent"),
    [
        # a general head noun after the disorder's distinguishing words belongs to its name
        ("She had the breast-ovarian cancer syndrome.", "breast-ovarian cancer syndrome", None),
        ("Screening for VHL disease began at age 10.", "VHL disease", None),
        ("DNA from 12 retinoblastoma tumours was analysed.", "retinoblastoma tumours", None),
        # not after a pain: the syndrome is named by the pain
        ("He reported an acute flank pain syndrome.", "flank pain", "flank pain syndrome"),
        # the short form defined inside the name
        (
            "Von Hippel-Lindau (VHL) disease is inherited.",
            "Von Hippel-Lindau (VHL) disease",
            None,
        ),
        (
            "He has glucose-6-phosphate dehydrogenase (G6PD) deficiency.",
            "glucose-6-phosphate dehydrogenase (G6PD) deficiency",
            None,
        ),
        # a tumour named by its gene, and the organ of a tumour
        ("Loss of heterozygosity was seen in APC tumours.", "APC tumours", None),
        ("The APC tumour suppressor gene.", None, "APC tumour"),
        ("Biopsy showed carcinoma of the rectum.", "carcinoma of the rectum", None),
        (
            "A cancer of the renal pelvis and bladder was found.",
            "cancer of the renal pelvis and bladder",
            None,
        ),
        ("Stage IIIB or IV lung cancer.", None, "IV lung cancer"),
        ("Hyperplasia of the bladder epithelium.", None, "Hyperplasia of the bladder"),
        # a verb or noun ending like an adjective is no site of a tumour
        ("Scans failed to reveal tumors.", None, "reveal tumors"),
        ("Survival cancer rates.", None, "Survival cancer"),
    ],
)
def test_words_after_a_disorder_that_belong_to_its_name(full_nlp, sentence, found, absent) -> None:
    got = [g[0] for g in spans(full_nlp, sentence) if g[1] == "PROBLEM"]
    if found:
        assert found in got, got
    if absent:
        assert absent not in got, got


def test_pah_away_from_gene_words_is_still_the_disorder(full_nlp) -> None:
    got = [g for g in spans(full_nlp, "Echo showed PAH with RVSP 60.") if g[0] == "PAH"]
    assert [g[3] for g in got] == ["curated:pah"], got


@pytest.mark.parametrize(
    ("sentence", "problem"),
    [
        # a source's "... disease" also as "... disorder(s)"
        ("Zellweger syndrome is a peroxisomal disease.", "peroxisomal disease"),
        ("A group of peroxisomal diseases.", "peroxisomal diseases"),
        ("Biopsy confirmed celiac disorder.", "celiac disorder"),
        # a deficiency of an enzyme not named, or named by its symbol before "enzyme"
        ("Mutations cause enzyme deficiency and hemolysis.", "enzyme deficiency"),
        ("A boy with HPRT enzyme deficiency.", "HPRT enzyme deficiency"),
        (
            "PKU is caused by deficiency of the hepatic enzyme phenylalanine hydroxylase.",
            "deficiency of the hepatic enzyme phenylalanine hydroxylase",
        ),
    ],
)
def test_disorder_heads_and_enzyme_deficiencies(full_nlp, sentence, problem) -> None:
    got = [g[0] for g in spans(full_nlp, sentence) if g[1] == "PROBLEM"]
    assert problem in got, got


@pytest.mark.parametrize(
    ("sentence", "problem"),
    [
        # qualifiers that name a narrower disorder belong to the span (modifiers.txt)
        ("It is the most common form of syndromic deafness.", "syndromic deafness"),
        ("With autoimmune chronic active hepatitis.", "autoimmune chronic active hepatitis"),
        ("The attenuated polyposis phenotype.", "attenuated polyposis"),
        # an eponym's possessive as writers spell it
        ("Mutations in the Wilms' tumor gene.", "Wilms' tumor"),
        ("African Burkitts lymphoma.", "Burkitts lymphoma"),
    ],
)
def test_qualifiers_of_a_narrower_disorder(full_nlp, sentence, problem) -> None:
    got = [g[0] for g in spans(full_nlp, sentence) if g[1] == "PROBLEM"]
    assert problem in got, got


@pytest.mark.parametrize(
    ("sentence", "problem", "absent"),
    [
        (
            "Deficiency of the seventh component of complement was found.",
            "Deficiency of the seventh component of complement",
            None,
        ),
        (
            "A deficiency of the ninth complement component.",
            "deficiency of the ninth complement component",
            None,
        ),
        # an abbreviation hyphenated to a gene or marker symbol names no disorder
        ("Antisera against synthetic DM-PK peptides.", None, "DM"),
        ("Linkage was found for APOC1 - DM.", None, "DM"),
        ("PMH: HTN - DM, CAD.", "DM", None),  # two problems
        ("History of DM - 2.", "DM", None),
    ],
)
def test_complement_deficiencies_and_gene_symbol_pairs(full_nlp, sentence, problem, absent) -> None:
    got = [g[0] for g in spans(full_nlp, sentence) if g[1] == "PROBLEM"]
    if problem:
        assert problem in got, got
    if absent:
        assert absent not in got, got


def test_an_infarct_is_an_infarction(full_nlp) -> None:
    got = spans(full_nlp, "MRI showed a lacunar infarct.")
    assert [(g[0], g[1]) for g in got if g[1] == "PROBLEM"] == [("lacunar infarct", "PROBLEM")]


def _drugs(nlp, text: str) -> list[str]:
    return [g[0] for g in spans(nlp, text) if g[1] == "MEDICATION"]


@pytest.mark.parametrize(
    ("text", "drugs"),
    [
        # the salt or ester a drug is given as is part of its name
        ("She takes metoprolol succinate daily.", ["metoprolol succinate"]),
        ("He was given desipramine HCl at night.", ["desipramine HCl"]),
        ("Perhexiline maleate was stopped.", ["Perhexiline maleate"]),
        ("Morphine sulfate 2 mg IV was given.", ["Morphine sulfate"]),
        ("She continues warfarin sodium.", ["warfarin sodium"]),
        ("He was switched to sodium valproate.", ["sodium valproate"]),
        (
            "Amoxicillin with potassium clavulanate was given.",
            ["Amoxicillin", "potassium clavulanate"],
        ),
        # a cation that is the ion of physiology, or a drug of its own, stays apart
        (
            "Dihydropyridine calcium antagonists were avoided.",
            ["Dihydropyridine", "calcium antagonists"],
        ),
        ("Meds: lisinopril potassium 20 mEq daily.", ["lisinopril"]),
        ("Labs: sodium 140, potassium 4.1.", []),
    ],
)
def test_a_drug_takes_in_its_salt(full_nlp, text, drugs) -> None:
    assert _drugs(full_nlp, text) == drugs


@pytest.mark.parametrize(
    ("text", "drugs"),
    [
        # tokenised text: locants, stereo descriptors and substituents before a chemical name
        ("Rats received 8 - aminoquinoline daily .", ["8 - aminoquinoline"]),
        ("Binding of [ 3H ] - naloxone was measured .", ["[ 3H ] - naloxone"]),
        ("( R ) - alpha - methylhistamine was injected .", ["( R ) - alpha - methylhistamine"]),
        ("Tumours were induced by 1 , 2 - dimethylhydrazine .", ["1 , 2 - dimethylhydrazine"]),
        # a number before a list item is no locant, nor is a word that is no chemical prefix
        ("1 - Aspirin 81 mg daily\n2 - metoprolol 25 mg twice daily", ["Aspirin", "metoprolol"]),
        ("Plan - heparin drip overnight .", ["heparin"]),
    ],
)
def test_a_drug_takes_in_the_locants_before_it(full_nlp, text, drugs) -> None:
    assert _drugs(full_nlp, text) == drugs


@pytest.mark.parametrize(
    ("text", "drugs"),
    [
        ("Pretreatment with LY274614 blocked the effect.", ["LY274614"]),
        ("MK-801 and SR 141716A were compared.", ["MK-801", "SR 141716A"]),
        ("The trial of AZD9291 enrolled 20 patients.", ["AZD9291"]),
        ("She was given FK506 after transplant.", ["FK506"]),
        # a release form with a strength, a protein, a lab value are no development codes
        ("Wellbutrin SR 150 mg daily.", ["Wellbutrin"]),
        ("PD-1 expression and CA 125 were high.", []),
        ("Pulse generator model SSR203 was implanted.", []),  # a device's model number
        ("Criteria of Allen RP 2014 were used.", []),  # a citation's year
    ],
)
def test_drug_development_codes(full_nlp, text, drugs) -> None:
    assert _drugs(full_nlp, text) == drugs


def test_fk506_is_tacrolimus(full_nlp) -> None:
    got = spans(full_nlp, "FK 506 was started.")
    assert got and got[0][0] == "FK 506" and (RX, "42316") in got[0][2]


@pytest.mark.parametrize(
    "text",
    [
        "The mRNA and mtDNA levels of CYP2D6 fell.",
        "ATPase and acetylcholinesterase activity and myeloperoxidase were measured.",
        "Alpha adrenoceptor density rose.",
        "It is an inhibitor of the enzyme and a known carcinogen.",
        "Cholinergic and adrenergic activity were measured.",
        "Angiotensinogen, calcineurin and PAI-1 levels rose in the ion channels study.",
        "Hypnotic effects were noted; topoisomerase II was measured.",
    ],
)
def test_substances_no_one_is_given_are_no_drugs(full_nlp, text) -> None:
    assert _drugs(full_nlp, text) == []


@pytest.mark.parametrize(
    ("text", "drug"),
    [
        ("Collagenase ointment was applied.", "Collagenase"),
        ("Dornase alfa was continued.", "Dornase alfa"),
        ("She was on an ACE inhibitor.", "ACE inhibitor"),
        ("Anticholinergic drugs were avoided.", "Anticholinergic"),
        ("Calcineurin inhibitors were stopped.", "Calcineurin inhibitors"),
        ("Protein C concentrate was given.", "Protein C"),
    ],
)
def test_enzymes_and_classes_given_as_drugs_stay_drugs(full_nlp, text, drug) -> None:
    assert any(d.startswith(drug) for d in _drugs(full_nlp, text)), _drugs(full_nlp, text)


@pytest.mark.parametrize(
    ("text", "drugs"),
    [
        ("Strong CYP3A4 inhibitors are excluded.", ["CYP3A4 inhibitors"]),
        ("Use of a CYP 3A4 inducer within 2 weeks.", ["CYP 3A4 inducer"]),
        ("Prior VEGFR inhibitors or FXa inhibitors.", ["VEGFR inhibitors", "FXa inhibitors"]),
        (
            "She takes an H2 blocker and aromatase inhibitors.",
            ["H2 blocker", "aromatase inhibitors"],
        ),
        ("Selective COX - 2 inhibitors were used .", ["COX - 2 inhibitors"]),
        # an antibody the patient makes, a word in capitals, a disorder before a dash
        ("He has a factor VIII inhibitor.", []),
        ("Potent inhibitors of the pump were studied.", []),
        ("Hypertension - ACE inhibitor held.", ["ACE inhibitor"]),
        # a receptor or carrier named by words
        ("On calcium antagonists and an alpha blocker.", ["calcium antagonists", "alpha blocker"]),
        ("Leukotriene receptor antagonists are allowed.", ["Leukotriene receptor antagonists"]),
        ("Any alpha-2 adrenergic agonists.", ["alpha-2 adrenergic agonists"]),
        # a receptor without its ligand's name is no class
        ("Receptor antagonists were studied.", []),
    ],
)
def test_drug_classes_named_by_their_target(full_nlp, text, drugs) -> None:
    got = [d for d in _drugs(full_nlp, text) if d != "factor VIII"]
    assert got == drugs


@pytest.mark.parametrize(
    ("text", "drugs"),
    [
        ("Use of anti-dementia medications.", ["anti-dementia medications"]),
        (
            "Prior anti-VEGF drugs or anti - cancer drugs .",
            ["anti-VEGF drugs", "anti - cancer drugs"],
        ),
        ("She takes cardiac medications and sleep medication.",
         ["cardiac medications", "sleep medication"]),
        ("He is on blood pressure medications.", ["blood pressure medications"]),
        # a disorder before the head stays a problem ("his asthma medication")
        ("He takes his asthma medication daily.", []),
        ("No cholesterol-lowering drugs or blood thinning medications.",
         ["cholesterol-lowering drugs", "blood thinning medications"]),
        # a behaviour, a test or a plain noun phrase: no class
        ("History of cardiac drug abuse.", []),
        ("The anticipated drugs were not available.", []),
        ("This is based medication.", []),
        ("Care follows evidence-based medicine.", []),
        # a coded drug class before the head keeps its codes
        ("Use the antifungal medication.", ["antifungal"]),
    ],
)
def test_drug_classes_named_by_their_use(full_nlp, text, drugs) -> None:
    assert _drugs(full_nlp, text) == drugs


@pytest.mark.parametrize(
    ("text", "drugs"),
    [
        ("Rescue SABA use more than twice a week.", ["SABA"]),
        ("On a LABA and biologic therapy.", ["LABA", "biologic therapy"]),
        ("Uses muscle relaxants and a mood stabilizer.", ["muscle relaxants", "mood stabilizer"]),
        # initials in lower case are no class ("saba" is a word in other languages)
        ("The saba was ripe.", []),
        # a class word that also names a kind of another class, or a relation
        ("Avoid stimulant laxatives.", ["laxatives"]),
        ("He lives with his biologic father.", []),
    ],
)
def test_drug_classes_named_in_words_or_initials(full_nlp, text, drugs) -> None:
    assert _drugs(full_nlp, text) == drugs



@pytest.mark.parametrize(
    ("text", "drugs"),
    [
        # a drug the vocabulary does not list, named by its INN stem, and a misspelled one
        ("Flestolol was infused over an hour.", ["Flestolol"]),
        ("She took amoxacillin for a week.", ["amoxacillin"]),
        # words that end like a stem but name no drug
        ("Cholesterol was high in April.", []),
        ("The concept was intercepted.", []),
        ("An anticocaine antibody was studied.", []),
    ],
)
def test_drugs_named_by_their_inn_stem(full_nlp, text, drugs) -> None:
    assert _drugs(full_nlp, text) == drugs


@pytest.mark.parametrize(
    ("text", "found", "absent"),
    [
        # an enzyme's short form, defined before, still names the disorder of its lack
        (
            "Glucose-6-phosphate dehydrogenase (G6PD) is an enzyme. Males with G6PD deficiency"
            " were studied.",
            ["G6PD deficiency"],
            ["G6PD"],
        ),
        (
            "Cholesteryl ester transfer protein (CETP) was low. CETP deficiency is common.",
            ["CETP deficiency"],
            [],
        ),
        # the short form alone, still the enzyme: no finding
        (
            "Glucose-6-phosphate dehydrogenase (G6PD) is an enzyme. G6PD activity was normal.",
            [],
            ["G6PD"],
        ),
    ],
)
def test_a_defined_enzyme_short_form_leaves_its_deficiency(full_nlp, text, found, absent):
    got = [g[0] for g in spans(full_nlp, text) if g[1] == "PROBLEM"]
    assert all(f in got for f in found), got
    assert not any(a in got for a in absent), got


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Doxorubicin causes myocardial damage.", ["myocardial damage"]),
        ("Labs suggested hepatic injury.", ["hepatic injury"]),
        ("Renal damage and liver toxicity were seen.", ["Renal damage", "liver toxicity"]),
        ("Amiodarone pulmonary toxicity.", ["pulmonary toxicity"]),
        ("Brain damage after the arrest.", ["Brain damage"]),
        ("He has GI toxicity from chemotherapy.", ["GI toxicity"]),
        ("Ischaemia caused neuronal damage.", ["Ischaemia", "neuronal damage"]),
        ("Markers of axonal injury rose.", ["axonal injury"]),
        ("Seizure-induced hippocampal injury.", ["hippocampal injury"]),
    ],
)
def test_damage_of_an_internal_organ_is_its_disorder(full_nlp, text, found) -> None:
    got = [g[0] for g in spans(full_nlp, text) if g[1] == "PROBLEM"]
    assert got == found, got


@pytest.mark.parametrize(
    "text",
    ["He had an eye injury at work.", "A skin injury on the forearm.", "Bone injury."],
)
def test_injury_of_eye_skin_or_bone_is_no_organ_disorder(full_nlp, text) -> None:
    """An injury there is a trauma: not coded as the unspecified disorder of the organ."""
    got = [g[3] for g in spans(full_nlp, text)]
    assert not any(r.startswith("curated:organ-") for r in got), got


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "She has autosomal dominant retinitis pigmentosa.",
            "autosomal dominant retinitis pigmentosa",
        ),
        ("It is an autosomal - dominant disorder .", "autosomal - dominant disorder"),
        (
            "Tay-Sachs is an autosomal recessive genetic disorder.",
            "autosomal recessive genetic disorder",
        ),
        # an age of onset is no part of the name
        ("A family with early-onset breast cancer.", "breast cancer"),
    ],
)
def test_mode_of_inheritance_belongs_to_the_disorder(full_nlp, text, problem) -> None:
    got = [g[0] for g in spans(full_nlp, text) if g[1] == "PROBLEM"]
    assert problem in got, got


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("He was mentally retarded.", ["mentally retarded"]),
        ("Mild dysmorphic features were noted.", ["dysmorphic features"]),
        ("Valproate raises the risk of birth defects.", ["birth defects"]),
        ("Haloperidol caused catalepsy.", ["catalepsy"]),
        ("PONV was treated with ondansetron.", ["PONV"]),
        ("Postoperative nausea and vomiting resolved.", ["Postoperative nausea and vomiting"]),
        ("He developed femoral nerve palsy.", ["femoral nerve palsy"]),
        ("Vanishing bile duct syndrome was found.", ["Vanishing bile duct syndrome"]),
        ("She has Langer-Giedion syndrome.", ["Langer-Giedion syndrome"]),
        ("She has lip pits and motor tics.", ["lip pits", "motor tics"]),
        # a three-letter word ending a term in "-s" or "-y" takes no plural of its own
        ("Blood gas was drawn.", []),
    ],
)
def test_standard_names_the_sources_miss(full_nlp, text, found) -> None:
    got = [g[0] for g in spans(full_nlp, text) if g[1] == "PROBLEM"]
    assert got == found, got


@pytest.mark.parametrize(
    ("text", "found", "rule"),
    [
        # a depression of a function or a tracing is no depressive disorder
        ("Morphine caused respiratory depression.", "respiratory depression", None),
        ("Sedatives may cause CNS depression.", "CNS depression", None),
        ("Sepsis with myocardial depression.", "myocardial depression", None),
        ("There was ST depression in V4.", "ST depression", None),
        ("She has had depression for years.", "depression", "curated:depression"),
        ("Ticlopidine-induced cholestatic hepatitis.", "cholestatic hepatitis", None),
        ("He developed toxic hepatitis.", "toxic hepatitis", None),
        ("Sulpiride-induced tardive dystonia.", "tardive dystonia", None),
        ("Morphine produced muscular rigidity.", "muscular rigidity", None),
        ("The psychotic symptoms resolved.", "psychotic symptoms", "curated:psychosis"),
        ("History of human immunodeficiency virus.", "human immunodeficiency virus", "curated:hiv"),
    ],
)
def test_a_qualified_name_is_not_its_head(full_nlp, text, found, rule) -> None:
    got = {g[0]: g[3] for g in spans(full_nlp, text) if g[1] == "PROBLEM"}
    assert found in got, got
    assert rule is None or got[found] == rule, got
    assert "curated:depression" not in got.values() or rule == "curated:depression", got


@pytest.mark.parametrize(
    "text",
    [
        "Her ECG was consistent with NSR. NSR at 72.",  # a rhythm
        "Chest x-ray consistent with RLL pneumonia. RLL opacity persists.",  # a lobe, mid-phrase
        "Presentation consistent with IV drug use. Received IV fluids.",
        "Diagnosis of MS. Then MS 2 mg IV was given for pain.",  # excluded: a drug too
        "Physical exam consistent with HPI. HPI: as above.",
    ],
)
def test_ordinary_abbreviations_after_a_diagnosis_cue_are_no_problem(nlp, text: str) -> None:
    doc = nlp(text)
    assert not [s for s in doc.spans["mentions"] if s._.rule_id == "pattern:diagnosed-acronym"]


def test_a_diagnosed_acronym_is_read_where_it_closes_the_phrase(nlp) -> None:
    doc = nlp("She was diagnosed with PUPPP. PUPPP resolved after delivery.")
    found = [s for s in doc.spans["mentions"] if s._.rule_id == "pattern:diagnosed-acronym"]
    assert [s.text for s in found] == ["PUPPP", "PUPPP"]


@pytest.mark.parametrize(
    ("text", "drugs"),
    [
        ("Referred to Sleep Medicine for polysomnography.", []),  # a discipline
        ("Sleep medicine consult was obtained.", []),
        ("He takes his sleep medication nightly.", ["sleep medication"]),
        ("Avoid gluten-containing foods.", []),  # an ingredient of food, no drug
        ("She received a cisplatin-containing regimen.", ["cisplatin"]),
    ],
)
def test_disciplines_and_foods_are_no_drug_classes(nlp, text: str, drugs: list[str]) -> None:
    got = _drugs(nlp, text)
    assert len(got) == len(drugs)
    assert all(want in name for want, name in zip(drugs, got, strict=True))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a participle before another term names its kind, not a finding of its own
        ("Hemorrhagic pancreatitis.", ["pancreatitis"]),
        ("Partially thrombosed aneurysm.", ["aneurysm"]),
        ("Started on the hemorrhagic shock protocol.", []),
        ("The graft was thrombosed.", ["thrombosed"]),
        # a test for a problem names no problem, unless its result is given
        ("HIV serology was sent.", []),
        ("He had a positive HIV test.", ["HIV"]),
        ("COVID-19 PCR test on admission was positive.", ["COVID-19"]),
        # ... and a test word on the next item of a list is no test for it
        ("ASSESSMENT:\n1. Hypertension\nTests ordered: BMP, CBC.", ["Hypertension"]),
        ("DVT\nprophylaxis with heparin.", []),
    ],
)
def test_problem_words_before_tests_and_participles(full_nlp, text: str, expected) -> None:
    assert [g[0] for g in spans(full_nlp, text) if g[1] == "PROBLEM"] == expected

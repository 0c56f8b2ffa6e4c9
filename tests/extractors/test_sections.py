"""ns_sections: medspaCy sectionizer with notestruct's rules (MTSamples and Synthea layouts)."""

import json
from importlib import resources

import pytest

MTSAMPLES_LIKE = (
    "CHIEF COMPLAINT:  Cough.\n\n"
    "HISTORY OF PRESENT ILLNESS:  A 50-year-old with cough.\n\n"
    "PAST MEDICAL HISTORY:  Asthma.\n\n"
    "PAST SURGICAL HISTORY:  Appendectomy.\n\n"
    "PMH:  Gout.\n\n"
    "PSH:  Cholecystectomy.\n\n"
    "FAMILY HISTORY:  Mother with diabetes.\n\n"
    "SOCIAL HISTORY:  Smokes cigarettes.\n\n"
    "ALLERGIES:  Penicillin.\n\n"
    "MEDICATIONS:  Albuterol.\n\n"
    "REVIEW OF SYSTEMS:  Wheezing.\n\n"
    "PHYSICAL EXAMINATION\nRhonchi.\n\n"
    "IMPRESSION:  Bronchitis.\n\n"
    "ASSESSMENT AND PLAN:  Azithromycin.\n\n"
    "DISCHARGE MEDICATIONS:  Prednisone.\n"
)

SYNTHEA_LIKE = (
    "\n1990-01-01\n\n# Chief Complaint\n- Cough\n\n\n# History of Present Illness\n"
    "Jane\n is a 45 year-old female. Patient has a history of asthma.\n\n"
    "# Social History\nPatient quit smoking.\n\n# Allergies\nLatex.\n\n"
    "# Medications\nMetformin.\n\n# Assessment and Plan\nPatient is presenting with bronchitis.\n"
    "\n## Plan\n\nAmoxicillin.\n"
)


@pytest.mark.parametrize(
    ("target", "category"),
    [
        ("Cough", "chief_complaint"),
        ("cough", "history_of_present_illness"),
        ("Asthma", "past_medical_history"),
        ("Appendectomy", "past_surgical_history"),
        ("Gout", "past_medical_history"),
        ("Cholecystectomy", "past_surgical_history"),
        ("diabetes", "family_history"),
        ("cigarettes", "social_history"),
        ("Penicillin", "allergies"),
        ("Albuterol", "medications"),
        ("Wheezing", "review_of_systems"),
        ("Rhonchi", "physical_exam"),
        ("Bronchitis", "observation_and_plan"),
        ("Azithromycin", "observation_and_plan"),
        ("Prednisone", "discharge_medications"),
    ],
)
def test_mtsamples_headers(mention, target: str, category: str) -> None:
    assert mention(MTSAMPLES_LIKE, target)._.section_category == category


@pytest.mark.parametrize(
    ("target", "category"),
    [
        ("Cough", "chief_complaint"),
        ("asthma", "history_of_present_illness"),
        ("smoking", "social_history"),
        ("Latex", "allergies"),
        ("Metformin", "medications"),
        ("bronchitis", "observation_and_plan"),
        ("Amoxicillin", "observation_and_plan"),
    ],
)
def test_synthea_markdown_headers(mention, target: str, category: str) -> None:
    assert mention(SYNTHEA_LIKE, target)._.section_category == category


def test_header_words_inside_prose_open_no_section(mention) -> None:
    text = "HPI: He has seasonal allergies: pollen and dust. Plan: none yet. Wheezing noted."
    # "allergies:" and "Plan:" do not start a line, so the HPI section continues
    assert mention(text, "Wheezing")._.section_category == "history_of_present_illness"


def test_text_before_first_header_has_no_section(mention) -> None:
    assert mention("Cough for two days.\nPLAN: rest", "Cough")._.section_category is None


def test_rules_have_unique_ids_and_load_in_medspacy() -> None:
    from medspacy.section_detection import SectionRule

    path = resources.files("extractors") / "rules" / "sections" / "sections.json"
    data = json.loads(path.read_text(encoding="utf-8"))["section_rules"]
    ids = [r["metadata"]["rule_id"] for r in data]
    assert len(ids) == len(set(ids))
    assert len(SectionRule.from_json(str(path))) == len(data)


def test_section_at_and_doc_sections(bare_nlp) -> None:
    from extractors.sections import section_at

    doc = bare_nlp("PMH:  Asthma.\n\nFAMILY HISTORY:  Diabetes.")
    cats = [s.category for s in doc._.sections]
    assert cats == ["past_medical_history", "family_history"]
    assert section_at(doc, len(doc) - 2).category == "family_history"

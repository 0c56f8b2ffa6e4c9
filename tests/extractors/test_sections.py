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


def test_discharge_summary_procedure_heading(mention) -> None:
    text = (
        "Chief Complaint:\nshortness of breath\n\n"
        "Major Surgical or Invasive Procedure:\nThoracentesis\n\n"
        "History of Present Illness:\nDyspnea.\n"
    )
    assert mention(text, "shortness of breath")._.section_category == "chief_complaint"
    assert mention(text, "Thoracentesis")._.section_category == "procedures"


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


EXAM = (
    "PHYSICAL EXAMINATION:\n"
    "VITAL SIGNS: Temperature 98.6, pulse 88, blood pressure 120/80, tachypnea.\n"
    "GENERAL: Diaphoretic.\n"
    "HEENT: Scleral icterus.\n"
    "NECK: Lymphadenopathy.\n"
    "LUNGS: Crackles.\n"
    "HEART: Murmur.\n"
    "ABDOMEN: Hepatomegaly.\n"
    "BACK: Scoliosis.\n"
    "EXTREMITIES: Edema.\n"
    "SKIN: Rash.\n"
    "NEURO: Tremor.\n"
    "PSYCH: Agitation.\n"
)
#: the same exam without a "PHYSICAL EXAMINATION" heading, in mixed case
EXAM_NO_TITLE = (
    "Vitals: BP 150/90, bradycardia.\nHeent: Icterus.\nCardiovascular: Murmur.\n"
    "Abd: Hepatomegaly.\nExt: Edema.\nNeurologic: Tremor.\n"
)
#: organ-system headings in a review of systems stay in the review of systems
ROS = "REVIEW OF SYSTEMS:\nHEENT: Headache.\nCARDIOVASCULAR: Palpitations.\nGI: Nausea.\n"
#: ... and in a past medical history, in the history
PMH = "PAST MEDICAL HISTORY:\nNEURO: Seizures.\nCARDIAC: Arrhythmia.\n"


@pytest.mark.parametrize(
    ("text", "target", "category"),
    [
        (EXAM, "tachypnea", "vital_signs"),
        (EXAM, "Diaphoretic", "physical_exam"),
        (EXAM, "Scleral icterus", "physical_exam"),
        (EXAM, "Lymphadenopathy", "physical_exam"),
        (EXAM, "Crackles", "physical_exam"),
        (EXAM, "Murmur", "physical_exam"),
        (EXAM, "Hepatomegaly", "physical_exam"),
        (EXAM, "Scoliosis", "physical_exam"),
        (EXAM, "Edema", "physical_exam"),
        (EXAM, "Rash", "physical_exam"),
        (EXAM, "Tremor", "physical_exam"),
        (EXAM, "Agitation", "physical_exam"),
        (EXAM_NO_TITLE, "bradycardia", "vital_signs"),
        (EXAM_NO_TITLE, "Icterus", "physical_exam"),
        (EXAM_NO_TITLE, "Murmur", "physical_exam"),
        (EXAM_NO_TITLE, "Hepatomegaly", "physical_exam"),
        (EXAM_NO_TITLE, "Edema", "physical_exam"),
        (EXAM_NO_TITLE, "Tremor", "physical_exam"),
        (ROS, "Headache", "review_of_systems"),
        (ROS, "Palpitations", "review_of_systems"),
        (ROS, "Nausea", "review_of_systems"),
        (PMH, "Seizures", "past_medical_history"),
        (PMH, "Arrhythmia", "past_medical_history"),
    ],
)
def test_exam_subsections_end_vital_signs(mention, text: str, target: str, category: str) -> None:
    assert mention(text, target)._.section_category == category


def test_vital_signs_read_by_the_vitals_extractor_stay_in_vital_signs(nlp) -> None:
    from extractors.nlp import extract
    from schemas.model import Note

    [(_, mentions)] = list(extract(nlp, [(Note(note_id="t", text=EXAM), ())]))
    sections = {m.text: m.section for m in mentions}
    assert sections["pulse 88"] == "vital_signs"
    assert sections["blood pressure 120/80"] == "vital_signs"
    assert sections["Hepatomegaly"] == "physical_exam"
    assert all(m.section != "vital_signs" for m in mentions if m.start_char > EXAM.index("GENERAL"))


def test_subsection_heading_in_prose_is_no_heading(mention) -> None:
    text = "VITAL SIGNS: Pulse 88, abdomen: soft, no tachypnea."
    assert mention(text, "tachypnea")._.section_category == "vital_signs"


def test_subsection_heading_alone_keeps_its_own_category(mention) -> None:
    assert mention("NECK: Lymphadenopathy.", "Lymphadenopathy")._.section_category == (
        "physical_exam"
    )


RADIOLOGY_REPORT = (
    " INDICATION:  Fever, evaluate for pneumonia.\n \n"
    " Portable AP chest radiograph was compared to the prior study.\n \n"
    " Bibasal opacities are present. No pneumothorax.\n"
)


def test_heading_after_leading_whitespace_starts_a_section(mention) -> None:
    assert mention(RADIOLOGY_REPORT, "pneumonia")._.section_category == "indication"


def test_indication_ends_at_its_first_blank_line(mention) -> None:
    # the report's narrative after the question, without a heading, is no part of the question
    assert mention(RADIOLOGY_REPORT, "opacities")._.section_category is None
    assert mention(RADIOLOGY_REPORT, "pneumothorax")._.section_category is None


def test_indication_heading_on_its_own_line_keeps_its_paragraph(mention) -> None:
    text = "INDICATION FOR PROCEDURE\n\nA 60-year-old with dysphagia.\n\nThe scope was passed."
    assert mention(text, "dysphagia")._.section_category == "indication"
    assert mention(text, "scope")._.section_category is None


def test_a_history_section_keeps_its_paragraphs(mention) -> None:
    text = "HISTORY OF PRESENT ILLNESS:  Cough for a week.\n\nShe also reports fever."
    assert mention(text, "fever")._.section_category == "history_of_present_illness"


@pytest.mark.parametrize(
    "heading",
    [
        "PA AND LATERAL CHEST:",
        "PORTABLE AP CHEST:",
        "CHEST, PA AND LATERAL:",
        "FRONTAL AND LATERAL VIEWS OF THE CHEST:",
    ],
)
def test_radiograph_views_heading_opens_the_findings(mention, heading: str) -> None:
    text = f"CLINICAL HISTORY: Cough.\n{heading} A 9 mm nodule in the right mid lung.\n"
    assert mention(text, "Cough")._.section_category == "indication"
    assert mention(text, "nodule")._.section_category == "findings"


def test_chest_views_open_the_findings_only_as_a_capitalised_heading(mention) -> None:
    report = "PA AND LATERAL CHEST:\nThere is a right lower lobe infiltrate.\n"
    assert mention(report, "infiltrate")._.section_category == "findings"
    note = (
        "HOSPITAL COURSE: He was treated for pneumonia.\n"
        "Portable chest x-ray: right lower lobe infiltrate.\n"
        "He also has a history of CHF.\n"
    )
    assert mention(note, "CHF")._.section_category == "hospital_course"

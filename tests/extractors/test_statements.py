"""What a mention's clause states (extractors.statements): the attributes the FHIR mappers
read instead of the note text."""

import pytest

from extractors.statements import statement_attributes


def _attrs(text: str, span: str, label: str, **kw: object) -> dict[str, object]:
    start = text.index(span)
    return statement_attributes(text, start, start + len(span), label, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "span", "label", "expected"),
    [
        ("Hypertension, resolved.", "Hypertension", "PROBLEM", {"stated_status": "resolved"}),
        ("Breast cancer in remission.", "Breast cancer", "PROBLEM", {"stated_status": "remission"}),
        ("Metformin held on admission.", "Metformin", "MEDICATION", {"stated_status": "on-hold"}),
        ("Lisinopril discontinued.", "Lisinopril", "MEDICATION", {"stated_status": "stopped"}),
        ("He is off warfarin.", "warfarin", "MEDICATION", {"stated_status": "stopped"}),
        ("No longer taking ibuprofen.", "ibuprofen", "MEDICATION", {"stated_status": "stopped"}),
        ("Will start metformin daily.", "metformin", "MEDICATION", {"stated_status": "intended"}),
        ("Plan to start lisinopril.", "lisinopril", "MEDICATION", {"stated_status": "intended"}),
        ("Consider adding spironolactone.", "spironolactone", "MEDICATION",
            {"stated_status": "intended"}),
        # a plan after the drug is another clause's
        ("He takes metoprolol and will start walking.", "metoprolol", "MEDICATION", {}),
        ("She completed a 7-day course of amoxicillin.", "amoxicillin", "MEDICATION",
            {"stated_status": "completed"}),
        ("Diabetes since 2019.", "Diabetes", "PROBLEM", {"onset": "2019"}),
        ("Asthma at age 12.", "Asthma", "PROBLEM", {"onset_age": 12}),
        ("Asthma at age 412.", "Asthma", "PROBLEM", {}),
        # the cue belongs to another clause
        ("Asthma. Eczema resolved.", "Asthma", "PROBLEM", {}),
        # no statement rules for measurements
        ("BP 120/80, stopped.", "BP", "VITAL", {}),
    ],
)
def test_status_and_onset(text: str, span: str, label: str, expected: dict[str, object]) -> None:
    assert _attrs(text, span, label) == expected


def test_a_relatives_problem_names_the_relative_and_age() -> None:
    text = "FAMILY HISTORY: Father had a myocardial infarction at 52."
    assert _attrs(text, "myocardial infarction", "PROBLEM", family=True) == {
        "relative": "father",
        "relative_age": 52,
    }
    # only for a family member's problem
    assert _attrs(text, "myocardial infarction", "PROBLEM") == {}


def test_an_extractors_own_attribute_wins() -> None:
    assert _attrs("Diabetes since 2019.", "Diabetes", "PROBLEM", given={"onset": "2018"}) == {}

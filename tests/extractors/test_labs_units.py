"""Unit tests of UCUM normalisation (extractors.units) and number parsing used by the labs."""

import pytest

from extractors.patterns import alternation, load_rules, parse_number
from extractors.units import UnitNormalizer


@pytest.fixture(scope="module")
def units() -> UnitNormalizer:
    return UnitNormalizer()


@pytest.mark.parametrize(
    ("text", "ucum"),
    [
        ("mg/dL", "mg/dL"),
        ("mEq/L", "meq/L"),
        ("mmHg", "mm[Hg]"),
        ("mm Hg", "mm[Hg]"),
        ("K/uL", "10*3/uL"),
        ("x10^9/L", "10*9/L"),
        ("bpm", "/min"),
        ("F", "[degF]"),
        ("°C", "Cel"),
        ("lbs", "[lb_av]"),
        ("mcg", "ug"),
        ("units", "U"),
        ("mIU/L", "m[IU]/L"),
        ("mL/min/1.73m2", "mL/min/{1.73_m2}"),
        ("10*3/uL", "10*3/uL"),  # already UCUM
        ("kg/m2", "kg/m2"),
        # a dose per weight, area or time, built from known pieces
        ("mcg/kg/min", "ug/kg/min"),
        ("milligrams/kg", "mg/kg"),
        ("g/kg/day", "g/kg/d"),
        ("microgram/kilogram", "ug/kg"),
        ("units/kg/h", "U/kg/h"),
        ("ml/hr", "mL/h"),
        # a power of ten over a volume, its superscript lost in copying
        ("× 103/mm3", "10*3/mm3"),
        ("x 10^3/mm3", "10*3/mm3"),
        ("× 109/mL", "10*9/mL"),
        # written out
        ("grams per deciliter", "g/dL"),
        ("millimoles per liter", "mmol/L"),
        ("nanograms per milliliter", "ng/mL"),
    ],
)
def test_to_ucum(units: UnitNormalizer, text: str, ucum: str) -> None:
    assert units.to_ucum(text) == ucum


@pytest.mark.parametrize("text", ["", None, "tablets", "xyz", "per day", "mg/xyz", "tabs/day"])
def test_not_a_unit(units: UnitNormalizer, text: str | None) -> None:
    assert units.to_ucum(text) is None


def test_every_table_code_is_valid_ucum(units: UnitNormalizer) -> None:
    table = load_rules("units", "units.json")["units"]
    bad = {k: v for k, v in table.items() if not units.is_ucum(v)}
    assert bad == {}
    for lab in load_rules("labs", "labs.json")["labs"]:
        assert units.is_ucum(lab["ucum"]), lab["rule_id"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("140", 140),
        ("4.1", 4.1),
        ("1,200", 1200),
        (".5", 0.5),
        ("1/2", 0.5),
        ("two", 2),
        # spelled out
        ("five hundred", 500),
        ("twenty-five", 25),
        ("one thousand two hundred", 1200),
        ("three hundred and fifty", 350),
        ("nineteen", 19),
    ],
)
def test_parse_number(text: str, value: float) -> None:
    assert parse_number(text) == value


def test_alternation_prefers_longest_and_backtracks() -> None:
    import re

    pattern = re.compile(rf"(?:{alternation(['ast', 'asa', 'aspirin', 'as'])})(?![a-z])")
    assert [m.group(0) for m in pattern.finditer("aspirin asa as ast asp")] == [
        "aspirin",
        "asa",
        "as",
        "ast",
    ]

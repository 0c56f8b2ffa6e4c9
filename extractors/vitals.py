"""Vital-sign extractor: BP, heart and respiratory rate, temperature, SpO2, weight, height, BMI."""

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from spacy.language import Language
from spacy.tokens import Doc, Span

from extractors.base import doc_text

# the "respectively" lists are read alike for tests and vital signs (one list may hold both)
from extractors.labs import PAIRED_VALUE, paired_lists
from extractors.patterns import (
    COMMA_AFTER_NAME,
    COMPARATOR,
    COMPARATORS,
    HSPACE,
    NAME_GLOSS,
    NUMBER,
    TermStarts,
    add_spans,
    alternation,
    comparator_after,
    load_rules,
    make_span,
    matches_at,
    parse_number,
)
from extractors.units import UnitNormalizer

# Version history:
# 1 (2026-11): FHIR vital-signs LOINC codes, UCUM units, plausibility ranges per unit.
# 2 (2026-12): comparators ("BMI >= 35 kg/m2", "systolic blood pressure above 160 mmHg");
#              a systolic or diastolic pressure written alone.
# 3 (2026-12): as case reports write them: a comma or bracket before the value ("pulse rate,
#              101/min", "heart rate (98/min)"), a bracketed gloss after the name, verbs of
#              change ("increased to 160/90 mmHg"), thin and hair spaces before the unit;
#              a rate written "101/min".
# 4 (2026-12): a range as criteria write it ("BMI 30-42", "between 20 and 34 kg/m2", "from
#              18 to 35 kg/m2"): ``value_range``, FHIR valueRange.
# 5 (2026-12): mean arterial pressure (LOINC 8478-0; "MAP" in capitals only) and head
#              circumference (9843-4); comparators as criteria type and word them (shared
#              with labs: ">_", "equal or greater than"); a pressure after a heart chamber or
#              vessel is no blood pressure ("estimated PA systolic pressure of 45 mmHg",
#              "right ventricular systolic pressure", "LV end-diastolic pressure"); "remains",
#              "on room air", "at rest" between the name and the value; "beats per
#              min"; a comparator after the value ("BMI 40 or more"); "respectively" lists
#              ("blood pressure and heart rate were 94/30 mmHg and 132 beats per minute,
#              respectively"), also mixed with tests (read alike by labs.paired_lists).
# 6 (2026-12): comparators in more words, shared with labs ("below or equal to", "inferior
#              or equal to", "exceeded", "not more than"); the ventricular response (rate) of
#              atrial fibrillation as the heart rate; "on presentation", "on arrival" before
#              the value.
VERSION = 6

LABEL = "VITAL"
RULES = "vitals"

_CONNECTOR = COMMA_AFTER_NAME + (
    rf"(?:{HSPACE}*(?:was|were|is|are|of|at|to|up\s+to|now|today|on\s+admission|initially|"
    r"(?:on|at|upon)\s+(?:presentation|arrival)|"
    r"measured|recorded|noted|found|reading|readings|range[sd]?|ranging\s+from|"
    r"had|has|further|still|then|subsequently|remained|remains|stabilized|reached|normalized|"
    r"on\s+room\s+air|on\s+RA|at\s+rest|"
    r"increased|decreased|rose|fell|dropped|"
    r"elevated|high|low|in\s+the|about|approximately|around|"
    r":|=|-|–|\()(?![a-z]))*"
)
_UNIT_TEXT = {
    "blood_pressure": r"mm\s?hg|mm\s+of\s+hg",
    "systolic_blood_pressure": r"mm\s?hg|mm\s+of\s+hg",
    "diastolic_blood_pressure": r"mm\s?hg|mm\s+of\s+hg",
    "mean_blood_pressure": r"mm\s?hg|mm\s+of\s+hg",
    "heart_rate": r"bpm|beats\s+per\s+min(?:ute)?|beats/min(?:ute)?|b/min|/min|per\s+minute",
    "respiratory_rate": r"breaths\s+per\s+minute|breaths/min|/min|per\s+minute|bpm|rpm",
    "body_temperature": (
        r"°\s?[cf]|º\s?[cf]|deg(?:rees?)?\.?\s?(?:fahrenheit|celsius|centigrade|f|c)|"
        r"fahrenheit|celsius|centigrade|[cf]"
    ),
    "oxygen_saturation": r"%|percent",
    "body_weight": r"kgs?|kilograms?|lbs?|pounds?|grams|g|#",
    "body_height": r"cm|centimeters?|inches|inch|in|m|meters?|\"",
    "head_circumference": r"cm|centimeters?|inches|inch|in",
    "bmi": r"kg/m2|kg/m\^2|kg/m²",
}
_OUNCES = re.compile(
    r"[ \t]*(?:and[ \t]+)?(?P<oz>\d{1,2}(?:\.\d+)?)[ \t]?(?:ounces|ounce|oz)\b", re.I
)
_OXYGEN = re.compile(
    r"[ \t]*(?:,[ \t]*)?(?:on|with)[ \t]+(?P<o2>room[ \t]+air|RA|(?P<flow>\d+(?:\.\d+)?)[ \t]?"
    r"(?:L|liters?|lpm)(?:/min)?(?:[ \t]+(?:of[ \t]+)?(?:O2|oxygen))?(?:[ \t]+(?:via[ \t]+)?"
    r"(?:NC|nasal[ \t]+cannula|face[ \t]?mask|NRB|non-?rebreather))?|"
    r"(?:a[ \t]+)?(?:non-?rebreather|NRB|BiPAP|CPAP|high[ \t]+flow))",
    re.IGNORECASE,
)

#: The blood pressure kinds, read as the systemic arterial pressure.
_ARTERIAL = frozenset({"blood_pressure", "systolic_blood_pressure", "diastolic_blood_pressure",
                       "mean_blood_pressure"})  # fmt: skip
#: A chamber or vessel named right before a pressure: an echo or catheter measurement, not
#: the blood pressure ("pulmonary artery systolic pressure", "right ventricular systolic
#: pressure", "PA systolic pressure", "LV end-diastolic pressure").
_NOT_SYSTEMIC = re.compile(
    r"\b(?:(?i:pulmonary(?:\s+arter(?:y|ial))?|(?:right|left)\s+ventricular|ventricular|"
    r"atrial|aortic|wedge|intracranial|intraocular|portal|end)|(?:PA|RV|LV|RA|LA))[ \t\n-]*$"
)
#: A name of the arm's blood pressure itself ("BP", "blood pressure"): no chamber check ("SpO2
#: 98% RA BP 120/80": RA is room air there).
_ARM_PRESSURE = re.compile(r"(?i)(?:b\.?p\b|blood\b|nibp\b|sbp\b|dbp\b)")

_ROOM_AIR = re.compile(r"\bon[ \t]+(?:room[ \t]+air|RA)\b", re.IGNORECASE)


class VitalTagger:
    """Adds a VITAL span per vital sign written with its name and a plausible value."""

    def __init__(self, nlp: Language, name: str) -> None:
        self.name = name
        self.units = UnitNormalizer()
        self.rules = load_rules(RULES, "vitals.json")["vitals"]
        self.patterns: list[tuple[re.Pattern[str], dict[str, Any]]] = []
        # Every vital sign starts with a name (any rule's, any case) not after a word character
        # or "/", followed by connectors and a value starting with a digit or ".": a fast
        # filter and ``head`` find those places, and the rule patterns run only there.
        names_any = {t.lower() for rule in self.rules for t in rule["terms"]} | {
            t.lower() for rule in self.rules for t in rule["case_sensitive_terms"]
        }
        self.name_starts = TermStarts(r"\w/", names_any)
        self.head = re.compile(
            rf"(?i:{alternation(names_any)})(?![\w]){NAME_GLOSS}(?i:{_CONNECTOR}){HSPACE}*"
            rf"(?:(?i:{COMPARATOR})[ \t]?|(?i:between|from)\s+)?[\d.]"
        )
        # "respectively" lists: the names of vital signs and of tests, and the values
        labs = load_rules("labs", "labs.json")["labs"]
        l_ci = {t.lower() for r in labs for t in r["terms"]}
        l_cs = {t for r in labs for t in r["case_sensitive_terms"]}
        v_ci = {t.lower() for rule in self.rules for t in rule["terms"]}
        v_cs = {t for rule in self.rules for t in rule["case_sensitive_terms"]}
        self.pair_name_re = re.compile(
            rf"(?<![\w/-])(?:(?i:{alternation({*v_ci, *l_ci})})|"
            rf"{alternation({*v_cs, *l_cs})})(?![\w])"
        )
        self.paired_value = re.compile(PAIRED_VALUE, re.IGNORECASE)
        self.rule_of: dict[str, dict[str, Any]] = {}
        for rule in self.rules:
            self.rule_of.update({t.lower(): rule for t in rule["terms"]})
            self.rule_of.update({t: rule for t in rule["case_sensitive_terms"]})
        self.pattern_of: dict[str, re.Pattern[str]] = {}
        for rule in self.rules:
            names = f"(?i:{alternation(rule['terms'])})"
            if rule["case_sensitive_terms"]:
                names = f"(?:{names}|{alternation(rule['case_sensitive_terms'])})"
            unit = _UNIT_TEXT[rule["kind"]]
            if rule["kind"] == "blood_pressure":
                value = r"(?P<v>(?P<sys>\d{2,3})[ \t]?/[ \t]?(?P<dia>\d{2,3}))(?![\d/])"
            elif rule["kind"] == "body_height":
                value = (
                    r"(?P<v>(?P<ft>\d)[ \t]?(?:'|′|ft\.?|feet|foot)[ \t]?(?:(?P<inch>\d{1,2}"
                    r"(?:\.\d)?)[ \t]?(?:\"|″|''|in\.?|inches)?)?|"
                    + NUMBER
                    + r")(?![\d'])(?!-\d)(?!\s?-?\d/\d)"
                )
            else:
                # a range as criteria write it ("BMI 30-42", "BMI between 20 and 34 kg/m2",
                # "from 18 to 35 kg/m2"), or one value
                value = (
                    rf"(?P<v>(?:between\s+(?P<blo>{NUMBER})\s+and\s+(?P<bhi>{NUMBER})|"
                    rf"(?:from\s+)?(?P<rlo>{NUMBER})\s?(?:-|–|to)\s?(?P<rhi>{NUMBER}))"
                    rf"(?!\d|[.,]\d|/)|{NUMBER}(?!\d)(?!/\d)(?!\.\d)(?!-\d)(?!'?s\b))"
                )
            self.patterns.append(
                (
                    re.compile(
                        rf"(?<![\w/])(?P<name>{names})(?![\w]){NAME_GLOSS}(?i:{_CONNECTOR}){HSPACE}*"
                        rf"(?:(?P<cmp>(?i:{COMPARATOR}))[ \t]?)?{value}"
                        rf"(?:{HSPACE}?(?P<unit>(?i:{unit}))(?![a-z]))?",
                    ),
                    rule,
                )
            )
            self.pattern_of[rule["rule_id"]] = self.patterns[-1][0]

    def find_paired(self, text: str) -> list[dict[str, Any]]:
        """Vital signs written as two lists: "blood pressure and heart rate were 94/30 mmHg
        and 132 beats per minute, respectively" (tests in the list are the labs extractor's).
        Each pair is read as "<name> <value>" would be, with the text's offsets; one VITAL
        per pair, spanning the name."""
        out: list[dict[str, Any]] = []
        for pairs, shared in paired_lists(text, self.pair_name_re, self.paired_value):
            for (n0, n1, name), val, v0 in pairs:
                rule = self.rule_of.get(name) or self.rule_of.get(" ".join(name.lower().split()))
                if rule is None:
                    continue  # a test's name
                value = val.group(0)[val.start("num") - val.start() :]
                if not val.group("unit") and shared:
                    value = f"{value} {shared}"
                probe = f"{name} {value}"
                pattern = self.pattern_of[rule["rule_id"]]
                m = pattern.match(probe)
                if m is None or m.end("v") != len(name) + 1 + len(val.group("num")):
                    continue
                found = self._read(probe, m, rule)
                if found is None:
                    continue
                attrs = found["attributes"]
                attrs["parts"] = {"name": [n0, n1], "value": [v0, v0 + len(val.group("num"))]}
                if val.group("unit"):
                    attrs["parts"]["unit"] = [v0 + val.start("unit") - val.start("num"),
                                              v0 + val.end("unit") - val.start("num")]  # fmt: skip
                attrs.pop("oxygen", None)
                out.append({"start": n0, "end": n1, "rule": rule, "attributes": attrs})
        return out

    def find(self, text: str) -> list[dict[str, Any]]:
        """All vital signs in ``text`` as dicts with offsets and attributes."""
        out: list[dict[str, Any]] = []
        # pairs first: "weight and height were 50 kg and 160 cm, respectively" gives the
        # height 160 cm, not the 50 that follows its name
        paired = self.find_paired(text) if "espectively" in text else []
        names = [(f["start"], f["end"]) for f in paired]
        out += paired
        starts = [p for p in self.name_starts(text) if self.head.match(text, p)]
        for pattern, rule in self.patterns:
            pressure = rule["kind"] in _ARTERIAL
            for m in matches_at(pattern, text, starts):
                if (
                    pressure
                    and not _ARM_PRESSURE.match(m.group("name"))
                    and _NOT_SYSTEMIC.search(text, max(0, m.start() - 30), m.start())
                ):
                    continue  # "estimated PA systolic pressure of 45 mmHg": not the arm's
                if any(a <= m.start() < b for a, b in names):
                    continue
                found = self._read(text, m, rule)
                if found is not None:
                    out.append(found)
        out.sort(key=lambda f: (f["start"], -f["end"]))
        kept: list[dict[str, Any]] = []
        for found in out:  # "pulse ox 98%" is SpO2, not a pulse: keep the longer overlapping one
            if kept and found["start"] < kept[-1]["end"]:
                continue
            kept.append(found)
        return kept

    def _read(self, text: str, m: re.Match[str], rule: dict[str, Any]) -> dict[str, Any] | None:
        kind = rule["kind"]
        unit_text = m.group("unit")
        if unit_text and kind == "body_height" and unit_text == '"' and m.group("ft"):
            unit_text = None
        end = m.end("unit") if unit_text else m.end("v")
        parts: dict[str, list[int]] = {"name": [m.start("name"), m.end("name")]}
        parts["value"] = [m.start("v"), m.end("v")]
        if unit_text:
            parts["unit"] = [m.start("unit"), m.end("unit")]
        attrs: dict[str, Any] = {"vital": kind, "loinc": rule["codes"][0]["code"]}
        if kind == "blood_pressure":
            systolic, diastolic = int(m.group("sys")), int(m.group("dia"))
            (slo, shi), (dlo, dhi) = rule["units"]["mm[Hg]"]
            if not (slo <= systolic <= shi and dlo <= diastolic <= dhi and systolic > diastolic):
                return None
            attrs.update(
                {
                    "systolic": systolic,
                    "diastolic": diastolic,
                    "unit": "mm[Hg]",
                    "ucum": "mm[Hg]",
                    "unit_text": unit_text,
                    "components": {
                        "systolic": {"loinc": rule["components"]["systolic"]["code"]},
                        "diastolic": {"loinc": rule["components"]["diastolic"]["code"]},
                    },
                }
            )
        else:
            groups = m.groupdict()
            lo_text = groups.get("blo") or groups.get("rlo")
            if lo_text:
                return self._read_range(m, rule, lo_text, parts, attrs, unit_text, end)
            if kind == "body_height" and m.group("ft"):
                value: float | int | None = int(m.group("ft")) * 12 + (
                    parse_number(m.group("inch")) or 0 if m.group("inch") else 0
                )
                ucum: str | None = "[in_i]"
            else:
                value = parse_number(m.group("v"))
                ucum = self._ucum(kind, unit_text, rule)
            if value is None:
                return None
            if ucum is None:
                ucum = _infer_unit(kind, value, rule)
                if ucum is None and rule["default_ucum"] is None and kind == "body_temperature":
                    return None  # "T 60": not a temperature in either scale
            if ucum is not None:
                bounds = rule["units"].get(ucum)
                if bounds is None or not bounds[0] <= value <= bounds[1]:
                    return None  # a pulse of 4000, a weight of 0.01 kg
            elif not any(lo <= value <= hi for lo, hi in rule["units"].values()):
                return None
            if kind == "body_weight" and ucum == "[lb_av]":
                ounces = _OUNCES.match(text, end)
                if ounces:  # "6 pounds 14 ounces": a birth weight, kept in pounds
                    value = round(value + float(ounces.group("oz")) / 16, 3)
                    parts["value"] = [m.start("v"), ounces.end()]
                    end = ounces.end()
            attrs.update({"value": value, "unit": ucum, "ucum": ucum, "unit_text": unit_text})
            if m.group("cmp") and kind != "blood_pressure":
                attrs["comparator"] = COMPARATORS.get(" ".join(m.group("cmp").lower().split()))
            else:
                after = comparator_after(text, end)
                if after is not None:  # "BMI 30 kg/m2 or greater"
                    attrs["comparator"], end = after
        if kind == "oxygen_saturation" and _ROOM_AIR.search(text, m.end("name"), m.start("v")):
            attrs["oxygen"] = "room air"  # "oxygen saturation on room air was 94%"
        if kind == "oxygen_saturation":
            o2 = _OXYGEN.match(text, end)
            if o2:
                supplement = re.sub(r"\s+", " ", o2.group("o2"))
                attrs["oxygen"] = (
                    "room air" if supplement.lower() in ("ra", "room air") else (supplement)
                )
                if o2.group("flow"):
                    attrs["oxygen_flow"] = {"value": parse_number(o2.group("flow")),
                                            "unit": "L/min"}  # fmt: skip
                parts["oxygen"] = [o2.start("o2"), o2.end("o2")]
                end = o2.end("o2")
        attrs["parts"] = parts
        return {"start": m.start("name"), "end": end, "rule": rule, "attributes": attrs}

    def _read_range(
        self,
        m: re.Match[str],
        rule: dict[str, Any],
        lo_text: str,
        parts: dict[str, list[int]],
        attrs: dict[str, Any],
        unit_text: str | None,
        end: int,
    ) -> dict[str, Any] | None:
        """A range of values ("BMI 30-42"): both ends plausible in one unit, low below high."""
        kind = rule["kind"]
        hi_text = m.group("bhi") or m.group("rhi")
        low, high = parse_number(lo_text), parse_number(hi_text)
        if low is None or high is None or not low < high:
            return None
        ucum = self._ucum(kind, unit_text, rule) or _infer_unit(kind, high, rule)
        bounds = rule["units"].get(ucum) if ucum else None
        if bounds is None or not (bounds[0] <= low and high <= bounds[1]):
            return None
        attrs.update({"value_range": {"low": low, "high": high}, "unit": ucum, "ucum": ucum,
                      "unit_text": unit_text})  # fmt: skip
        attrs["parts"] = parts
        return {"start": m.start("name"), "end": end, "rule": rule, "attributes": attrs}

    def _ucum(self, kind: str, unit_text: str | None, rule: dict[str, Any]) -> str | None:
        default: str | None = rule["default_ucum"]
        if not unit_text:
            return default
        squeezed = re.sub(r"\s+", " ", unit_text.lower().replace("º", "°"))
        if kind == "body_temperature":
            return "[degF]" if squeezed.endswith(("f", "fahrenheit")) else "Cel"
        return self.units.to_ucum(squeezed) or default

    def __call__(self, doc: Doc) -> Doc:
        new: list[Span] = []
        for found in self.find(doc_text(doc)):
            span = make_span(
                doc,
                found["start"],
                found["end"],
                LABEL,
                extractor=VitalExtractor.name,
                version=VERSION,
                rule_id=found["rule"]["rule_id"],
                codes=found["rule"]["codes"],
                attributes=found["attributes"],
            )
            if span is not None:
                new.append(span)
        add_spans(doc, new)
        return doc


def _infer_unit(kind: str, value: float, rule: dict[str, Any]) -> str | None:
    """Temperature without a unit: 96-108 is Fahrenheit, 34-42 Celsius; otherwise unknown."""
    if kind == "body_temperature":
        if 90 <= value <= 110:
            return "[degF]"
        if 33 <= value <= 43:
            return "Cel"
    return None


@Language.factory("ns_vitals")
def make_vital_tagger(nlp: Language, name: str) -> VitalTagger:
    """spaCy factory for :class:`VitalTagger`."""
    return VitalTagger(nlp, name)


class VitalExtractor:
    """Vital signs with FHIR vital-signs LOINC codes and UCUM units."""

    name: ClassVar[str] = "vitals"
    version: ClassVar[int] = VERSION
    labels: ClassVar[frozenset[str]] = frozenset({LABEL})

    def add_pipes(self, nlp: Language, options: Mapping[str, object]) -> None:
        """Add ``ns_vitals``."""
        nlp.add_pipe("ns_vitals")

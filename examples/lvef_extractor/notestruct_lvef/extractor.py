"""LVEF extractor: "LVEF 35%", "ejection fraction of 55-60%" -> LAB spans with LOINC 10230-1."""

import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any, ClassVar

from spacy.language import Language
from spacy.tokens import Doc

from extractors.patterns import add_spans, alternation, make_span

# Version history:
# 1 (2026-11): percent values and ranges after LVEF / EF / ejection fraction.
VERSION = 1

#: LVEF is an observation with a quantity and a LOINC code, which is what notestruct's LAB
#: label maps to (a FHIR Observation). A new label would need a mapper in notestruct itself.
LABEL = "LAB"

_NUMBER = r"\d{1,2}(?:\.\d)?"
_CONNECTOR = (
    r"(?:[ \t]*(?:is|was|of|at|to|:|=|~|estimated|visually|calculated|measured|approximately|"
    r"approx\.?|about|around|roughly|in\s+the\s+range\s+of|between|severely|moderately|mildly|"
    r"reduced|depressed|preserved|normal|low|decreased|\()(?![a-z]))*"
)


def _load_rules() -> list[dict[str, Any]]:
    path = resources.files("notestruct_lvef") / "rules" / "lvef.json"
    return list(json.loads(path.read_text(encoding="utf-8"))["rules"])


class LvefTagger:
    """Adds a LAB span with ``{"value"|"value_low"/"value_high", "unit": "%"}`` per LVEF."""

    def __init__(self, nlp: Language, name: str) -> None:
        self.name = name
        self.rules = _load_rules()
        self.patterns = [
            (
                re.compile(
                    rf"(?<![\w-])(?P<name>{alternation(rule['terms'])})(?![\w-]){_CONNECTOR}"
                    rf"[ \t]*(?P<cmp>[<>]=?|less\s+than\s+|greater\s+than\s+)?"
                    rf"(?P<lo>{_NUMBER})[ \t]*%?(?:[ \t]*(?:-|–|to|and)[ \t]*(?P<hi>{_NUMBER}))?"
                    r"[ \t]*(?P<pct>%|percent)",
                    re.IGNORECASE,
                ),
                rule,
            )
            for rule in self.rules
        ]

    def __call__(self, doc: Doc) -> Doc:
        new = []
        for pattern, rule in self.patterns:
            for m in pattern.finditer(doc.text):
                low, high = float(m.group("lo")), float(m.group("hi") or m.group("lo"))
                lo_ok, hi_ok = rule["plausible"]
                if not (lo_ok <= low <= high <= hi_ok):
                    continue
                attrs: dict[str, Any] = {"test": "LVEF", "unit": "%", "ucum": "%"}
                if m.group("hi"):
                    attrs.update({"value_low": _num(low), "value_high": _num(high)})
                else:
                    attrs["value"] = _num(low)
                if m.group("cmp"):
                    cmp = m.group("cmp").strip().lower()
                    attrs["comparator"] = {"less than": "<", "greater than": ">"}.get(cmp, cmp)
                attrs["parts"] = {
                    "name": [m.start("name"), m.end("name")],
                    "value": [m.start("lo"), m.end("hi") if m.group("hi") else m.end("lo")],
                }
                span = make_span(
                    doc,
                    m.start("name"),
                    m.end("pct"),
                    LABEL,
                    extractor=LvefExtractor.name,
                    version=VERSION,
                    rule_id=rule["rule_id"],
                    codes=rule["codes"],
                    attributes=attrs,
                )
                if span is not None:
                    new.append(span)
        add_spans(doc, new)
        return doc


def _num(value: float) -> float | int:
    return int(value) if value.is_integer() else value


@Language.factory("ns_lvef")
def make_lvef_tagger(nlp: Language, name: str) -> LvefTagger:
    """spaCy factory for :class:`LvefTagger`."""
    return LvefTagger(nlp, name)


class LvefExtractor:
    """Left ventricular ejection fraction values (LOINC 10230-1) as LAB mentions."""

    name: ClassVar[str] = "lvef"
    version: ClassVar[int] = VERSION
    labels: ClassVar[frozenset[str]] = frozenset({LABEL})

    def add_pipes(self, nlp: Language, options: Mapping[str, object]) -> None:
        """Add ``ns_lvef``."""
        nlp.add_pipe("ns_lvef")

"""Medication extractor: drug mentions with their sig (strength, dose, route, frequency, ...)."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from spacy.language import Language
from spacy.tokens import Doc, Span

from extractors.base import ALLERGY_CONTEXT_DRUGS, NOT_MENTIONS, doc_text
from extractors.extensions import span_values
from extractors.patterns import (
    NUMBER,
    SPELLED_NUMBER,
    WORD_NUMBER,
    FirstCharIndex,
    TermStarts,
    add_spans,
    alternation,
    char_bounds,
    existing_spans,
    load_rules,
    make_span,
    matches_at,
    parse_number,
    term_key,
)
from extractors.units import UnitNormalizer
from schemas.ids import name_key

# Version history:
# 1 (2026-11): sig parser (strength, dose, form, route, frequency, when, duration, PRN) after
#              MEDICATION spans of earlier extractors and a curated drug list.
# 2 (2026-12): sigs written as prose around the drug and across its clause ("60 mg of X",
#              "intravenous infusions of X", "X was administered intravenously at a dose of");
#              regimen words ("high-dose", "three cycles"); "24 million units", "mg/kg/day";
#              measured substances (analytes.json) are drugs only when given.
# 3 (2026-12): the sig after the drug's own abbreviation in parentheses ("liposomal
#              amphotericin B (L-AMB) (3 mg/kg/day)") is the drug's; a route right before
#              the next drug is that drug's ("fluconazole, topical antibiotic"); glucose,
#              oxygen, fibrinogen, mannitol and zinc as drugs when given ("4 L/min of
#              oxygen"), not in "glucose tolerance test" or "105 mg/dL"; "for" and "a total
#              of" link a regimen after the drug ("carboplatin for 3 cycles").
# 4 (2026-12): a regimen written once for a coordinated list of drugs is every drug's ("8
#              cycles of X, Y, and Z", "X and Y, which she received for 3 cycles"); regimen
#              qualifiers and relative pronouns link; a rate ("7 L/min of oxygen") is given.
# 5 (2026-12): a drug that an earlier extractor found but nothing codes (rule med-sig, which
#              every such drug shares) carries ``name_key``, the hash of its normalised name,
#              so the warehouse views tell uncoded drugs apart without showing their names.
# 6 (2026-12): later doses in the drug's clause as ``dose_changes`` ("tapered to 10 mg daily",
#              "increased to 50 mg, then 100 mg"; FHIR: further Dosage entries in sequence);
#              strengths spelled out ("Five hundred milligrams"); an amount joined by "of" to
#              the next drug is that drug's ("heparin (0.6 ml of enoxaparin)"); the amount
#              before a concentration is the dose ("10 mL of 0.5% Marcaine"); "high doses"
#              and a regimen before a drug whose sig is whole ("a single dose of IV X (0.3
#              mcg/kg)"); "will" links; UCUM for a dose per weight or time ("mcg/kg/min");
#              "hypodermic" (subcutaneous) and "ingestion" (oral) as routes, "concentrate" as
#              a form; measured substances compared with hyphens read as spaces.
# 7 (2026-12): a hormone, vitamin or measured substance (analytes.json) followed by a level
#              in a laboratory's unit ("progesterone 0.4 ng/ml", "growth hormone (GH), 0.50
#              ng/ml"; a drug the body does not make keeps its drug: "digoxin level 2.1 ng/mL"),
#              or a drug naming a test by its reagent ("13C urea breath test", "dexamethasone
#              suppression test", "collagen/epinephrine closure time") or a method
#              ("contraceptive methods") is no drug given; a
#              concentration right before the name is its strength and the amount after it the
#              dose ("15% glucose (7.8 mg/kg/min)", "10 mL of 1% lidocaine"); a specimen before
#              such a substance and a level after it ("total carnitine levels", "CSF/plasma
#              albumin ratio") name a measurement, not a drug given.
# 8 (2026-12): drug codes from the dictionary no longer include the drug vocabulary's MeSH id
#              of a pharmacological action (dictionary 18); names it leaves out are drugs
#              (dictionary 15: thiamine, iron, Solu-Cortef).
VERSION = 8

LABEL = "MEDICATION"
RULES = "medications"
#: The measured substances (``rules/analytes/analytes.json``), shared with the labs extractor.
ANALYTES = "analytes"

#: Units that make a number a strength ("500 mg") rather than a count of forms; a per-weight,
#: per-area or per-time denominator may follow ("mg/kg/day", "mg/m2", "L/min").
_STRENGTH_UNITS = (
    r"(?:mg/5\s?ml|mg/ml|mcg/ml|mg|mcg|µg|μg|ug|gm|grams?|g|milligrams?|micrograms?|"
    r"units?|iu|ui|meq|mmol|ml|cc|l|%)"
    r"(?:\s?/\s?(?:kg|kilograms?|m2|m²|day|d|j|dose|hr|h|min|week|wk|month|mo)(?![a-z]))*"
)
#: Units written after a strength spelled out ("five hundred milligrams", "ten units").
_SPELLED_UNITS = (
    r"(?:milligrams?|micrograms?|grams?|units?|milli-?lit(?:er|re)s?|mg|mcg|ml|g)"
    r"(?:\s?/\s?(?:kg|m2|m²|day|d|dose|hr|h|min|week|wk)(?![a-z]))*"
)
#: Words of a sentence that may stand between a drug and its dose or route when a sig is
#: written as prose ("was started on intravenous X", "X was administered intravenously at a
#: dose of 5 mg/kg", "60 mg of X", "infusions of X"): auxiliaries, verbs of giving and
#: changing a dose, prepositions, and nouns that name the act of giving.
_PROSE_LINKS = (
    r"was|were|is|are|be|been|being|has|have|had|will|then|subsequently|initially|immediately|"
    r"also|later|eventually|currently|again|further|gradually|"
    r"administered|administrated|given|started|initiated|commenced|infused|injected|"
    r"prescribed|continued|increased|decreased|tapered|reduced|changed|titrated|escalated|"
    r"adjusted|restarted|resumed|received|instilled|delivered|"
    r"at|a|an|the|dose|doses|dosage|dosing|of|to|from|with|via|by|in|up|over|per|for|total|"
    r"therapy|treatment|supplementation|regimen|infusion|infusions|injection|injections|"
    r"administration|bolus|boluses|pulse|pulses|course|courses|"
    # a relative clause about the drug ("X, which she received for 3 cycles") and the
    # qualifiers of a regimen ("4 cycles of adjuvant conventional chemotherapy")
    r"which|who|he|she|they|patient|adjuvant|neoadjuvant|conventional|palliative|systemic|"
    r"combination|first-line|second-line|third-line|salvage|induction|consolidation"
)
#: What separates and what makes a word when a prose sig is read word by word (``_items``).
_PROSE_SPACE = re.compile(r"[\s,()\[\]:–-]+")
_PROSE_WORD = re.compile(r"[^\s,()\[\]:;]+")
#: Words that say a substance is given to the patient, not measured in them.
_GIVING = re.compile(
    r"\b(?:given|administered|administrated|started|initiated|commenced|prescribed|"
    r"received|receiving|infused|injected|treated|treatment|therapy|supplement(?:ation|ed|s)?|"
    r"replacement|replete|repleted|repletion|infusions?|injections?|dose|doses|dosage|"
    r"tablets?|capsules?)\b",
    re.IGNORECASE,
)
#: Connectors allowed before the drug too: two routes joined ("topical and oral X").
_PROSE_LINKS_BEFORE = _PROSE_LINKS + r"|and|or"
#: A clause ends at a full stop before a capital or a line end, a semicolon or a blank line.
_CLAUSE_END = re.compile(r"\.(?=\s+[A-Z(]|\s*$)|;|\n(?=\s*\n)|\n(?=\s*[A-Z])")
#: Words that end a PRN reason ("prn pain and nausea q6h": the reason is "pain and nausea").
_REASON_STOP = frozenset({"or", "but", "then", "not", "to", "until", "max", "maximum", "do"})
_ALLERGY_CONTEXT = re.compile(r"allerg|intoleran|sensitivity|reaction\s+to", re.IGNORECASE)


@dataclass
class _Part:
    kind: str
    start: int
    end: int
    value: dict[str, Any] = field(default_factory=dict)


class SigParser:
    """Reads the sig that follows a drug name, component by component, from rules data."""

    def __init__(self, units: UnitNormalizer) -> None:
        self.units = units
        forms = load_rules(RULES, "forms.json")
        self.form_of = {w.lower(): name for name, words in forms["forms"].items() for w in words}
        self.countable = set(forms["countable"])
        form_alt = alternation(self.form_of)
        modifiers = alternation(forms["modifiers"])
        words = [w for w in forms["fillers"] if any(c.isalpha() for c in w)]
        fillers = alternation(words)
        punct = "".join(re.escape(w) for w in forms["fillers"] if w not in words)
        flags = re.IGNORECASE
        num = rf"(?:{NUMBER}|{WORD_NUMBER})"
        self.patterns: list[tuple[str, re.Pattern[str], dict[str, Any]]] = [
            (
                # a range of strengths: "2.5-3.75 mg", "81–325 mg", "2.5 to 5 mg"
                "strength",
                re.compile(
                    rf"(?P<lo>{NUMBER})\s?(?:-|–|—|to)\s?(?P<hi>{NUMBER})"
                    rf"\s?(?P<u>{_STRENGTH_UNITS})(?![a-z0-9])",
                    flags,
                ),
                {},
            ),
            (
                "strength",
                re.compile(
                    rf"(?P<v>{NUMBER}(?:\s?/\s?{NUMBER})*)(?:\s?(?P<x>million|thousand))?"
                    rf"\s?(?:-\s?)?(?P<u>{_STRENGTH_UNITS})(?![a-z0-9])",
                    flags,
                ),
                {},
            ),
            (
                # a strength spelled out, as a sentence starts: "Five hundred milligrams"
                "strength",
                re.compile(
                    rf"(?<![\w-])(?P<v>{SPELLED_NUMBER})[ -](?P<u>{_SPELLED_UNITS})(?![a-z0-9])",
                    flags,
                ),
                {},
            ),
            (
                "dose",
                re.compile(
                    r"(?P<v>1/2|one[- ]half|half\s+a|"
                    rf"(?P<lo>{num})\s?(?:-|to)\s?(?P<hi>{num})|{num})"
                    rf"\s?(?P<f>{form_alt})(?![a-z])",
                    flags,
                ),
                {},
            ),
            ("form", re.compile(rf"(?P<f>{form_alt})(?![a-z])", flags), {}),
            ("modifier", re.compile(rf"(?:{modifiers})(?![a-z])", flags), {}),
            (
                # how much of a regimen, in words: "high-dose", "a single dose", "3 cycles"
                "regimen",
                re.compile(
                    r"(?:(?:high|low|full|loading|maintenance|single|double|standard|reduced|"
                    r"stress|pulse|booster|bolus)[- ]?dos(?:es|ing|ed|e)(?![a-z])|"
                    rf"(?:{num}|several|multiple|repeated|two-|three-)\s?"
                    r"(?:cycles?|courses?|rounds?|infusions?|doses?|injections?|pulses?|"
                    r"sessions?)(?![a-z]))",
                    flags,
                ),
                {},
            ),
            (
                "duration",
                re.compile(
                    r"(?:for|x|×|times|over)\s?(?:a\s+total\s+of\s+|another\s+|the\s+next\s+)?"
                    rf"(?P<n>{num}|a|an)?\s?(?:more\s+|additional\s+|further\s+)?"
                    r"(?P<u>days?|d|weeks?|wks?|months?|mos?)(?![a-z])",
                    flags,
                ),
                {},
            ),
            (
                "prn",
                re.compile(
                    r"(?:p\.?\s?r\.?\s?n\.?|as\s+needed|as\s+necessary|when\s+needed|if\s+needed|"
                    r"as\s+required|when\s+required)(?![a-z])",
                    flags,
                ),
                {},
            ),
        ]
        route_terms: set[str] = set()
        for route in load_rules(RULES, "routes.json")["routes"]:
            pattern = re.compile(rf"(?:{alternation(route['terms'])})(?![a-z])", flags)
            self.patterns.append(("route", pattern, route))
            route_terms.update(" ".join(t.lower().split()) for t in route["terms"])
        #: A route before a drug ends its line's text: ASCII text that ends with none of these
        #: (lower case, blanks squeezed) has none.
        self.route_suffixes = tuple(sorted(route_terms))
        freqs = load_rules(RULES, "frequencies.json")
        for rule in freqs["frequencies"]:
            for pat in rule["patterns"]:
                self.patterns.append(("frequency", re.compile(pat, flags), rule))
        for rule in freqs["when"]:
            for pat in rule["patterns"]:
                self.patterns.append(("when", re.compile(pat, flags), rule))
        self.skip = re.compile(rf"(?:\s+|[{punct}]|(?:{fillers})(?![a-z0-9]))+", flags)
        self.blank = re.compile(r"[ \t]*\n?[ \t]*")
        self.strength_bare = re.compile(rf"(?P<v>{NUMBER}(?:/{NUMBER})*)(?![\d.,/a-z%])", flags)
        # only the patterns that can start with the character at a position are tried there
        self.first_index = FirstCharIndex([pattern for _, pattern, _ in self.patterns])
        self.route_patterns = [p for p in self.patterns if p[0] == "route"]
        #: a prose sig needs a number, a route or a regimen word: windows without one are
        #: not read word by word
        self._prose_gate = re.compile(
            rf"\d|(?<![a-z])(?:{alternation(route_terms)})(?![a-z])|dos(?:e|es|ing)\b|"
            r"grams?\b|units?\b|"
            r"cycles?\b|courses?\b|rounds?\b|infusions?\b|injections?\b|pulses?\b|"
            r"daily|weekly|monthly|nightly|hourly|twice|once|every|times|\b[bt]\.?i\.?d\b|"
            r"\bq\.?i\.?d\b|\bq\.?\d",
            flags,
        )
        self._links_after = re.compile(rf"(?:{_PROSE_LINKS})(?![\w-])", flags)
        self._links_before = re.compile(rf"(?:{_PROSE_LINKS_BEFORE})(?![\w-])", flags)

    def _best(self, text: str, pos: int, limit: int, first: bool) -> _Part | None:
        best: tuple[re.Match[str], str, dict[str, Any]] | None = None
        patterns = self.patterns
        for i in self.first_index.candidates(text, pos, limit):
            kind, pattern, rule = patterns[i]
            m = pattern.match(text, pos, limit)
            if m and m.end() > m.start() and (best is None or m.end() > best[0].end()):
                best = (m, kind, rule)
        if best is None and first:
            m = self.strength_bare.match(text, pos, limit)
            if m:
                best = (m, "strength", {})
        if best is None:
            return None
        m, kind, rule = best
        return _Part(kind, m.start(), m.end(), self._value(kind, m, rule))

    def _value(self, kind: str, m: re.Match[str], rule: dict[str, Any]) -> dict[str, Any]:
        text = m.group(0)
        if kind == "strength" and m.groupdict().get("lo"):
            unit = m.group("u")
            return {
                "value_low": parse_number(m.group("lo")),
                "value_high": parse_number(m.group("hi")),
                "unit": unit,
                "ucum": self.units.to_ucum(unit),
                "text": text,
            }
        if kind == "strength":
            values = [parse_number(v) for v in re.split(r"\s?/\s?", m.group("v"))]
            multiplier = (m.groupdict().get("x") or "").lower()
            scale = {"million": 1_000_000, "thousand": 1_000}.get(multiplier)
            if scale:
                values = [v * scale if v is not None else v for v in values]
            unit = m.groupdict().get("u")
            return {
                "value": values[0] if len(values) == 1 else values,
                "unit": unit,
                "ucum": self.units.to_ucum(unit) if unit else None,
                "text": text,
            }
        if kind == "dose":
            form = self.form_of.get(term_key(m.group("f")), term_key(m.group("f")))
            out: dict[str, Any] = {"unit": form, "text": text}
            if m.group("lo"):
                out["value_low"] = parse_number(m.group("lo"))
                out["value_high"] = parse_number(m.group("hi"))
            else:
                raw = re.sub(r"[\s-]+", " ", m.group("v").lower())
                half = raw in ("1/2", "one half", "half a")
                out["value"] = 0.5 if half else parse_number(raw)
            return out
        if kind == "form":
            return {"form": self.form_of.get(term_key(m.group("f"))), "text": text}
        if kind == "route":
            return {
                "code": rule["code"],
                "display": rule["display"],
                "snomed": rule["snomed"],
                "rule_id": rule["rule_id"],
                "text": text,
            }
        if kind == "frequency":
            groups = m.groupdict()
            period = rule["period"]
            period_max = None
            if period is None and rule["period_unit"] is not None:
                period = parse_number(groups.get("n") or "1")
                period_max = parse_number(groups["n2"]) if groups.get("n2") else None
            out = {
                "code": rule["code"],
                "frequency": rule["frequency"],
                "period": period,
                "period_unit": rule["period_unit"],
                "rule_id": rule["rule_id"],
                "text": text,
            }
            if period_max is not None:
                out["period_max"] = period_max
            if rule.get("when"):
                out["when"] = list(rule["when"])
            if rule.get("count"):
                out["count"] = rule["count"]
            return out
        if kind == "when":
            return {"when": rule["when"], "text": text}
        if kind == "duration":
            unit = m.group("u").lower()
            unit_code = "d" if unit.startswith("d") else "wk" if unit.startswith("w") else "mo"
            n = m.group("n")
            return {"value": parse_number(n) if n else 1, "unit": unit_code, "text": text}
        return {"text": text}

    def _reason(self, text: str, pos: int, limit: int) -> tuple[int, int] | None:
        """The PRN reason after ``pos`` ("for pain", "pain", "for shortness of breath")."""
        if text[pos - 1] == "." and re.match(r"[ \t]*(?:\n|[A-Z]|$)", text[pos : pos + 4]):
            return None  # "Ibuprofen PRN.\nALLERGIES": the sentence ended with the PRN
        m = re.compile(r"[ \t]*(?:for|of|with)?[ \t]*", re.IGNORECASE).match(text, pos, limit)
        cursor = m.end() if m else pos
        start = end = cursor
        words = 0
        word = re.compile(r"[a-z][a-z'-]*(?:/[a-z]+)?", re.IGNORECASE)
        while words < 5:
            w = word.match(text, cursor, limit)
            if not w or w.group(0).lower() in _REASON_STOP:
                break
            if self._best(text, cursor, limit, first=False) is not None:
                break
            end = w.end()
            words += 1
            gap = re.compile(r"[ \t]+").match(text, end, limit)
            if not gap:
                break
            cursor = gap.end()
        return (start, end) if end > start else None

    def route_before(self, text: str, drug_start: int, after: int = 0) -> _Part | None:
        """A route written just before the drug name ("IV heparin"), on the same line.

        Text before ``after`` (the previous drug's sig) is not looked at.
        """
        window_start = max(after, drug_start - 24, text.rfind("\n", 0, drug_start) + 1)
        window = text[window_start:drug_start]
        if window.isascii() and not " ".join(window.split()).lower().endswith(self.route_suffixes):
            return None
        for kind, pattern, rule in self.patterns:
            if kind != "route":
                continue
            for m in pattern.finditer(window):
                before = window[m.start() - 1] if m.start() > 0 else " "
                if m.end() == len(window.rstrip()) and not before.isalnum():
                    if window[m.end() :].strip() == "":
                        start = window_start + m.start()
                        end = window_start + m.end()
                        return _Part("route", start, end, self._value(kind, m, rule))
        return None

    def _items(
        self, text: str, start: int, end: int, links: re.Pattern[str]
    ) -> list[_Part | None]:
        """The words of ``text[start:end]`` read left to right: a sig part, a link word (an
        empty ``_Part`` of kind "link"), or None for any other word."""
        items: list[_Part | None] = []
        pos = start
        space = _PROSE_SPACE
        while pos < end:
            gap = space.match(text, pos, end)
            if gap and gap.end() > pos:
                pos = gap.end()
                continue
            part = self._best(text, pos, end, first=False)
            if part is not None and part.kind == "modifier":
                # "oral" is a route as well as part of a product name: a route wins here
                part = self.route_at(text, pos, end) or part
            if part is not None:
                # a modifier ("extended-release") links like a word
                items.append(part if part.kind != "modifier" else _Part("link", pos, part.end))
                pos = part.end
                continue
            link = links.match(text, pos, end)
            if link:
                items.append(_Part("link", link.start(), link.end(), {}))
                pos = link.end()
                continue
            word = _PROSE_WORD.match(text, pos, end)
            items.append(None)
            pos = word.end() if word else pos + 1
        return items

    def route_at(self, text: str, pos: int, end: int) -> _Part | None:
        """The longest route written at ``pos`` ("oral", "IV push"), or None."""
        best: _Part | None = None
        for kind, pattern, rule in self.route_patterns:
            m = pattern.match(text, pos, end)
            if m and m.end() > pos and (best is None or m.end() > best.end):
                best = _Part("route", m.start(), m.end(), self._value(kind, m, rule))
        return best

    def clause_bounds(self, text: str, drug_start: int, drug_end: int) -> tuple[int, int]:
        """The clause around a drug name: back to the previous clause end, on to the next."""
        lo = 0
        for m in _CLAUSE_END.finditer(text, max(0, drug_start - 200), drug_start):
            lo = m.end()
        after = _CLAUSE_END.search(text, drug_end)
        return lo, after.start() if after else len(text)

    def giving_nearby(self, text: str, start: int, end: int) -> bool:
        """A verb or noun of giving in the clause of the substance at ``[start, end)``: "was
        given magnesium", "calcium supplementation", "an infusion of albumin"."""
        lo, hi = self.clause_bounds(text, start, end)
        window = text[max(lo, start - 60) : min(hi, end + 40)]
        return _GIVING.search(window) is not None

    def prose_before(self, text: str, drug_start: int, after: int, lo: int) -> list[_Part]:
        """Dose and route written before the drug in prose, linked to it by nothing but link
        words: "60 mg prednisolone", "1 g of IV methylprednisolone", "intravenous infusions
        of sodium bicarbonate", "high-dose intravenous dexamethasone". Text before ``after``
        (the previous drug and its sig) and before ``lo`` (the clause start) is not read."""
        start = max(after, lo, drug_start - 80)
        if not self._prose_gate.search(text, start, drug_start):
            return []
        items = self._items(text, start, drug_start, self._links_before)
        parts: list[_Part] = []
        for item in reversed(items):
            if item is None:
                break
            if item.kind != "link":
                parts.insert(0, item)
        return parts

    def prose_after(self, text: str, start: int, limit: int) -> list[_Part]:
        """Dose, route and frequency written after the drug across a clause: "X was
        administered intravenously", "X (initially at 5 mg/kg ...)", "X at a dose of 1 mg/kg".
        Reads up to ``limit`` (the next drug or the clause end) and stops at the first word
        that is neither a sig part nor a link word."""
        parts: list[_Part] = []
        if not self._prose_gate.search(text, start, limit):
            return parts
        for item in self._items(text, start, limit, self._links_after):
            if item is None:
                break
            if item.kind != "link":
                parts.append(item)
        return parts

    def dose_changes(self, text: str, start: int, limit: int) -> list[tuple[str, list[_Part]]]:
        """Later doses of the drug read in its clause after its sig: "tapered to 10 mg daily",
        "increased to 20 mg twice daily, then 40 mg", "a maintenance dose of 5 mg daily".

        Each is (direction, parts): the new strength or dose (with a unit) and what follows it
        (frequency, route). Reads from ``start`` to ``limit`` (the clause end or the next drug);
        a measured thing named before the change ("creatinine increased to 2.3 mg") ends it.
        """
        changes: list[tuple[str, list[_Part]]] = []
        pos = start
        while pos < limit:
            m = _DOSE_CHANGE.search(text, pos, limit)
            if m is None or _MEASURED.search(text, pos, m.start()):
                break
            parts = self.parse(text, m.end(), limit)
            if not parts or parts[0].kind not in ("strength", "dose") or not parts[0].value.get(
                "unit"
            ):
                pos = m.end()
                continue
            if _CONCENTRATION.match(text, parts[0].end) or _SHARE_OF.match(text, parts[0].end):
                break  # "2.3 mg/dL": a level, not a dose; "an 8% risk": a share of something
            verb = (m.group("verb") or m.group("noun") or "").lower()
            direction = next((d for d, stems in _DIRECTIONS if verb.startswith(stems)), "change")
            changes.append((direction, parts))
            pos = parts[-1].end
            step = _THEN.match(text, pos, limit)
            while step is not None:
                more = self.parse(text, step.end(), limit)
                if not more or more[0].kind not in ("strength", "dose"):
                    break
                changes.append((direction, more))
                pos = more[-1].end
                step = _THEN.match(text, pos, limit)
        return changes

    def parse(self, text: str, start: int, limit: int) -> list[_Part]:
        """Components of the sig that starts at ``start`` and may not reach ``limit``."""
        parts: list[_Part] = []
        pos = start
        seen: dict[str, object] = {}
        while pos < limit:
            gap = self.blank.match(text, pos, limit)
            at = gap.end() if gap else pos
            first = all(p.kind == "modifier" for p in parts)
            part = self._best(text, at, limit, first=first)
            if part is None:
                skipped = self.skip.match(text, pos, limit)
                if not skipped or skipped.end() >= limit or "\n\n" in skipped.group(0):
                    break
                part = self._best(text, skipped.end(), limit, first=False)
                if part is None:
                    break
            if part.kind == "modifier" and parts and parts[-1].kind != "modifier":
                break  # "ER" after the sig started belongs to something else
            if part.kind in seen and part.kind in ("strength", "route", "frequency"):
                if part.value.get("code") is None or part.value.get("code") != seen[part.kind]:
                    break  # a second, different frequency: a taper step or another drug
            seen.setdefault(part.kind, part.value.get("code"))
            parts.append(part)
            pos = part.end
            if part.kind == "prn":
                reason = self._reason(text, pos, limit)
                if reason:
                    parts.append(
                        _Part("prn_reason", *reason, {"text": text[reason[0] : reason[1]]})
                    )
                    pos = reason[1]
        return parts


#: A change of a drug's dose after its first sig: a verb of change with "to" (the words
#: between naming the old dose are skipped), or a noun phrase naming the new dose.
_DOSE_CHANGE = re.compile(
    r"\b(?:(?P<verb>taper(?:ed|ing)?|wean(?:ed|ing)|reduc(?:ed|ing)|decreas(?:ed|ing)|"
    r"lower(?:ed|ing)|increas(?:ed|ing)|rais(?:ed|ing)|escalat(?:ed|ing)|"
    r"(?:up|down)?-?titrat(?:ed|ing)|chang(?:ed|ing)|adjust(?:ed|ing)|switch(?:ed|ing))"
    r"(?:\s+(?:down|up|back|gradually|slowly|progressively|rapidly|further))*"
    r"(?:\s+from\s+[^.;()]{1,40}?)?\s+to\s+(?:an?\s+|the\s+)?"
    r"(?:(?:maintenance|daily|total|lower|higher|reduced|final)\s+)?(?:dos(?:e|age)\s+of\s+)?|"
    r"(?P<noun>maintenance|tapering|reduced|lower|higher|increased|decreased|final)"
    r"\s+dos(?:e|age)\s+(?:of\s+|was\s+|is\s+)?)",
    re.IGNORECASE,
)
#: What a direction of change starts with.
_DIRECTIONS = (
    ("decrease", ("taper", "wean", "reduc", "decreas", "lower", "down")),
    ("increase", ("increas", "rais", "escalat", "up", "higher")),
)
#: "..., then 20 mg": a further step of a taper.
_THEN = re.compile(r"[ \t]*,?[ \t]*(?:and[ \t]+)?then[ \t]+(?:to[ \t]+)?", re.IGNORECASE)
#: A measured thing before a verb of change: the change is its value, not a dose.
_MEASURED = re.compile(
    r"\b(?:levels?|counts?|concentrations?|pressure|rate|saturation|titers?|titres?|values?|"
    r"weight|scores?|clearance|creatinine|glucose|potassium|sodium|hemoglobin|haemoglobin|"
    r"bilirubin|lactate|troponin|INR)\b",
    re.IGNORECASE,
)
#: A unit that goes on into a concentration ("mg/dL", "mmol/L"): a level, not a dose.
_CONCENTRATION = re.compile(r"\s?/\s?(?:d?l|dL|ml|mL|L)\b")

#: "of" after an amount, before a strength: "10 mL of 0.5% ...", "2 cc of a 1% ...".
_AMOUNT_OF = re.compile(r"[ \t]+of[ \t]+(?:an?[ \t]+)?\d", re.IGNORECASE)

#: A concentration written right before a drug's name: "15% glucose", "1% lidocaine".
_PERCENT_BEFORE = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)?[ \t]?%[ \t]+$")


def _concentration_before(
    parser: SigParser, parts: list[_Part], text: str, start: int, after: int
) -> None:
    """A concentration right before the drug ("an infusion of 15% glucose (7.8 mg/kg/min)",
    "10 mL of 1% lidocaine") is its strength even when an amount or a rate follows the name:
    the amount after it is then the dose given. Text before ``after`` (the previous drug and
    its sig) is not read."""
    lo = max(after, start - 12)
    m = _PERCENT_BEFORE.search(text, lo, start)
    if m is None or any(p.start < start and p.end > m.start() for p in parts):
        return
    part = parser.parse(text, m.start(), start)
    if not part or part[0].kind != "strength":
        return
    strengths = [p for p in parts if p.kind == "strength"]
    if strengths:
        first = strengths[0]
        unit = str(first.value.get("unit") or "")
        if any(p.kind == "dose" for p in parts) or unit in ("", "%"):
            return  # "2% Xylocaine 0.75% ...": a second concentration, another drug's
        parts[parts.index(first)] = _Part("dose", first.start, first.end, first.value)
    parts.append(part[0])
    parts.sort(key=lambda p: p.start)


#: A regimen word shortly before a drug ("a single dose of", "two cycles of", "high-dose").
_REGIMEN_NEAR = re.compile(r"dos(?:e|es|ing|ed)\b|cycles?\b|courses?\b|pulses?\b",
                           re.IGNORECASE)  # fmt: skip

#: A percentage that is a share of something named after it ("reduced to an 8% risk").
_SHARE_OF = re.compile(r"(?<=%)[ \t]+(?!of\b)[a-z]", re.IGNORECASE)

#: Units of an amount given (not of a concentration measured).
_AMOUNT = frozenset({"mg", "g", "ug", "mcg", "gm", "meq", "u", "iu", "units", "unit", "mmol"})


def _given(parts: list[_Part], text: str) -> bool:
    """Sig parts that show a substance is given: a route, a dose form, a regimen, an amount
    (not a concentration: "105 mg/dL" is read as "105 mg" followed by "/dL")."""
    for p in parts:
        if p.kind in ("route", "dose", "form", "regimen", "frequency", "prn"):
            return True
        if p.kind != "strength":
            continue
        if str(p.value.get("unit") or "").lower() in _AMOUNT and not text.startswith("/", p.end):
            return True
        if _RATE.search(text, p.start, p.end):  # "7 L/min of oxygen", "2 mg/kg/min"
            return True
    return False


#: A strength given as a rate per minute or hour: an infusion or a flow, never a level.
_RATE = re.compile(r"/\s?(?:min|h|hr|hour)$", re.IGNORECASE)


def sig_attributes(parts: list[_Part], drug: tuple[int, int], text: str) -> dict[str, Any]:
    """Structured attributes (JSON-able) from parsed sig parts; offsets go under ``parts``."""
    attrs: dict[str, Any] = {"drug": text[drug[0] : drug[1]]}
    offsets: dict[str, list[int]] = {"drug": [drug[0], drug[1]]}
    when: list[str] = []
    when_text: list[str] = []
    for part in parts:
        value = dict(part.value)
        if part.kind == "modifier":
            continue
        if part.kind == "when":
            when.append(value["when"])
            when_text.append(value["text"])
            offsets.setdefault("when", [part.start, part.end])
            continue
        if part.kind == "prn":
            attrs["prn"] = True
            offsets["prn"] = [part.start, part.end]
            continue
        if part.kind == "prn_reason":
            attrs["prn_reason"] = value["text"]
            offsets["prn_reason"] = [part.start, part.end]
            continue
        if part.kind == "dose_change":
            change: dict[str, Any] = {"direction": value["direction"]}
            for step in value["parts"]:
                if step.kind in ("strength", "dose", "frequency", "route"):
                    step_value = dict(step.value)
                    step_value.pop("rule_id", None)
                    change.setdefault(step.kind, step_value)
            attrs.setdefault("dose_changes", []).append(change)
            offsets.setdefault("dose_change", [part.start, part.end])
            continue
        if part.kind == "form":
            attrs.setdefault("form", value["form"])
            offsets.setdefault("form", [part.start, part.end])
            continue
        value.pop("rule_id", None)
        attrs.setdefault(part.kind, value)
        offsets.setdefault(part.kind, [part.start, part.end])
        if part.kind == "dose" and value["unit"] and "ucum" not in value:
            attrs.setdefault("form", value["unit"])  # "2 tablets" (not "10 mL")
    if when:
        freq = attrs.setdefault("frequency", {"text": " ".join(when_text)})
        freq["when"] = sorted({*freq.get("when", []), *when})
    if parts:
        real = [
            p for p in parts if p.kind not in ("modifier", "dose_change") and p.start >= drug[1]
        ]
        if real:
            offsets["sig"] = [real[0].start, real[-1].end]
            attrs["sig"] = text[real[0].start : real[-1].end]
    attrs["parts"] = offsets
    return attrs


class MedicationTagger:
    """Turns drug names into MEDICATION spans carrying their sig as ``span._.attributes``."""

    def __init__(
        self, nlp: Language, name: str, use_curated_drugs: bool = True, max_sig_chars: int = 160
    ) -> None:
        self.name = name
        self.max_sig_chars = max_sig_chars
        self.parser = SigParser(UnitNormalizer())
        self.drugs: dict[str, dict[str, Any]] = {}
        terms: dict[str, str] = {}
        for rule in load_rules(RULES, "drugs.json")["drugs"]:
            self.drugs[rule["rule_id"]] = rule
            for term in (rule["name"], *rule["synonyms"]):
                terms[term.lower()] = rule["rule_id"]
        self.term_rule = terms
        drug_alt = alternation(terms)
        self.drug_re = (
            re.compile(rf"(?<![\w-])(?:{drug_alt})(?![\w-])", re.IGNORECASE)
            if use_curated_drugs
            else None
        )
        self.drug_starts = TermStarts(r"\w-", terms)
        measured = load_rules(ANALYTES, "analytes.json")
        analytes = {_analyte_key(t) for t in measured["analytes"]}
        #: hormones and vitamins the body makes, measured when a level follows their name
        self.hormones = frozenset(_analyte_key(t) for t in measured.get("hormones", ()))
        #: measured substances, by ``_analyte_key``, also with their spaces dropped ("HBs-Ag"
        #: is "hbsag")
        self.analytes = frozenset(analytes | {a.replace(" ", "") for a in analytes})

    def _made_by_body(self, name: str) -> bool:
        """Whether a drug name is a substance the body makes or a laboratory measures (a
        measured substance or a hormone), whose level says nothing of a drug given; the level
        of any other drug ("digoxin level 2.1 ng/mL") says the patient takes it."""
        return _analyte_key(name) in self.hormones or self._measured(name)

    def _measured(self, name: str) -> bool:
        """Whether a drug name is a measured substance ("chromogranin-A", "HBs-Ag", "plasma
        albumin": with its specimen)."""
        key = _analyte_key(name)
        for specimen in ("serum ", "plasma "):
            key = key.removeprefix(specimen)
        return key in self.analytes or key.replace(" ", "") in self.analytes

    def _candidates(self, doc: Doc, existing: list[Span]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        taken: list[tuple[int, int]] = []
        for span in existing:
            start, end = char_bounds(span)
            if span.label_ == LABEL:
                values = span_values(span)
                codes = list(values["codes"] or [])
                found.append(
                    {
                        "start": start,
                        "end": end,
                        "codes": codes,
                        "source": values["extractor"] or "unknown",
                        "source_rule_id": values["rule_id"],
                        "rule_id": "med-sig",
                        "token_bounds": (span.start_char, span.end_char),
                    }
                )
                if not codes:
                    # every drug of this kind has the rule id med-sig: without a code, only
                    # its name tells one from another (hashed: the name is note text)
                    found[-1]["name_key"] = name_key(LABEL, doc_text(doc)[start:end])
            taken.append((start, end))
        taken += doc.user_data.get(NOT_MENTIONS, [])
        if self.drug_re is not None:
            text = doc_text(doc)
            for m in matches_at(self.drug_re, text, self.drug_starts(text)):
                if any(s < m.end() and m.start() < e for s, e in taken):
                    continue
                rule = self.drugs[self.term_rule[term_key(m.group(0))]]
                found.append(
                    {
                        "start": m.start(),
                        "end": m.end(),
                        "codes": list(rule["codes"]),
                        "source": MedicationExtractor.name,
                        "source_rule_id": rule["rule_id"],
                        "rule_id": rule["rule_id"],
                        "ingredient": rule["name"],
                    }
                )
        found.sort(key=lambda c: (c["start"], -c["end"]))
        kept: list[dict[str, Any]] = []
        for cand in found:  # overlapping drug names: keep the first, longest
            if kept and cand["start"] < kept[-1]["end"]:
                continue
            kept.append(cand)
        return kept

    def __call__(self, doc: Doc) -> Doc:
        text = doc_text(doc)
        existing = existing_spans(doc)
        candidates = self._candidates(doc, existing)
        new: list[Span] = []
        drop: list[tuple[int, int]] = []
        consumed = previous_end = 0  # where the previous drug's name and sig ended
        made: list[tuple[dict[str, Any], list[_Part]]] = []
        folded: set[int] = set()  # candidates that name the previous drug's role
        for i, cand in enumerate(candidates):
            start, end = cand["start"], cand["end"]
            if "token_bounds" in cand:
                drop.append(cand["token_bounds"])
            if i in folded:
                continue
            if _in_allergy_context(text, start):
                # "allergic to penicillin" is not a medication the patient takes; the
                # allergies extractor learns that the allergen is this (coded) drug
                doc.user_data.setdefault(ALLERGY_CONTEXT_DRUGS, []).append(
                    (start, end, list(cand["codes"]))
                )
                continue
            nxt = candidates[i + 1] if i + 1 < len(candidates) else None
            # "liposomal amphotericin B (L-AMB) (3 mg/kg/day)", "tazobactam/piperacillin
            # (TAZ/PIPC) (4.5g q12h)": the sig after the drug's own abbreviation is the
            # drug's (the abbreviation, a mention of its own, reads it too)
            sig_start = end
            abbr = _ABBREVIATION_AFTER.match(text, end)
            if abbr is not None and not self._measured(text[start:end]):
                # (a measured substance's abbreviation is followed by its value, not a sig)
                if nxt is not None and abbr.start(1) <= nxt["start"] < abbr.end(1):
                    nxt = candidates[i + 2] if i + 2 < len(candidates) else None
                sig_start = abbr.end()
            role = _ROLE_AFTER.match(text, sig_start)
            if role is not None:
                # "warfarin anticoagulation therapy (2.5 mg per day)", "sildenafil targeted
                # PAH therapy (20 mg twice per day)": the words naming the drug's role stand
                # between it and its sig; a drug class named there is this drug, not another
                later = [j for j in range(i + 1, len(candidates))
                         if candidates[j]["start"] < role.end()]  # fmt: skip
                if all(
                    candidates[j]["end"] <= role.end()
                    and str(candidates[j]["source_rule_id"]).startswith("curated:class-")
                    for j in later
                ):
                    folded.update(later)
                    sig_start = role.end()
                    k = i + 1 + len(later)
                    nxt = candidates[k] if k < len(candidates) else None
            limit = min(
                nxt["start"] if nxt is not None else len(text),
                end + self.max_sig_chars,
            )
            parts = self.parser.parse(text, sig_start, limit)
            _leave_next_amount(parts, text, nxt)
            _leave_next_route(parts, text, end, nxt)
            consumed = max(consumed, previous_end)
            previous_end = max([end, *(p.end for p in parts)])
            if not any(p.kind == "route" for p in parts):
                before = self.parser.route_before(text, start, consumed)
                if before is not None:  # "IV heparin", "inhaled albuterol"
                    parts.insert(0, before)
            if not any(p.kind == "route" for p in parts):
                # "intravenous immunoglobulin", "direct oral anticoagulant"
                for w in re.finditer(r"(?<![\w-])\w", text[start:end]):
                    inside = self.parser.route_at(text, start + w.start(), end)
                    if inside is not None and inside.end < end:
                        parts.insert(0, inside)
                        break
            kinds = {p.kind for p in parts}
            lo, hi = self.parser.clause_bounds(text, start, end)
            following = candidates[i + 1] if i + 1 < len(candidates) else None
            next_start = following["start"] if following is not None else len(text)
            if "route" not in kinds or not kinds & {"strength", "dose"}:
                # a sig written as prose, around the drug and across its clause
                sig_end = max([end, *(p.end for p in parts)])
                stop = min(hi, next_start, sig_end + self.max_sig_chars)
                prose = self.parser.prose_after(text, sig_end, stop) if sig_end < stop else []
                _leave_next_amount(prose, text, following)
                prose += self.parser.prose_before(text, start, consumed, lo)
                for part in prose:
                    if part.kind not in kinds:
                        kinds.add(part.kind)
                        parts.append(part)
                    elif part.kind == "strength" and "dose" not in kinds and part.end <= start:
                        # "10 mL of 0.5% Marcaine": the concentration nearer the drug is its
                        # strength, the amount before it the dose given
                        first = next(p for p in parts if p.kind == "strength")
                        if first.end <= part.start and _AMOUNT_OF.match(text, first.end):
                            kinds.add("dose")
                            parts.remove(first)
                            parts += [_Part("dose", first.start, first.end, first.value), part]
                parts.sort(key=lambda p: p.start)
                _leave_next_route(parts, text, end, nxt)
                previous_end = max([previous_end, *(p.end for p in parts)])
            elif "regimen" not in kinds and _REGIMEN_NEAR.search(text, max(0, start - 40), start):
                # "a single dose of intravenous desmopressin (0.3 microgram/kg)": the sig
                # after the drug is whole, the regimen stands before it
                before = self.parser.prose_before(text, start, consumed, lo)
                parts[:0] = [p for p in before if p.kind == "regimen"][-1:]
            _concentration_before(self.parser, parts, text, start, consumed)
            reach = min(hi, next_start, end + 3 * self.max_sig_chars)
            if end < reach:
                changes = self.parser.dose_changes(text, max(end, sig_start), reach)
                # "prednisone was reduced to 10 mg": that dose is already the drug's sig
                changes = [
                    c for c in changes
                    if not any(p.start < c[1][-1].end and c[1][0].start < p.end for p in parts)
                ]  # fmt: skip
                for direction, steps in changes:
                    parts.append(_Part("dose_change", steps[0].start, steps[-1].end,
                                       {"direction": direction, "parts": steps}))  # fmt: skip
                if changes:
                    previous_end = max(previous_end, parts[-1].end)
            given_before = any(
                p.kind in ("route", "dose", "form", "regimen") and p.end <= start for p in parts
            )
            if _NAMES_A_TEST.match(text, end) or (
                not given_before
                and self._made_by_body(text[start:end])
                and (
                    _LEVEL_AFTER.match(text, end, min(len(text), end + 60))
                    or (
                        (
                            _SPECIMEN_BEFORE.search(text, max(0, start - 24), start)
                            or _SPECIMEN_NAME.match(text, start, end)
                        )
                        and _LEVEL_NOUN_AFTER.match(text, end, min(len(text), end + 40))
                    )
                )
            ):
                # "13C urea breath test", "collagen/epinephrine closure time": a test named
                # by its reagent; "progesterone 0.4 ng/ml", "growth hormone (GH), 0.50
                # ng/ml", "total carnitine levels": a level the body has, not a dose
                continue
            if self._measured(text[start:end]) and (
                _NAMES_ANOTHER_THING.match(text, end)
                or not (_given(parts, text) or self.parser.giving_nearby(text, start, end))
            ):
                # "ALT 120 U/L", "positive for synaptophysin": measured, not given; "oral
                # glucose tolerance test", "glucose-lowering therapy": another thing named
                continue
            made.append((cand, parts))
        _share_list_regimen(made, text)
        for cand, parts in made:
            start, end = cand["start"], cand["end"]
            attrs = sig_attributes(parts, (start, end), text)
            attrs["drug_source"] = cand["source"]
            attrs["drug_rule_id"] = cand["source_rule_id"]
            if "ingredient" in cand:
                attrs["ingredient"] = cand["ingredient"]
            if "name_key" in cand:
                attrs["name_key"] = cand["name_key"]
            span = make_span(
                doc,
                start,
                end,
                LABEL,
                extractor=MedicationExtractor.name,
                version=VERSION,
                rule_id=cand["rule_id"],
                codes=cand["codes"],
                attributes=attrs,
            )
            if span is not None:
                new.append(span)
        add_spans(doc, new, drop, existing)
        return doc


#: The words naming a drug's role between it and its sig: "warfarin anticoagulation therapy
#: (2.5 mg per day)", "sildenafil targeted PAH therapy (20 mg ...)", "heparin infusion at 18
#: units/kg/h" (up to three plain words, then a sig's opening parenthesis or number).
_ROLE_AFTER = re.compile(
    r"[ \t]*-?[ \t]*(?:[A-Za-z][\w-]*[ \t]+){0,3}?"
    r"(?:therapy|treatment|regimen|prophylaxis|chemotherapy|infusion|drip)"
    r"(?=[ \t]*(?:\(|at[ \t]+\d|\d))",
    re.IGNORECASE,
)

#: What may stand between two drugs of one coordinated list, once their own sig parts are
#: left out: "X, Y, and Z", "X and Y", "X as well as Y", "X plus Y", "X/Y".
_LIST_GAP = re.compile(r"[\s,/]*(?:(?:and|or|plus|as\s+well\s+as|along\s+with)[\s,]*)?",
                       re.IGNORECASE)  # fmt: skip


def _share_list_regimen(made: list[tuple[dict[str, Any], list[_Part]]], text: str) -> None:
    """A regimen written once for a coordinated list of drugs belongs to every drug of it:
    before the first ("8 cycles of cyclophosphamide, methotrexate, and 5-fluorouracil",
    "multiple rounds of oral fluconazole, topical antibiotic ointment, and intravenous
    antibiotics") or after the last ("carboplatin and paclitaxel, which she received for 3
    cycles"). Drugs with a regimen of their own keep it."""
    groups: list[list[int]] = []
    for i in range(len(made)):
        if i and _coordinated(made[i - 1], made[i], text):
            groups[-1].append(i)
        else:
            groups.append([i])
    for group in groups:
        if len(group) < 2:
            continue
        first, last = made[group[0]], made[group[-1]]
        shared = [p for p in first[1] if p.kind == "regimen" and p.end <= first[0]["start"]]
        shared += [p for p in last[1] if p.kind == "regimen" and p.start >= last[0]["end"]]
        if not shared:
            continue
        for i in group:
            parts = made[i][1]
            if not any(p.kind == "regimen" for p in parts):
                parts.append(shared[0])
                parts.sort(key=lambda p: p.start)


def _coordinated(
    a: tuple[dict[str, Any], list[_Part]], b: tuple[dict[str, Any], list[_Part]], text: str
) -> bool:
    """Whether drug ``b`` follows drug ``a`` in one list: between them only list words, once
    a's parts after it and b's parts before it (a route, a form) are left out."""
    lo, hi = a[0]["end"], b[0]["start"]
    if hi <= lo or hi - lo > 60:
        return False
    gap = list(text[lo:hi])
    for p in (*a[1], *b[1]):
        if lo <= p.start and p.end <= hi:
            gap[p.start - lo : p.end - lo] = " " * (p.end - p.start)
    rest = "".join(gap)
    return _LIST_GAP.fullmatch(rest) is not None and "\n" not in rest


#: Words after a measured substance that make the phrase name something else than the
#: substance given: a test, a level, a drug class, a transporter, an intolerance.
_NAMES_ANOTHER_THING = re.compile(
    r"[ \t]*-?[ \t]*(?:tolerance|intolerance|lowering|transporters?|levels?|tests?|"
    r"testing|monitoring|meters?|metabolism|control|challenge|clamp|uptake|saturation)\b",
    re.IGNORECASE,
)


#: Words after a drug that make the phrase a test named by its reagent or substrate: "13C
#: urea breath test", "dexamethasone suppression test", "PFA collagen/epinephrine closure
#: time", "methacholine challenge", "tuberculin skin test".
_NAMES_A_TEST = re.compile(
    r"[ \t]*-?[ \t]*(?:(?:breath|suppression|stimulation|skin|patch|provocation|loading)"
    r"[ \t]+test(?:s|ing)?|challenge[ \t]+test(?:s|ing)?|closure[ \t]+times?"
    # a method that a class names, which may be no drug at all ("contraceptive methods",
    # "contraceptive measures": a condom is one)
    r"|methods?|measures?)\b",
    re.IGNORECASE,
)
#: A specimen named right before a substance ("blood VPA", "serum digoxin", "CSF/plasma
#: albumin", "total carnitine") ...
_SPECIMEN_BEFORE = re.compile(
    r"\b(?:serum|plasma|blood|urine|urinary|csf|salivary|total|free|trough|peak)"
    r"(?:[ \t]*/[ \t]*(?:serum|plasma|blood|csf))?[ \t]+$",
    re.IGNORECASE,
)
#: A substance named with its specimen ("plasma albumin", "serum albumin").
_SPECIMEN_NAME = re.compile(r"(?:serum|plasma)[ \t]", re.IGNORECASE)
#: ... and a level or a ratio named after it in the same phrase ("blood VPA level", "blood VPA
#: and ammonia levels", "CSF/plasma albumin ratio"): a measurement, not a drug given.
_LEVEL_NOUN_AFTER = re.compile(
    r"(?:[ \t]+(?:and|or|[\w-]+),?){0,3}?[ \t]+(?:levels?|concentrations?|ratios?|values?)\b",
    re.IGNORECASE,
)
#: A level measured after a substance's name: its short form, "level(s)", "concentration",
#: a verb, then a value in a unit of concentration that a laboratory reports ("0.50 ng/ml",
#: "7 g/l", "2.1 µg/dL", "25 µIU/ml"), not a product's strength ("10 mg/ml", "5000 units/ml").
_LEVEL_AFTER = re.compile(
    r"[ \t]*(?:\([ \t]*[A-Za-z][\w-]{0,10}[ \t]*\)[ \t]*)?\)?[ \t]*"
    r"(?:(?:serum|plasma|blood|trough|peak|total|free|levels?|concentrations?|values?|was|were|"
    r"is|of|at|=|:|,)[ \t]*){0,4}"
    r"\d+(?:[.,]\d+)?[ \t\u2009\u200a]?"
    r"(?:(?:ng|pg|fg|pmol|nmol|µmol|μmol|umol|fmol|miu|µiu|μiu|uiu|µg|μg|ug|mcg|mg|g|mmol|"
    r"meq|iu|u|mu)[ \t]?/[ \t]?(?:d?l|dL)\b|(?:ng|pg|fg|pmol|nmol|fmol|miu|µiu|μiu|uiu)"
    r"[ \t]?/[ \t]?ml\b)",
    re.IGNORECASE,
)


def _analyte_key(name: str) -> str:
    """A substance name compared with the measured substances: lower case, hyphens read as
    spaces ("chromogranin-A" is "chromogranin a"), blanks squeezed."""
    return " ".join(name.lower().replace("-", " ").split())


def _leave_next_route(
    parts: list[_Part], text: str, drug_end: int, nxt: dict[str, Any] | None
) -> None:
    """Drop a route that stands right before the next drug when it is the first thing after
    this drug: "fluconazole, topical antibiotic", "therapy with oral ribavirin" (that route
    is the next drug's). After a dose it stays: "Lasix 40 mg IV Metoprolol 5 mg"."""
    if nxt is None or not parts or parts[-1].kind != "route":
        return
    after = [p for p in parts if p.start >= drug_end]
    if after and after[0] is parts[-1] and not text[parts[-1].end : nxt["start"]].strip(" \t-"):
        parts.pop()


#: What joins an amount to the drug after it: "0.6 ml of enoxaparin", "1 g of IV ...".
_OF_NEXT = re.compile(r"[ \t]*of[ \t]+(?:(?:the|an?|intravenous|iv|oral|subcutaneous)[ \t]+)?",
                      re.IGNORECASE)  # fmt: skip


def _leave_next_amount(parts: list[_Part], text: str, nxt: dict[str, Any] | None) -> None:
    """Drop the last strengths or doses when "of" joins them to the next drug: in "heparin
    (0.6 ml of enoxaparin)" the amount is enoxaparin's, which reads it before its name."""
    if nxt is None:
        return
    while parts and parts[-1].kind in ("strength", "dose"):
        joined = _OF_NEXT.match(text, parts[-1].end)
        if joined is None or joined.end() != nxt["start"]:
            return
        parts.pop()


#: A drug's own abbreviation in parentheses right after it: "(L-AMB)", "(TAZ/PIPC)", "(GH)".
_ABBREVIATION_AFTER = re.compile(r"[ \t]*\(\s*([A-Z][A-Za-z]*(?:[-/][A-Za-z]+)*)\s*\)")


def _in_allergy_context(text: str, start: int) -> bool:
    """Whether a drug name at ``start`` is listed as an allergy (same line, same sentence)."""
    line_start = text.rfind("\n", 0, start) + 1
    window = text[max(line_start, start - 80) : start]
    hits = list(_ALLERGY_CONTEXT.finditer(window))
    if not hits:
        return False
    after = window[hits[-1].end() :]
    return re.search(r"[.!?](?:\s|$)", after) is None


@Language.factory(
    "ns_medications", default_config={"use_curated_drugs": True, "max_sig_chars": 160}
)
def make_medication_tagger(
    nlp: Language, name: str, use_curated_drugs: bool, max_sig_chars: int
) -> MedicationTagger:
    """spaCy factory for :class:`MedicationTagger`."""
    return MedicationTagger(nlp, name, use_curated_drugs, max_sig_chars)


class MedicationExtractor:
    """Medications with strength, dose, form, route, frequency, duration and PRN."""

    name: ClassVar[str] = "medications"
    version: ClassVar[int] = VERSION
    labels: ClassVar[frozenset[str]] = frozenset({LABEL})

    def add_pipes(self, nlp: Language, options: Mapping[str, object]) -> None:
        """Add ``ns_medications`` (after any extractor that emits MEDICATION spans)."""
        config = {k: options[k] for k in ("use_curated_drugs", "max_sig_chars") if k in options}
        nlp.add_pipe("ns_medications", config=config)

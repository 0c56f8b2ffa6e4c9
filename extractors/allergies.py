"""Allergy extractor: allergens with reactions, and explicit "no known allergies" statements."""

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from spacy.language import Language
from spacy.tokens import Doc, Span

from extractors.base import ALLERGY_CONTEXT_DRUGS, doc_text
from extractors.patterns import (
    StartScanner,
    add_spans,
    alternation,
    char_bounds,
    existing_spans,
    load_rules,
    make_span,
    matches_at,
    term_key,
)
from schemas.ids import name_key

# Version history:
# 1 (2026-11): allergy lists after "allergic to" / "ALLERGIES:", reactions, NKA/NKDA statements.
# 2 (2026-12): joined triggers ("allergy or intolerance to", "allergies to:"), "adverse
#    reaction to" (weak), "the following ...:" lead-ins, the allergen before the allergy word
#    ("penicillin allergy"), "no known allergy to X" as a denied allergy to X, and a brand
#    name in parentheses is no reaction.
# 3 (2026-12): an allergen that the medications extractor knows as a drug in an allergy
#              context ("hypersensitivity to ticagrelor") is a medication allergen with the
#              drug's codes, not an unlisted one of no category.
# 4 (2026-12): an allergen that no table codes carries ``name_key`` (the hash of its name),
#              so two such allergens are two concepts in the analyst views, not one rule.
# 5 (2026-12): the commonest drug-class allergens carry their SNOMED CT substance codes
#              (penicillin 373270004, sulfonamide antibacterial 372788003; verified in the
#              SNOMED CT GPS); opioids stay uncoded (no verified agonist class code).
# 6 (2026-12): an allergen found as a drug in an allergy context whose drug has no code takes
#              the allergen table's codes for its name ("allergies to penicillin resulting
#              in ...": SNOMED CT 373270004).
VERSION = 6

LABEL = "ALLERGY"
RULES = "allergies"

#: Where an allergy list starts: a header or an inline phrase.
_TRIGGER_WORD = (
    r"(?:allergic(?:\s+reactions?)?|allerg(?:y|ies)|intoleran(?:t|ce)|(?:hyper)?sensitivity|"
    r"anaphylaxis|(?:adverse\s+)?reactions?|contraindications?)"
)
_TRIGGER = re.compile(
    r"(?P<header>^[ \t]*(?:drug\s+|medication\s+)?allerg(?:y|ies)(?:/adverse\s+reactions)?"
    r"[ \t]*(?::|-)[ \t]*)|"
    # "allergic to", "allergy or intolerance to", "hypersensitivity or contraindication to";
    # the first word must be an allergy word ("contraindication to" alone is no allergy)
    r"(?P<inline>(?:allergic|allergy|allergies|allergic\s+reactions?|intoleran(?:t|ce)|"
    r"sensitivity|hypersensitivity|anaphylaxis|(?:adverse\s+)?reactions?)"
    rf"(?:\s*(?:,|/|\bor\b|\band\b|\band/or\b)\s*{_TRIGGER_WORD})*"
    r"\s+(?:to|with)(?:\s*:)?\s+)|"
    r"(?P<listed>allerg(?:y|ies)\s+(?:include|including|are|is|to\s+include)[ \t]*:?[ \t]*)",
    re.IGNORECASE | re.MULTILINE,
)
#: Separates the allergen from its reaction inside one list item ("sulfa - rash").
_REACTION_SEP = re.compile(
    r"[ \t]*(?:-+|–|:|=|\(|,?[ \t]*(?:which\s+)?(?:causes?|caused|causing|results?\s+in|"
    r"resulting\s+in|leads?\s+to|gives?\s+(?:her|him|them)|with|manifested\s+by|"
    r"reaction\s+(?:is|was)|reaction:?))[ \t]*",
    re.IGNORECASE,
)
_NO_KNOWN_HEADER = re.compile(
    r"(?:drug\s+|medication\s+)?allerg(?:y|ies)(?:\s+to\s+(?:drugs|medications|medicines))?"
    r"\s*:\s*",
    re.IGNORECASE,
)
_WEAK_TRIGGER = re.compile(
    r"(?:hyper)?sensitivity|intoleran|(?:adverse\s+)?reactions?\b", re.IGNORECASE
)
#: Every allergy statement contains one of these; notes without any are skipped at once.
_MAY_MENTION = re.compile(r"allerg|nk(?:d|f)?a|n\.k\.d|intoleran|sensitiv|reaction", re.IGNORECASE)
#: Every ``_TRIGGER`` match contains one of these (lower case).
_TRIGGER_WORDS = ("allerg", "intoleran", "sensitivity", "anaphylaxis", "reaction")


def _trigger_starts(text: str) -> list[int]:
    """Every position where ``_TRIGGER`` can match in ASCII ``text`` (sorted; a superset).

    A match starts at its trigger word, five letters before it ("hyper"sensitivity), or, for
    a header, at the start of the line of the word or of a "drug"/"medication" before it.
    """
    lowered = text.lower()
    starts: set[int] = set()
    for word in _TRIGGER_WORDS:
        k = lowered.find(word)
        while k >= 0:
            starts.update((k, max(0, k - 5), text.rfind("\n", 0, k) + 1))
            j = k
            while j > 0 and text[j - 1].isspace():
                j -= 1
            for before in ("drug", "medication"):
                if lowered.endswith(before, 0, j):
                    starts.add(text.rfind("\n", 0, j - len(before)) + 1)
            i = j
            while i > 0 and text[i - 1].isalpha():
                i -= 1
            starts.add(i)  # the word before ("adverse reaction")
            k = lowered.find(word, k + 1)
    return sorted(starts)


#: The same test on lower-cased ASCII text, with plain substring searches.
_MAY_MENTION_WORDS = ("allerg", "nka", "nkda", "nkfa", "n.k.d", "intoleran", "sensitiv", "reaction")


def _may_mention(text: str) -> bool:
    """``_MAY_MENTION.search(text)``; on ASCII text with ``str.lower`` and ``in`` (much faster)."""
    if not text.isascii():  # case-insensitive matching of non-ASCII letters: ask ``re``
        return _MAY_MENTION.search(text) is not None
    lowered = text.lower()
    return any(word in lowered for word in _MAY_MENTION_WORDS)


#: An allergy word after its allergen ("penicillin allergy", "sulfa-allergic").
_POSTFIX = re.compile(
    r"(?<![\w])(?:allerg(?:y|ies|ic)|intolerance|hypersensitivity)(?![\w-])", re.IGNORECASE
)
_ITEM_SEP = re.compile(r"[;,\n]|\s+and\s+|\s+or\s+|\s+as\s+well\s+as\s+|\d+\.\s", re.IGNORECASE)
_NOT_ALLERGEN = re.compile(
    r"^(?:none|nil|no|not|unknown|the|his|her|their|any|all|patient|pt|he|she|it|as|which|"
    r"medications?|drugs?|meds|foods?|seasonal|environmental|multiple|several|other|"
    r"reactions?|known|listed|noted|reviewed|there|are|is|was|were|does|do|has|have|had|"
    r"denied|denies|negative|reported|reports|states?|may|might|probably|possibly|"
    r"intolerance|intolerant|allergy|allergies|allergic|sensitivity|severe|mild|"
    r"these|those|them|this|that|refer|see|chart|feel|feels|cause|causes|him|tolerate)$",
    re.IGNORECASE,
)


class AllergyTagger:
    """Adds ALLERGY spans for allergens (with reaction) and for no-known-allergy statements."""

    def __init__(
        self, nlp: Language, name: str, max_list_chars: int = 300, absorb_reactions: bool = True
    ) -> None:
        self.name = name
        self.absorb_reactions = absorb_reactions
        self.max_list_chars = max_list_chars
        self.allergens: dict[str, dict[str, Any]] = {}
        for rule in load_rules(RULES, "allergens.json")["allergens"]:
            for term in rule["terms"]:
                self.allergens[term.lower()] = rule
        for drug in load_rules("medications", "drugs.json")["drugs"]:
            rule = {
                "rule_id": "allergen-drug",
                "name": drug["name"],
                "category": "medication",
                "codes": drug["codes"],
            }
            for term in (drug["name"], *drug["synonyms"]):
                self.allergens.setdefault(term.lower(), rule)
        self.allergen_re = re.compile(
            rf"(?<![\w-])(?:{alternation(self.allergens)})(?![\w-])", re.IGNORECASE
        )
        #: a known allergen right before an allergy word ("penicillin allergy")
        self.allergen_tail_re = re.compile(
            rf"(?<![\w-])(?:{alternation(self.allergens)})[ \t]*-?[ \t]*$", re.IGNORECASE
        )
        self.reactions: dict[str, dict[str, Any]] = {}
        for rule in load_rules(RULES, "reactions.json")["reactions"]:
            for term in rule["terms"]:
                self.reactions[term.lower()] = rule
        self.reaction_re = re.compile(
            rf"(?<![\w-])(?:{alternation(self.reactions)})(?![\w-])", re.IGNORECASE
        )
        statements = load_rules(RULES, "no_known.json")["statements"]
        self.no_known_rules = {rule["rule_id"]: rule for rule in statements}
        # one pattern, one named group per statement rule: a single pass over the text
        self.no_known_re = re.compile(
            "|".join(
                rf"(?P<g{i}>(?<![\w-])(?:{'|'.join(rule['patterns'])})(?![\w-]))"
                for i, rule in enumerate(statements)
            ),
            re.IGNORECASE,
        )
        self.no_known_groups = {f"g{i}": rule for i, rule in enumerate(statements)}
        # every statement starts after a character that is not a word character or "-"
        self.no_known_starts = StartScanner(
            r"\w-",
            "(?:" + "|".join(p for rule in statements for p in rule["patterns"]) + r")(?![\w-])",
            re.IGNORECASE,
        )

    # -- no known allergies -------------------------------------------------------------
    def find_no_known(self, text: str) -> list[dict[str, Any]]:
        """Explicit no-known-allergy statements ("NKDA", "no known allergies")."""
        found: list[dict[str, Any]] = []
        for m in matches_at(self.no_known_re, text, self.no_known_starts(text)):
            group = m.lastgroup or ""
            # "ALLERGIES: None known": the mention is the statement, not its header. It also
            # keeps ConText's "none" trigger at the start of the span, where medspaCy 1.3
            # sees the overlap (a trigger strictly inside a span still modifies it).
            header = _NO_KNOWN_HEADER.match(text, m.start(), m.end())
            start = header.end() if header and header.end() < m.end() else m.start()
            found.append(
                {
                    "start": start,
                    "end": m.end(),
                    "block_start": m.start(),
                    "rule": self.no_known_groups[group],
                }
            )
        found.sort(key=lambda f: (f["start"], -f["end"]))
        kept: list[dict[str, Any]] = []
        for f in found:
            if kept and f["start"] < kept[-1]["end"]:
                continue
            f["attributes"] = {
                "no_known_allergy": True,
                "scope": f["rule"]["scope"],
                "parts": {"statement": [f["start"], f["end"]]},
            }
            kept.append(f)
        return kept

    # -- allergen lists -----------------------------------------------------------------
    def _regions(self, text: str, blocked: list[tuple[int, int]]) -> list[tuple[int, int, bool]]:
        """(start, end, strict) of each allergy list; strict lists accept only known allergens."""
        regions: list[tuple[int, int, bool]] = []
        for m in self._triggers(text):
            if any(s <= m.start() < e for s, e in blocked):
                continue  # "no known allergies to ...": the statement already covers it
            start = m.end()
            # "sensitivity to sun", "intolerance to cold": only listed allergens count there
            strict = bool(m.group("inline")) and bool(_WEAK_TRIGGER.match(m.group("inline")))
            limit = min(len(text), start + self.max_list_chars)
            stop = [limit]
            blank = text.find("\n\n", start, limit)
            if blank >= 0:
                stop.append(blank)
            header = re.compile(r"\n[ \t]*[A-Z][A-Za-z /&]{2,40}:").search(text, start, limit)
            if header:
                stop.append(header.start())
            if not m.group("header"):  # inline: the list ends with its sentence
                sentence = re.compile(r"\.(?:\s|$)|\n").search(text, start, limit)
                if sentence:
                    stop.append(sentence.start())
            end = min(stop)
            if any(s < end and start < e for s, e in blocked):
                end = min([end, *(s for s, e in blocked if s >= start)])
            if end > start:
                regions.append((start, end, strict))
        return regions

    def _triggers(self, text: str) -> list[re.Match[str]]:
        if not text.isascii():
            return list(_TRIGGER.finditer(text))
        return list(matches_at(_TRIGGER, text, _trigger_starts(text)))

    def find_allergens(
        self, text: str, medications: list[tuple[int, int]], blocked: list[tuple[int, int]]
    ) -> list[dict[str, Any]]:
        """Allergens (with reactions) in allergy lists, and known allergens named right
        before an allergy word ("penicillin allergy"), one dict per allergen."""
        out: list[dict[str, Any]] = []
        for start, end, strict in self._regions(text, blocked):
            for item_start, item_end in _items(text, start, end):
                found = self._item(text, item_start, item_end, medications)
                if found is not None and not (strict and found["rule"]["category"] is None):
                    out.append(found)
        for m in _POSTFIX.finditer(text):
            window_start = max(0, m.start() - 60)
            tail = self.allergen_tail_re.search(text, window_start, m.start())
            if tail is None or any(s <= tail.start() < e for s, e in blocked):
                continue
            name = tail.group(0).rstrip(" \t-")
            rule = self.allergens[term_key(name)]
            a_start, a_end = tail.start(), tail.start() + len(name)
            out.append(
                {
                    "start": a_start,
                    "end": a_end,
                    "rule": rule,
                    "attributes": {
                        "allergen": name,
                        "category": rule["category"],
                        "parts": {"allergen": [a_start, a_end]},
                        **({"substance": rule["name"]} if rule.get("name") else {}),
                    },
                }
            )
        return out

    def _item(
        self, text: str, start: int, end: int, medications: list[tuple[int, int]]
    ) -> dict[str, Any] | None:
        item = text[start:end]
        lead = re.match(
            r"[\s\-•*(]*(?:(?:is\s+)?(?:allergic|sensitive|intolerant)\s+to\s+)?"
            # "any of the following medications: heparin", "one of the following: ..."
            r"(?:(?:any|one|all|either)\s+(?:of\s+)?(?:the\s+)?following"
            r"(?:\s+[a-z]+){0,2}\s*:?\s*)?"
            r"(?:to\s+|an?\s+|the\s+)?",
            item,
            re.IGNORECASE,
        )
        start += lead.end() if lead else 0
        item = text[start:end]
        sep = _REACTION_SEP.search(item)
        allergen_end = start + sep.start() if sep and sep.start() > 0 else end
        reaction: tuple[int, int] | None = None
        if sep and sep.start() > 0:
            r_start = start + sep.end()
            r_text = text[r_start:end]
            r_trim = re.match(r"[^()\[\].]*", r_text)
            r_end = r_start + (r_trim.end() if r_trim else len(r_text))
            r_end = r_start + len(text[r_start:r_end].rstrip(" \t-,:)"))
            if (
                r_end > r_start
                and len(text[r_start:r_end].split()) <= 6
                # "clopidogrel (Plavix)": another name of the allergen, not a reaction
                and self.allergen_re.fullmatch(text[r_start:r_end]) is None
            ):
                reaction = (r_start, r_end)
        a_text = text[start:allergen_end].rstrip(" \t.,:)")
        allergen_end = start + len(a_text)
        known = self.allergen_re.fullmatch(a_text) or self.allergen_re.match(a_text)
        if known is None and len(a_text.split()) <= 3:  # "IV morphine": the known name last
            last = self.allergen_re.search(a_text)
            if last is not None and last.end() == len(a_text):
                start, a_text = start + last.start(), a_text[last.start() :]
                known = self.allergen_re.fullmatch(a_text)
        med = next(((s, e) for s, e in medications if start <= s < allergen_end), None)
        if known:
            allergen_end = start + known.end()
            rule = self.allergens[term_key(known.group(0))]
        elif med:
            start, allergen_end = med
            rule = {"rule_id": "allergen-mention", "name": None, "category": "medication",
                    "codes": []}  # fmt: skip
        else:
            words = a_text.split()
            if not 1 <= len(words) <= 3 or any(_NOT_ALLERGEN.match(w) for w in words):
                return None
            if self.reaction_re.fullmatch(a_text):
                return None  # "resulting in ... GI upset": a reaction, not an allergen
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9 '/-]*", a_text):
                return None
            rule = {"rule_id": "allergen-unlisted", "name": None, "category": None, "codes": []}
        if allergen_end <= start:
            return None
        attrs: dict[str, Any] = {
            "allergen": text[start:allergen_end],
            "category": rule["category"],
            "parts": {"allergen": [start, allergen_end]},
        }
        if rule.get("name"):
            attrs["substance"] = rule["name"]
        if reaction:
            attrs["reaction"] = text[reaction[0] : reaction[1]]
            attrs["parts"]["reaction"] = [reaction[0], reaction[1]]
            codes = [
                code
                for m in self.reaction_re.finditer(text, reaction[0], reaction[1])
                for code in self.reactions[term_key(m.group(0))]["codes"][:1]
            ]
            if codes:
                attrs["reaction_codes"] = codes
        return {"start": start, "end": allergen_end, "rule": rule, "attributes": attrs}

    def __call__(self, doc: Doc) -> Doc:
        text = doc_text(doc)
        if not _may_mention(text):
            return doc
        no_known = self.find_no_known(text)
        blocked = [(f["block_start"], f["end"]) for f in no_known]
        existing = existing_spans(doc)
        med_spans = [s for s in existing if s.label_ == "MEDICATION"]
        med_bounds = [char_bounds(s) for s in med_spans]
        # drugs the medications extractor left out as named in an allergy context
        drug_codes: dict[tuple[int, int], list[dict[str, str]]] = {
            (s, e): codes for s, e, codes in doc.user_data.get(ALLERGY_CONTEXT_DRUGS, ())
        }
        medications = sorted({*med_bounds, *drug_codes})
        problems = [s for s in existing if s.label_ == "PROBLEM"]
        problem_bounds = [char_bounds(s) for s in problems]
        found = [*no_known, *self.find_allergens(text, medications, blocked)]
        for f in found:  # an unlisted allergen named by a coded drug carries its codes
            if f["rule"]["rule_id"] == "allergen-mention" and not f["rule"]["codes"]:
                codes = drug_codes.get((f["start"], f["end"]))
                if codes:
                    f["rule"] = {**f["rule"], "codes": codes}
                else:  # or those of the allergen table, where it lists the drug's name
                    listed = self.allergens.get(term_key(text[f["start"] : f["end"]]))
                    if listed is not None and listed["codes"]:
                        f["rule"] = {**f["rule"], "codes": listed["codes"]}
        new: list[Span] = []
        drop: list[tuple[int, int]] = []
        taken: list[tuple[int, int]] = []
        for f in sorted(found, key=lambda f: f["start"]):
            if any(s < f["end"] and f["start"] < e for s, e in taken):
                continue
            for span, (s, e) in zip(med_spans, med_bounds, strict=True):
                if s < f["end"] and f["start"] < e:  # an allergen is not a medication taken
                    drop.append((span.start_char, span.end_char))
            reaction = f["attributes"]["parts"].get("reaction")
            if reaction and self.absorb_reactions:  # a reaction is not a current problem
                for span, (s, e) in zip(problems, problem_bounds, strict=True):
                    if reaction[0] <= s and e <= reaction[1]:
                        drop.append((span.start_char, span.end_char))
            if not f["rule"]["codes"] and not f["attributes"].get("substance"):
                # an allergen no table names: its name tells it apart from other such ones
                # (one concept each in the analyst views, as for an uncoded drug)
                allergen = f["attributes"].get("allergen") or text[f["start"] : f["end"]]
                f["attributes"]["name_key"] = name_key(LABEL, allergen)
            made = make_span(
                doc,
                f["start"],
                f["end"],
                LABEL,
                extractor=AllergyExtractor.name,
                version=VERSION,
                rule_id=f["rule"]["rule_id"],
                codes=f["rule"]["codes"],
                attributes=f["attributes"],
            )
            if made is not None:
                new.append(made)
                taken.append((f["start"], f["end"]))
        add_spans(doc, new, drop, existing)
        return doc


def _items(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split an allergy list into items, keeping a reaction in parentheses with its allergen."""
    items: list[tuple[int, int]] = []
    cursor = start
    depth = 0
    pos = start
    while pos < end:
        ch = text[pos]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if depth == 0:
            m = _ITEM_SEP.match(text, pos, end)
            if m and m.end() > m.start():
                if pos > cursor:
                    items.append((cursor, pos))
                cursor = pos = m.end()
                continue
        pos += 1
    if end > cursor:
        items.append((cursor, end))
    return [(s, e) for s, e in items if text[s:e].strip()]


@Language.factory("ns_allergies", default_config={"max_list_chars": 300, "absorb_reactions": True})
def make_allergy_tagger(
    nlp: Language, name: str, max_list_chars: int, absorb_reactions: bool
) -> AllergyTagger:
    """spaCy factory for :class:`AllergyTagger`.

    ``absorb_reactions`` removes PROBLEM spans inside an allergy's reaction ("sulfa - rash"):
    the rash is the allergy's manifestation, not a current problem of the patient.
    """
    return AllergyTagger(nlp, name, max_list_chars, absorb_reactions)


class AllergyExtractor:
    """Allergies (allergen, reaction, codes) and explicit no-known-allergy statements."""

    name: ClassVar[str] = "allergies"
    version: ClassVar[int] = VERSION
    labels: ClassVar[frozenset[str]] = frozenset({LABEL})

    def add_pipes(self, nlp: Language, options: Mapping[str, object]) -> None:
        """Add ``ns_allergies`` (after medications, whose allergen spans it takes over)."""
        config = {k: options[k] for k in ("max_list_chars", "absorb_reactions") if k in options}
        nlp.add_pipe("ns_allergies", config=config)

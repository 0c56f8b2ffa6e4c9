"""Assertion: medspaCy ConText (own rules, mention sentences only), then section defaults."""

import json
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

import numpy as np
from medspacy.common.medspacy_matcher import MedspacyMatcher
from medspacy.common.util import prune_overlapping_matches
from medspacy.context import ConText, ConTextGraph, ConTextModifier, ConTextRule
from spacy.attrs import IS_ALPHA, IS_DIGIT, IS_PUNCT, IS_SPACE, LOWER, ORTH, SENT_START
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.strings import hash_string  # type: ignore[attr-defined]
from spacy.tokens import Doc, Span

from extractors.base import MENTIONS, doc_text
from extractors.sections import assign_sections

# Version history:
# 4 (2026-12): a clause whose subject is the patient ends a relative's scope ("Mother called
#              EMS when the patient vomited": PATIENT_SUBJECT cues terminate FAMILY rules).
# 3 (2026-12): a cue word inside a test's name ("international normalized ratio", "free T4")
#              modifies no other mention (it negated or resolved the results listed before it).
# 2 (2026-11): own ConText rule set (rules/context/context.json, ids, pseudo-negations, scope
#              terminators, historical/hypothetical/conditional/family cues); ConText run only on
#              sentences holding mentions; cues inside a mention do not modify it; scope kept
#              inside parentheses and carried over list items after a "Denies:" lead-in;
#              section defaults for social history and allergies; experiencer.
# 1 (2026-11): medspaCy default ConText rules; section defaults for family and past history.
# 5 (2026-12): radiology readings: a density reinterpreted as a benign or non-pulmonary
#              structure ("nodular density ... represents a healing rib fracture", "consistent
#              with granulomatous disease", "secondary to soft tissue overlay") is not the finding
#              it was read as (rule metadata "reinterprets": the cue acts on no mention it
#              overlaps); "in the appropriate clinical setting" and "favoring" hedge;
#              "previously demonstrated" names an earlier finding (no scope-ending verb); "is not
#              definitely seen" (not "well"/"clearly": visibility is not absence); "unclear
#              whether", "X suspected." hedge; "no change in the X", "not significantly
#              changed" compare (pseudo-negations); "no longer visualized"; "X (is) not
#              excluded", "would be a consideration", "should be considered", "possibility
#              of", "correlate clinically for" hedge; "is not likely" negates.
# 6 (2026-12): who tells the history is not whom it is about: a parent before a verb of
#              telling or after "per" / "from" / "by" ("Mom denies rash", "per mother, no
#              fever") is a child's informant, and "the child" / "this infant" is the patient;
#              their FAMILY cues are dropped (``_drop_informants``).
# 7 (2026-12): a diagnosis named by a habit ("alcohol use disorder", "alcohol withdrawal",
#              "nicotine dependence") is no standing fact of the history (``HABIT_DIAGNOSIS``).
# 8 (2026-12): a procedure the plan says will be done, is scheduled, planned, recommended or
#              referred for is hypothetical ("Will obtain MRI", "scheduled for elective CABG",
#              "EGD tomorrow"): no completed FHIR Procedure for it; rules for procedures only.
# 9 (2026-12): review fixes: a relative "reported / said / noted to have" a problem keeps it
#              ("Father reported to have had an MI"); "the child" is the patient only in a
#              note about a child (the first age it states is under 18); "w/o" negates.
# 10 (2026-12): visibility in doubt is uncertain, not absent ('X is not well seen / not
#              well-visualized on today's study', 'poorly / incompletely evaluated': CheXpert's
#              uncertainty patterns); 'cannot entirely exclude'; 'X cannot be evaluated /
#              assessed', 'X, if any.', 'less likely (X)' / 'X less likely', 'cannot be certain
#              whether' (NegBio); a clause-scoped bidirectional cue is trimmed on both sides;
#              a question mark before a finding queries it ('? atelectasis', '(?claudication)').
#              A density reinterpreted as a device or object on the skin ('may represent
#              overlying telemetry wires', 'representing surgical clips', 'hair braids').
# 11 (2026-12): review fixes: "X cannot be evaluated / assessed" hedges its own phrase only
#              and never a patient "assessed for" something; "less likely to <verb>" is a
#              consequence (pseudo); a question answered ("Fever? yes") queries nothing.
VERSION = 11

#: ConText category -> span attribute set to True.
CATEGORY_ATTRS: dict[str, str] = {
    "NEGATED_EXISTENCE": "is_negated",
    "POSSIBLE_EXISTENCE": "is_uncertain",
    "HISTORICAL": "is_historical",
    "HYPOTHETICAL": "is_hypothetical",
    "FAMILY": "is_family",
    # a density named as another structure ("... represents the nipple"): the finding it was
    # read as is not there. Its own category, so that a negation between them ("with no
    # lateral correlate") does not cut its scope as a cue of the same category would
    "REINTERPRETED": "is_negated",
}

#: Section categories (sectionizer names) whose mentions default to an assertion flag.
SECTION_DEFAULTS: dict[str, tuple[str, ...]] = {
    "family_history": ("is_family",),
    "past_medical_history": ("is_historical",),
    "past_surgical_history": ("is_historical",),
    # Habits and exposures are reported over the patient's life ("Denies tobacco, alcohol").
    "social_history": ("is_historical",),
    # A documented allergy is a standing fact from the past, not a finding of this encounter.
    "allergies": ("is_historical",),
}

#: Mentions that name a habit, exposure or allergy: standing facts of the patient's history
#: wherever they are written ("Denies alcohol or other drug use"), like the social history and
#: allergies sections they normally sit in.
STANDING_FACT = re.compile(
    r"\b(tobacco|alcohol|etoh|smok\w*|cigarettes?|cigars?|drug (?:use|abuse)|illicit|"
    r"substance (?:use|abuse)|marijuana|cannabis|cocaine|heroin|ivdu|drinks?|drinking|"
    r"allerg\w*)\b",
    re.IGNORECASE,
)

#: Diagnoses named by a habit ("alcohol use disorder", "opioid withdrawal", "nicotine
#: dependence") are current problems, not standing facts of the history.
HABIT_DIAGNOSIS = re.compile(
    r"\b(disorders?|dependence|withdrawal|intoxication|poisoning|overdose)\b", re.IGNORECASE
)

#: Section categories that put a mention in allergy context (``attributes["allergy"]``).
ALLERGY_SECTIONS: frozenset[str] = frozenset({"allergies"})

#: Words that, as the subject of a sentence in a family-history section, make it the patient's.
_PATIENT_WORDS = frozenset({"patient", "pt", "he", "she", "denies"})

_BULLETS = frozenset({"-", "*", "•", "·", "▪", "◦", "+"})


#: Labels of results whose names may hold a cue word ("normalized", "free").
_MEASURED_LABELS = frozenset({"LAB", "VITAL"})


def context_rules_path() -> str:
    """Path of the packaged ConText rules (medspaCy ``ConTextRule`` JSON)."""
    return str(resources.files("extractors") / "rules" / "context" / "context.json")


#: Token pattern element that lets a multi-word cue span runs of white space ("negative  for").
_GAP: dict[str, Any] = {"IS_SPACE": True, "OP": "*"}


def load_context_rules(nlp: Language, path: str | None = None) -> list[ConTextRule]:
    """Load ConText rules; ``metadata.terminated_by`` becomes the rule's ``terminated_by``.

    Multi-word cues are turned into token patterns that allow white-space tokens between the
    words: notes carry double spaces and hard wraps inside cue phrases.
    """
    with open(path or context_rules_path(), encoding="utf-8") as fh:
        data = json.load(fh)["context_rules"]
    rules = []
    for item in data:
        item = dict(item)
        pattern = item.get("pattern")
        if pattern is None:
            # every literal becomes a token pattern, so one anchor-indexed matcher serves all
            words = [t.lower_ for t in nlp.make_doc(item["literal"]) if not t.is_space]
            pattern = [{"LOWER": w} for w in words]
        if isinstance(pattern, list) and len(pattern) > 1:
            spaced: list[dict[str, Any]] = []
            for k, tok in enumerate(pattern):
                if k:
                    spaced.append(dict(_GAP))
                spaced.append(tok)
            item["pattern"] = spaced
        rule = ConTextRule.from_dict(item)
        for category in (item.get("metadata") or {}).get("terminated_by", ()):
            rule.terminated_by.add(str(category).upper())
        rules.append(rule)
    return rules


class ClinicalContext(ConText):  # type: ignore[misc]
    """medspaCy ConText over ``doc.spans["mentions"]``, restricted to sentences with mentions.

    Uses medspaCy's rules, matcher, modifiers and graph. Differences from ``medspacy_context``:
    modifier matching runs only on sentences (or list blocks) that contain a mention, scopes come
    from the precomputed sentence bounds, a cue inside a mention never modifies that mention
    (medspaCy's overlap test misses containment), a cue inside parentheses stays inside them,
    and a lead-in ending with ":" ("Denies:") carries its scope over the list items under it.
    Rule metadata ``also`` adds categories, ``conditional`` sets ``is_conditional`` and FAMILY
    cues set ``span._.experiencer``.
    """

    def __init__(self, nlp: Language, name: str, rules: str | None = None) -> None:
        super().__init__(
            nlp,
            name=name,
            rules=None,
            input_span_type="group",
            span_group_name=MENTIONS,
            span_attrs=None,
        )
        self.register_default_attributes()
        self.add(load_context_rules(nlp, rules))
        #: rule id (given by ConText's matcher as the rules were added) -> rule
        self._rule_map: dict[str, ConTextRule] = {r._rule_id: r for r in self.rules}
        #: match id -> the rule's place in the rule file: of two rules that match the same
        #: tokens, the later one wins (the file's own rules after the defaults they refine),
        #: not whichever the matcher happened to emit first
        self._place: dict[int, int] = {
            nlp.vocab.strings.add(r._rule_id): i for i, r in enumerate(self.rules)
        }
        self._has_regex = any(isinstance(r.pattern, str) for r in self.rules)
        self._has_phrases = any(r.pattern is None for r in self.rules)
        #: medspaCy's matcher over the whole doc, for regex rules only (the packaged rules
        #: have none): ours over the same rules in the same order, so the same rule ids, as
        #: medspaCy keeps ConText's matcher private. Built only when used: adding the rules
        #: validates every token pattern again (0.04-0.09 s of a build).
        self._doc_matcher: MedspacyMatcher | None = None
        if self._has_regex:
            self._doc_matcher = MedspacyMatcher(
                nlp, name=f"{name}_matcher", phrase_matcher_attr="LOWER"
            )
            self._doc_matcher.add(self.rules)
        #: the literal-phrase rules alone, as medspaCy's matcher adds them (lower case)
        self._phrase_matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        for rule_id, rule in self._rule_map.items():
            if rule.pattern is None:
                self._phrase_matcher.add(rule_id, [nlp.tokenizer(rule.literal.lower())])
        self._index_token_rules(nlp)

    def _index_token_rules(self, nlp: Language) -> None:
        """Token-pattern rules grouped into one spaCy Matcher per anchor word.

        spaCy's Matcher tries every pattern at every token (about 30 ms per note for this rule
        set). A pattern can only match around its anchor (the most selective word one of its
        required tokens must be), so per sentence only the matchers of the anchor words present
        run, each on a short window around the word. When every rule compiles (``_compile``),
        the windows are matched in Python instead (see ``_match``).
        """
        groups: dict[int, list[ConTextRule]] = {}
        always: list[ConTextRule] = []
        #: anchor word hash -> compiled patterns of that word's rules (same order as groups).
        self._word_patterns: dict[int, list[_Compiled]] = {}
        compiled_all = True
        for rule in self.rules:
            if not isinstance(rule.pattern, list):
                continue
            anchor = _anchor(rule.pattern)
            if anchor is None:
                always.append(rule)
                continue
            compiled = _compile(nlp, rule, anchor)
            compiled_all = compiled_all and compiled is not None
            for word in anchor:
                key = nlp.vocab.strings.add(word)
                groups.setdefault(key, []).append(rule)
                if compiled is not None:
                    self._word_patterns.setdefault(key, []).append(compiled)
        #: anchor word hash -> (matcher, reach); reach None = the whole sentence.
        self._word_matchers: dict[int, tuple[_LazyMatcher, int | None]] = {}
        for key, rules in groups.items():
            reaches = [_reach(r.pattern) for r in rules]
            reach = None if any(r is None for r in reaches) else max(reaches)  # type: ignore[type-var]
            self._word_matchers[key] = (_LazyMatcher(nlp, rules), reach)
        self._always_matcher = _LazyMatcher(nlp, always) if always else None
        self._compiled_all = compiled_all and not always
        #: token attributes of the doc being processed (reset after each doc)
        self._tokens: _Tokens | None = None

    def __call__(self, doc: Doc, targets: str | None = None) -> Doc:
        spans = list(doc.spans[MENTIONS]) if MENTIONS in doc.spans else []
        graph = ConTextGraph()
        graph.targets = spans
        doc._.context_graph = graph
        if not spans:
            return doc
        lowers = doc.to_array(LOWER).tolist()
        tokens = self._tokens = _Tokens(doc, lowers)
        blocks = _blocks(doc, tokens)
        by_block: dict[int, list[Span]] = {}
        block_starts = np.fromiter((b[0] for b in blocks), dtype=np.int64, count=len(blocks))
        for span in spans:
            i = int(np.searchsorted(block_starts, span.start, side="right")) - 1
            by_block.setdefault(i, []).append(span)
        doc_matches = None
        if self._doc_matcher is not None:
            doc_matches = self._doc_matcher(doc)  # regex rules: match the whole doc
        edges: list[tuple[Span, ConTextModifier]] = []
        for i, block_targets in by_block.items():
            start, end, items = blocks[i]
            if doc_matches is not None:
                matches = [m for m in doc_matches if start <= m[1] and m[2] <= end]
                if self.prune_on_modifier_overlap:
                    matches = prune_overlapping_matches(self._by_place(set(matches)))
            else:
                matches = self._match(doc, start, end, lowers)
            if not matches:
                continue
            modifiers = [
                self._modifier(doc, mid, ms, me, start, end, items, tokens)
                for mid, ms, me in matches
            ]
            modifiers = _drop_informants(modifiers, lowers, doc)
            _update_scopes(modifiers)
            _end_relatives_at_patient_clauses(modifiers, lowers)
            # a cue word inside a test's name ("international normalized ratio", "free T4")
            # is part of the name, not a cue for the results around it
            names = [(t.start, t.end) for t in block_targets if t.label_ in _MEASURED_LABELS]
            for target in block_targets:
                for mod in modifiers:
                    ms, me = mod.modifier_span
                    if ms < target.end and target.start < me:
                        # a cue inside the mention does not modify it, unless it opens it;
                        # a reinterpreting cue names the structure it overlaps ("represents a
                        # calcified granuloma"): that one is there
                        if (
                            _leads(mod, target)
                            and mod.allows(target.label_.upper())
                            and not (mod.rule.metadata or {}).get("reinterprets")
                        ):
                            mod.modify(target)
                        continue
                    if names and any(a <= ms and me <= b for a, b in names):
                        continue
                    targets = (mod.rule.metadata or {}).get("target_words")
                    if targets and not any(w in target.text.lower() for w in targets):
                        continue  # a reinterpretation explains a density, no other finding
                    if mod.modifies(target):
                        mod.modify(target)
            for mod in modifiers:
                mod.reduce_targets()
                edges.extend((t, mod) for t in mod._targets)
            graph.modifiers.extend(modifiers)
        self._tokens = None
        graph.edges = edges
        for target, mod in edges:
            target._.modifiers += (mod,)
            _apply(target, mod, doc)
        return doc

    def _match(
        self, doc: Doc, start: int, end: int, lowers: list[int]
    ) -> list[tuple[int, int, int]]:
        """Modifier matches in tokens ``[start, end)`` (doc offsets), pruned like medspaCy's.

        The compiled patterns find the same matches as the spaCy matchers; without them (a
        rule they cannot express) the spaCy matchers run. Of two matches over the same tokens
        the later rule's is kept (``_by_place``), whichever the matchers emit first.
        """
        words = self._word_matchers
        windows: dict[int, list[int]] = {}
        #: positions of each anchor word in the block
        where: dict[int, list[int]] = {}
        for p in range(start, end):
            key = lowers[p]
            entry = words.get(key)
            if entry is None:
                continue
            at = where.get(key)
            if at is None:
                where[key] = [p]
            else:
                at.append(p)
            reach = entry[1]
            a, b = (
                (start, end) if reach is None else (max(start, p - reach), min(end, p + reach + 1))
            )
            win = windows.get(key)
            if win is None:
                windows[key] = [a, b]
            elif a <= win[-1]:  # overlapping or touching: extend the last window
                win[-1] = max(win[-1], b)
            else:
                win.extend((a, b))
        if self._compiled_all and self.prune_on_modifier_overlap:
            found_set: set[tuple[int, int, int]] = set()
            if windows:
                tokens = self._tokens
                if tokens is None or tokens.lowers is not lowers:
                    tokens = self._tokens = _Tokens(doc, lowers)
                patterns = self._word_patterns
                for key, win in windows.items():
                    compiled = patterns[key]
                    j = 0
                    for q in where[key]:  # ascending, like the windows built from them
                        while q >= win[j + 1]:
                            j += 2
                        a, b = win[j], win[j + 1]
                        for pattern in compiled:
                            pattern.matches_at(tokens, q, a, b, found_set)
            if self._has_phrases:
                found_set.update(self._phrase_matcher(doc[start:end]))  # type: ignore[misc]
            return prune_overlapping_matches(self._by_place(found_set))
        found: list[tuple[int, int, int]] = []
        # spaCy's Matcher returns offsets relative to a Span, its PhraseMatcher absolute ones.
        # Matching a short window around each anchor walks far fewer tokens than the sentence.
        for key, win in windows.items():
            matcher = words[key][0]
            for j in range(0, len(win), 2):
                a = win[j]
                found.extend((m, s + a, e + a) for m, s, e in matcher(doc[a : win[j + 1]]))
        if self._always_matcher is not None:
            found.extend(
                (m, s + start, e + start) for m, s, e in self._always_matcher(doc[start:end])
            )
        if self._has_phrases:
            found += self._phrase_matcher(doc[start:end])  # type: ignore[misc]
        found = self._by_place(set(found))
        return prune_overlapping_matches(found) if self.prune_on_modifier_overlap else found

    def _by_place(self, found: set[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        """The matches by tokens, one per token span: the rule latest in the file (pruning
        compares matches pairwise, so two over the same tokens must not both reach it)."""
        place = self._place
        best: dict[tuple[int, int], tuple[int, int, int]] = {}
        for m in found:
            held = best.get((m[1], m[2]))
            if held is None or place.get(m[0], -1) > place.get(held[0], -1):
                best[(m[1], m[2])] = m
        return sorted(best.values(), key=lambda m: (m[1], m[2]))

    def _modifier(
        self,
        doc: Doc,
        match_id: int,
        start: int,
        end: int,
        lo: int,
        hi: int,
        items: list[tuple[int, int]],
        tokens: "_Tokens",
    ) -> ConTextModifier:
        rule = self._rule_map[doc.vocab.strings[match_id]]
        # Inside a list item (not the lead-in), the item bounds the scope.
        for a, b in items:
            if a <= start < b:
                lo, hi = a, b
                break
        lo, hi = _paren_bounds(tokens, start, end, lo, hi)
        direction = rule.direction.lower()
        max_scope = rule.max_scope or self.max_scope
        s_start, s_end = lo, hi
        if direction == "forward":
            s_start = end
            if max_scope:
                s_end = min(hi, end + max_scope)
        elif direction == "backward":
            s_end = start
            if max_scope:
                s_start = max(lo, start - max_scope)
        elif max_scope:  # bidirectional; metadata may narrow the backward half
            back = (rule.metadata or {}).get("max_scope_backward") or max_scope
            s_start, s_end = max(lo, start - int(back)), min(hi, end + max_scope)
        clause = (rule.metadata or {}).get("clause_scope")
        if clause:
            # a cue that states something of one noun phrase ("X is not likely", "X likely
            # representing nipple shadow", "favoring pneumonia") reaches no further than its
            # clause: a comma, a semicolon or a conjunction ends the scope (or the tokens the
            # rule lists: a reinterpretation may follow its density after a comma)
            ends = frozenset(clause) if clause is not True else (
                _CLAUSE_ENDS if direction == "backward" else _CLAUSE_ENDS_FORWARD
            )
            if direction in ("backward", "bidirectional"):
                for i in range(start - 1, s_start - 1, -1):
                    if doc[i].lower_ in ends:
                        s_start = i + 1
                        break
            if direction in ("forward", "bidirectional"):
                for i in range(end, s_end):
                    if doc[i].lower_ in ends:
                        s_end = i
                        break
        return ConTextModifier(rule, start, end, doc, scope_start=s_start, scope_end=s_end)


#: Tokens that end the scope of a cue with ``clause_scope`` (the clause of one noun phrase).
_CLAUSE_ENDS = frozenset({",", ";", ":", "and", "or", "with", "but", "given", "for", "while"})
#: ... after a forward cue, whose noun phrase may be a list ("favoring scar or atelectasis")
_CLAUSE_ENDS_FORWARD = _CLAUSE_ENDS - {"and", "or"}

#: Words too common to be a good anchor for a cue pattern.
_COMMON = frozenset(
    "the a an of in on at to for with and or is are was were be been has have had his her "
    "their patient pt no not any".split()
)


def _anchor(pattern: list[dict[str, Any]]) -> frozenset[str] | None:
    """Lower-case words one required token of ``pattern`` must be; None if none is fixed."""
    best: frozenset[str] | None = None
    best_key: tuple[int, int] | None = None
    for tok in pattern:
        if tok.get("OP") in ("?", "*", "!"):
            continue
        values: set[str] | None = None
        for key in ("LOWER", "ORTH", "TEXT", "NORM"):
            spec = tok.get(key)
            if isinstance(spec, str):
                values = {spec.lower()}
            elif isinstance(spec, dict) and set(spec) == {"IN"}:
                values = {str(v).lower() for v in spec["IN"]}
            if values:
                break
        if not values:
            continue
        rank = (sum(v in _COMMON for v in values), len(values))
        if best_key is None or rank < best_key:
            best, best_key = frozenset(values), rank
    return best


#: Constraint kinds of a compiled pattern element.
(_LOWER_EQ, _LOWER_IN, _LOWER_NOT_IN, _LOWER_RE) = range(4)
(_ORTH_EQ, _ORTH_IN, _ORTH_NOT_IN, _ORTH_RE, _SPACE) = range(4, 9)
#: Boolean lexical flags a compiled element may test (besides IS_SPACE): name -> spaCy attr.
_FLAG = 9
_FLAGS: dict[str, int] = {
    "IS_ALPHA": IS_ALPHA,
    "IS_DIGIT": IS_DIGIT,
    "IS_PUNCT": IS_PUNCT,
    "IS_SENT_START": SENT_START,  # 1 on the first token of a sentence
}
_OPS = frozenset({None, "?", "*", "+"})


class _Tokens:
    """Token attributes of one doc (LOWER, ORTH, IS_SPACE ids as spaCy's Matcher reads them),
    and the ids of the punctuation this module looks for."""

    __slots__ = (
        "bullets",
        "closing",
        "colon",
        "doc",
        "flags",
        "lowers",
        "opening",
        "orths",
        "spaces",
        "strings",
    )

    def __init__(self, doc: Doc, lowers: list[int]) -> None:
        self.lowers = lowers
        self.strings = strings = doc.vocab.strings
        self.orths: list[int] = doc.to_array(ORTH).tolist()
        self.spaces: list[int] = doc.to_array(IS_SPACE).tolist()
        self.doc = doc
        #: spaCy flag attr -> per-token values, read on first use
        self.flags: dict[int, list[int]] = {}
        self.colon = strings.add(":")
        self.opening = strings.add("(")
        self.closing = strings.add(")")
        self.bullets = frozenset(strings.add(b) for b in _BULLETS)


def _test(tokens: _Tokens, constraints: tuple[tuple[int, Any], ...], q: int) -> bool:
    """Whether token ``q`` satisfies every constraint of one pattern element."""
    for kind, value in constraints:
        if kind == _LOWER_EQ:
            ok = tokens.lowers[q] == value
        elif kind == _LOWER_IN:
            ok = tokens.lowers[q] in value
        elif kind == _SPACE:
            ok = tokens.spaces[q] == value
        elif kind == _ORTH_EQ:
            ok = tokens.orths[q] == value
        elif kind == _ORTH_IN:
            ok = tokens.orths[q] in value
        elif kind == _LOWER_NOT_IN:
            ok = tokens.lowers[q] not in value
        elif kind == _ORTH_NOT_IN:
            ok = tokens.orths[q] not in value
        elif kind == _LOWER_RE:
            ok = value.search(tokens.strings[tokens.lowers[q]]) is not None
        elif kind == _FLAG:
            attr, want = value
            column = tokens.flags.get(attr)
            if column is None:
                column = tokens.flags[attr] = tokens.doc.to_array(attr).tolist()
            ok = (column[q] == 1) == want  # SENT_START: 1, -1 (as uint64) or 0 (unset)
        else:  # _ORTH_RE
            ok = value.search(tokens.strings[tokens.orths[q]]) is not None
        if not ok:
            return False
    return True


_Element = tuple[str | None, tuple[tuple[int, Any], ...]]


class _Compiled:
    """One ConText token pattern matched around its anchor element, like spaCy's Matcher.

    spaCy's Matcher (no greedy filter) returns every ``(start, end)`` whose tokens the pattern
    matches as a whole. Each such match has the anchor element (a required one) on a token that
    is one of the anchor words; so the matches are the anchor's positions combined with every
    way the elements before it match leftwards and the elements after it rightwards. All in
    Python over token hashes: spaCy builds a ``Token`` per token and pattern for ``IN``
    predicates, the main cost of ConText.
    """

    __slots__ = ("after", "anchor", "before", "key", "rule", "words")

    def __init__(
        self, rule: ConTextRule, key: int, elements: list[_Element], k: int, words: frozenset[int]
    ) -> None:
        self.rule = rule
        self.key = key
        self.anchor = elements[k][1]
        self.before = elements[:k][::-1]  # matched leftwards from the anchor
        self.after = elements[k + 1 :]
        self.words = words

    def matches_at(
        self, tokens: _Tokens, q: int, a: int, b: int, out: set[tuple[int, int, int]]
    ) -> None:
        """Add to ``out`` every match inside tokens ``[a, b)`` with the anchor on token ``q``."""
        if not _test(tokens, self.anchor, q):
            return
        starts = _walk(tokens, self.before, q - 1, a, -1) if self.before else (q - 1,)
        if not starts:
            return
        ends = _walk(tokens, self.after, q + 1, b, 1) if self.after else (q + 1,)
        key = self.key
        for s in starts:
            for e in ends:
                out.add((key, s + 1, e))


def _walk(tokens: _Tokens, elements: list[_Element], pos: int, limit: int, step: int) -> set[int]:
    """Positions reachable after matching ``elements`` from ``pos`` one token at a time in
    direction ``step`` (1: up to ``limit`` exclusive; -1: down to ``limit`` inclusive)."""
    positions = {pos}
    for op, constraints in elements:
        reached: set[int] = set()
        for q in positions:
            if op is None:
                if (q < limit if step > 0 else q >= limit) and _test(tokens, constraints, q):
                    reached.add(q + step)
                continue
            if op != "+":  # "?" and "*" may match nothing
                reached.add(q)
            r = q
            while (r < limit if step > 0 else r >= limit) and _test(tokens, constraints, r):
                r += step
                reached.add(r)
                if op == "?":
                    break
        if not reached:
            return reached
        positions = reached
    return positions


def _compile(nlp: Language, rule: ConTextRule, anchor: frozenset[str]) -> "_Compiled | None":
    """``rule``'s pattern as a :class:`_Compiled`, or None if it uses anything else than
    LOWER/ORTH/TEXT values (string, IN, NOT_IN, REGEX), IS_SPACE/IS_ALPHA/IS_DIGIT/IS_PUNCT
    and the ops ?, *, +."""
    # spaCy's ids: a string's hash, or its symbol id ("neg" is 425, not its hash)
    strings = nlp.vocab.strings
    elements: list[_Element] = []
    k = None
    for tok in rule.pattern:
        op = tok.get("OP")
        if op not in _OPS:
            return None
        constraints: list[tuple[int, Any]] = []
        for attr, spec in tok.items():
            if attr == "OP":
                continue
            if attr == "IS_SPACE":
                if not isinstance(spec, bool):
                    return None
                constraints.append((_SPACE, int(spec)))
                continue
            if attr in _FLAGS:
                if not isinstance(spec, bool):
                    return None
                constraints.append((_FLAG, (_FLAGS[attr], int(spec))))
                continue
            if attr not in ("LOWER", "ORTH", "TEXT"):
                return None
            lower = attr == "LOWER"
            if isinstance(spec, str):
                constraints.append((_LOWER_EQ if lower else _ORTH_EQ, strings.add(spec)))
                continue
            if not isinstance(spec, dict) or not spec:
                return None
            for pred, value in spec.items():
                if pred in ("IN", "NOT_IN"):
                    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                        return None
                    hashes = frozenset(strings.add(v) for v in value)
                    if pred == "IN":
                        constraints.append((_LOWER_IN if lower else _ORTH_IN, hashes))
                    else:
                        constraints.append((_LOWER_NOT_IN if lower else _ORTH_NOT_IN, hashes))
                elif pred == "REGEX" and isinstance(value, str):
                    constraints.append((_LOWER_RE if lower else _ORTH_RE, re.compile(value)))
                else:
                    return None
        if not constraints:
            return None  # a wildcard element: leave it to spaCy
        if k is None and op is None and _element_words(tok) == anchor:
            k = len(elements)
        elements.append((op, tuple(constraints)))
    if k is None:
        return None
    words = frozenset(nlp.vocab.strings.add(w) for w in anchor)
    return _Compiled(rule, nlp.vocab.strings.add(rule._rule_id), elements, k, words)


def _element_words(tok: Mapping[str, Any]) -> frozenset[str] | None:
    """The lower-cased words a pattern element is fixed to, as ``_anchor`` reads them."""
    for key in ("LOWER", "ORTH", "TEXT", "NORM"):
        spec = tok.get(key)
        values: set[str] | None = None
        if isinstance(spec, str):
            values = {spec.lower()}
        elif isinstance(spec, dict) and set(spec) == {"IN"}:
            values = {str(v).lower() for v in spec["IN"]}
        if values:
            return frozenset(values)
    return None


def _matcher(nlp: Language, rules: list[ConTextRule]) -> Matcher:
    """A spaCy Matcher over the token patterns of ``rules``, keyed by medspaCy's rule ids."""
    # validate=False: spaCy's pattern validation (pydantic) took about a second of every
    # pipeline build for the same shipped rules; medspaCy's own matcher has validated each
    # pattern when the rules were added, and a test validates every rule file's patterns.
    matcher = Matcher(nlp.vocab, validate=False)
    for rule in rules:
        matcher.add(rule._rule_id, [rule.pattern])
    return matcher


class _LazyMatcher:
    """``_matcher(nlp, rules)``, made on first use.

    With every rule compiled (``_compile``), the spaCy matchers only settle the rare blocks
    where rules that act differently match the same tokens (``_match``); a start-up that
    made them all spent 0.03-0.06 s on matchers a short run seldom calls.
    """

    __slots__ = ("_matcher", "_nlp", "_rules")

    def __init__(self, nlp: Language, rules: list[ConTextRule]) -> None:
        self._nlp = nlp
        self._rules = rules
        self._matcher: Matcher | None = None

    def __call__(self, doclike: Doc | Span) -> list[tuple[int, int, int]]:
        if self._matcher is None:
            self._matcher = _matcher(self._nlp, self._rules)
        return self._matcher(doclike)


def _reach(pattern: list[dict[str, Any]]) -> int | None:
    """Most tokens a match of ``pattern`` can span (None if a word may repeat without bound).

    White space runs are one token in spaCy, so an optional white-space element adds at most one.
    """
    total = 0
    for tok in pattern:
        op = tok.get("OP")
        if op in ("*", "+") and not tok.get("IS_SPACE"):
            return None
        if op != "!":
            total += 1
    return total


#: A clause whose subject is the patient: a conjunction, [the|our|this] patient.
_CLAUSE_WORDS = frozenset(
    hash_string(w)
    for w in ("when", "while", "after", "before", "until", "as", "and", "but", "because",
              "since", "so", "where", "then", "whereas")
)  # fmt: skip
_DETERMINERS = frozenset(hash_string(w) for w in ("the", "our", "this"))
_PATIENT_HASHES = frozenset(hash_string(w) for w in ("patient", "pt"))


def _end_relatives_at_patient_clauses(modifiers: list[ConTextModifier], lowers: list[int]) -> None:
    """A relative's scope ends where a clause about the patient starts: "Mother called EMS
    when the patient vomited" (the vomiting is the patient's), "Mother has diabetes and the
    patient has asthma"; not "mother of the patient has diabetes". Done on the scopes, not
    as a ConText rule: a cue over "when the patient" would replace a shorter cue ending in
    "when" ("return when ...")."""
    for mod in modifiers:
        if mod.category.upper() != "FAMILY" or mod.direction.upper() not in (
            "FORWARD",
            "BIDIRECTIONAL",
        ):
            continue
        for k in range(mod.modifier_span[1] + 1, mod._scope_end):
            if lowers[k] not in _PATIENT_HASHES:
                continue
            j = k - 1
            if lowers[j] in _DETERMINERS:
                j -= 1
            if j >= mod.modifier_span[1] and lowers[j] in _CLAUSE_WORDS:
                mod._scope_end = j
                break


#: Relatives who tell the history of a child, and the verbs of telling: "Mom denies rash",
#: "Mother reports that he has had a cough", "father states".
_INFORMANTS = frozenset(
    hash_string(w)
    for w in ("mom", "mother", "dad", "father", "parent", "parents", "grandmother",
              "grandfather", "grandma", "grandpa", "guardian", "caregiver", "caretaker")
)  # fmt: skip
_TELLING = frozenset(
    hash_string(w)
    for w in ("denies", "denied", "reports", "reported", "states", "stated", "says", "said",
              "notes", "noted", "endorses", "endorsed", "describes", "described", "relates",
              "related", "feels", "felt", "thinks", "believes", "believed", "observed",
              "noticed", "provides", "provided", "gives", "gave")
)  # fmt: skip
_NOT_TELLING = frozenset(hash_string(w) for w in ("to", "birth"))
#: The first age a note states: "a 4-year-old boy", "this 3 month old", "a 15 yo".
_AGE = re.compile(
    r"\b(\d{1,3})[- ]?(?:(years?|yrs?|y)[- ]?(?:old|o)\b"
    r"|(months?|mos?|weeks?|wks?|days?)[- ]old\b)",
    re.IGNORECASE,
)


def _is_paediatric(doc: Doc) -> bool:
    """Whether the note is about a child: the first age it states is under 18 years. A note
    that states none is not (an obstetric note's "the child" is the patient's child)."""
    cached = doc.user_data.get("ns_paediatric")
    if cached is None:
        m = _AGE.search(doc_text(doc))
        cached = bool(m) and (m.group(3) is not None or int(m.group(1)) < 18)
        doc.user_data["ns_paediatric"] = cached
    return bool(cached)


#: "per mom", "according to mother", "history from father", "as reported by the parents".
_TOLD_BY = frozenset(hash_string(w) for w in ("per", "from", "by", "according"))
#: "the child", "this infant", "our 3-year-old boy": the patient of a paediatric note.
_CHILD = frozenset(
    hash_string(w)
    for w in ("child", "infant", "baby", "toddler", "boy", "girl", "newborn", "neonate", "kid")
)  # fmt: skip


def _drop_informants(
    modifiers: list[ConTextModifier], lowers: list[int], doc: Doc
) -> list[ConTextModifier]:
    """FAMILY cues that name who tells the history or the patient, not whom it is about.

    A parent before a verb of telling ("Mom denies rash, vomiting or diarrhea", "Mother
    reports that he has had a cough") or after "per" / "from" / "by" ("per mom, no fever",
    "history obtained from mother") is the informant of a child's history; "the child",
    "this infant" is the patient. A relative's own history keeps its cue: "mother has
    diabetes", "diabetes in her mother", "mother's history of asthma"."""
    kept = []
    n = len(lowers)
    for mod in modifiers:
        ms, me = mod.modifier_span
        if mod.category.upper() == "FAMILY" and me - ms == 1:
            word = lowers[ms]
            after = lowers[me] if me < n else 0
            before = lowers[ms - 1] if ms > 0 else 0
            if before in _DETERMINERS and ms > 1 and lowers[ms - 2] in _TOLD_BY:
                before = lowers[ms - 2]  # "as reported by the parents"
            # "Father reported to have had an MI", "Mother said to have cancer", "Mother gave
            # birth to ...": the relative's own; "mother gave her MiraLax" tells of the patient
            telling = after in _TELLING and not (me + 1 < n and lowers[me + 1] in _NOT_TELLING)
            if word in _INFORMANTS and (telling or before in _TOLD_BY):
                continue
            if word in _CHILD and before in _DETERMINERS and _is_paediatric(doc):
                continue
        kept.append(mod)
    return kept


def _update_scopes(modifiers: list[ConTextModifier]) -> None:
    """medspaCy's ``ConTextGraph.update_scopes`` with a containment-aware overlap test.

    medspaCy's ``tuple_overlaps`` misses one range containing the other, so a terminator whose
    scope is the whole sentence never cut a cue's shorter scope ("no prior complaints,
    presents with abdominal pain").
    """
    for i in range(len(modifiers) - 1):
        first = modifiers[i]
        for j in range(i + 1, len(modifiers)):
            second = modifiers[j]
            _limit_scope(first, second)
            _limit_scope(second, first)


def _limit_scope(mod: ConTextModifier, other: ConTextModifier) -> None:
    """``ConTextModifier.limit_scope`` (same rules) with a correct overlap test."""
    a0, a1 = mod.scope_span
    b0, b1 = other.scope_span
    if not (a0 < b1 and b0 < a1):
        return
    direction = mod.direction.upper()
    if direction == "TERMINATE":
        return
    other_dir = other.direction.upper()
    same = other.category.upper() == mod.category.upper()
    if (
        other_dir != "TERMINATE"
        and other.category.upper() not in mod.rule.terminated_by
        and not same
    ):
        return
    if same and (
        mod.allowed_types != other.allowed_types or mod.excluded_types != other.excluded_types
    ):
        return
    o_start, o_end = other.modifier_span
    m_start, m_end = mod.modifier_span
    if direction in ("FORWARD", "BIDIRECTIONAL") and o_start > m_start:
        mod._scope_end = min(mod._scope_end, o_start)
    if direction in ("BACKWARD", "BIDIRECTIONAL") and o_end < m_end:
        mod._scope_start = max(mod._scope_start, o_end)


#: categories whose cue still acts when it opens the mention's own span ("history of MI",
#: "no pleural effusion", "possible pneumonia"): span conventions differ between sources
#: (an upstream NER or a gold standard may take the cue into the span)
LEADING_CATEGORIES = frozenset({"HISTORICAL", "NEGATED_EXISTENCE", "POSSIBLE_EXISTENCE"})


def _leads(mod: ConTextModifier, target: Span) -> bool:
    """A cue that opens the mention or reaches into it from before it acts on it.

    ``was not [palpable]``, ``no evidence of [PE]``: a cue that starts before the mention
    and overlaps it (its pattern swallowed the finding word) still modifies it; a cue that
    opens the mention counts for ``LEADING_CATEGORIES`` only (not a forward cue's
    direction-less words inside, such as "free" in "disease-free").
    """
    ms = mod.modifier_span[0]
    if ms >= target.start and (target._.attributes or {}).get("no_known_allergy"):
        # "No known drug allergies" states the absence itself: its cue is its meaning
        return False
    if ms < target.start:
        return mod.direction in ("FORWARD", "BACKWARD", "BIDIRECTIONAL")
    return bool(
        ms == target.start
        and mod.category in LEADING_CATEGORIES
        and mod.direction in ("FORWARD", "BIDIRECTIONAL")
    )


def _apply(target: Span, mod: ConTextModifier, doc: Doc) -> None:
    rule = mod.rule
    meta = rule.metadata or {}
    for category in (rule.category, *meta.get("also", ())):
        attr = CATEGORY_ATTRS.get(str(category).upper())
        if attr:
            setattr(target._, attr, True)
    if meta.get("conditional"):
        target._.is_conditional = True
    if meta.get("resolved") and rule.category == "NEGATED_EXISTENCE":
        # no longer present because it resolved: FHIR keeps it as a resolved Condition
        target._.attributes = {**(target._.attributes or {}), "resolved": True}
    if rule.category == "FAMILY" and target._.experiencer is None:
        ms, me = mod.modifier_span
        target._.experiencer = _experiencer(doc[ms:me])


def _experiencer(cue: Span) -> str:
    """The relative named by a FAMILY cue ("mother"), or "family"."""
    for tok in cue:
        low = tok.lower_
        if low not in {"family", "fam", "history", "hx", "h/o", "of", "'s", "'", "fhx", "fh"}:
            if low.isalpha():
                return low
    return "family"


def _blocks(
    doc: Doc, tokens: "_Tokens | None" = None
) -> list[tuple[int, int, list[tuple[int, int]]]]:
    """Sentence ranges; a sentence ending with ":" absorbs the bulleted items that follow.

    Each block is ``(start, end, items)``, ``items`` being the item ranges inside it.
    """
    n = len(doc)
    if doc.has_annotation("SENT_START"):
        flags = doc.to_array(SENT_START).astype(np.int64)
        starts = np.flatnonzero(flags == 1).tolist()
        if not starts or starts[0] != 0:
            starts.insert(0, 0)
    else:
        starts = [0]
    if tokens is None:
        tokens = _Tokens(doc, doc.to_array(LOWER).tolist())
    bounds = list(zip(starts, [*starts[1:], n], strict=True))
    out: list[tuple[int, int, list[tuple[int, int]]]] = []
    i = 0
    while i < len(bounds):
        s, e = bounds[i]
        items: list[tuple[int, int]] = []
        if _ends_with_colon(tokens, s, e):
            j = i + 1
            while j < len(bounds) and _is_bullet(tokens, *bounds[j]):
                items.append(bounds[j])
                j += 1
            if items:
                out.append((s, items[-1][1], items))
                i = j
                continue
        out.append((s, e, items))
        i += 1
    return out


def _ends_with_colon(tokens: "_Tokens", s: int, e: int) -> bool:
    spaces = tokens.spaces
    for k in range(e - 1, s - 1, -1):
        if not spaces[k]:
            return tokens.orths[k] == tokens.colon
    return False


def _is_bullet(tokens: "_Tokens", s: int, e: int) -> bool:
    spaces = tokens.spaces
    for k in range(s, e):
        if not spaces[k]:
            return tokens.orths[k] in tokens.bullets
    return False


def _paren_bounds(tokens: "_Tokens", start: int, end: int, lo: int, hi: int) -> tuple[int, int]:
    """Shrink ``[lo, hi)`` to the parentheses enclosing the cue at ``[start, end)``, if any."""
    orths = tokens.orths
    opening, closing = tokens.opening, tokens.closing
    depth = 0
    left = None
    for k in range(start - 1, lo - 1, -1):
        orth = orths[k]
        if orth == closing:
            depth += 1
        elif orth == opening:
            if depth == 0:
                left = k
                break
            depth -= 1
    if left is None:
        return lo, hi
    for k in range(end, hi):
        if orths[k] == closing:
            return left + 1, k
    return left + 1, hi


#: Rule ids of curated terms that name a finding's absence ("afebrile": fever, negated);
#: ``rules/dictionary/problems.tsv`` rows ``absent-*``.
ABSENCE_RULE_PREFIX = "curated:absent-"


class AssertionRefiner:
    """Section-aware defaults after ConText (ConText decides inside sentences only)."""

    def __init__(self, nlp: Language, name: str) -> None:
        self.name = name

    def __call__(self, doc: Doc) -> Doc:
        if MENTIONS not in doc.spans:
            return doc
        spans = list(doc.spans[MENTIONS])
        for span, section in zip(spans, assign_sections(doc, spans), strict=True):
            category = (section.category if section is not None else None) or ""
            ext = span._
            for flag in SECTION_DEFAULTS.get(category, ()):
                if flag == "is_family" and _about_patient(span):
                    continue
                setattr(ext, flag, True)
            # a word that says its finding is absent ("afebrile") is the finding negated,
            # also inside a negated list ("No edema, nontender"); only a negation of the
            # word itself ("not afebrile", "no longer afebrile") makes the finding present
            if (ext.rule_id or "").startswith(ABSENCE_RULE_PREFIX):
                ext.is_negated = not _negates_the_word(span)
            # a screening or assessment procedure names the habit it asks about, not a fact
            if (
                span.label_ != "PROCEDURE"
                and STANDING_FACT.search(span.text)
                and not HABIT_DIAGNOSIS.search(span.text)
            ):
                ext.is_historical = True
            if category == "family_history" and ext.is_family and ext.experiencer is None:
                ext.experiencer = "family"
            if category in ALLERGY_SECTIONS:
                ext.attributes = {**(ext.attributes or {}), "allergy": True}
        return doc


def _negates_the_word(span: Span) -> bool:
    """ "not afebrile", "never afebrile", "no longer afebrile": a negation right before."""
    doc, i = span.doc, span.start
    before = [t.lower_ for t in doc[max(0, i - 2) : i]]
    return bool(before) and (before[-1] in ("not", "never") or before == ["no", "longer"])


def _about_patient(span: Span) -> bool:
    """In a family-history section: the sentence is about the patient, with no relative named."""
    if any(m.category == "FAMILY" for m in span._.modifiers):
        return False
    sent = span.sent if span.doc.has_annotation("SENT_START") else span.doc[:]
    return any(tok.lower_ in _PATIENT_WORDS for tok in sent[:3])


@Language.factory("ns_context", default_config={"rules": None})
def make_clinical_context(nlp: Language, name: str, rules: str | None) -> ClinicalContext:
    """spaCy factory for :class:`ClinicalContext` (``rules``: a JSON path; None = packaged)."""
    return ClinicalContext(nlp, name, rules)


@Language.factory("ns_assertion")
def make_assertion_refiner(nlp: Language, name: str) -> AssertionRefiner:
    """spaCy factory for :class:`AssertionRefiner`."""
    return AssertionRefiner(nlp, name)


def add_assertion_pipes(nlp: Language, options: Mapping[str, Any] | None = None) -> None:
    """Add ConText over ``doc.spans["mentions"]`` (``ns_context``) and the section refiner."""
    options = options or {}
    nlp.add_pipe("ns_context", config={"rules": options.get("context_rules")})
    nlp.add_pipe("ns_assertion")


def rule_ids(rules: Iterable[ConTextRule]) -> list[str]:
    """The stable ``rule_id`` of each rule (metadata), for tests and provenance."""
    return [str((r.metadata or {}).get("rule_id")) for r in rules]

"""Regex-on-text helpers for the structured extractors: exact-offset spans, numbers, rule files."""

import functools
import json
import re
from collections.abc import Iterable, Iterator
from importlib import resources
from re import _constants as _sre_constants  # type: ignore[attr-defined]
from re import _parser as _sre_parser  # type: ignore[attr-defined]
from typing import Any

import numpy as np
from spacy.tokens import Doc, Span

from extractors.base import MENTIONS
from extractors.extensions import span_key

#: A blank inside a line: space, tab and the no-break, thin and hair spaces that typeset text
#: (case reports, PDFs) puts between a number and its unit ("12\u200aU/L", "145/95\u2009mmHg").
HSPACE = r"[ \t\u00a0\u2000-\u200b\u202f]"
#: An expansion or abbreviation in brackets right after a test name, starting with a letter:
#: "C-reactive protein (CRP) was", "CVP (central venous pressure) 16", "WBCs [white cells]".
NAME_GLOSS = r"(?:[ \t]*[(\[][A-Za-z][^()\[\]\n]{0,48}[)\]])?"
#: A comma right after the name, or after "level" ("potassium level, 3.8 mEq/L"), and nowhere
#: else: "platelet count is normal, 89% segments" and "7 platelets, 23 fresh-frozen plasma"
#: are not results.
COMMA_AFTER_NAME = (
    rf"(?:{HSPACE}*(?:(?:level|levels|count|value|values|concentration|concentrations)"
    rf"{HSPACE}*)?,)?"
)
#: A decimal number as written in notes: "140", "4.1", ".5", "1,200".
NUMBER = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?|\.\d+)"

_WORD_NUMBERS: dict[str, float] = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fourteen": 14, "half": 0.5,
    "a": 1, "an": 1, "once": 1, "twice": 2, "thrice": 3,
}  # fmt: skip

#: Number words accepted where a count is expected ("two tablets", "one puff").
WORD_NUMBER = r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fourteen|half)"

#: A comparator before a value, as criteria and reports write it ("HbA1c > 7%", "creatinine
#: of more than 1.5 mg/dL", "platelets below 50,000/mm3") -> FHIR Quantity.comparator.
COMPARATOR = (
    # typed for want of a key ("WBC >_3500/mm3", "score <or= 8"); words that say "or equal"
    # before or after the direction ("equal or greater than", "greater or equal to")
    r"[<>]_|[<>]\s?or\s?=|[<>]=?|=<|=>|≤|≥|≦|≧|⩽|⩾|"
    r"(?:equal\s+(?:to\s+)?or\s+)?(?:less|lower|greater|higher|more)\s+than"
    r"(?:\s+or\s+equal(?:\s+to)?)?|"
    r"(?:less|lower|greater|higher|more)\s+or\s+equal\s+(?:to|than)|"
    # "below or equal to 8", "inferior or equal to 1" (criteria translated from French)
    r"(?:above|below|over|under)\s+or\s+equal(?:\s+to)?|"
    r"(?:inferior|superior)\s+(?:or\s+equal\s+)?to|"
    r"above|below|over|under|exceed(?:ing|ed|s)|in\s+excess\s+of|at\s+least|at\s+most|up\s+to|"
    r"not?\s+(?:more|greater|higher)\s+than|not?\s+(?:less|lower)\s+than|not\s+exceeding"
)
_CMP_WORDS = {"less": "<", "lower": "<", "greater": ">", "higher": ">", "more": ">"}
COMPARATORS: dict[str, str] = {
    "<": "<", ">": ">", "<=": "<=", ">=": ">=", "=<": "<=", "=>": ">=", "≤": "<=", "≥": ">=",
    "≦": "<=", "≧": ">=", "⩽": "<=", "⩾": ">=", "<_": "<=", ">_": ">=",
    "below": "<", "under": "<", "above": ">", "over": ">", "exceeding": ">", "in excess of": ">",
    "at least": ">=", "at most": "<=", "up to": "<=", "not exceeding": "<=",
    "exceeds": ">", "exceeded": ">", "inferior to": "<", "superior to": ">",
    "inferior or equal to": "<=", "superior or equal to": ">=",
}  # fmt: skip
for _word, _sign in {"below": "<=", "under": "<=", "above": ">=", "over": ">="}.items():
    COMPARATORS[f"{_word} or equal"] = COMPARATORS[f"{_word} or equal to"] = _sign
for _word, _sign in _CMP_WORDS.items():
    COMPARATORS[f"{_word} than"] = _sign
    COMPARATORS[f"no {_word} than"] = COMPARATORS[f"not {_word} than"] = (
        "<=" if _sign == ">" else ">="
    )
    for _eq in (f"{_word} than or equal to", f"{_word} than or equal", f"{_word} or equal to",
                f"{_word} or equal than", f"equal or {_word} than", f"equal to or {_word} than"):
        COMPARATORS[_eq] = _sign + "="
for _sign in "<>":
    for _typed in (f"{_sign}or=", f"{_sign} or =", f"{_sign}or =", f"{_sign} or="):
        COMPARATORS[_typed] = _sign + "="

#: A comparator written after the value ("70% or greater", "a score of 15 or more", "2 or
#: higher", "500 mL or less") -> ">=" / "<=".
_OR_MORE = re.compile(
    r"[ \t]+or[ \t]+(?:(?P<up>greater|higher|more|above|over)|less|lower|below|fewer)(?![a-z])"
    r"(?![ \t]+than)"
    # the end of the criterion, not a word it qualifies ("12 or higher dose needed")
    r"(?=[ \t]*(?:$|[\n.,;:)\]]|and\b|or\b|at\b|on\b|in\b|for\b|with\b|despite\b))",
    re.IGNORECASE,
)


def comparator_sign(written: str) -> str:
    """The sign of a comparator as written ("greater than or equal to", "≥", "<or="): ">=",
    or the written words themselves, spaces folded, where ``COMPARATORS`` has none."""
    key = " ".join(written.lower().split())
    return COMPARATORS.get(key, key)


def comparator_after(text: str, end: int) -> tuple[str, int] | None:
    """(comparator, new end) when "or greater" / "or less" follows a value ending at ``end``."""
    m = _OR_MORE.match(text, end)
    if m is None:
        return None
    return (">=" if m.group("up") else "<="), m.end()


_ONES = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_SPELLED_VALUE: dict[str, int] = {w: i + 1 for i, w in enumerate(_ONES)}
_SPELLED_VALUE.update({w: 20 + 10 * i for i, w in enumerate(_TENS)})
_BELOW_HUNDRED = (
    rf"(?:(?:{'|'.join(_TENS)})(?:[- ](?:{'|'.join(_ONES[:9])}))?|"
    rf"{'|'.join(sorted(_ONES, key=len, reverse=True))})"
)
#: A whole number spelled out, as case reports start a sentence with one ("Five hundred
#: milligrams", "twenty-five units", "one thousand two hundred"): up to 999,999.
SPELLED_NUMBER = (
    rf"(?:{_BELOW_HUNDRED}(?:\s+hundred(?:\s+(?:and\s+)?{_BELOW_HUNDRED})?)?"
    rf"(?:\s+thousand(?:\s+(?:and\s+)?{_BELOW_HUNDRED}(?:\s+hundred(?:\s+(?:and\s+)?"
    rf"{_BELOW_HUNDRED})?)?)?)?)"
)


def parse_spelled(text: str) -> int | None:
    """The value of a number matched by ``SPELLED_NUMBER`` ("five hundred" -> 500)."""
    total = current = 0
    for word in re.split(r"[\s-]+", text.strip().lower()):
        if word == "and":
            continue
        if word == "hundred":
            current *= 100
        elif word == "thousand":
            total += current * 1000
            current = 0
        elif word in _SPELLED_VALUE:
            current += _SPELLED_VALUE[word]
        else:
            return None
    return total + current


def parse_number(text: str) -> float | int | None:
    """Parse a number as written ("1,200", ".5", "1/2", "two", "five hundred"); ints stay
    ints."""
    raw = text.strip().lower().replace(",", "")
    if raw in _WORD_NUMBERS:
        value: float = _WORD_NUMBERS[raw]
    elif raw[:1].isalpha():
        return parse_spelled(raw)
    elif re.fullmatch(r"\d+/\d+", raw):
        num, den = raw.split("/")
        if int(den) == 0:
            return None
        value = int(num) / int(den)
    else:
        try:
            value = float(raw)
        except ValueError:
            return None
    return int(value) if float(value).is_integer() and "." not in raw else value


def load_rules(extractor: str, filename: str) -> Any:
    """Load ``extractors/rules/<extractor>/<filename>`` (JSON) with importlib.resources."""
    path = resources.files("extractors") / "rules" / extractor / filename
    return json.loads(path.read_text(encoding="utf-8"))


def alternation(terms: Iterable[str]) -> str:
    """A regex matching any of the literal ``terms``, compiled as a character trie.

    A trie-shaped pattern ("a(?:spirin|lbuterol)") is many times faster than a flat
    alternation of hundreds of words, which Python's ``re`` tries one by one at every
    position. Greedy optional groups keep the longest match first, and backtrack to shorter
    terms when what follows the pattern does not match. Spaces match any run of blanks.
    """
    trie: dict[str, Any] = {}
    for term in {t for t in terms if t}:
        node = trie
        for ch in term:
            node = node.setdefault(ch, {})
        node[""] = {}
    return _trie_regex(trie)


def _trie_regex(node: dict[str, Any]) -> str:
    ends = "" in node
    branches = [
        (r"\s+" if ch == " " else re.escape(ch)) + _trie_regex(child)
        for ch, child in sorted(node.items())
        if ch
    ]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if ends:
        return f"(?:{body})?"
    return body


class StartScanner:
    """Where matches of a pattern written ``(?<![<before>])<head>...`` may start, found fast.

    Python's ``re`` has no fast scan for a pattern that starts with a look-behind (or with a
    case-insensitive literal): ``finditer`` runs the pattern at every character. This scanner
    looks only after a character outside ``[before]`` (a class body such as ``r"\w/"``),
    which ``re`` skips to in C, and keeps the positions where ``head`` matches. ``head`` must
    match at the start of every match of the pattern (a superset is fine); the positions
    returned are sorted and unique, for :func:`matches_at`.
    """

    def __init__(self, before: str, head: str, flags: int = 0) -> None:
        self._head = re.compile(head, flags)
        self._scan = re.compile(rf"[^{before}](?={head})", flags)

    def __call__(self, text: str) -> list[int]:
        starts = [m.end() for m in self._scan.finditer(text)]
        if self._head.match(text):
            starts.insert(0, 0)
        return starts


class TermStarts:
    """Where a pattern written ``(?<![<before>])(?:<alternation of terms>)...`` may match.

    A vectorised filter (numpy, one pass over the text's code points): positions that do not
    follow a character of ``[before]`` and whose first three characters can begin one of
    ``terms`` ignoring case (a term's blank matches any white space, as in
    :func:`alternation`). Non-ASCII characters always pass. The positions returned are sorted,
    a superset of the pattern's match starts, for :func:`matches_at`.
    """

    def __init__(self, before: str, terms: Iterable[str]) -> None:
        self._prev_bad = np.zeros(129, dtype=bool)  # code point 128: any non-ASCII character
        for i, ch in enumerate(_ASCII):
            self._prev_bad[i] = re.match(f"[{before}]", ch) is not None
        terms = [t for t in terms if t]
        blanks = _term_char(" ")
        # Characters are looked up by class (a letter in either case, any white space, each
        # other character of a term, everything else, non-ASCII) to keep the table small.
        used = set(blanks).union(*(_term_char(ch) for t in terms for ch in t[:3]))
        keys = sorted({_char_class(c) for c in used})
        other, non_ascii = len(keys), len(keys) + 1
        ids = {key: i for i, key in enumerate(keys)}
        self._class = np.array(
            [ids.get(_char_class(c), other) for c in _ASCII] + [non_ascii],
            dtype=np.intp,
        )
        n = self._n = len(keys) + 2
        table = np.zeros((n, n, n), dtype=bool)
        every = list(range(n))
        for term in terms:
            chars: list[list[int]] = []
            after_blank = False  # a blank matches a run of white space: more may follow
            for ch in term[:3]:
                matching = _term_char(ch) | (blanks if after_blank else set())
                chars.append(sorted({ids[_char_class(c)] for c in matching}))
                after_blank = after_blank or ch == " "
            while len(chars) < 3:  # a short term: anything may follow it
                chars.append(every)
            table[np.ix_(*chars)] = True
        # a non-ASCII character may match anything, and so may the end of the text
        table[:, :, non_ascii] |= table.any(axis=2)
        table[:, non_ascii, :] |= table.any(axis=(1, 2))[:, None]
        table[non_ascii, :, :] = True
        self._table = table.reshape(-1)

    def __call__(self, text: str) -> list[int]:
        if not text:
            return []
        n = self._n
        codes = np.minimum(np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32), 128)
        classes = self._class[codes]
        padded = np.concatenate((classes, [n - 1, n - 1]))  # the text's end: anything may follow
        ok = np.empty(len(codes), dtype=bool)
        ok[0] = True
        ok[1:] = ~self._prev_bad[codes[:-1]]
        ok &= self._table[(classes * n + padded[1:-1]) * n + padded[2:]]
        return np.flatnonzero(ok).tolist()  # type: ignore[no-any-return]


def _char_class(ch: str) -> str:
    """Characters that every term treats alike: a letter in both cases, all white space."""
    return " " if ch.isspace() else ch.lower()


def _term_char(ch: str) -> set[str]:
    """ASCII characters that match ``ch`` of a term ignoring case (white space for a blank)."""
    if ch == " ":
        return {c for c in _ASCII if c.isspace()}
    return {c for c in _literal(ord(ch), True) if c.isascii()}


def matches_at(pattern: re.Pattern[str], text: str, starts: list[int]) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)`` for a pattern whose matches all start at one of ``starts``.

    ``starts`` is sorted and holds every position where ``pattern`` can match (more is fine);
    the matches must not be empty. Like ``finditer``, a match starts after the previous one.
    """
    end = 0
    for pos in starts:
        if pos < end:
            continue
        m = pattern.match(text, pos)
        if m is not None:
            end = m.end()
            yield m


#: ASCII members of the character categories ``re`` parses (``\\d``, ``\\s``, ``\\w``, ...).
_ASCII = [chr(i) for i in range(128)]
_CATEGORY_ASCII: dict[object, frozenset[str]] = {
    getattr(_sre_constants, name): frozenset(c for c in _ASCII if re.match(rx, c))
    for name, rx in (
        ("CATEGORY_DIGIT", r"\d"), ("CATEGORY_NOT_DIGIT", r"\D"),
        ("CATEGORY_SPACE", r"\s"), ("CATEGORY_NOT_SPACE", r"\S"),
        ("CATEGORY_WORD", r"\w"), ("CATEGORY_NOT_WORD", r"\W"),
    )
}  # fmt: skip


def first_chars(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """The ASCII characters a non-empty match of ``pattern`` can start with; ``None`` if unknown.

    Computed from the parsed pattern; look-arounds and anchors are ignored (they only narrow
    the set). A character outside ASCII may start a match of any pattern: callers must try
    every pattern there.
    """
    try:
        chars, _ = _first_seq(list(_sre_parser.parse(pattern.pattern, pattern.flags)),
                              bool(pattern.flags & re.IGNORECASE))  # fmt: skip
    except Exception:  # an unexpected construct: no filtering for this pattern
        return None
    return None if chars is None else frozenset(c for c in chars if c.isascii())


def _first_seq(items: list[Any], icase: bool) -> tuple[set[str] | None, bool]:
    """(first characters, whether the sequence can match the empty string)."""
    out: set[str] = set()
    for op, av in items:
        chars, nullable = _first_item(op, av, icase)
        if chars is None:
            return None, False
        out |= chars
        if not nullable:
            return out, False
    return out, True


def _literal(code: int, icase: bool) -> set[str]:
    return set(_literal_chars(code, icase))


@functools.cache
def _literal_chars(code: int, icase: bool) -> frozenset[str]:
    # Cached: building the pipeline asks for the same few characters thousands of times, and
    # each answer costs 128 regex matches (about half a second per build without the cache).
    ch = chr(code)
    if not icase:
        return frozenset(ch)
    # the ASCII characters ``re`` itself matches to ``ch`` ignoring case ("K" (Kelvin) -> "k")
    return frozenset({ch} | {a for a in _ASCII if re.fullmatch(re.escape(ch), a, re.IGNORECASE)})


def _first_item(op: Any, av: Any, icase: bool) -> tuple[set[str] | None, bool]:
    c = _sre_constants
    if op is c.LITERAL:
        return _literal(av, icase), False
    if op is c.IN:
        out: set[str] = set()
        for iop, iav in av:
            if iop is c.LITERAL:
                chars = _literal(iav, icase)
            elif iop is c.RANGE:
                lo, hi = iav
                if icase and hi > 127:
                    return None, False
                chars = set()
                for code in range(lo, min(hi, 127) + 1):
                    chars |= _literal(code, icase)
            elif iop is c.CATEGORY and iav in _CATEGORY_ASCII:
                chars = set(_CATEGORY_ASCII[iav])
            else:  # NEGATE, unknown categories
                return None, False
            out |= chars
        return out, False
    if op is c.BRANCH:
        out = set()
        any_nullable = False
        for branch in av[1]:
            chars, nullable = _first_seq(list(branch), icase)
            if chars is None:
                return None, False
            out |= chars
            any_nullable = any_nullable or nullable
        return out, any_nullable
    if op is c.SUBPATTERN:
        _, add, remove, sub = av
        scoped = (icase or bool(add & re.IGNORECASE)) and not remove & re.IGNORECASE
        return _first_seq(list(sub), scoped)
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
        low, _, sub = av
        chars, nullable = _first_seq(list(sub), icase)
        return chars, nullable or low == 0
    if op is getattr(c, "ATOMIC_GROUP", None):
        return _first_seq(list(av), icase)
    if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
        return set(), True  # zero-width: ignoring it only widens the set
    return None, False


class FirstCharIndex:
    """Which of an ordered list of patterns can match at a position, from the character there.

    ``candidates(text, pos, limit)`` gives the indices (in list order) of the patterns that
    may have a non-empty match at ``pos``; patterns whose first characters are unknown are
    always included, and so is every pattern before a non-ASCII character.
    """

    def __init__(self, patterns: list[re.Pattern[str]]) -> None:
        firsts = [first_chars(p) for p in patterns]
        every = tuple(range(len(patterns)))
        self._all = every
        self._by_char = {
            ch: tuple(i for i in every if firsts[i] is None or ch in firsts[i])  # type: ignore[operator]
            for ch in _ASCII
        }

    def candidates(self, text: str, pos: int, limit: int) -> tuple[int, ...]:
        if pos >= limit or pos >= len(text):
            return ()
        return self._by_char.get(text[pos], self._all)


def term_key(text: str) -> str:
    """Lookup key of a matched term: lower case, blanks squeezed ("Potassium\nchloride")."""
    return " ".join(text.lower().split())


def existing_spans(doc: Doc, label: str | None = None) -> list[Span]:
    """Spans already in ``doc.spans["mentions"]`` (optionally only those with ``label``)."""
    if MENTIONS not in doc.spans:
        return []
    return [s for s in doc.spans[MENTIONS] if label is None or s.label_ == label]


def char_bounds(span: Span) -> tuple[int, int]:
    """Exact character offsets of a span (caller-given bounds win over token bounds)."""
    # ``span._.char_bounds`` without building an ``Underscore`` (same storage as its getter)
    bounds = span.doc.user_data.get(span_key(span, "char_bounds"))
    return (int(bounds[0]), int(bounds[1])) if bounds else (span.start_char, span.end_char)


def make_span(
    doc: Doc,
    start: int,
    end: int,
    label: str,
    *,
    extractor: str,
    version: int,
    rule_id: str,
    codes: list[dict[str, Any]] | None = None,
    attributes: dict[str, Any] | None = None,
) -> Span | None:
    """A span at exact characters ``start:end``, expanded to tokens when they do not align.

    ``span._.char_bounds`` keeps the exact offsets when the tokens are wider, so the
    mention text is always ``note.text[start:end]``.
    """
    span = doc.char_span(start, end, label=label, alignment_mode="expand")
    if span is None or len(span) == 0:
        return None
    # what ``span._.<name> = value`` does, without spaCy's slow ``Underscore.__setattr__``
    data = span.doc.user_data
    if (span.start_char, span.end_char) != (start, end):
        data[span_key(span, "char_bounds")] = (start, end)
    data[span_key(span, "extractor")] = extractor
    data[span_key(span, "extractor_version")] = version
    data[span_key(span, "rule_id")] = rule_id
    data[span_key(span, "codes")] = list(codes or [])
    data[span_key(span, "attributes")] = dict(attributes or {})
    return span


def add_spans(
    doc: Doc,
    spans: Iterable[Span],
    drop: Iterable[tuple[int, int]] = (),
    existing: list[Span] | None = None,
) -> None:
    """Append ``spans`` to ``doc.spans["mentions"]``, removing existing spans at ``drop``.

    ``drop`` holds token-aligned ``(start_char, end_char)`` pairs. An existing span at the
    same token offsets as a new one is also removed: spaCy 3.7 keys ``Span._`` values by
    character offsets only, so two spans there would share extractor, codes and attributes.
    ``existing`` is ``existing_spans(doc)`` when the caller already has it (iterating the span
    group builds a ``Span`` object per span); it must be current.
    """
    new = list(spans)
    gone = set(drop) | {(s.start_char, s.end_char) for s in new}
    if not gone and MENTIONS in doc.spans:
        return  # nothing to add or remove: the group stays as it is
    current = existing_spans(doc) if existing is None else existing
    kept = [s for s in current if (s.start_char, s.end_char) not in gone]
    doc.spans[MENTIONS] = [*kept, *new]

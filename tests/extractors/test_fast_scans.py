"""The fast scans of the structured extractors find exactly what a plain ``finditer`` finds."""

import random
import re

import pytest

from extractors.allergies import _MAY_MENTION, _TRIGGER, _may_mention, _trigger_starts
from extractors.medications import SigParser
from extractors.patterns import (
    FirstCharIndex,
    StartScanner,
    TermStarts,
    alternation,
    first_chars,
    matches_at,
)
from extractors.sentences import _INLINE_HEADER, _INLINE_HEADER_STARTS
from extractors.units import UnitNormalizer

#: Short clinical-looking snippets (with odd blanks, cases and non-ASCII letters) to shuffle.
PIECES = [
    "BP 120/80", "bp\u00a0118/76", "P 88", "T 98.6 F", "K 4.1", "Na 139", "Hgb 12.5 (H)",
    "aspirin 81 mg PO daily", "Aspirin", "ASA/aspirin", "x-aspirin", "metoprolol-XL",
    "iv\n\npush", "IV  heparin", "by\tmouth", "sub q", "sub  q", "ALLERGIES: NKDA",
    "allergic to penicillin (rash)", "No known drug allergies.", "hypersensitivity to sulfa",
    "Drug\n  Allergies: none", "medication allergies - codeine", "N.K.D.A.", "nkfa",
    "\u212aCl 20", "\u017fensitivity to cold", "caf\u00e9", "\u0130V", "PLAN: rest", "1.",
    "Dr. Smith", "e.g. this", "q6h prn pain", "two tablets", "\u00d7 5 days", "/", "-", "(",
    ")", ".", ",", ":", " ", "  ", "\n", "\n\n", "\t",
]  # fmt: skip


def texts(n: int = 300, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 40))) for _ in range(n)]


def spans(matches: object) -> list[tuple[int, int]]:
    return [m.span() for m in matches]  # type: ignore[attr-defined]


TERMS = ["aspirin", "asa", "iv push", "x b", "k", "na", "kcl", "sub q", "metoprolol"]


@pytest.mark.parametrize("before", [r"\w-", r"\w/", r"\w/-"])
def test_term_starts_keep_every_match(before: str) -> None:
    pattern = re.compile(rf"(?<![{before}])(?:{alternation(TERMS)})(?![\w-])", re.IGNORECASE)
    starts = TermStarts(before, TERMS)
    found = 0
    for text in [*texts(), "x  b", "X\n\t b", "iv\n\npush", "\u212acl", "k"]:
        expected = spans(pattern.finditer(text))
        assert spans(matches_at(pattern, text, starts(text))) == expected
        found += len(expected)
    assert found > 100  # the texts do exercise the patterns


def test_term_starts_filter_out_most_positions() -> None:
    text = "The patient was seen today and is doing well. " * 20
    assert TermStarts(r"\w-", TERMS)(text) == []
    assert TermStarts(r"\w-", TERMS)("take aspirin") == [5]


def test_start_scanner_matches_finditer() -> None:
    for text in texts():
        got = spans(matches_at(_INLINE_HEADER, text, _INLINE_HEADER_STARTS(text)))
        assert got == spans(_INLINE_HEADER.finditer(text))
    scanner = StartScanner(r"\w", r"(?:ab|c)")
    pattern = re.compile(r"(?<!\w)(?:ab|c)")
    for text in ["ab c abab xc", "c", "", "ab-ab"]:
        assert spans(matches_at(pattern, text, scanner(text))) == spans(pattern.finditer(text))


def test_first_chars() -> None:
    assert first_chars(re.compile(r"(?:for|x|\u00d7)\s?", re.IGNORECASE)) == set("fFxX")
    assert first_chars(re.compile(r"(?<!x)(?:a)?b\d")) == set("ab")
    assert first_chars(re.compile("k", re.IGNORECASE)) == set("kK")
    assert first_chars(re.compile("\u212a", re.IGNORECASE)) == set("kK")  # Kelvin sign
    assert first_chars(re.compile(r"[^a]b")) is None


def test_first_char_index_agrees_with_trying_every_pattern() -> None:
    parser = SigParser(UnitNormalizer())
    patterns = [p for _, p, _ in parser.patterns]
    index = FirstCharIndex(patterns)
    for text in texts(120):
        for pos in range(len(text) + 1):
            limit = min(len(text), pos + 40)
            tried = set(index.candidates(text, pos, limit))
            for i, pattern in enumerate(patterns):
                m = pattern.match(text, pos, limit)
                if m and m.end() > m.start():
                    assert i in tried, (pattern.pattern, text[pos:limit])


def test_allergy_prefilters_agree_with_the_regexes() -> None:
    for text in texts(600):
        assert _may_mention(text) == bool(_MAY_MENTION.search(text))
        if text.isascii():
            got = spans(matches_at(_TRIGGER, text, _trigger_starts(text)))
            assert got == spans(_TRIGGER.finditer(text))


def test_route_before_precheck_changes_nothing() -> None:
    parser = SigParser(UnitNormalizer())
    for text in texts(200):
        for pos in range(len(text)):
            fast = parser.route_before(text, pos)
            suffixes, parser.route_suffixes = parser.route_suffixes, ("",)
            try:
                slow = parser.route_before(text, pos)
            finally:
                parser.route_suffixes = suffixes
            assert (fast and (fast.start, fast.end)) == (slow and (slow.start, slow.end))

"""Rule-based PHI redaction with same-length masking (offsets into the text stay valid)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from typing import NamedTuple

#: PHI kinds found by :func:`find_phi`, in the order they are reported.
PHI_KINDS: tuple[str, ...] = ("NAME", "DATE", "PHONE", "EMAIL", "ADDRESS", "MRN", "SSN")

#: Character that replaces every non-whitespace character of a PHI span.
MASK_CHAR = "*"


class PhiSpan(NamedTuple):
    """A PHI span: character offsets into the text and its kind."""

    start: int
    end: int
    kind: str


_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|"
    r"Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
# A personal name: 1-3 capitalised words, optionally a middle initial; words stay on one line.
_NAME = (
    r"(?P<name>[A-Z][a-zA-Z'\-]+(?:[ \t][A-Z]\.)?(?:[ \t](?:[A-Z][a-zA-Z'\-]+|[A-Z]\.))"
    r"{0,2})"
)
_TITLE = r"(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof)"
# month/day or day/month: both parts 1-31, one of them 1-12 (rules out 42/40/40 or 120/80/60)
_MONTH_NUM = r"(?:0?[1-9]|1[0-2])"
_DAY_NUM = r"(?:0?[1-9]|[12]\d|3[01])"
_MD = rf"(?:{_MONTH_NUM}/{_DAY_NUM}|{_DAY_NUM}/{_MONTH_NUM})"
_STREET = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|"
    r"Terrace|Ter|Circle|Cir|Parkway|Pkwy|Highway|Hwy)"
)

# Each rule: kind, compiled pattern; the named group "phi" (or "name") is the masked part,
# else the whole match. Labels such as "MRN" or "Dr." stay readable; only values are masked.
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("EMAIL", re.compile(r"(?P<phi>\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b)")),
    (
        "SSN",
        re.compile(
            r"(?:\b(?:SSN|SS\#|[Ss]ocial [Ss]ecurity(?: [Nn](?:umber|o\.?))?)[ \t]*[:#]?[ \t]*"
            r"(?P<phi>\d{3}[- ]?\d{2}[- ]?\d{4})\b)"
            r"|(?<![\d\-])(?P<bare>\d{3}-\d{2}-\d{4})(?![\d\-])"
        ),
    ),
    (
        "MRN",
        re.compile(
            r"\b(?:MRN|MR\#|[Mm]edical [Rr]ecord(?: [Nn](?:umber|o\.?))?|[Aa]ccount(?: [Nn]o\.?)?"
            r"|[Aa]cct|[Pp]atient ID|[Hh]ospital (?:[Nn]umber|ID))[ \t]*(?:\#|[Nn]o\.?)?[ \t]*[:#]?"
            r"[ \t]*(?P<phi>[A-Z]{0,3}\d[\d\-]{3,}\d)\b"
        ),
    ),
    (
        "PHONE",
        re.compile(
            r"(?<![\d\-/.])(?P<phi>(?:\+?1[ .\-]?)?(?:\(\d{3}\)[ ]?|\d{3}[ .\-])\d{3}[ .\-]\d{4}"
            r"(?:[ \t]*(?:x|ext\.?)[ \t]*\d{1,5})?)(?![\d\-])"
            # seven-digit local numbers (555-0100) only after a phone word
            r"|\b(?:[Pp]hone|[Tt]el|[Ff]ax|[Pp]ager|[Cc]ell|[Mm]obile|[Cc]all(?:ed|back)?|"
            r"[Cc]ontact|[Nn]umber|[Ee]xt(?:ension)?)\b[^\n\d]{0,20}?(?P<local>(?<![\d\-])\d{3}-\d{4})(?![\d\-])"
        ),
    ),
    (
        "ADDRESS",
        re.compile(
            r"(?P<phi>\b\d{1,6}[ \t]+(?:[NSEW]\.?[ \t]+)?(?:[A-Z][a-z]+[ \t]+){1,3}"
            + _STREET
            + r"\b\.?(?:,?[ \t]*(?:Apt|Apartment|Suite|Ste|Unit|\#)\.?[ \t]*[A-Za-z0-9\-]+)?"
            r"(?:,[ \t]*[A-Z][a-z]+(?:[ \t]+[A-Z][a-z]+)*,?[ \t]+[A-Z]{2}"
            r"(?:[ \t]+\d{5}(?:-\d{4})?)?)?)"
            # "Springfield, IL 62704": city, state and ZIP without a street
            r"|(?P<city>\b[A-Z][a-z]+(?:[ \t]+[A-Z][a-z]+)?,[ \t]*[A-Z]{2}[ \t]+\d{5}(?:-\d{4})?\b)"
        ),
    ),
    (
        "DATE",
        re.compile(
            r"(?P<phi>(?<![\d/\-.])(?:"
            + _MD
            + r"/(?:\d{4}|\d{2})|"
            + _MD.replace("/", "-")
            + r"-\d{4}"
            r"|(?:19|20)\d{2}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?)(?![\d/])"
            r"|\b" + _MONTH + r"\.?[ \t]+\d{1,2}(?:st|nd|rd|th)?(?:,?[ \t]+\d{4})?\b"
            r"|\b\d{1,2}(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?" + _MONTH + r"\.?(?:,?[ \t]+\d{4})?\b"
            r"|\b" + _MONTH + r"\.?,?[ \t]+(?:19|20)\d{2}\b)"
        ),
    ),
    (
        "NAME",
        re.compile(r"\b" + _TITLE + r"\.?[ \t]+" + _NAME),
    ),
    (
        "NAME",
        re.compile(
            r"(?:[Ee]lectronically [Ss]igned(?: by)?|[Ss]igned by|[Dd]ictated by|[Tt]ranscribed by"
            r"|[Aa]ttending(?: [Pp]hysician)?|[Rr]eferring(?: [Pp]hysician)?|[Pp]rimary care"
            r"(?: [Pp]hysician| [Pp]rovider)?|PCP)[ \t]*:?[ \t]*(?:"
            + _TITLE
            + r"\.?[ \t]+)?"
            + _NAME
        ),
    ),
    (
        "NAME",
        re.compile(
            # at a line start, also in Markdown ("**Patient:** ...", "- Name: ...")
            r"(?m)^[ \t]*(?:[*_#>\-][ \t]*)*(?:[Pp]atient(?: [Nn]ame)?|[Nn]ame|[Pp]t(?: [Nn]ame)?"
            r"|[Gg]uardian|[Ee]mergency [Cc]ontact|[Nn]ext of [Kk]in|Re|To|From|Dear)[*_]*[ \t]*"
            r"[:,]?[*_]*[ \t]*" + _NAME
        ),
    ),
)

# Capitalised words that follow a title or "Attending:" but are not names.
_NOT_NAMES = frozenset(
    {
        "The",
        "This",
        "That",
        "Patient",
        "Pt",
        "Per",
        "On",
        "In",
        "At",
        "And",
        "Of",
        "To",
        "Note",
        "None",
        "Unknown",
        "Today",
        "Yesterday",
        "Is",
        "Was",
        "Reviewed",
        "Service",
        "Physician",
        "Provider",
        "Team",
        "MD",
        "DO",
        "NP",
        "PA",
        "RN",
        "Dr",
        "Mr",
        "Mrs",
        "Ms",
        "Miss",
        "Mx",
        "Prof",
        "Doctor",
        "Sir",
        "Madam",
        "Colleague",
    }
)


def _group_spans(kind: str, match: re.Match[str]) -> Iterator[PhiSpan]:
    groups = match.groupdict()
    found = False
    for name in ("phi", "name", "bare", "local", "city"):
        if groups.get(name):
            start, end = match.span(name)
            if kind == "NAME":
                start, end = _trim_name(match.string, start, end)
            if end > start:
                found = True
                yield PhiSpan(start, end, kind)
    if not found and not groups:
        yield PhiSpan(match.start(), match.end(), kind)


# A candidate holding one of these words names a place or a service, not a person.
_ORG_WORDS = frozenset(
    {
        "Department",
        "Dept",
        "Emergency",
        "Clinic",
        "Hospital",
        "Service",
        "Services",
        "Surgery",
        "Medicine",
        "Cardiology",
        "Oncology",
        "Neurology",
        "Radiology",
        "Pathology",
        "Pharmacy",
        "Nursing",
        "Unit",
        "Center",
        "Centre",
        "Ward",
        "Floor",
        "General",
        "Internal",
        "Urgent",
        "Care",
        "ICU",
        "ED",
        "ER",
        "Team",
        "Group",
        "Associates",
    }
)


def _trim_name(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop leading non-name words and trailing credentials from a candidate name."""
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    if any(text[a:b].rstrip(".,") in _ORG_WORDS for a, b in words):
        return start, start
    while words and text[words[0][0] : words[0][1]].rstrip(".,") in _NOT_NAMES:
        words.pop(0)
    while words and text[words[-1][0] : words[-1][1]].rstrip(".,") in _NOT_NAMES:
        words.pop()
    if not words:
        return start, start
    return words[0][0], words[-1][1]


def find_phi(text: str, kinds: Collection[str] | None = None) -> list[PhiSpan]:
    """PHI spans in ``text``, sorted by offset; overlapping spans are all reported.

    Args:
        text: the note text.
        kinds: restrict to these kinds (see :data:`PHI_KINDS`); all when None.
    """
    wanted = set(PHI_KINDS if kinds is None else kinds)
    unknown = wanted - set(PHI_KINDS)
    if unknown:
        raise ValueError(f"unknown PHI kinds: {', '.join(sorted(unknown))}")
    spans: list[PhiSpan] = []
    for kind, pattern in _RULES:
        if kind not in wanted:
            continue
        for match in pattern.finditer(text):
            spans.extend(_group_spans(kind, match))
    return sorted(set(spans))


def mask(text: str, spans: Collection[PhiSpan], char: str = MASK_CHAR) -> str:
    """``text`` with every non-whitespace character inside ``spans`` replaced by ``char``.

    Whitespace (spaces, tabs, newlines) is kept, so the result has the same length, the same
    line structure and every offset into the original still points at the same place.
    """
    if len(char) != 1 or char.isspace():
        raise ValueError("the mask must be one non-whitespace character")
    if not spans:
        return text
    chars = list(text)
    for span in spans:
        for i in range(max(0, span.start), min(len(chars), span.end)):
            if not chars[i].isspace():
                chars[i] = char
    return "".join(chars)


def redact(text: str, *, kinds: Collection[str] | None = None, char: str = MASK_CHAR) -> str:
    """``text`` with the PHI found by :func:`find_phi` masked (same length as ``text``)."""
    return mask(text, find_phi(text, kinds), char)

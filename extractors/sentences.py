"""Fast clinical sentence splitter (``ns_sentences``): regex boundaries over text, set in bulk."""

import re

import numpy as np
from spacy.attrs import IDX, SENT_START
from spacy.language import Language
from spacy.tokens import Doc

from extractors.base import doc_text
from extractors.patterns import StartScanner, matches_at

# Version history:
# 2 (2026-11): regex over the text + vectorised token mapping (was a per-token Python loop);
#              headers, list items, vitals lines, hard wraps, abbreviations, decimals.
# 1 (2026-11): bootstrap token loop.
VERSION = 2

#: Words that end with a period but do not end a sentence, whatever follows (lower case,
#: without the final period). Dosing abbreviations (b.i.d., p.o., q.d.) are *not* here: in
#: medication lists they often end the item, and a capital letter after them starts a new one.
NO_SPLIT_ABBREVIATIONS: frozenset[str] = frozenset(
    {
        "dr", "drs", "mr", "mrs", "ms", "mssrs", "prof", "sr", "jr", "st", "mt", "ft", "pt", "pts",
        "vs", "v", "e.g", "eg", "i.e", "ie", "cf", "approx", "appt", "apt", "fig", "figs",
        "vol", "dept", "univ", "inc", "corp", "ltd", "jan", "feb", "apr", "jun", "jul", "aug",
        "sep", "sept", "oct", "nov", "dec", "c.f", "incl", "esp",
    }
)  # fmt: skip

#: Abbreviations that never end a sentence when a digit follows ("No. 5", "Fig. 2").
_BEFORE_NUMBER = frozenset({"no", "nos", "fig", "figs", "vol", "ref", "approx", "nr", "pt"})

# A blank line (possibly with spaces) always ends a sentence.
_BLANK = re.compile(r"\n[ \t\r\f\v]*\n\s*(?=\S)")
# A line that starts like a list item, a markdown header or a "Header:" starts a sentence.
_LINE_START = re.compile(
    r"\n[ \t]*(?="
    r"[-*•·▪◦>+](?=\s)"  # bullets
    r"|\(?\d{1,3}[.)](?!\d)"  # 1.  1)  (1)
    r"|\(?[a-hA-H][.)]\s"  # a.  b)
    r"|#{1,6}\s"  # markdown header
    r"|[A-Z][A-Za-z0-9 /&,()'+-]{0,60}:(?![0-9/])"  # Header: / Title Case Header:
    r"|[A-Z][A-Z0-9 /&,()'+-]{3,60}[ \t]*$"  # ALL CAPS HEADER LINE
    r")",
    re.MULTILINE,
)
# An upper-case header with a colon inside a line: the text after it starts a new sentence.
_INLINE_HEADER = re.compile(r"(?<![^\s])[A-Z][A-Z0-9 /&,()'+-]{2,60}:[ \t]+(?=\S)")
#: Where ``_INLINE_HEADER`` can match: after white space (found by a fast scan) or at 0.
_INLINE_HEADER_STARTS = StartScanner(r"\S", r"[A-Z][A-Z0-9 /&,()'+-]{2,60}:[ \t]+(?=\S)")
# Terminal punctuation followed by space and something that can start a sentence.
_TERMINAL = re.compile(r"([.!?]+)[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9#*•-])")
# Any other single newline (hard wrap or new line without punctuation).
_NEWLINE = re.compile(r"^([^\n]*)\n[ \t]*(?=[A-Z0-9])", re.MULTILINE)
_WORD_BEFORE = re.compile(r"(\S+)$")

#: A capital letter and its period that end a sentence after a word that takes a letter
#: ("hepatitis C.", "vitamin D.", "type A.", "Humulin N."): a line's end, the text's end or
#: a capital after it. Not an initial ("J. Smith") nor an organism ("for C. Difficile",
#: "grew E. Coli"). ``extractors.nlp.split_final_letters`` splits the letter from its period
#: at these places; the sentence splitter ends a sentence there.
FINAL_LETTER = re.compile(
    r"(?i:\b(?:hepatitis|vitamins?|type|group|factor|influenza|protein|class|stage|grade|"
    r"phase|lead|strep|streptococcus|antigen|component|complex|syndrome|humulin|penicillin|"
    r"pen|ha?emophilia|blood|serotype|genotype|subtype|axis|category|plan)) ([A-Z])\."
    r"(?=[ \t]*$|[ \t]*\r?\n|[ \t]+[A-Z(\[])"
)


#: A capital letter and a period after a space with a sentence end after them: the cheap scan
#: whose hits ``letter_ends_sentence`` checks (``FINAL_LETTER`` over a whole note is slow).
LETTER_PERIOD = re.compile(r" ([A-Z])\.(?=[ \t]*$|[ \t]*\r?\n|[ \t]+[A-Z(\[])")


def letter_ends_sentence(text: str, period: int) -> bool:
    """Whether the period at ``period``, after a single capital letter, ends a sentence
    (``FINAL_LETTER``)."""
    m = FINAL_LETTER.search(text, max(0, period - 40), period + 1)
    while m is not None:
        if m.end() == period + 1:
            return True
        m = FINAL_LETTER.search(text, m.end(), period + 1)
    return False
_LIST_NUMBER = re.compile(r"(?:^|[\n:.!?])[ \t]*\(?\d{1,3}$")

#: A line shorter than this that ends without punctuation is a line of its own (a list item,
#: a vitals line, a header), not a hard-wrapped piece of prose.
SHORT_LINE = 45


def sentence_starts(text: str) -> list[int]:
    """Character offsets where sentences after the first start (sorted, unique).

    Offsets point at the first non-space character of each sentence.
    """
    starts: set[int] = set()
    for m in _BLANK.finditer(text):
        starts.add(m.end())
    for m in _LINE_START.finditer(text):
        starts.add(m.end())
    for m in matches_at(_INLINE_HEADER, text, _INLINE_HEADER_STARTS(text)):
        starts.add(m.end())
    for m in _TERMINAL.finditer(text):
        end = m.end()
        if m.group(1) == "." and not _period_ends_sentence(text, m.start(1), end):
            continue
        starts.add(end)
    for m in _NEWLINE.finditer(text):
        line = m.group(1).rstrip()
        if not line:
            continue
        last = line[-1]
        # Hard wrap: prose continues on the next line when the line is long and does not end
        # with punctuation, or when it ends with a word that needs a continuation.
        if last in ",;(/&-+" or (len(line.strip()) >= SHORT_LINE and last.isalpha()):
            continue
        starts.add(m.end())
    # Leading white space joins the first sentence (token 0 always starts one).
    starts.discard(len(text) - len(text.lstrip()))
    return sorted(s for s in starts if s < len(text))


def _period_ends_sentence(text: str, period: int, next_start: int) -> bool:
    """Whether the period at ``period`` ends a sentence (abbreviations, initials, list numbers)."""
    before = _WORD_BEFORE.search(text, max(0, period - 24), period)
    if before is None:
        return True
    word = before.group(1).lower().lstrip("([\"'")
    if word in NO_SPLIT_ABBREVIATIONS:
        return False
    nxt = text[next_start] if next_start < len(text) else ""
    if nxt.isdigit() and word in _BEFORE_NUMBER:
        return False
    if len(word) == 1 and word.isalpha():  # an initial ("J. Smith"), not "hepatitis C."
        return letter_ends_sentence(text, period)
    # "1. Normal cardiac size": the period closes a list number at the start of a line or
    # right after a header or another sentence ("HISTORY:  1. Diabetes.  2. Asthma.").
    return not (word.isdigit() and _LIST_NUMBER.search(text, max(0, period - 8), period))


def set_sentence_starts(doc: Doc, starts: list[int]) -> Doc:
    """Mark the tokens that begin at ``starts`` as sentence starts, all others as not."""
    n = len(doc)
    if n == 0:
        return doc
    idx = doc.to_array(IDX).astype(np.int64)
    wanted = np.asarray(starts, dtype=np.int64)
    tok = np.searchsorted(idx, wanted, side="right") - 1
    keep = tok >= 0
    tok = tok[keep]
    tok = tok[idx[tok] == wanted[keep]]  # a boundary inside a token is not one
    flags = np.full(n, -1, dtype=np.int64)
    flags[tok] = 1
    flags[0] = 1
    doc.from_array([SENT_START], flags.astype(np.uint64).reshape(-1, 1))  # type: ignore[arg-type]
    return doc


class SentenceSplitter:
    """Sets sentence starts from :func:`sentence_starts` in one bulk write.

    Splits at blank lines, list items, headers (``ASSESSMENT:``, ``# Plan``), after terminal
    punctuation (not after ``Dr.``, ``e.g.``, initials or list numbers; never inside a decimal)
    and at line breaks of short lines; keeps hard-wrapped prose lines together.
    """

    def __init__(self, nlp: Language, name: str) -> None:
        self.name = name

    def __call__(self, doc: Doc) -> Doc:
        return set_sentence_starts(doc, sentence_starts(doc_text(doc)))


@Language.factory("ns_sentences")
def make_sentence_splitter(nlp: Language, name: str) -> SentenceSplitter:
    """spaCy factory for :class:`SentenceSplitter`."""
    return SentenceSplitter(nlp, name)

"""scispaCy's abbreviation detector, with its parenthesis matcher replaced by an equivalent scan.

scispaCy finds ``( ... )`` candidates with the token pattern ``[{"ORTH": "("}, {"OP": "+"},
{"ORTH": ")"}]``: every opening parenthesis paired with every later closing one, a Python-level
state machine over every token of the note. ``filter_matches`` then drops every pair with more
than 8 tokens inside. :class:`FastAbbreviationDetector` lists only the pairs that can survive,
in the matcher's order, from the token array; the rest of the algorithm (Schwartz & Hearst
short/long form pairing, the global matcher for later occurrences) is scispaCy's own code.
"""

import numpy as np
from scispacy.abbreviation import AbbreviationDetector, filter_matches
from spacy.attrs import ORTH
from spacy.language import Language
from spacy.tokens import Doc, Span

#: Longest ``( ... )`` match (tokens, parentheses included) ``filter_matches`` keeps: it drops
#: candidates with more than 8 tokens between the parentheses.
_MAX_PAIR = 10


class FastAbbreviationDetector(AbbreviationDetector):  # type: ignore[misc]
    """``AbbreviationDetector`` whose parenthesis candidates come from :func:`paren_matches`."""

    def __init__(self, nlp: Language, name: str = "abbreviation_detector") -> None:
        super().__init__(nlp, name=name)
        self._key = nlp.vocab.strings.add("parenthesis")
        self._open = nlp.vocab.strings.add("(")
        self._close = nlp.vocab.strings.add(")")

    def __call__(self, doc: Doc) -> Doc:
        matches = paren_matches(doc, self._key, self._open, self._close)
        if not matches and not len(self.global_matcher):
            return doc  # scispaCy would find nothing: no candidates, an empty global matcher
        matches_no_brackets = [(x[0], x[1] + 1, x[2] - 1) for x in matches]
        filtered = filter_matches(matches_no_brackets, doc)
        filtered += spaced_short_forms(matches_no_brackets, doc)
        occurences = self.find_matches_for(filtered, doc)
        for long_form, short_forms in occurences:
            for short in short_forms:
                short._.long_form = long_form
                doc._.abbreviations.append(short)
        if self.make_serializable:  # pragma: no cover - not used by notestruct
            abbreviations = doc._.abbreviations
            doc._.abbreviations = [
                self.make_short_form_serializable(abbreviation) for abbreviation in abbreviations
            ]
        return doc


def paren_matches(
    doc: Doc, key: int, open_: int, close: int, max_len: int = _MAX_PAIR
) -> list[tuple[int, int, int]]:
    """The matches of scispaCy's parenthesis pattern at most ``max_len`` tokens long.

    Same order as spaCy's ``Matcher`` returns them: by end, then by start from the innermost
    (latest) opening parenthesis outwards.
    """
    if not len(doc):
        return []
    orth = doc.to_array(ORTH)
    closes = np.flatnonzero(orth == close).tolist()
    if not closes:
        return []
    opens = np.flatnonzero(orth == open_).tolist()
    if not opens:
        return []
    out: list[tuple[int, int, int]] = []
    k = 0  # opens[:k] are before the current closing parenthesis minus one
    for j in closes:
        while k < len(opens) and opens[k] < j - 1:
            k += 1
        for m in range(k - 1, -1, -1):
            i = opens[m]
            if j + 1 - i > max_len:
                break
            out.append((key, i, j + 1))
    return out


def spaced_short_forms(matches: list[tuple[int, int, int]], doc: Doc) -> list[tuple[Span, Span]]:
    """(long form candidate, short form) pairs for a short form in brackets written with a
    spaced hyphen, as tokenised text writes hyphenated words ("ataxia - telangiectasia ( A -
    T )", "( AO - GLD )"). scispaCy's filter wants every token of a short form at least two
    characters long, so the hyphen token alone rules these out; here the filter is applied to
    the short form with its hyphen closed up ("A-T"), with the same window for the long form.
    """
    out = []
    for _, start, end in matches:
        if end - start != 3 or start < 2 or doc[start + 1].text != "-":
            continue
        first, hyphen, last = doc[start], doc[start + 1], doc[start + 2]
        if not (first.whitespace_ and hyphen.whitespace_):
            continue
        text = f"{first.text}-{last.text}"
        if not (first.text.isalnum() and last.text.isalnum()) or len(text) > 10:
            continue
        if not text[0].isalpha() or sum(c.isalpha() for c in text) * 2 < len(text):
            continue
        length = len(first) + len(hyphen) + len(last)
        max_words = min(length + 5, length * 2)
        out.append((doc[max(start - max_words - 1, 0) : start - 1], doc[start:end]))
    return out


@Language.factory("ns_abbreviation_detector")
def make_abbreviation_detector(nlp: Language, name: str) -> FastAbbreviationDetector:
    """spaCy factory for :class:`FastAbbreviationDetector` (scispaCy's default options)."""
    return FastAbbreviationDetector(nlp, name)

"""The Python matchers that replace spaCy Matcher calls must find exactly what spaCy finds."""

import pytest
from scispacy.abbreviation import AbbreviationDetector
from spacy.attrs import LOWER
from spacy.language import Language

from extractors.abbreviations import FastAbbreviationDetector, paren_matches
from extractors.assertion import _blocks, _Tokens
from extractors.nlp import make_doc
from schemas.model import Note

TEXTS = [
    "Chest x-ray: negative. No evidence of pneumonia; ruled out for MI (myocardial infarction).",
    "Gram stain: neg; cultures were negative   . Risk of falls, risks of bleeding.",
    "He denies fever, chills.  Denies:\n- cough\n- chest pain\nCould not be ruled out.",
    "Family history: mother had breast cancer (BC) ( ( nested ) parens ) and a ( b ( c ) d ).",
    "No  significant\nchange in the size of the mass. Without any evidence for DVT.",
    "Test was not seen. Prophylaxis to prevent DVT. Free of disease, clear of infection.",
]


def _doc(nlp: Language, text: str):
    doc = make_doc(nlp, Note(note_id="t", text=text))
    for name, proc in nlp.pipeline:
        if name == "ns_context":
            break
        doc = proc(doc)
    return doc


@pytest.mark.parametrize("text", TEXTS)
def test_compiled_context_patterns_match_like_spacy(nlp: Language, text: str) -> None:
    ctx = nlp.get_pipe("ns_context")
    assert ctx._compiled_all  # every packaged rule compiles
    doc = _doc(nlp, text)
    lowers = doc.to_array(LOWER).tolist()
    tokens = _Tokens(doc, lowers)
    n_matches = 0
    for start, end, _ in _blocks(doc, tokens):
        prune = ctx.prune_on_modifier_overlap
        try:
            # unpruned: the full match sets of the compiled patterns and of spaCy's matchers
            ctx.prune_on_modifier_overlap = False
            spacy_all = set(ctx._match(doc, start, end, lowers))
        finally:
            ctx.prune_on_modifier_overlap = prune
        fast = ctx._match(doc, start, end, lowers)
        ctx._compiled_all = False
        try:
            slow = ctx._match(doc, start, end, lowers)
        finally:
            ctx._compiled_all = True
        assert fast == slow
        assert set(fast) <= spacy_all
        n_matches += len(spacy_all)
    assert n_matches  # the texts hold cues


def test_compiled_pattern_uses_spacy_ids(nlp: Language) -> None:
    """ "neg" is a spaCy symbol: its id is not its string hash."""
    doc = _doc(nlp, "Culture neg; stain negative.")
    lowers = doc.to_array(LOWER).tolist()
    ctx = nlp.get_pipe("ns_context")
    found = ctx._match(doc, 0, len(doc), lowers)
    assert any(doc[s:e].text.startswith("neg;") for _, s, e in found)


@pytest.mark.parametrize("text", TEXTS)
def test_paren_scan_equals_scispacy_matcher(nlp: Language, text: str) -> None:
    doc = nlp.make_doc(text)
    ref = AbbreviationDetector(nlp).matcher(doc)
    strings = nlp.vocab.strings
    mine = paren_matches(doc, strings["parenthesis"], strings["("], strings[")"], len(doc) + 1)
    assert [tuple(int(x) for x in m) for m in ref] == mine


def test_fast_detector_finds_scispacy_abbreviations(nlp: Language) -> None:
    text = TEXTS[0] + " Later MI again. " + TEXTS[3] + " BC recurred."
    ref = AbbreviationDetector(nlp)(nlp.make_doc(text))
    fast = FastAbbreviationDetector(nlp)(nlp.make_doc(text))
    # scispaCy keeps the short forms of a long form in a set of Spans (hashed with their Doc),
    # so their order differs from Doc to Doc: compare them sorted
    pairs = sorted(
        (s.start, s.end, s._.long_form.start, s._.long_form.end) for s in ref._.abbreviations
    )
    assert len(pairs) >= 2  # "MI" twice
    got = sorted(
        (s.start, s.end, s._.long_form.start, s._.long_form.end) for s in fast._.abbreviations
    )
    assert got == pairs

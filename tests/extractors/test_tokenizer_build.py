"""The pipeline's tokenizer is built in place of spaCy's default (``extractors.nlp``), not
after it: the same tokens as scispaCy's ``combined_rule_tokenizer`` on a blank pipeline,
with the pipeline's word-slash split."""

import spacy
from scispacy.custom_tokenizer import combined_rule_tokenizer

from extractors.nlp import NlpSettings, build_nlp, split_word_slashes

TEXT = (
    "HPI: 67 y/o M w/ h/o HTN, DM2 (HbA1c 7.2%), s/p CABG x3 in 2019; c/o SOB & CP.\n"
    "Meds: metformin 500mg PO BID, ASA 81 mg q.d., Lasix 20-40 mg prn. BP 142/88, HR 96bpm,"
    " T 38.1C, SpO2 93% RA. IL-6, TNF-alpha; e.g. 3.5x10^9/L. www.example.org J. Smith's."
    " Nausea/vomiting, scarring/atelectasis, breaths/min, and/or, N/V."
)


def test_the_built_tokenizer_gives_scispacys_tokens():
    built = build_nlp(NlpSettings(extractors=("vitals",))).tokenizer
    reference = spacy.blank("en")
    reference.tokenizer = combined_rule_tokenizer(reference)
    split_word_slashes(reference.tokenizer)

    def tokens(tokenizer):
        return [(t.idx, t.text, t.norm_, t.shape_, t.is_space) for t in tokenizer(TEXT)]

    assert tokens(built) == tokens(reference.tokenizer)
    assert len(tokens(built)) > 60


def test_the_built_tokenizer_has_scispacys_patterns_and_exceptions():
    """Made in one go (not scispaCy's tokenizer, then its infix pattern replaced): the same
    affix patterns, exceptions and settings, so the same dictionary cache key too."""
    built = build_nlp(NlpSettings(extractors=("vitals",))).tokenizer
    reference = spacy.blank("en")
    reference.tokenizer = combined_rule_tokenizer(reference)
    split_word_slashes(reference.tokenizer)

    assert built.to_bytes(exclude=["vocab"]) == reference.tokenizer.to_bytes(exclude=["vocab"])
    assert built.rules == reference.tokenizer.rules and len(built.rules) > 1300


def test_a_capital_letter_that_ends_a_sentence_is_split_from_its_period():
    from extractors.nlp import make_doc
    from schemas.model import Note

    nlp = build_nlp(NlpSettings(extractors=()))

    def words(text):
        return [t.text for t in make_doc(nlp, Note(note_id="t", text=text))]

    assert words("He has hepatitis C. She is well.")[3:5] == ["C", "."]
    assert words("History of Hepatitis B.\nNext line")[3:5] == ["B", "."]
    # initials stay whole: after a short word or a title, before a lower-case word
    assert "J." in words("Seen by J. Smith today.")
    assert "J." in words("Dr. J. Smith saw him.")
    assert "C." in words("Stool positive for C. difficile toxin.")
    assert "C." in words("Stool positive for C. Difficile colitis.")  # an organism
    assert words("History of hepatitis C.\r\nShe is well.")[3:5] == ["C", "."]  # CRLF


def test_the_sentence_ends_after_the_letter():
    from extractors.nlp import make_doc
    from schemas.model import Note

    nlp = build_nlp(NlpSettings(extractors=()))
    doc = nlp(make_doc(nlp, Note(note_id="t", text="History of hepatitis C. She denies pain.")))
    assert [s.text for s in doc.sents] == ["History of hepatitis C.", "She denies pain."]


def test_hepatitis_c_at_a_sentence_end_is_the_disease():
    from extractors.nlp import extract
    from schemas.model import Note

    nlp = build_nlp(NlpSettings(extractors=("dictionary",)))
    text = "PMH: hypertension and hepatitis C. She is well."
    [(_, mentions)] = list(extract(nlp, [(Note(note_id="t", text=text), ())]))
    assert "hepatitis C" in [m.text for m in mentions if m.label == "PROBLEM"]

"""ns_sentences: boundaries on the hand-checked synthetic gold set and on targeted cases."""

import json
from pathlib import Path

import pytest
import spacy

from extractors.sentences import sentence_starts, set_sentence_starts

GOLD = Path(__file__).resolve().parents[1] / "data" / "sentences" / "gold.jsonl"


def _gold() -> list[tuple[str, str, set[int]]]:
    cases = []
    for line in GOLD.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        text = "".join(rec["segments"])
        starts, offset = set(), 0
        for seg in rec["segments"]:
            if seg.strip():
                starts.add(offset + len(seg) - len(seg.lstrip()))
            offset += len(seg)
        starts.discard(len(text) - len(text.lstrip()))
        cases.append((rec["id"], text, starts))
    return cases


@pytest.fixture(scope="module")
def nlp() -> spacy.language.Language:
    from scispacy.custom_tokenizer import combined_rule_tokenizer

    import extractors.sentences  # noqa: F401

    nlp = spacy.blank("en")
    nlp.tokenizer = combined_rule_tokenizer(nlp)
    nlp.add_pipe("ns_sentences")
    return nlp


def _sents(nlp: spacy.language.Language, text: str) -> list[str]:
    return [s.text.strip() for s in nlp(text).sents if s.text.strip()]


@pytest.mark.parametrize(("case", "text", "gold"), _gold(), ids=[c[0] for c in _gold()])
def test_gold_boundaries(case: str, text: str, gold: set[int]) -> None:
    assert set(sentence_starts(text)) == gold


@pytest.mark.parametrize(("case", "text", "gold"), _gold(), ids=[c[0] for c in _gold()])
def test_gold_boundaries_on_tokens(nlp, case: str, text: str, gold: set[int]) -> None:
    doc = nlp(text)
    found = set()
    for sent in list(doc.sents)[1:]:
        first = next((t for t in sent if not t.is_space), None)
        if first is not None:
            found.add(first.idx)
    assert found == gold


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # decimals and dosing abbreviations do not split
        ("K was 3.5 and Cr 1.2 today. He is well.", ["K was 3.5 and Cr 1.2 today.", "He is well."]),
        ("Take 1 tab p.o. b.i.d. with food.", ["Take 1 tab p.o. b.i.d. with food."]),
        ("Seen by Dr. Smith, e.g. for pain. Fine.", ["Seen by Dr. Smith, e.g. for pain.", "Fine."]),
        # a header line and its body
        ("ASSESSMENT:\nStable angina.", ["ASSESSMENT:", "Stable angina."]),
        ("# Plan\nReturn in 2 weeks.", ["# Plan", "Return in 2 weeks."]),
        # bulleted and numbered lists
        ("Meds:\n- aspirin\n- metoprolol", ["Meds:", "- aspirin", "- metoprolol"]),
        ("1. Diabetes.\n2. Asthma.", ["1. Diabetes.", "2. Asthma."]),
        # vitals lines without punctuation
        ("BP 120/80\nHR 72\nRR 16", ["BP 120/80", "HR 72", "RR 16"]),
        # a hard-wrapped sentence stays whole
        (
            "The patient reports intermittent chest pain with exertion and\nshortness of breath.",
            ["The patient reports intermittent chest pain with exertion and\nshortness of breath."],
        ),
        # blank line always splits
        ("No fever\n\nCough present", ["No fever", "Cough present"]),
    ],
)
def test_cases(nlp, text: str, expected: list[str]) -> None:
    assert _sents(nlp, text) == expected


def test_empty_and_blank_docs(nlp) -> None:
    assert list(nlp("").sents) == []
    assert len(list(nlp("   \n\n  ").sents)) == 1


def test_leading_whitespace_joins_first_sentence(nlp) -> None:
    doc = nlp("\n\nCHIEF COMPLAINT: Cough.")
    assert doc[0].is_sent_start
    assert not doc[1].is_sent_start


def test_boundary_inside_token_is_ignored() -> None:
    nlp = spacy.blank("en")
    doc = nlp.make_doc("abc def")
    set_sentence_starts(doc, [1, 4])  # 1 is inside "abc"
    assert [t.is_sent_start for t in doc] == [True, True]

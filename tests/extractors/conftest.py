"""Shared fixtures for extractor tests: the default pipeline without extractors."""

from collections.abc import Callable

import pytest
from spacy.language import Language
from spacy.tokens import Span

from extractors.nlp import NlpSettings, build_nlp, make_doc
from schemas.model import Note


@pytest.fixture(scope="session")
def bare_nlp() -> Language:
    """Tokenizer, sentences, abbreviations, sections, ConText and refiner; no extractors."""
    return build_nlp(NlpSettings(extractors=()))


@pytest.fixture(scope="session")
def mention(bare_nlp: Language) -> Callable[..., Span]:
    """Run ``text`` with ``target`` (its ``nth`` occurrence) given as a PROBLEM mention."""

    def run(text: str, target: str, nth: int = 0, label: str = "PROBLEM") -> Span:
        start = -1
        for _ in range(nth + 1):
            start = text.index(target, start + 1)
        given = [{"start": start, "end": start + len(target), "label": label}]
        doc = bare_nlp(make_doc(bare_nlp, Note(note_id="t", text=text), given))
        return next(s for s in doc.spans["mentions"] if s._.extractor == "input")

    return run

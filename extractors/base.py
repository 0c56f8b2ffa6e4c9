"""Protocols every extractor and coder implements (the extension points of notestruct)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Protocol, runtime_checkable

from spacy.language import Language
from spacy.tokens import Doc

from schemas.model import Coding, Mention

#: Name of the span group every extractor writes its spans into.
MENTIONS = "mentions"


@runtime_checkable
class Extractor(Protocol):
    """Contributes spaCy components that add spans to ``doc.spans["mentions"]``.

    Components set ``span.label_`` to one of ``labels`` and ``span._.extractor``,
    ``span._.rule_id`` (and optionally ``span._.codes``, ``span._.attributes``).
    Sentences, sections and assertion come from the shared pipeline.
    """

    name: ClassVar[str]
    version: ClassVar[int]
    labels: ClassVar[frozenset[str]]

    def add_pipes(self, nlp: Language, options: Mapping[str, object]) -> None:
        """Add this extractor's components to ``nlp`` (before assertion)."""


@runtime_checkable
class Coder(Protocol):
    """Attaches codes to a mention after extraction."""

    name: ClassVar[str]
    version: ClassVar[int]

    def code(self, mention: Mention) -> tuple[Coding, ...]:
        """Return the codings for ``mention`` (the stage merges them, without duplicates)."""


_TEXT_KEY = ("notestruct", "text")


#: ``doc.user_data`` key: character ranges that an earlier component decided are no mention
#: (an abbreviation whose sense here is none of ours: "ASA score", "on RA"); later extractors
#: do not match there.
NOT_MENTIONS = "ns_not_mentions"
#: ``doc.user_data`` key: drugs named in an allergy context ("allergy to ticagrelor"), which
#: the medications extractor leaves out as taken drugs: (start, end, codes) each, for the
#: allergies extractor to know the allergen is a drug and code it.
ALLERGY_CONTEXT_DRUGS = "ns_allergy_context_drugs"


def doc_text(doc: Doc) -> str:
    """``doc.text``, computed once per Doc.

    spaCy rebuilds ``Doc.text`` from every token on each access (about 1 ms for a long note);
    components that search the raw text call this instead.
    """
    text = doc.user_data.get(_TEXT_KEY)
    if text is None:
        text = doc.user_data[_TEXT_KEY] = doc.text
    return str(text)


def seed_doc_text(doc: Doc, text: str) -> None:
    """Record the text a Doc was made from, so ``doc_text`` never has to rebuild it."""
    doc.user_data[_TEXT_KEY] = text

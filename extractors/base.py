"""Protocols every extractor and coder implements (the extension points of notestruct)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Protocol, runtime_checkable

from spacy.language import Language

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

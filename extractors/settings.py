"""What the NLP pipeline is built from, importable without spaCy or medspaCy.

The nightly flow process never builds a pipeline (its workers do), so it imports this
module, not :mod:`extractors.nlp`: medspaCy alone costs about 100 MiB and 2.5 s to import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

#: Extractors run by default, in order.
DEFAULT_EXTRACTORS: tuple[str, ...] = ("dictionary", "medications", "labs", "vitals", "allergies")


def pipeline_version() -> str:
    """Version of the installed notestruct distribution."""
    try:
        return version("notestruct")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0+unknown"


class ExtractionError(Exception):
    """A note could not be processed by the NLP stage."""


@dataclass(frozen=True)
class NlpSettings:
    """What the NLP pipeline is built from (JSON-able, hashed to cache the built pipeline)."""

    extractors: tuple[str, ...] = DEFAULT_EXTRACTORS
    #: Options per extractor name.
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    tokenizer: str = "scispacy"
    abbreviations: bool = True
    #: Coders run after extraction, in order (entry point group ``notestruct.coders``);
    #: their options are ``options[<coder name>]``.
    coders: tuple[str, ...] = ()

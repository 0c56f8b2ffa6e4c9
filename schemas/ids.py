"""Deterministic ids: the same note through the same pipeline always yields the same ids."""

from __future__ import annotations

import uuid

#: Namespace for every notestruct UUIDv5 (fixed forever; changing it changes every id).
NAMESPACE = uuid.UUID("4d1f3a52-8f0e-5b7c-9a61-2c0e6f7d9b10")


def mention_id(note_id: str, start: int, end: int, label: str, extractor: str) -> str:
    """UUIDv5 of the note id, offsets, label and extractor."""
    return str(uuid.uuid5(NAMESPACE, f"mention|{note_id}|{start}|{end}|{label}|{extractor}"))


def resource_id(kind: str, *parts: str) -> str:
    """UUIDv5 for a FHIR resource of type ``kind`` derived from ``parts``."""
    return str(uuid.uuid5(NAMESPACE, "|".join(("fhir", kind, *parts))))


def note_nlp_id(mention: str) -> int:
    """A positive 63-bit integer id for OMOP NOTE_NLP derived from a mention id."""
    return uuid.UUID(mention).int >> 65

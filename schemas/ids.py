"""Deterministic ids: the same note through the same pipeline always yields the same ids."""

from __future__ import annotations

import hashlib
import uuid

#: Namespace for every notestruct UUIDv5 (fixed forever; changing it changes every id).
NAMESPACE = uuid.UUID("4d1f3a52-8f0e-5b7c-9a61-2c0e6f7d9b10")


def mention_id(note_id: str, start: int, end: int, label: str, extractor: str) -> str:
    """UUIDv5 of the note id, offsets, label and extractor."""
    return str(uuid.uuid5(NAMESPACE, f"mention|{note_id}|{start}|{end}|{label}|{extractor}"))


_NAMESPACE_BYTES = NAMESPACE.bytes
_VARIANT = "89ab89ab89ab89ab"  # RFC 4122 variant: the top two bits of clock_seq_hi are 10


def uuid5_str(name: str) -> str:
    """``str(uuid.uuid5(NAMESPACE, name))``, computed without building a UUID object.

    FHIR mapping derives two ids per resource; this is about three times faster.
    """
    h = hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8")).hexdigest()  # noqa: S324 - RFC 4122 v5
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[int(h[16], 16)]}{h[17:20]}-{h[20:32]}"


def resource_id(kind: str, *parts: str) -> str:
    """UUIDv5 for a FHIR resource of type ``kind`` derived from ``parts``."""
    return uuid5_str("|".join(("fhir", kind, *parts)))


def note_nlp_id(mention: str) -> int:
    """A positive 63-bit integer id for OMOP NOTE_NLP derived from a mention id."""
    return uuid.UUID(mention).int >> 65

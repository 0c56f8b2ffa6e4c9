"""Deterministic ids: the same note through the same pipeline always yields the same ids."""

from __future__ import annotations

import hashlib
import re
import unicodedata
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


#: Hex characters kept of a name key (64 bits: two names of one label do not collide).
NAME_KEY_HEX = 16
_NOT_ALNUM = re.compile(r"[\W_]+")


def normalise_name(name: str) -> str:
    """A name as :func:`name_key` compares it: Unicode NFKC, case-folded, and every run of
    characters other than letters and digits one space ("Fluticasone/Salmeterol " and
    "fluticasone-salmeterol" are both "fluticasone salmeterol")."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return _NOT_ALNUM.sub(" ", folded).strip()


def name_key(label: str, name: str) -> str:
    """Key of an uncoded concept that only its name identifies (a drug no terminology codes):
    SHA-256 of the label and :func:`normalise_name` of the name, 16 hex characters.

    The same name written the same way (up to case, spaces and punctuation) gives the same
    key in every note and run; different names give different keys. The warehouse views use
    it as ``concept_key`` (``name:<key>``) instead of the name, which is note text. It is a
    plain hash: whoever guesses the name can confirm it, as with any name.
    """
    data = f"name|{label}|{normalise_name(name)}".encode()
    return hashlib.sha256(data).hexdigest()[:NAME_KEY_HEX]

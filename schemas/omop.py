"""OMOP CDM v5.4 NOTE_NLP rows from mentions (ids shared with the mention table)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from schemas.ids import NAMESPACE, note_nlp_id
from schemas.model import Mention, Note


def omop_note_id(note_id: str) -> int:
    """A stable positive 63-bit integer for a source note id (OMOP note_id is an integer)."""
    return uuid.uuid5(NAMESPACE, f"note|{note_id}").int >> 65


def _modifiers(m: Mention) -> str:
    a = m.assertion
    parts = [
        f"negated={a.is_negated}",
        f"uncertain={a.is_uncertain}",
        f"historical={a.is_historical}",
        f"hypothetical={a.is_hypothetical}",
        f"family={a.is_family}",
        f"conditional={a.is_conditional}",
        f"label={m.label}",
    ]
    parts.extend(f"code={c.system}|{c.code}" for c in m.codings)
    parts.extend(f"{k}={v}" for k, v in sorted(m.attributes.items()))
    return "; ".join(parts)[:2000]


def to_note_nlp(
    m: Mention, note: Note, *, processed_at: datetime, nlp_system: str, store_text: bool = False
) -> dict[str, Any]:
    """One NOTE_NLP row; snippet and lexical_variant stay empty unless text is stored."""
    a = m.assertion
    exists = not (a.is_negated or a.is_hypothetical or a.is_family or a.is_uncertain)
    lo, hi = max(0, m.start_char - 40), min(len(note.text), m.end_char + 40)
    return {
        "note_nlp_id": note_nlp_id(m.mention_id),
        "mention_id": m.mention_id,
        "note_key": note.note_id,
        "note_id": omop_note_id(note.note_id),
        "section_concept_id": 0,
        "snippet": note.text[lo:hi] if store_text else None,
        "offset": str(m.start_char),
        "lexical_variant": m.text if store_text else "",
        "note_nlp_concept_id": 0,
        "note_nlp_source_concept_id": 0,
        "nlp_system": nlp_system[:250],
        "nlp_date": processed_at.date().isoformat(),
        "nlp_datetime": processed_at,
        "term_exists": "Y" if exists else "N",
        "term_temporal": "past" if a.is_historical else "present",
        "term_modifiers": _modifiers(m),
    }

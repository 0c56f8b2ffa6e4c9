"""OMOP CDM v5.4 NOTE_NLP rows from mentions (ids shared with the mention table)."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from schemas.ids import NAMESPACE, note_nlp_id
from schemas.model import Mention, Note, assertion_state

#: NOTE_NLP columns of OMOP CDM v5.4, in table order (plus notestruct's two join keys).
NOTE_NLP_COLUMNS: tuple[str, ...] = (
    "note_nlp_id",
    "note_id",
    "section_concept_id",
    "snippet",
    "offset",
    "lexical_variant",
    "note_nlp_concept_id",
    "note_nlp_source_concept_id",
    "nlp_system",
    "nlp_date",
    "nlp_datetime",
    "term_exists",
    "term_temporal",
    "term_modifiers",
)
#: CDM v5.4 varchar limits.
SNIPPET_MAX = 250
LEXICAL_VARIANT_MAX = 250
NLP_SYSTEM_MAX = 250
TERM_MODIFIERS_MAX = 2000
SNIPPET_CONTEXT = 40

#: Mention attributes that hold note text (dropped from term_modifiers unless text is stored),
#: and bookkeeping attributes never written there.
TEXT_ATTRIBUTES = frozenset(
    {"text", "drug", "sig", "allergen", "reaction", "prn_reason", "unit_text", "oxygen"}
)
SKIPPED_ATTRIBUTES = frozenset({"parts"})


def omop_note_id(note_id: str) -> int:
    """A stable positive 63-bit integer for a source note id (OMOP note_id is an integer)."""
    return uuid.uuid5(NAMESPACE, f"note|{note_id}").int >> 65


def _flatten(prefix: str, value: Any, store_text: bool, out: list[str]) -> None:
    key = prefix.rsplit(".", 1)[-1]
    if key in SKIPPED_ATTRIBUTES or (not store_text and key in TEXT_ATTRIBUTES):
        return
    if isinstance(value, Mapping):
        for k in sorted(value, key=str):
            _flatten(f"{prefix}.{k}", value[k], store_text, out)
    elif isinstance(value, list | tuple):
        if all(isinstance(v, str | int | float | bool) or v is None for v in value):
            out.append(f"{prefix}={json.dumps(list(value), separators=(',', ':'))}")
        else:
            for i, v in enumerate(value):
                _flatten(f"{prefix}.{i}", v, store_text, out)
    elif value is None:
        return
    elif isinstance(value, float) and not math.isfinite(value):
        return
    else:
        out.append(f"{prefix}={str(value).lower() if isinstance(value, bool) else value}")


def term_modifiers(m: Mention, *, store_text: bool = False) -> str:
    """Assertions, codes and attributes as ``key=value`` pairs joined by ``"; "``.

    The CDM asks for the modifiers concatenated into one string; the names follow its
    convention (Negation, Subject, Conditional, Uncertain) plus notestruct's own flags.
    Attributes holding note text appear only when ``store_text``. Truncated to 2000 chars.
    """
    a = m.assertion
    # the relative is a kinship word from the ConText rules ("mother"), not note text
    subject = (a.experiencer or "family") if a.is_family else "patient"
    parts = [
        f"Negation={str(a.is_negated).lower()}",
        f"Subject={subject}",
        f"Conditional={str(a.is_conditional).lower()}",
        f"Uncertain={str(a.is_uncertain).lower()}",
        f"Historical={str(a.is_historical).lower()}",
        f"Hypothetical={str(a.is_hypothetical).lower()}",
        f"label={m.label}",
    ]
    if m.section:
        parts.append(f"section={m.section}")
    parts.extend(f"code={c.system}|{c.code}" for c in m.codings)
    for key in sorted(m.attributes):
        _flatten(key, m.attributes[key], store_text, parts)
    parts.append(f"extractor={m.provenance.extractor}@{m.provenance.extractor_version}")
    out = "; ".join(parts)
    return out if len(out) <= TERM_MODIFIERS_MAX else out[: TERM_MODIFIERS_MAX - 1] + "…"


#: Assertion states (``schemas.model.ASSERTION_STATES``) in which the term exists for the CDM.
TERM_EXISTS_STATES = frozenset({"affirmed", "historical", "no_known_allergy"})


def term_exists(m: Mention) -> bool:
    """CDM convention: false when negated, about someone else, conditional, hypothetical or
    uncertain (our "possible"/"rule out" is the CDM's Rule_out). Read from the one assertion
    precedence (``schemas.model.assertion_state``): a resolved finding ("hyponatremia,
    resolved") existed, like FHIR's resolved Condition; conditional, which no state names,
    still makes it false, as the CDM asks."""
    return assertion_state(m) in TERM_EXISTS_STATES and not m.assertion.is_conditional


def to_note_nlp(
    m: Mention, note: Note, *, processed_at: datetime, nlp_system: str, store_text: bool = False
) -> dict[str, Any]:
    """One NOTE_NLP row; snippet and lexical_variant stay empty unless text is stored.

    ``note_nlp_id`` derives from the mention id and ``mention_id`` is kept beside it, so the
    row joins the mention table and the FHIR resources (whose ids derive from the same id).
    ``lexical_variant`` is NOT NULL in the CDM, hence ``""`` rather than NULL when withheld.
    """
    lo = max(0, m.start_char - SNIPPET_CONTEXT)
    hi = min(len(note.text), m.end_char + SNIPPET_CONTEXT)
    # a verbatim substring of the note (privacy redaction locates it there), at most 250 chars
    snippet = note.text[lo:hi][:SNIPPET_MAX] if store_text else None
    return {
        "note_nlp_id": note_nlp_id(m.mention_id),
        "mention_id": m.mention_id,
        "note_key": note.note_id,
        "note_id": omop_note_id(note.note_id),
        "section_concept_id": 0,
        "snippet": snippet,
        "offset": str(m.start_char),
        "lexical_variant": m.text[:LEXICAL_VARIANT_MAX] if store_text else "",
        "note_nlp_concept_id": 0,
        "note_nlp_source_concept_id": 0,
        "nlp_system": nlp_system[:NLP_SYSTEM_MAX],
        "nlp_date": processed_at.date().isoformat(),
        "nlp_datetime": processed_at,
        "term_exists": "Y" if term_exists(m) else "N",
        "term_temporal": "past" if m.assertion.is_historical else "present",
        "term_modifiers": term_modifiers(m, store_text=store_text),
    }

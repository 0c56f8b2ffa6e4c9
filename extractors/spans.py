"""Converts a processed ``Doc`` into frozen ``Mention`` records (the Doc is dropped after)."""

from __future__ import annotations

from typing import Any

from spacy.tokens import Doc, Span

from extractors.base import MENTIONS
from extractors.extensions import span_values
from extractors.statements import statement_attributes
from schemas.ids import uuid5_str
from schemas.model import Assertion, Coding, Mention, Note, Provenance
from schemas.wire import record_constructor

#: medspaCy ConText flags copied into ``Assertion`` (same names).
CONTEXT_FLAGS = ("is_negated", "is_uncertain", "is_historical", "is_hypothetical", "is_family")


def _section(span: Span) -> str | None:
    """Section category of the span's first token (medspaCy's ``token._.section``), read from
    ``doc.user_data`` directly like ``plain_span_value`` does for span flags."""
    if not len(span):
        return None
    # the first token's ``idx`` is the span's ``start_char``
    section = span.doc.user_data.get(("._.", "section", span.start_char, None))
    return getattr(section, "category", None) if section is not None else None


_assertion = record_constructor(Assertion)
_provenance = record_constructor(Provenance)
_mention = record_constructor(Mention)
_coding_record = record_constructor(Coding)


def doc_to_mentions(
    doc: Doc, note: Note, pipeline_version: str, run_id: str | None = None
) -> tuple[Mention, ...]:
    """One ``Mention`` per span in ``doc.spans["mentions"]``, ordered by offset, deduplicated.

    Records are built like ``model_construct`` (``schemas.wire.record_constructor``): every
    field comes from code that already guarantees the model's invariants (offsets come from
    the Doc, text is sliced from the note), and validating tens of mentions per note through
    pydantic was the hot spot of the stage.
    """
    if MENTIONS not in doc.spans:
        return ()
    group = [(span, span_values(span)) for span in doc.spans[MENTIONS]]
    # Codes an extractor found for exactly the span a caller gave are merged into the given
    # mention, and the extractor's duplicate is dropped.
    given = {(v["char_bounds"], s.label_) for s, v in group if v["char_bounds"] is not None}
    merged_codes: dict[tuple[Any, str], list[dict[str, Any]]] = {}
    kept = []
    for span, values in group:
        key = ((span.start_char, span.end_char), span.label_)
        if values["char_bounds"] is None and key in given:
            merged_codes.setdefault(key, []).extend(values["codes"] or ())
            continue
        kept.append((span, values))
    out: dict[str, tuple[tuple[int, int, str], Mention]] = {}
    # frozen records repeat a lot within a note: share one instance per distinct value
    provenances: dict[tuple[str, int, str | None], Provenance] = {}
    assertion_cache: dict[tuple[Any, ...], Assertion] = {}
    coding_cache: dict[tuple[Any, ...], Coding] = {}
    text = note.text
    note_id = note.note_id
    data = doc.user_data
    for span, values in kept:
        bounds = values["char_bounds"]
        s0, e0 = span.start_char, span.end_char
        start, end = bounds if bounds else (s0, e0)
        label = span.label_
        extractor = values["extractor"] or "unknown"
        # schemas.ids.mention_id, without building a UUID object
        mid = uuid5_str(f"mention|{note_id}|{start}|{end}|{label}|{extractor}")
        if mid in out:
            continue
        codes = values["codes"]
        extra = merged_codes.get((bounds, label)) if merged_codes else None
        codings = tuple(
            _coding(c, extractor, coding_cache)
            for c in (_dedupe([*(codes or ()), *(extra or ())]) if codes or extra else ())
        )
        akey = (
            tuple(bool(data.get(("._.", name, s0, e0), False)) for name in CONTEXT_FLAGS),
            bool(values["is_conditional"]),
            values["experiencer"],
        )
        assertion = assertion_cache.get(akey)
        if assertion is None:
            assertion = assertion_cache[akey] = _assertion(*akey[0], akey[1], akey[2])
        pkey = (extractor, int(values["extractor_version"] or 0), values["rule_id"])
        prov = provenances.get(pkey)
        if prov is None:
            prov = provenances[pkey] = _provenance(
                extractor, pkey[1], values["rule_id"], pipeline_version, run_id
            )
        out[mid] = (
            (start, end, label),
            _mention(
                mid,
                note_id,
                start,
                end,
                text[start:end],
                label,
                _section(span),
                assertion,
                codings,
                _with_statements(text, start, end, label, assertion, values["attributes"]),
                prov,
            ),
        )
    return tuple(m for _, m in sorted(out.values(), key=_sort_key))


def _with_statements(
    text: str, start: int, end: int, label: str, assertion: Assertion, given: Any
) -> dict[str, Any]:
    """The extractor's attributes and what the mention's clause states about it (status,
    onset, relative: ``extractors.statements``), so the FHIR mappers need no note text."""
    attributes = dict(given or {})
    attributes.update(
        statement_attributes(text, start, end, label, family=assertion.is_family, given=attributes)
    )
    return attributes


def _sort_key(item: tuple[tuple[int, int, str], Mention]) -> tuple[int, int, str]:
    return item[0]


def _coding(c: dict[str, Any], extractor: str, cache: dict[tuple[Any, ...], Coding]) -> Coding:
    key = (c["system"], str(c["code"]), c.get("display"), c.get("score"), c.get("coder", extractor))
    coding = cache.get(key)
    if coding is None:
        coding = cache[key] = _coding_record(*key)
    return coding


def _dedupe(codes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[Any, Any]] = set()
    result = []
    for c in codes:
        key = (c.get("system"), c.get("code"))
        if key not in seen:
            seen.add(key)
            result.append(c)
    return result

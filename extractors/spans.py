"""Converts a processed ``Doc`` into frozen ``Mention`` records (the Doc is dropped after)."""

from __future__ import annotations

from spacy.tokens import Doc

from extractors.base import MENTIONS
from schemas.ids import mention_id
from schemas.model import Assertion, Coding, Mention, Note, Provenance


def doc_to_mentions(
    doc: Doc, note: Note, pipeline_version: str, run_id: str | None = None
) -> tuple[Mention, ...]:
    """One ``Mention`` per span in ``doc.spans["mentions"]``, ordered by offset, deduplicated."""
    if MENTIONS not in doc.spans:
        return ()
    out: dict[str, Mention] = {}
    group = list(doc.spans[MENTIONS])
    # Codes an extractor found for exactly the span a caller gave are merged into the given
    # mention, and the extractor's duplicate is dropped.
    given = {
        (s._.char_bounds, s.label_): s for s in group if s._.char_bounds is not None
    }
    merged_codes: dict[tuple[object, str], list[dict[str, object]]] = {}
    kept = []
    for span in group:
        key = ((span.start_char, span.end_char), span.label_)
        if span._.char_bounds is None and key in given:
            merged_codes.setdefault(key, []).extend(span._.codes or ())
            continue
        kept.append(span)
    for span in kept:
        bounds = span._.char_bounds
        start, end = bounds if bounds else (span.start_char, span.end_char)
        extractor = span._.extractor or "unknown"
        mid = mention_id(note.note_id, start, end, span.label_, extractor)
        if mid in out:
            continue
        codes = tuple(
            Coding(
                system=c["system"],
                code=str(c["code"]),
                display=c.get("display"),
                score=c.get("score"),
                coder=c.get("coder", extractor),
            )
            for c in _dedupe([*(span._.codes or ()), *merged_codes.get((bounds, span.label_), ())])
        )
        out[mid] = Mention(
            mention_id=mid,
            note_id=note.note_id,
            start_char=start,
            end_char=end,
            text=note.text[start:end],
            label=span.label_,
            section=span._.section_category,
            assertion=Assertion(
                is_negated=bool(span._.is_negated),
                is_uncertain=bool(span._.is_uncertain),
                is_historical=bool(span._.is_historical),
                is_hypothetical=bool(span._.is_hypothetical),
                is_family=bool(span._.is_family),
                is_conditional=bool(span._.is_conditional),
                experiencer=span._.experiencer,
            ),
            codings=codes,
            attributes=dict(span._.attributes or {}),
            provenance=Provenance(
                extractor=extractor,
                extractor_version=int(span._.extractor_version or 0),
                rule_id=span._.rule_id,
                pipeline_version=pipeline_version,
                run_id=run_id,
            ),
        )
    return tuple(sorted(out.values(), key=lambda m: (m.start_char, m.end_char, m.label)))


def _dedupe(codes: list[dict[str, object]]) -> list[dict[str, object]]:
    seen: set[tuple[object, object]] = set()
    out = []
    for c in codes:
        key = (c.get("system"), c.get("code"))
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out

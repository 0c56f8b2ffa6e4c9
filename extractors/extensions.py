"""Custom ``Span._`` and ``Doc._`` attributes used by notestruct (declared idempotently)."""

from __future__ import annotations

from spacy.tokens import Doc, Span

#: Span attributes: name -> default. Mutable defaults are set per span by components.
SPAN_ATTRS: dict[str, object] = {
    "extractor": None,  # name of the extractor that produced the span
    "extractor_version": None,  # its version
    "rule_id": None,  # stable id of the rule or dictionary entry
    "codes": None,  # list of {"system", "code", "display"} dicts
    "attributes": None,  # dict of structured values (dose, unit, value, ...)
    "char_bounds": None,  # (start, end) given by the caller; overrides token-aligned offsets
    "experiencer": None,  # who a family mention is about ("mother", ...)
    "is_conditional": False,  # medspaCy has no conditional flag; set by ns_assertion
}


def register_extensions() -> None:
    """Declare notestruct's extension attributes once per process (safe to call again)."""
    for name, default in SPAN_ATTRS.items():
        if not Span.has_extension(name):
            Span.set_extension(name, default=default)
    if not Doc.has_extension("note_id"):
        Doc.set_extension("note_id", default=None)

"""Custom ``Span._`` and ``Doc._`` attributes used by notestruct (declared idempotently).

spaCy 3.7 keys plain ``Span._`` values by character offsets only, so two spans over the same
text (a caller-given span and a dictionary match, or a PROBLEM and a LAB) would share them.
notestruct's span attributes therefore use a getter/setter pair keyed by offsets, label,
``kb_id`` and ``span_id``, so each span keeps its own values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spacy.tokens import Doc, Span

#: Span attributes: name -> default. Mutable values are assigned per span by components.
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

_KEY = "._.ns"
#: First element of every notestruct span attribute key in ``doc.user_data``.
SPAN_KEY_PREFIX = _KEY


def span_key(span: Span, name: str) -> tuple[Any, ...]:
    """Where ``span``'s value of attribute ``name`` lives in ``doc.user_data``."""
    return (_KEY, name, span.start_char, span.end_char, span.label, span.kb_id, span.id)


def _accessors(
    name: str, default: object
) -> tuple[Callable[[Span], Any], Callable[[Span, Any], None]]:
    def getter(span: Span) -> Any:
        return span.doc.user_data.get(span_key(span, name), default)

    def setter(span: Span, value: Any) -> None:
        span.doc.user_data[span_key(span, name)] = value

    return getter, setter


def register_extensions() -> None:
    """Declare notestruct's extension attributes once per process (safe to call again)."""
    for name, default in SPAN_ATTRS.items():
        if not Span.has_extension(name):
            getter, setter = _accessors(name, default)
            Span.set_extension(name, getter=getter, setter=setter)
    if not Doc.has_extension("note_id"):
        Doc.set_extension("note_id", default=None)


def span_values(span: Span) -> dict[str, Any]:
    """All notestruct attributes of ``span`` in one pass (no ``Underscore`` objects).

    Equivalent to reading ``span._.<name>`` for every name in ``SPAN_ATTRS``; used on the hot
    path that converts thousands of spans per second into mentions.
    """
    data = span.doc.user_data
    base = (span.start_char, span.end_char, span.label, span.kb_id, span.id)
    return {name: data.get((_KEY, name, *base), default) for name, default in SPAN_ATTRS.items()}


def set_span_values(span: Span, values: dict[str, Any]) -> None:
    """Set notestruct attributes of ``span`` in one pass (no ``Underscore`` objects).

    Equivalent to ``span._.<name> = value`` for each item: the same keys in ``doc.user_data``
    the registered setters write.
    """
    data = span.doc.user_data
    base = (span.start_char, span.end_char, span.label, span.kb_id, span.id)
    for name, value in values.items():
        if name not in SPAN_ATTRS:
            raise AttributeError(f"unknown span attribute {name!r}")
        data[(_KEY, name, *base)] = value


def plain_span_value(span: Span, name: str, default: Any = None) -> Any:
    """A plain (default-valued) ``Span._`` extension such as medspaCy's ``is_negated``.

    spaCy 3.7 stores those in ``doc.user_data`` under ``("._.", name, start_char, end_char)``;
    reading the key directly avoids building an ``Underscore`` per access (tests check that it
    agrees with ``span._``).
    """
    return span.doc.user_data.get(("._.", name, span.start_char, span.end_char), default)

"""Records as plain tuples, for the trip between processes, and a fast record constructor.

Importable without spaCy: the nightly flow process rebuilds the mentions its NLP worker
sends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

from schemas.model import Assertion, Coding, Mention, NoteResult, Provenance

T = TypeVar("T", bound=BaseModel)


def record_constructor(cls: type[T]) -> Callable[..., T]:
    """``cls.model_construct(**values)`` for a call that passes every field, in field order.

    Sets the same ``__dict__`` (fields in declaration order), ``__pydantic_fields_set__`` (every
    field), ``__pydantic_extra__`` and ``__pydantic_private__`` as ``model_construct`` without its
    per-field alias and default handling; falls back to ``model_construct`` for models that
    need more (post-init hooks, root models, private attributes).
    """
    names = tuple(cls.model_fields)
    if (
        cls.__pydantic_post_init__
        or cls.__pydantic_root_model__
        or cls.__private_attributes__
        or any(
            f.alias is not None or f.validation_alias is not None for f in cls.model_fields.values()
        )
    ):  # pragma: no cover - notestruct's records need none of these
        return lambda *args: cls.model_construct(**dict(zip(names, args, strict=True)))
    new = cls.__new__
    setattr_ = object.__setattr__

    def construct(*args: Any) -> T:
        m = new(cls)
        setattr_(m, "__dict__", dict(zip(names, args, strict=True)))
        setattr_(m, "__pydantic_fields_set__", set(names))
        setattr_(m, "__pydantic_extra__", None)
        setattr_(m, "__pydantic_private__", None)
        return m

    return construct


_assertion = record_constructor(Assertion)
_provenance = record_constructor(Provenance)
_mention = record_constructor(Mention)
_coding_record = record_constructor(Coding)


#: A mention as plain tuples (``mentions_to_wire``): pickles and unpickles several times
#: faster than the pydantic records, for the trip from an NLP worker process to the flow.
WireMention = tuple[Any, ...]


def mentions_to_wire(mentions: tuple[Mention, ...]) -> tuple[WireMention, ...]:
    """``mentions`` as tuples of their fields in declaration order (records as tuples)."""
    return tuple(
        (
            m.mention_id,
            m.note_id,
            m.start_char,
            m.end_char,
            m.text,
            m.label,
            m.section,
            tuple(m.assertion.__dict__.values()),
            tuple(tuple(c.__dict__.values()) for c in m.codings),
            m.attributes,
            tuple(m.provenance.__dict__.values()),
        )
        for m in mentions
    )


def mentions_from_wire(
    wire: tuple[WireMention, ...], cache: dict[tuple[Any, ...], Any] | None = None
) -> tuple[Mention, ...]:
    """The mentions ``mentions_to_wire`` sent, equal to the originals (records are built like
    ``model_construct``; equal assertions, codings and provenances share one record)."""
    cache = {} if cache is None else cache
    out = []
    for mid, nid, start, end, text, label, section, a, codings, attributes, p in wire:
        assertion = cache.get(a)
        if assertion is None:
            assertion = cache[a] = _assertion(*a)
        coded = []
        for c in codings:
            coding = cache.get(c)
            if coding is None:
                coding = cache[c] = _coding_record(*c)
            coded.append(coding)
        provenance = cache.get(p)
        if provenance is None:
            provenance = cache[p] = _provenance(*p)
        out.append(
            _mention(
                mid,
                nid,
                start,
                end,
                text,
                label,
                section,
                assertion,
                tuple(coded),
                attributes,
                provenance,
            )
        )
    return tuple(out)


#: A result on its way back from a worker: the result without its FHIR resources, and the
#: resources as one JSON document (None when they are in the result itself).
Packed = tuple[NoteResult, bytes | None]


def pack(result: NoteResult) -> Packed:
    """``result`` ready to cross a process boundary cheaply.

    FHIR resources are plain JSON; as one orjson document they pickle and unpickle several
    times faster than as thousands of small dicts (the flow process unpickles every result
    of every worker, and is then the bottleneck). A resource that is not plain JSON (it never
    is; a bug) stays in the result as it is.
    """
    if not result.resources:
        return result, None
    try:
        blob = orjson.dumps(result.resources, option=orjson.OPT_PASSTHROUGH_DATETIME)
    except TypeError:
        return result, None
    return result.model_copy(update={"resources": ()}), blob


def unpack(packed: Packed) -> NoteResult:
    """The result ``pack`` packed (no validation: it was validated in the worker)."""
    result, blob = packed
    if blob is None:
        return result
    return result.model_copy(update={"resources": tuple(orjson.loads(blob))})

"""Validation against the fhir.resources R4B models, and the entry points ``map_mention``
and ``map_note``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from schemas.fhir.codes import MappingError, Resource
from schemas.fhir.mappers import MAPPERS, MODELS, Mapper, to_document_reference
from schemas.fhir.parts import NoteParts, note_parts
from schemas.model import Mention, Note


# -- validation ------------------------------------------------------------------------------
def _shape(value: dict[str, Any]) -> Any:
    """The structure of a JSON object: keys, nesting and scalar types, without the values.

    A flat tuple ``(key, shape-or-type, key, shape-or-type, ...)``. Lists collapse to the set
    of their element shapes, so a list of three codings has the shape of a list of one.
    Written without generators or pairs: this runs for every resource.
    """
    out: list[Any] = []
    append = out.append
    for key, item in value.items():
        append(key)
        t = type(item)
        if t is dict:
            append(_shape(item))
        elif t is list:
            append(frozenset([_shape(e) if type(e) is dict else type(e) for e in item]))
        else:
            append(t)
    return tuple(out)


class ShapeValidator:
    """Validates resource dicts through their fhir.resources model once per distinct shape.

    Mappers build dicts from fixed code tables (the policy, required bindings) and pass every
    value that comes from a note or extractor through a guard (_string, _code, _uri, _decimal,
    _positive_int) that enforces the FHIR primitive's rules. What the model can still reject
    is structure (a wrong key, a missing required element, a wrong type), which the shape
    captures: a resource whose shape was validated has been validated in all but its guarded
    values. ``full=True`` validates every resource (tests, debugging).
    """

    def __init__(self, *, full: bool = False, max_shapes: int = 20_000) -> None:
        self.full = full
        self.max_shapes = max_shapes
        self._seen: set[Any] = set()
        self.validated = 0
        self.skipped = 0

    def check(self, resource: Resource) -> Resource:
        """Return ``resource`` after validating it (or its shape); raise MappingError if bad."""
        rtype = resource.get("resourceType")
        if not self.full:
            key = (rtype, _shape(resource))
            if key in self._seen:
                self.skipped += 1
                return resource
        model = MODELS.get(str(rtype))
        if model is None:
            raise MappingError(f"no model for resource type {rtype!r}")
        try:
            model.model_validate(resource)
        except Exception as exc:
            # The model's message may quote values (mention text): keep only field locations.
            locs = _error_locations(exc)
            raise MappingError(
                f"{rtype} failed FHIR validation ({type(exc).__name__}) at {locs}"
            ) from None
        self.validated += 1
        if not self.full:
            if len(self._seen) >= self.max_shapes:  # bound memory on pathological input
                self._seen.clear()
            self._seen.add(key)
        return resource

    def __reduce__(self) -> tuple[Any, tuple[bool]]:
        # A validator sent to a worker process (inside a BatchContext, with every batch)
        # arrives as that process's shared one, so each shape is validated once per process,
        # not once per batch.
        return shared_validator, (self.full,)


_SHARED_VALIDATORS: dict[bool, ShapeValidator] = {}


def shared_validator(full: bool = False) -> ShapeValidator:
    """This process's long-lived validator (what a pickled ``ShapeValidator`` becomes)."""
    validator = _SHARED_VALIDATORS.get(full)
    if validator is None:
        validator = _SHARED_VALIDATORS.setdefault(full, ShapeValidator(full=full))
    return validator


def _error_locations(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            return ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in errors()[:5])
        except Exception:
            return "?"
    return "?"


def map_mention(
    mention: Mention,
    note: Note,
    *,
    include_text: bool = False,
    mappers: Mapping[str, Mapper | None] = MAPPERS,
    parts: NoteParts | None = None,
) -> Resource | None:
    """The resource for one mention (unvalidated dict), or None when POLICY says none."""
    mapper = mappers.get(mention.label)
    if mapper is None:
        return None
    return mapper(mention, note, include_text=include_text, parts=parts)


def map_note(
    note: Note,
    mentions: Sequence[Mention],
    *,
    include_text: bool = False,
    mappers: Mapping[str, Mapper | None] = MAPPERS,
    validator: ShapeValidator | None = None,
) -> tuple[Resource, ...]:
    """DocumentReference plus one resource per mappable mention, validated (see POLICY).

    Pass one ``validator`` for a whole batch or run so each resource shape is validated
    through its model once; without one, shapes are validated once per call.

    Raises:
        MappingError: a resource failed model validation (a mapper bug, reported per note).
    """
    validator = validator or ShapeValidator()
    out = [validator.check(to_document_reference(note, include_text=include_text))]
    parts = note_parts(note)
    for m in mentions:
        resource = map_mention(m, note, include_text=include_text, mappers=mappers, parts=parts)
        if resource is not None:
            out.append(validator.check(resource))
    return tuple(out)

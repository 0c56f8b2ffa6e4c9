"""Bundles, run provenance and OperationOutcome."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from schemas.fhir.codes import (
    DATA_OPERATION,
    PROVENANCE_AGENT_TYPE,
    TAG_RUN,
    VERSIONS_URL,
    MappingError,
    Resource,
)
from schemas.fhir.parts import _concept_code
from schemas.fhir.validate import ShapeValidator
from schemas.fhir.values import _ID_OK, _code, _instant, _string
from schemas.ids import resource_id
from schemas.model import Note


# -- bundles and run provenance ---------------------------------------------------------------
def to_bundle(resources: Sequence[Resource], *, bundle_id: str | None = None) -> Resource:
    """A transaction Bundle that PUTs ``resources`` by their deterministic ids (idempotent).

    Raises:
        MappingError: the bundle failed model validation.
    """
    entries = [
        {
            "fullUrl": f"urn:uuid:{r['id']}"
            if _is_uuid(r["id"])
            else f"{r['resourceType']}/{r['id']}",
            "resource": r,
            "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
        }
        for r in resources
    ]
    bundle: Resource = {
        "resourceType": "Bundle",
        "id": bundle_id or resource_id("Bundle", *(r["id"] for r in resources[:1])),
        "type": "transaction",
        "entry": entries,
    }
    return ShapeValidator(full=True).check(bundle)


def note_bundle(note: Note, resources: Sequence[Resource]) -> Resource:
    """The transaction Bundle of one note's resources (id derived from the note id)."""
    return to_bundle(resources, bundle_id=resource_id("Bundle", note.note_id))


_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _is_uuid(value: object) -> bool:
    return isinstance(value, str) and bool(_UUID_RE.fullmatch(value))


def to_provenance(
    targets: Iterable[str],
    *,
    run_id: str,
    recorded: datetime,
    software_version: str,
    rules_version: str | None = None,
    dictionary_version: str | None = None,
    extractors: Mapping[str, int] | None = None,
) -> Resource:
    """One Provenance for a run: agent notestruct@version, targets the run's resources.

    Args:
        targets: references ``"Type/id"`` of every resource the run wrote.
        run_id: the run id (the Provenance id derives from it).
        recorded: when the run happened (timezone-aware).
        software_version: notestruct's version.
        rules_version: version (hash) of the rule set.
        dictionary_version: version (hash) of the compiled terminology dictionary.
        extractors: extractor name -> version of the extractors that ran.

    Raises:
        MappingError: no targets, or the resource failed model validation.
    """
    refs = [{"reference": t} for t in dict.fromkeys(targets) if _string(t)]
    if not refs:
        raise MappingError("a Provenance needs at least one target")
    software = _string(f"notestruct {software_version}") or "notestruct"
    versions = [
        {"url": key, "valueString": value}
        for key, value in (
            ("software", _string(software_version)),
            ("rules", _string(rules_version)),
            ("dictionary", _string(dictionary_version)),
            *(
                ("extractor", _string(f"{name}@{version}"))
                for name, version in sorted((extractors or {}).items())
            ),
        )
        if value
    ]
    data: Resource = {
        "resourceType": "Provenance",
        "id": resource_id("Provenance", run_id),
        "meta": {"tag": [{"system": TAG_RUN, "code": _code(run_id) or "unknown"}]},
        "target": refs,
        "recorded": _instant(recorded),
        "activity": _concept_code(DATA_OPERATION, "CREATE", "create"),
        "agent": [
            {
                "type": _concept_code(PROVENANCE_AGENT_TYPE, "assembler", "Assembler"),
                "who": {
                    "identifier": {"system": "urn:notestruct:software", "value": software},
                    "display": software,
                },
            }
        ],
    }
    if versions:
        data["extension"] = [{"url": VERSIONS_URL, "extension": versions}]
    return ShapeValidator(full=True).check(data)


def to_operation_outcome(
    ident: str,
    *,
    stage: str,
    error_type: str,
    message: str,
    note_id: str | None = None,
    locator: str | None = None,
) -> Resource:
    """An OperationOutcome for a dead letter (Bulk Data error file); never holds note text.

    Raises:
        MappingError: the resource failed model validation.
    """
    diagnostics = _string(f"{stage}: {error_type}: {message}") or "processing error"
    issue: dict[str, Any] = {"severity": "error", "code": "processing", "diagnostics": diagnostics}
    where = [w for w in (_string(note_id), _string(locator)) if w]
    if where:
        issue["location"] = where
    data: Resource = {
        "resourceType": "OperationOutcome",
        "id": ident if _ID_OK.fullmatch(ident) else resource_id("OperationOutcome", ident),
        "issue": [issue],
    }
    return ShapeValidator(full=True).check(data)

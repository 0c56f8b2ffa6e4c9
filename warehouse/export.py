"""Exports: FHIR Bulk Data NDJSON (one file per type, manifest, OperationOutcome for errors)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from warehouse.tables import FhirResource, NoteErrorRow


def export_fhir_ndjson(engine: Engine, out_dir: Path) -> dict[str, Any]:
    """Write ``<Type>.ndjson`` per resource type, ``OperationOutcome.ndjson`` for dead letters,
    and ``manifest.json`` (Bulk Data export manifest shape with counts). Streams rows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    handles: dict[str, Any] = {}
    counts: dict[str, int] = {}
    try:
        with engine.connect() as conn:
            rows = conn.execution_options(stream_results=True, yield_per=2000).execute(
                select(FhirResource.resource_type, FhirResource.resource).order_by(
                    FhirResource.resource_type, FhirResource.resource_id
                )
            )
            for rtype, resource in rows:
                fh = handles.get(rtype)
                if fh is None:
                    fh = handles[rtype] = (out_dir / f"{rtype}.ndjson").open("w", encoding="utf-8")
                fh.write(json.dumps(resource, separators=(",", ":"), ensure_ascii=False) + "\n")
                counts[rtype] = counts.get(rtype, 0) + 1
            errors = conn.execute(
                select(
                    NoteErrorRow.error_id,
                    NoteErrorRow.note_id,
                    NoteErrorRow.stage,
                    NoteErrorRow.error_type,
                    NoteErrorRow.message,
                    NoteErrorRow.locator,
                ).order_by(NoteErrorRow.error_id)
            ).all()
    finally:
        for fh in handles.values():
            fh.close()
    error_count = 0
    if errors:
        with (out_dir / "OperationOutcome.ndjson").open("w", encoding="utf-8") as fh:
            for e in errors:
                outcome = {
                    "resourceType": "OperationOutcome",
                    "id": f"note-error-{e.error_id}",
                    "issue": [
                        {
                            "severity": "error",
                            "code": "processing",
                            "diagnostics": f"{e.stage}: {e.error_type}: {e.message}",
                            "location": [x for x in (e.note_id, e.locator) if x],
                        }
                    ],
                }
                fh.write(json.dumps(outcome, separators=(",", ":")) + "\n")
                error_count += 1
    manifest = {
        "transactionTime": datetime.now(UTC).isoformat(),
        "request": "notestruct export fhir",
        "requiresAccessToken": False,
        "output": [
            {"type": t, "url": f"{t}.ndjson", "count": c} for t, c in sorted(counts.items())
        ],
        "error": (
            [{"type": "OperationOutcome", "url": "OperationOutcome.ndjson", "count": error_count}]
            if error_count
            else []
        ),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest

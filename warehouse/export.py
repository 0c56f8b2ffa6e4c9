"""Exports: FHIR Bulk Data NDJSON (one file per type, manifest, OperationOutcome for errors)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, select

from schemas.fhir import to_operation_outcome, to_provenance
from warehouse.tables import FhirResource, NoteErrorRow, PipelineRun

#: Rows fetched per round trip while streaming resources.
STREAM_ROWS = 2000


#: Compact UTF-8 JSON, one encoder for the whole export (json.dumps with options builds one
#: per call); resources are trees, so the cycle check is skipped.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def _dump(resource: Any) -> str:
    if isinstance(resource, str):  # a driver that hands JSON back as text
        resource = json.loads(resource)
    return _ENCODER.encode(resource)


def export_fhir_ndjson(
    engine: Engine, out_dir: Path, *, now: datetime | None = None
) -> dict[str, Any]:
    """Write a FHIR Bulk Data export of the warehouse into ``out_dir``.

    ``<Type>.ndjson`` holds every stored resource of that type, one JSON object per line,
    ordered by id; ``OperationOutcome.ndjson`` one OperationOutcome per dead letter (notes or
    records that failed; ids, stage and error type only, never note text); ``manifest.json``
    the Bulk Data manifest (``transactionTime``, ``request``, ``requiresAccessToken``,
    ``output`` and ``error`` with absolute file URLs and a ``count`` per file). Rows are
    streamed, so memory does not grow with the warehouse. Files of a previous export in
    ``out_dir`` that this export does not write are left alone.

    Args:
        engine: the warehouse.
        out_dir: directory to write into (created if missing).
        now: transaction time to record (default: the current UTC time).

    Returns:
        The manifest.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    transaction_time = (now or datetime.now(UTC)).astimezone(UTC)
    handles: dict[str, IO[str]] = {}
    counts: dict[str, int] = {}
    error_count = 0
    try:
        with engine.connect() as conn:
            rows = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(
                select(FhirResource.resource_type, FhirResource.resource).order_by(
                    FhirResource.resource_type, FhirResource.resource_id
                )
            )
            for rtype, resource in rows:
                fh = handles.get(rtype)
                if fh is None:
                    fh = handles[rtype] = (out_dir / f"{rtype}.ndjson").open(
                        "w", encoding="utf-8", newline="\n"
                    )
                fh.write(_dump(resource) + "\n")
                counts[rtype] = counts.get(rtype, 0) + 1
            provenances = _write_provenances(conn, out_dir)
            if provenances:
                counts["Provenance"] = provenances
            errors = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(
                select(
                    NoteErrorRow.error_id,
                    NoteErrorRow.note_id,
                    NoteErrorRow.stage,
                    NoteErrorRow.error_type,
                    NoteErrorRow.message,
                    NoteErrorRow.locator,
                ).order_by(NoteErrorRow.error_id)
            )
            error_file = out_dir / "OperationOutcome.ndjson"
            error_fh: IO[str] | None = None
            try:
                for e in errors:
                    if error_fh is None:
                        error_fh = error_file.open("w", encoding="utf-8", newline="\n")
                    outcome = to_operation_outcome(
                        f"note-error-{e.error_id}",
                        stage=e.stage,
                        error_type=e.error_type,
                        message=e.message,
                        note_id=e.note_id,
                        locator=e.locator,
                    )
                    error_fh.write(_dump(outcome) + "\n")
                    error_count += 1
            finally:
                if error_fh is not None:
                    error_fh.close()
            if not error_count and error_file.exists():
                error_file.unlink()  # a stale error file from an earlier export
    finally:
        for fh in handles.values():
            fh.close()
    base = out_dir.resolve()
    manifest: dict[str, Any] = {
        "transactionTime": transaction_time.isoformat(),
        "request": "notestruct export fhir",
        "requiresAccessToken": False,
        "output": [
            {"type": t, "url": (base / f"{t}.ndjson").as_uri(), "count": c}
            for t, c in sorted(counts.items())
        ],
        "error": (
            [
                {
                    "type": "OperationOutcome",
                    "url": (base / "OperationOutcome.ndjson").as_uri(),
                    "count": error_count,
                }
            ]
            if error_count
            else []
        ),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def _write_provenances(conn: Connection, out_dir: Path) -> int:
    """``Provenance.ndjson``: one Provenance per run that wrote the stored resources, naming
    notestruct with its version, the rules and dictionary versions, and targeting the run's
    resources. Returns how many were written."""
    runs = {
        r.run_id: r
        for r in conn.execute(
            select(
                PipelineRun.run_id,
                PipelineRun.started_at,
                PipelineRun.pipeline_version,
                PipelineRun.rules_version,
                PipelineRun.dictionary_version,
            )
        )
    }
    rows = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(
        select(FhirResource.run_id, FhirResource.resource_type, FhirResource.resource_id).order_by(
            FhirResource.run_id, FhirResource.resource_type, FhirResource.resource_id
        )
    )
    written = 0
    path = out_dir / "Provenance.ndjson"
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for run_id, group in groupby(rows, key=lambda r: r.run_id):
            run = runs.get(run_id)
            targets = [f"{r.resource_type}/{r.resource_id}" for r in group]
            recorded = run.started_at if run is not None else datetime.now(UTC)
            if recorded.tzinfo is None:  # SQLite returns naive UTC datetimes
                recorded = recorded.replace(tzinfo=UTC)
            provenance = to_provenance(
                targets,
                run_id=run_id,
                recorded=recorded,
                software_version=run.pipeline_version if run is not None else "unknown",
                rules_version=run.rules_version if run is not None else None,
                dictionary_version=run.dictionary_version if run is not None else None,
            )
            fh.write(_dump(provenance) + "\n")
            written += 1
    if not written:
        path.unlink()
    return written

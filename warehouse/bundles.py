"""Write-back export: one FHIR R4 transaction Bundle per note (PUT by deterministic ids)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from schemas.fhir import to_bundle
from schemas.ids import resource_id
from warehouse.export import STREAM_ROWS
from warehouse.tables import FhirResource

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def _rows(engine: Engine) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with engine.connect() as conn:
        rows = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(
            select(
                FhirResource.note_id, FhirResource.resource_type, FhirResource.resource
            ).order_by(FhirResource.note_id, FhirResource.resource_type, FhirResource.resource_id)
        )
        for note_id, group in groupby(rows, key=lambda r: r.note_id):
            resources = []
            for row in group:
                res = row.resource
                resources.append(json.loads(res) if isinstance(res, str) else dict(res))
            # the DocumentReference first: the note, then what was found in it
            resources.sort(key=lambda r: r["resourceType"] != "DocumentReference")
            yield str(note_id), resources


def export_transaction_bundles(engine: Engine, out_dir: Path) -> dict[str, int]:
    """``Bundle.ndjson`` in ``out_dir``: one transaction Bundle per note, one per line.

    Each entry PUTs its resource at ``Type/id``; the ids are the deterministic ones of the
    warehouse, so posting a bundle again (or after a re-run) updates rather than duplicates.
    Every bundle is validated through the fhir.resources model. Rows are streamed.

    Returns:
        ``{"bundles": n, "resources": m}``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    bundles = resources = 0
    path = out_dir / "Bundle.ndjson"
    tmp = path.with_suffix(".ndjson.partial")
    with tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for note_id, group in _rows(engine):
            bundle = to_bundle(group, bundle_id=resource_id("Bundle", note_id))
            fh.write(_ENCODER.encode(bundle) + "\n")
            bundles += 1
            resources += len(group)
    tmp.replace(path)  # a reader never sees half an export
    return {"bundles": bundles, "resources": resources}

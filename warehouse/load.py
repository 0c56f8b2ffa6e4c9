"""Idempotent loading: per-note delete-then-insert in one transaction with the run record."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from schemas.model import Mention, NoteError, NoteResult
from warehouse.tables import (
    FhirResource,
    MentionCoding,
    MentionRow,
    NoteErrorRow,
    NoteNlp,
    NoteRow,
    PipelineRun,
)

#: Tables holding facts derived from a note (deleted and re-inserted together).
FACT_TABLES = (MentionCoding, MentionRow, FhirResource, NoteNlp)
_CHUNK = 500


@dataclass(frozen=True)
class LoadSettings:
    """Deployment choices that change what is stored."""

    store_text: bool = False
    rules_version: str = ""


@dataclass
class LoadCounts:
    """Rows written by one load call."""

    notes: int = 0
    mentions: int = 0
    resources: int = 0
    errors: int = 0
    retracted: int = 0


@dataclass(frozen=True)
class StoredNote:
    """What the warehouse already knows about a note (to skip unchanged ones)."""

    text_sha256: str
    rules_version: str
    status: str
    source_status: str
    version: int


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def stored_notes(conn: Connection, note_ids: Sequence[str]) -> dict[str, StoredNote]:
    """Hash, rules version and status of the given notes, if loaded before."""
    out: dict[str, StoredNote] = {}
    for chunk in _chunks(list(note_ids)):
        rows = conn.execute(
            select(
                NoteRow.note_id,
                NoteRow.text_sha256,
                NoteRow.rules_version,
                NoteRow.status,
                NoteRow.source_status,
                NoteRow.version,
            ).where(NoteRow.note_id.in_(chunk))
        )
        for r in rows:
            out[r.note_id] = StoredNote(r.text_sha256, r.rules_version, r.status, r.source_status, r.version)
    return out


def delete_facts(conn: Connection, note_ids: Sequence[str]) -> None:
    """Remove every derived row of the given notes."""
    for chunk in _chunks(list(note_ids)):
        for table in FACT_TABLES:
            conn.execute(delete(table).where(table.note_key.in_(chunk) if table is NoteNlp else table.note_id.in_(chunk)))


def _mention_row(m: Mention, run_id: str, store_text: bool) -> dict[str, Any]:
    a = m.assertion
    return {
        "mention_id": m.mention_id,
        "note_id": m.note_id,
        "start_char": m.start_char,
        "end_char": m.end_char,
        "label": m.label,
        "text": m.text if store_text else None,
        "section": m.section,
        "is_negated": a.is_negated,
        "is_uncertain": a.is_uncertain,
        "is_historical": a.is_historical,
        "is_hypothetical": a.is_hypothetical,
        "is_family": a.is_family,
        "is_conditional": a.is_conditional,
        "experiencer": a.experiencer,
        "attributes": dict(m.attributes) or None,
        "extractor": m.provenance.extractor,
        "extractor_version": m.provenance.extractor_version,
        "rule_id": m.provenance.rule_id,
        "pipeline_version": m.provenance.pipeline_version,
        "run_id": run_id,
    }


def load_results(
    conn: Connection,
    results: Sequence[NoteResult],
    *,
    run_id: str,
    now: datetime,
    settings: LoadSettings,
    failed: Sequence[NoteError] = (),
) -> LoadCounts:
    """Replace the facts of ``results``' notes and record ``failed`` ones, in the caller's
    transaction (so the batch and its checkpoint commit together).

    A note whose status is ``entered-in-error`` at the source is retracted: its facts are
    removed and its row is marked ``retracted``.
    """
    counts = LoadCounts()
    ids = [r.note.note_id for r in results]
    known = stored_notes(conn, ids)
    delete_facts(conn, ids)
    note_rows: list[dict[str, Any]] = []
    mentions: list[dict[str, Any]] = []
    codings: list[dict[str, Any]] = []
    resources: list[dict[str, Any]] = []
    nlp_rows: list[dict[str, Any]] = []
    for r in results:
        note = r.note
        retract = note.status == "entered-in-error"
        prior = known.get(note.note_id)
        version = 1 if prior is None else prior.version + (prior.text_sha256 != note.text_sha256)
        status = "retracted" if retract else ("empty" if not note.text.strip() else "processed")
        note_rows.append(
            {
                "note_id": note.note_id,
                "source": note.source,
                "patient_ref": note.patient_ref,
                "encounter_ref": note.encounter_ref,
                "note_type": note.note_type,
                "authored_at": note.authored_at,
                "text_sha256": note.text_sha256,
                "text_length": len(note.text),
                "version": version,
                "status": status,
                "source_status": note.status,
                "text_stored": settings.store_text and not retract,
                "text": note.text if settings.store_text and not retract else None,
                "pipeline_version": r.mentions[0].provenance.pipeline_version
                if r.mentions
                else "",
                "rules_version": settings.rules_version,
                "run_id": run_id,
                "processed_at": now,
                "mention_count": 0 if retract else len(r.mentions),
            }
        )
        if retract:
            counts.retracted += 1
            continue
        for m in r.mentions:
            mentions.append(_mention_row(m, run_id, settings.store_text))
            seen: set[tuple[str, str]] = set()
            for c in m.codings:
                if (c.system, c.code) in seen:
                    continue
                seen.add((c.system, c.code))
                codings.append(
                    {
                        "mention_id": m.mention_id,
                        "system": c.system,
                        "code": c.code,
                        "display": c.display,
                        "coder": c.coder,
                        "score": c.score,
                        "note_id": note.note_id,
                    }
                )
        for res in r.resources:
            resources.append(
                {
                    "resource_type": res["resourceType"],
                    "resource_id": res["id"],
                    "note_id": note.note_id,
                    "mention_id": _mention_of(res),
                    "resource": res,
                    "run_id": run_id,
                }
            )
        nlp_rows.extend(dict(row) for row in r.note_nlp)
    if ids:
        for chunk in _chunks(ids):
            conn.execute(delete(NoteRow).where(NoteRow.note_id.in_(chunk)))
        conn.execute(insert(NoteRow), note_rows)
    for table, rows in (
        (MentionRow, mentions),
        (MentionCoding, codings),
        (FhirResource, resources),
        (NoteNlp, nlp_rows),
    ):
        for chunk in _chunks(rows, 2000):
            conn.execute(insert(table), list(chunk))
    record_errors(conn, failed, run_id=run_id, now=now)
    counts.notes = len(results)
    counts.mentions = len(mentions)
    counts.resources = len(resources)
    counts.errors = len(failed)
    return counts


def _mention_of(resource: dict[str, Any]) -> str | None:
    for tag in resource.get("meta", {}).get("tag", ()):
        if tag.get("system") == "urn:notestruct:mention":
            return str(tag.get("code"))
    return None


def record_errors(
    conn: Connection, errors: Sequence[NoteError], *, run_id: str, now: datetime
) -> None:
    """Write dead letters (no note text) and mark their notes failed if known."""
    if not errors:
        return
    conn.execute(
        insert(NoteErrorRow),
        [
            {
                "run_id": run_id,
                "note_id": e.note_id,
                "source": e.source,
                "locator": e.locator,
                "stage": e.stage,
                "error_type": e.error_type,
                "message": e.message[:2000],
                "created_at": now,
            }
            for e in errors
        ],
    )


def start_run(conn: Connection, **values: Any) -> None:
    """Insert a ``pipeline_run`` row with status ``running``."""
    conn.execute(insert(PipelineRun).values(status="running", **values))


def finish_run(conn: Connection, run_id: str, **values: Any) -> None:
    """Update a ``pipeline_run`` row with its final status, counts and watermark."""
    if "metrics" in values and values["metrics"] is not None:
        values["metrics"] = json.loads(json.dumps(values["metrics"], default=str))
    conn.execute(update(PipelineRun).where(PipelineRun.run_id == run_id).values(**values))


def last_watermark(conn: Connection, source_key: str) -> str | None:
    """Watermark of the latest completed run over the same source."""
    row = conn.execute(
        select(PipelineRun.watermark)
        .where(PipelineRun.source_key == source_key, PipelineRun.status == "completed")
        .order_by(PipelineRun.started_at.desc())
        .limit(1)
    ).first()
    return row[0] if row else None

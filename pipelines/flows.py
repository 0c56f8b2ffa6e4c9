"""Prefect flows; each reads like a table of contents."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from prefect import flow, get_run_logger
from pydantic import SecretStr

from extractors.nlp import pipeline_version
from pipelines import privacy, tasks
from pipelines.batch import BatchContext, BatchOutcome, timed
from pipelines.config import load_config
from pipelines.progress import current_sink
from pipelines.resources import get_nlp, rules_version
from pipelines.sources import Record, SourceOptions, open_source
from schemas.model import Note, NoteError
from warehouse.engine import make_engine
from warehouse.load import finish_run, start_run
from warehouse.migrate import upgrade


class RunFailed(Exception):
    """The run finished but more records failed than ``max_error_rate`` allows."""


def _batches(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while chunk := list(islice(records, size)):
        yield chunk


@flow(name="nightly-ingest", persist_result=False, log_prints=False)
def nightly_ingest(
    source: str,
    config_path: str | None = None,
    warehouse_url: SecretStr | None = None,
    batch_size: int | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Read new and changed notes from ``source``, extract, map and load them into the warehouse.

    Args:
        source: a directory of .txt notes, a .jsonl or .csv file, or FHIR .ndjson.
        config_path: pipeline.toml to use (default ./pipeline.toml, else built-in defaults).
        warehouse_url: overrides the configured warehouse (kept secret in Prefect's UI).
        batch_size: notes per task.
        force: re-process notes even when their text and rules are unchanged.
    """
    logger = get_run_logger()
    started = time.perf_counter()
    cfg = load_config(
        config_path,
        warehouse_url=warehouse_url.get_secret_value() if warehouse_url else None,
        batch_size=batch_size,
    )
    src = open_source(source)
    engine = make_engine(cfg.warehouse_url.get_secret_value())
    upgrade(engine)
    settings = cfg.nlp_settings()
    get_nlp(settings)
    ctx = BatchContext(
        run_id=str(uuid.uuid4()),
        now=datetime.now(UTC),
        rules_version=rules_version(settings),
        pipeline_version=pipeline_version(),
        store_text=cfg.store_text,
        force=force,
    )
    with engine.begin() as conn:
        start_run(
            conn,
            run_id=ctx.run_id,
            flow="nightly-ingest",
            started_at=ctx.now,
            pipeline_version=ctx.pipeline_version,
            rules_version=ctx.rules_version,
            dictionary_version=None,
            source_kind=src.kind,
            source_key=src.key,
        )
    logger.info("run %s started (source kind %s)", ctx.run_id, src.kind)
    total = BatchOutcome()
    seen: set[str] = set()
    sink = current_sink.get()
    status = "crashed"
    try:
        records = src.records(SourceOptions(cfg.source_uri, cfg.max_note_chars))
        # privacy: pseudonymise ids as records are read, before anything is mapped or loaded
        records = privacy.protect_records(
            records, cfg.pseudonym_key, note_ids=cfg.pseudonymise_note_ids
        )
        for chunk in _batches(iter(records), cfg.batch_size):
            t0 = time.perf_counter()
            notes, errors = _split(chunk, seen)
            out = BatchOutcome(read=len(chunk))
            timed(out, "read", t0)
            t0 = time.perf_counter()
            changed, out.unchanged = tasks.select_changed(engine, notes, ctx)
            timed(out, "select", t0)
            t0 = time.perf_counter()
            results, nlp_errors = tasks.analyse_batch(settings, changed, ctx)
            results = privacy.protect_results(results, redact_text=cfg.redact_text)  # privacy
            timed(out, "analyse", t0)
            errors.extend(nlp_errors)
            t0 = time.perf_counter()
            tasks.load_batch(engine, results, errors, ctx)
            timed(out, "load", t0)
            out.processed = sum(1 for r in results if r.note.status != "entered-in-error")
            out.retracted = len(results) - out.processed
            out.failed = len(errors)
            out.mentions = sum(len(r.mentions) for r in results)
            out.resources = sum(len(r.resources) for r in results)
            total.add(out)
            sink.advance(notes=len(chunk), errors=len(errors), mentions=out.mentions)
            logger.info(
                "batch: %d read, %d processed, %d unchanged, %d failed",
                out.read, out.processed, out.unchanged, out.failed,
            )
        rate = total.failed / total.read if total.read else 0.0
        status = "failed" if rate > cfg.max_error_rate else "completed"
    finally:
        elapsed = time.perf_counter() - started
        with engine.begin() as conn:
            finish_run(
                conn,
                ctx.run_id,
                status=status,
                finished_at=datetime.now(UTC),
                notes_seen=total.read,
                notes_processed=total.processed,
                notes_unchanged=total.unchanged,
                notes_failed=total.failed,
                notes_retracted=total.retracted,
                mentions=total.mentions,
                resources=total.resources,
                duration_s=round(elapsed, 3),
                metrics={"seconds": total.seconds, "notes_per_s": total.read / elapsed if elapsed else None},
            )
        engine.dispose()
    summary = {
        "run_id": ctx.run_id,
        "status": status,
        "read": total.read,
        "processed": total.processed,
        "unchanged": total.unchanged,
        "failed": total.failed,
        "retracted": total.retracted,
        "mentions": total.mentions,
        "resources": total.resources,
        "seconds": round(elapsed, 2),
    }
    logger.info("run %s %s: %s", ctx.run_id, status, {k: v for k, v in summary.items() if k != "run_id"})
    if status == "failed":
        raise RunFailed(
            f"{total.failed} of {total.read} records failed, above the limit of "
            f"{cfg.max_error_rate:.0%} (see the note_error table for run {ctx.run_id})"
        )
    return summary


def _split(chunk: list[Record], seen: set[str]) -> tuple[list[Note], list[NoteError]]:
    """Notes and read errors of a chunk; a repeated note id in one run is a dead letter."""
    notes: list[Note] = []
    errors: list[NoteError] = []
    for rec in chunk:
        if isinstance(rec, NoteError):
            errors.append(rec)
        elif rec.note_id in seen:
            errors.append(
                NoteError(
                    note_id=rec.note_id,
                    source=rec.source,
                    stage="read",
                    error_type="DuplicateId",
                    message="note id repeated in the same run; the first occurrence was kept",
                )
            )
        else:
            seen.add(rec.note_id)
            notes.append(rec)
    return notes, errors

"""Explicit re-processing after a rule or dictionary change: report first, write on request.

The nightly run only processes notes that are new or changed at the source. Stored notes
whose rules version differs from the current one are re-run here: the current pipeline is
applied to their text (read again from the source, since the warehouse need not store
text), the new mentions are diffed against the stored ones, and only with ``apply`` are
their facts replaced, batch by batch, each batch in one transaction with its run record.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import TypeVar

from extractors.nlp import pipeline_version
from pipelines.batch import BatchContext, analyse
from pipelines.config import PipelineConfig
from pipelines.resources import get_nlp, rules_version
from pipelines.sources import SourceOptions, open_source
from schemas.model import Note
from warehouse.engine import make_engine
from warehouse.load import LoadSettings, finish_run, load_results, start_run, stored_notes
from warehouse.migrate import upgrade
from warehouse.reprocess import ChangePlan, diff_results

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class ReprocessOutcome:
    """What a reprocess run found (and, when applied, wrote)."""

    rules_version: str
    notes_read: int = 0
    notes_selected: int = 0
    notes_current_rules: int = 0
    notes_not_loaded: int = 0
    notes_text_changed: int = 0
    notes_failed: int = 0
    applied: bool = False
    run_id: str | None = None
    plan: ChangePlan = field(default_factory=ChangePlan)


def reprocess(
    source: str,
    cfg: PipelineConfig,
    *,
    apply: bool = False,
    all_notes: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ReprocessOutcome:
    """Diff (and with ``apply`` replace) the facts of stored notes under the current rules.

    Args:
        source: the source the notes were ingested from (their text is read from it).
        cfg: pipeline configuration (warehouse URL, extractors, batch size).
        apply: write the new facts; otherwise nothing is written.
        all_notes: re-run every stored note of the source, not only those whose rules
            version differs from the current one.
        progress: called with the number of source records handled.
    """
    src = open_source(source)
    engine = make_engine(cfg.warehouse_url.get_secret_value())
    settings = cfg.nlp_settings()
    nlp = get_nlp(settings)
    rv = rules_version(settings)
    ctx = BatchContext(
        run_id=str(uuid.uuid4()),
        now=datetime.now(UTC),
        rules_version=rv,
        pipeline_version=pipeline_version(),
        store_text=cfg.store_text,
        force=True,
    )
    outcome = ReprocessOutcome(rules_version=rv, applied=apply)
    started = time.perf_counter()
    try:
        if apply:
            upgrade(engine)
            outcome.run_id = ctx.run_id
            with engine.begin() as conn:
                start_run(
                    conn, run_id=ctx.run_id, flow="reprocess", started_at=ctx.now,
                    pipeline_version=ctx.pipeline_version, rules_version=rv,
                    dictionary_version=None, source_kind=src.kind, source_key=src.key,
                )  # fmt: skip
        status = "crashed"
        mentions = resources = 0
        try:
            records = src.records(SourceOptions(cfg.source_uri, cfg.max_note_chars))
            for chunk in _batches(records, cfg.batch_size):
                notes = [r for r in chunk if isinstance(r, Note)]
                outcome.notes_read += len(chunk)
                with engine.connect() as conn:
                    known = stored_notes(conn, [n.note_id for n in notes])
                selected = []
                for note in notes:
                    prior = known.get(note.note_id)
                    if prior is None or prior.status in {"retracted", "failed"}:
                        outcome.notes_not_loaded += 1
                    elif (
                        prior.text_sha256 != note.text_sha256 or prior.source_status != note.status
                    ):
                        outcome.notes_text_changed += 1  # the nightly run's job
                    elif prior.rules_version == rv and not all_notes:
                        outcome.notes_current_rules += 1
                    else:
                        selected.append(note)
                outcome.notes_selected += len(selected)
                if selected:
                    results, errors = analyse(nlp, selected, ctx)
                    outcome.notes_failed += len(errors)
                    with engine.connect() as conn:
                        outcome.plan.merge(diff_results(conn, results))
                    if apply:
                        with engine.begin() as conn:
                            counts = load_results(
                                conn, results, run_id=ctx.run_id, now=ctx.now,
                                settings=LoadSettings(cfg.store_text, rv), failed=errors,
                            )  # fmt: skip
                        mentions += counts.mentions
                        resources += counts.resources
                if progress:
                    progress(len(chunk))
            status = "completed"
        finally:
            if apply:
                with engine.begin() as conn:
                    finish_run(
                        conn, ctx.run_id, status=status, finished_at=datetime.now(UTC),
                        notes_seen=outcome.notes_read,
                        notes_processed=outcome.notes_selected - outcome.notes_failed,
                        notes_unchanged=outcome.notes_read - outcome.notes_selected,
                        notes_failed=outcome.notes_failed, mentions=mentions,
                        resources=resources,
                        duration_s=round(time.perf_counter() - started, 3),
                        metrics={"plan": _plan_dict(outcome.plan)},
                    )  # fmt: skip
    finally:
        engine.dispose()
    log.info(
        "reprocess: %d read, %d selected, %d with changes, applied=%s",
        outcome.notes_read, outcome.notes_selected, outcome.plan.notes_changed, apply,
    )  # fmt: skip
    return outcome


def _plan_dict(plan: ChangePlan) -> dict[str, dict[str, int]]:
    return {k: vars(v) for k, v in sorted(plan.by_label.items())}


def _batches(records: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(records)
    while chunk := list(islice(it, size)):
        yield chunk

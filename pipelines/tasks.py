"""Thin Prefect tasks around library functions; nothing here persists or caches inputs (PHI)."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Engine

from pipelines import batch
from pipelines.resources import get_nlp
from extractors.nlp import NlpSettings
from schemas.model import Note, NoteError, NoteResult

# Inputs and outputs hold note text: never persist results, never cache on inputs.
_PHI_SAFE = {"persist_result": False, "cache_policy": NO_CACHE, "log_prints": False}


@task(name="select-changed", retries=3, retry_delay_seconds=[1, 5, 15], **_PHI_SAFE)
def select_changed(
    engine: Engine, notes: Sequence[Note], ctx: batch.BatchContext
) -> tuple[list[Note], int]:
    """Drop notes already loaded with the same text and rules (I/O: retried)."""
    return batch.select_changed(engine, notes, ctx)


@task(name="analyse-batch", **_PHI_SAFE)
def analyse_batch(
    settings: NlpSettings, notes: Sequence[Note], ctx: batch.BatchContext
) -> tuple[list[NoteResult], list[NoteError]]:
    """NLP, coding and mapping of a batch (deterministic: never retried)."""
    return batch.analyse(get_nlp(settings), notes, ctx)


@task(name="load-batch", retries=3, retry_delay_seconds=[1, 5, 15], **_PHI_SAFE)
def load_batch(
    engine: Engine,
    results: Sequence[NoteResult],
    errors: Sequence[NoteError],
    ctx: batch.BatchContext,
) -> None:
    """Load a batch and its dead letters in one transaction (I/O: retried)."""
    batch.load(engine, results, errors, ctx)

"""A run's steps as plain functions, with the retry policy of the I/O ones; no Prefect here.

``pipelines.run`` calls these directly when no Prefect API is configured (the CLI on a
laptop, cron) and through the Prefect tasks of ``pipelines.tasks`` (thin wrappers made from
the same ``Step`` records) inside a Prefect flow run. Nothing here persists or caches its
inputs or outputs: they hold note text (PHI).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from extractors.settings import NlpSettings
from pipelines import batch
from pipelines.workers import NlpPool
from schemas.model import Note, NoteError, NoteResult
from warehouse.reprocess import ChangePlan
from warehouse.runs import Lease

#: Seconds between retries of an I/O step (a dropped connection, a lock timeout).
BACKOFF = (1.0, 5.0, 15.0)


@dataclass(frozen=True)
class Step:
    """One step of a run: its function, its name (the Prefect task's) and its retries.

    Only I/O is retried, with backoff, and only on errors a retry can cure (``transient``);
    a constraint violation or a bug fails at once. NLP is deterministic: never retried.
    """

    name: str
    fn: Callable[..., Any]
    retries: int = 0
    delays: tuple[float, ...] = ()


def transient(exc: BaseException) -> bool:
    """The errors a retry can cure: a dropped connection, a lock or I/O timeout."""
    return isinstance(exc, OperationalError | OSError | TimeoutError)


def run_step(step: Step, *args: Any, **kwargs: Any) -> Any:
    """Call a step's function, with its retries and backoff on transient errors."""
    for attempt in range(step.retries + 1):
        try:
            return step.fn(*args, **kwargs)
        except Exception as exc:
            if attempt >= step.retries or not transient(exc):
                raise
            delays = step.delays or (0.0,)
            time.sleep(delays[min(attempt, len(delays) - 1)])
    raise AssertionError("unreachable")


def in_flow_run() -> bool:
    """Whether this thread runs inside a Prefect flow run (its steps then go through Prefect).

    A process that has not imported Prefect cannot be in one, and does not import it here.
    """
    if "prefect" not in sys.modules:
        return False
    from prefect.context import FlowRunContext

    return FlowRunContext.get() is not None


class LocalRunner:
    """The analyse step's runner of a run without Prefect: a thread pool calling the step's
    function (``submit(step, parameters)``; futures with ``result()``, as Prefect's)."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._pool: Any = None

    def __enter__(self) -> LocalRunner:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="notestruct-task")
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, step: Step, parameters: dict[str, Any]) -> Any:
        return self._pool.submit(run_step, step, **parameters)


class DaskRunner:
    """``LocalRunner`` on an existing Dask cluster: the step's function runs on its workers
    (each builds the pipeline once, ``pipelines.resources``); no Prefect on either side."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._client: Any = None

    def __enter__(self) -> DaskRunner:
        from distributed import Client

        self._client = Client(self.address, set_as_default=False)
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def submit(self, step: Step, parameters: dict[str, Any]) -> Any:
        # a module-level function: Dask ships it by name
        return self._client.submit(step.fn, pure=False, **parameters)


def _plain(value: Any) -> Any:
    """Inside a Prefect flow run large inputs (notes, results) are quoted so Prefect does not
    walk them; a task runner that hands the ``quote`` wrapper through as it is (Dask) leaves
    it to the function to unwrap."""
    unquote = getattr(value, "unquote", None)
    return unquote() if callable(unquote) else value


def select_changed(
    engine: Engine, notes: Sequence[Note], ctx: batch.BatchContext
) -> tuple[list[Note], int]:
    """Drop notes already loaded with the same text and rules (I/O: retried)."""
    return batch.select_changed(engine, _plain(notes), ctx)


def select_stored(
    engine: Engine, notes: Sequence[Note], ctx: batch.BatchContext
) -> tuple[list[Note], batch.StoredSelection]:
    """Stored notes to re-run under the current rules (I/O: retried)."""
    return batch.select_stored(engine, _plain(notes), ctx)


def diff_batch(
    engine: Engine, results: batch.Analysed, ctx: batch.BatchContext, redact_text: bool = False
) -> tuple[ChangePlan, batch.Counts]:
    """What loading a batch would change, per label; writes nothing (I/O: retried)."""
    return batch.diff(engine, _plain(results), ctx, redact_text=redact_text)


def analyse(
    settings: NlpSettings,
    notes: Sequence[Note],
    ctx: batch.BatchContext,
    pool: NlpPool | None = None,
    map_now: bool = False,
) -> batch.Analysed:
    """NLP of a batch, in a worker process when a pool is given (deterministic: never
    retried). The FHIR and NOTE_NLP mapping follows as the batch is loaded, a chunk at a
    time, unless ``map_now`` (a Dask worker maps, so the flow process does not) or the
    pool's workers map."""
    notes = _plain(notes)
    if pool is not None:
        return pool.analyse(notes, ctx)
    from pipelines.resources import get_nlp, renew_if_grown  # the pipeline lives here

    renew_if_grown(settings)  # between batches: bounds the vocabulary's growth
    nlp = get_nlp(settings)
    if map_now:
        return batch.Mapped(*batch.analyse(nlp, notes, ctx))
    return batch.extract_for_load(nlp, notes, ctx)


def load_batch(
    engine: Engine,
    results: batch.Analysed | Sequence[NoteResult],
    errors: Sequence[NoteError],
    ctx: batch.BatchContext,
    lease: Lease | None = None,
    now: datetime | None = None,
    valid: Sequence[Note] = (),
    redact_text: bool = False,
) -> batch.Counts:
    """Load a batch and its dead letters in one transaction (I/O: retried)."""
    results, errors, valid = _plain(results), _plain(errors), _plain(valid)
    return batch.load(
        engine, results, errors, ctx, lease=lease, now=now, valid=valid, redact_text=redact_text
    )


SELECT_CHANGED = Step("select-changed", select_changed, retries=3, delays=BACKOFF)
SELECT_STORED = Step("select-stored", select_stored, retries=3, delays=BACKOFF)
DIFF_BATCH = Step("diff-batch", diff_batch, retries=3, delays=BACKOFF)
ANALYSE_BATCH = Step("analyse-batch", analyse)
LOAD_BATCH = Step("load-batch", load_batch, retries=3, delays=BACKOFF)

#: Every step of a run (``pipelines.tasks`` makes one Prefect task of each).
STEPS = (SELECT_CHANGED, SELECT_STORED, DIFF_BATCH, ANALYSE_BATCH, LOAD_BATCH)

"""Thin Prefect tasks around library functions; nothing here persists or caches inputs (PHI)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from extractors.settings import NlpSettings
from pipelines import batch
from pipelines.workers import NlpPool
from schemas.model import Note, NoteError, NoteResult
from warehouse.reprocess import ChangePlan
from warehouse.runs import Lease

# Inputs and outputs hold note text: never persist results, never cache on inputs
# (persist_result=False, cache_policy=NO_CACHE on every task below).
# Only I/O is retried, with backoff, and only on errors a retry can cure (a dropped
# connection, a lock timeout); a constraint violation or a bug fails at once.
_BACKOFF = [1.0, 5.0, 15.0]


def _plain(value: Any) -> Any:
    """The flow quotes large inputs (notes, results) so Prefect does not walk them; some task
    runners (Dask) hand the ``quote`` wrapper through as it is, so unwrap it here."""
    return value.unquote() if isinstance(value, quote) else value


def _retry_transient(_task: object, _run: object, state: object) -> bool:
    return _is_transient(state)


def _transient(exc: BaseException) -> bool:
    """The errors a retry can cure (the same as ``_is_transient`` for a Prefect state)."""
    return isinstance(exc, OperationalError | OSError | TimeoutError)


def in_flow_run() -> bool:
    """Whether this thread runs inside a Prefect flow run (tasks then go through Prefect)."""
    from prefect.context import FlowRunContext

    return FlowRunContext.get() is not None


def call(task_: Task[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a task: through Prefect inside a flow run, else its function directly, with the
    task's retries on transient errors (a run without a Prefect API, see ``flows``)."""
    if in_flow_run():
        return task_(*args, **kwargs)
    return run_plain(task_, *args, **kwargs)


def run_plain(task_: Task[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A task's function with the task's retries and backoff on transient errors, no Prefect."""
    retries = task_.retries or 0
    delays = task_.retry_delay_seconds
    for attempt in range(retries + 1):
        try:
            return task_.fn(*args, **kwargs)
        except Exception as exc:
            if attempt >= retries or not _transient(exc):
                raise
            delay = delays[min(attempt, len(delays) - 1)] if isinstance(delays, list) else delays
            time.sleep(float(delay or 0.0))
    raise AssertionError("unreachable")


class LocalRunner:
    """The task runner of a run without a Prefect API: a thread pool that calls the tasks'
    functions (``submit(task, parameters)`` and futures with ``result()``, as Prefect's)."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._pool: Any = None

    def __enter__(self) -> LocalRunner:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="notestruct-task")
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, task_: Task[..., Any], parameters: dict[str, Any]) -> Any:
        return self._pool.submit(run_plain, task_, **parameters)


class DaskRunner:
    """``LocalRunner`` on an existing Dask cluster: the tasks' functions run on its workers
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

    def submit(self, task_: Task[..., Any], parameters: dict[str, Any]) -> Any:
        return self._client.submit(_PLAIN[task_.name], pure=False, **parameters)


def _is_transient(state: object) -> bool:
    try:
        state.result()  # type: ignore[attr-defined]
    except (OperationalError, OSError, TimeoutError):
        return True
    except Exception:
        return False
    return False


@task(
    name="select-changed",
    retries=3,
    retry_delay_seconds=_BACKOFF,
    retry_condition_fn=_retry_transient,
    persist_result=False,
    cache_policy=NO_CACHE,
    log_prints=False,
)
def select_changed(
    engine: Engine, notes: Sequence[Note], ctx: batch.BatchContext
) -> tuple[list[Note], int]:
    """Drop notes already loaded with the same text and rules (I/O: retried)."""
    return batch.select_changed(engine, _plain(notes), ctx)


@task(
    name="select-stored",
    retries=3,
    retry_delay_seconds=_BACKOFF,
    retry_condition_fn=_retry_transient,
    persist_result=False,
    cache_policy=NO_CACHE,
    log_prints=False,
)
def select_stored(
    engine: Engine, notes: Sequence[Note], ctx: batch.BatchContext
) -> tuple[list[Note], batch.StoredSelection]:
    """Stored notes to re-run under the current rules (I/O: retried)."""
    return batch.select_stored(engine, _plain(notes), ctx)


@task(
    name="diff-batch",
    retries=3,
    retry_delay_seconds=_BACKOFF,
    retry_condition_fn=_retry_transient,
    persist_result=False,
    cache_policy=NO_CACHE,
    log_prints=False,
)
def diff_batch(
    engine: Engine, results: batch.Analysed, ctx: batch.BatchContext, redact_text: bool = False
) -> tuple[ChangePlan, batch.Counts]:
    """What loading a batch would change, per label; writes nothing (I/O: retried)."""
    return batch.diff(engine, _plain(results), ctx, redact_text=redact_text)


@task(name="analyse-batch", persist_result=False, cache_policy=NO_CACHE, log_prints=False)
def analyse_batch(
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
    return analyse(settings, notes, ctx, pool, map_now)


def analyse(
    settings: NlpSettings,
    notes: Sequence[Note],
    ctx: batch.BatchContext,
    pool: NlpPool | None = None,
    map_now: bool = False,
) -> batch.Analysed:
    """The body of ``analyse_batch`` (a module-level function: Dask ships it by name)."""
    notes = _plain(notes)
    if pool is not None:
        return pool.analyse(notes, ctx)
    from pipelines.resources import get_nlp, renew_if_grown  # the pipeline lives here

    renew_if_grown(settings)  # between batches: bounds the vocabulary's growth
    nlp = get_nlp(settings)
    if map_now:
        return batch.Mapped(*batch.analyse(nlp, notes, ctx))
    return batch.extract_for_load(nlp, notes, ctx)


@task(
    name="load-batch",
    retries=3,
    retry_delay_seconds=_BACKOFF,
    retry_condition_fn=_retry_transient,
    persist_result=False,
    cache_policy=NO_CACHE,
    log_prints=False,
)
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


#: The plain functions a Dask worker runs for a task (imported there by name).
_PLAIN = {analyse_batch.name: analyse}

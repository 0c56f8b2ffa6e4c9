"""The one run path (read, protect, screen, select, analyse, map, protect, load), without Prefect.

``nightly_ingest`` and ``reprocess_notes`` are the run functions; ``pipelines.flows`` wraps
them as Prefect flows (deployments, ``notestruct serve``, any run when a Prefect API is
configured). Called directly, as the CLI does when no Prefect API is configured, a run never
imports Prefect (0.7-0.9 s of a one-note ingest): its steps (``pipelines.steps``) are
called with their retries, the analyse step on a thread pool or Dask. Inside a Prefect flow
run the same code calls the steps as Prefect tasks (``pipelines.tasks``).
"""

# No ``from __future__ import annotations`` here: ``pipelines.flows`` checks that its flows'
# signatures are these functions' own, and Prefect builds a flow's parameter model from the
# real annotations.

import json
import logging
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from extractors.settings import NlpSettings, pipeline_version
from pipelines import llm, privacy, steps
from pipelines.batch import (
    Analysed,
    BatchContext,
    Counts,
    Joined,
    SeenNotes,
    StoredSelection,
    dead_batch,
    screen,
    timed,
)
from pipelines.config import load_config
from pipelines.progress import current_sink, report_begin, report_summary
from pipelines.sources import Record, Source, SourceOptions, open_source
from pipelines.workers import (
    NlpPool,
    check_workers,
    owner_is_dead,
    process_owner,
    shared_pool,
)
from schemas.model import Note, NoteError
from warehouse.engine import make_engine
from warehouse.load import finish_run, last_watermark, start_run
from warehouse.reprocess import ChangePlan
from warehouse.runs import Lease, acquire_lock, heartbeat, mark_crashed, release_lock


class PlainSteps:
    """How a run calls its steps with no Prefect: directly, with their retries; the analyse
    step on a thread pool (local workers) or as plain Dask tasks. ``pipelines.tasks`` has
    the same methods for a Prefect flow run."""

    def call(self, step: steps.Step, *args: Any, **kwargs: Any) -> Any:
        """Run ``step`` now, in this thread, with its retries."""
        return steps.run_step(step, *args, **kwargs)

    def runner(self, workers: int, dask_address: str | None) -> Any:
        """The runner of the analyse step (a context manager with ``submit``)."""
        if dask_address:
            return steps.DaskRunner(dask_address)
        # worker processes: a thread more than workers, so one batch waits in the pool's queue
        return steps.LocalRunner(workers + 1 if workers else 1)

    def submit(self, runner: Any, step: steps.Step, parameters: dict[str, Any]) -> Any:
        """Start ``step`` on ``runner``; a future with ``result()``."""
        return runner.submit(step, parameters)

    def logger(self) -> Any:
        return logging.getLogger(__name__)


PLAIN = PlainSteps()


def _orchestration() -> Any:
    """Prefect's tasks inside a Prefect flow run, else the plain steps (Prefect not imported)."""
    if steps.in_flow_run():
        from pipelines.tasks import PREFECT_STEPS

        return PREFECT_STEPS
    return PLAIN


def entry(name: str) -> Callable[..., dict[str, Any]]:
    """The function a command calls to run ``name`` (``nightly-ingest``, ``reprocess``).

    The Prefect flow when a Prefect API may be configured (``config.prefect_api_configured``)
    or the process uses Prefect already (the flow then decides, as Prefect's settings say);
    otherwise the run function itself, and the process never imports Prefect.
    """
    from pipelines.config import prefect_api_configured

    if "prefect" in sys.modules or prefect_api_configured():
        from pipelines import flows

        flows_: dict[str, Callable[..., dict[str, Any]]] = {
            "nightly-ingest": flows.nightly_ingest,
            "reprocess": flows.reprocess_notes,
        }
        return flows_[name]
    runs: dict[str, Callable[..., dict[str, Any]]] = {
        "nightly-ingest": nightly_ingest,
        "reprocess": reprocess_notes,
    }
    return runs[name]


class RunFailed(Exception):
    """The run finished but more records failed than ``max_error_rate`` allows."""

    def __init__(self, message: str, summary: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.summary = summary or {}


def nightly_ingest(
    source: str,
    config_path: str | None = None,
    warehouse_url: SecretStr | None = None,
    batch_size: int | None = None,
    force: bool = False,
    full_scan: bool = False,
    workers: int = 1,
    dask_address: str | None = None,
    max_error_rate: float | None = None,
    source_timezone: str | None = None,
    sql_table: str | None = None,
    sql_query: str | None = None,
    updated_at_column: str = "updated_at",
    id_column: str = "id",
    lock_stale_after_s: float = 600.0,
    source_format: str | None = None,
) -> dict[str, Any]:
    """Read new and changed notes from ``source``, extract, map and load them into the warehouse.

    Args:
        source: a directory of .txt notes, a .jsonl, .csv or FHIR .ndjson file, or
            ``sql+<SQLAlchemy URL>`` (``sql+env:VAR`` reads the URL from ``VAR``).
        config_path: pipeline.toml to use (default ./pipeline.toml, else built-in defaults).
        warehouse_url: overrides the configured warehouse (kept secret in Prefect's UI).
        batch_size: notes per task.
        force: re-process every note, even unchanged ones (implies ``full_scan``).
        full_scan: ignore the source watermark and read everything (unchanged notes are
            still skipped by content hash).
        workers: local worker processes for the NLP (each builds the pipeline once; the
            flow process reads and loads meanwhile); 0 runs the NLP in the flow process.
        dask_address: run the NLP on an existing Dask cluster (``tcp://host:8786``).
        max_error_rate: fail the run above this share of failed records (default: config).
        source_timezone: IANA zone for source dates without an offset (else dead letters).
        sql_table: table of a SQL source; sql_query: or a query.
        updated_at_column: the SQL source's last-modified column (the watermark).
        id_column: the SQL source's note id column.
        lock_stale_after_s: a lease without heartbeat for this long is taken over.
        source_format: read ``source`` in this format (``pipelines.sources.FORMATS``)
            whatever its extension (default: recognised by extension and content).
    """
    return execute(
        "nightly-ingest",
        source,
        config_path=config_path,
        warehouse_url=warehouse_url,
        batch_size=batch_size,
        force=force,
        full_scan=full_scan,
        workers=workers,
        dask_address=dask_address,
        max_error_rate=max_error_rate,
        source_timezone=source_timezone,
        source_query=(sql_table, sql_query, updated_at_column, id_column),
        lock_stale_after_s=lock_stale_after_s,
        source_format=source_format,
    )


def reprocess_notes(
    source: str,
    config_path: str | None = None,
    warehouse_url: SecretStr | None = None,
    apply: bool = False,
    all_notes: bool = False,
    batch_size: int | None = None,
    workers: int = 1,
    dask_address: str | None = None,
    max_error_rate: float | None = None,
    source_timezone: str | None = None,
    sql_table: str | None = None,
    sql_query: str | None = None,
    updated_at_column: str = "updated_at",
    id_column: str = "id",
    lock_stale_after_s: float = 600.0,
) -> dict[str, Any]:
    """Re-run stored notes under the current rules: report first, write with ``apply``.

    The same run as the nightly ingest (the same privacy passes, lease, batching, workers
    and load), selecting differently: the stored notes whose rules version differs from the
    current one (``all_notes``: every stored note), read again from ``source`` since the
    warehouse need not store text. Notes changed at the source are the nightly run's job.
    Without ``apply`` nothing is written: the summary carries, per label, the mentions that
    would be added, removed and changed.

    Args:
        source: the source the notes were ingested from (as for ``nightly_ingest``).
        config_path: pipeline.toml to use (the same privacy settings as the ingest).
        warehouse_url: overrides the configured warehouse.
        apply: replace the facts of the selected notes (default: report only).
        all_notes: every stored note, not only those under other rules.
        batch_size, workers, dask_address, max_error_rate, source_timezone, sql_table,
        sql_query, updated_at_column, id_column, lock_stale_after_s: as for the ingest.
    """
    return execute(
        "reprocess",
        source,
        config_path=config_path,
        warehouse_url=warehouse_url,
        batch_size=batch_size,
        workers=workers,
        dask_address=dask_address,
        max_error_rate=max_error_rate,
        source_timezone=source_timezone,
        source_query=(sql_table, sql_query, updated_at_column, id_column),
        lock_stale_after_s=lock_stale_after_s,
        selection="all" if all_notes else "rules",
        apply=apply,
    )


def execute(
    flow_name: str,
    source: str,
    *,
    config_path: str | None,
    warehouse_url: SecretStr | None,
    batch_size: int | None,
    workers: int,
    dask_address: str | None,
    max_error_rate: float | None,
    source_timezone: str | None,
    source_query: tuple[str | None, str | None, str, str],
    lock_stale_after_s: float,
    force: bool = False,
    full_scan: bool = False,
    selection: str = "changed",
    apply: bool = True,
    source_format: str | None = None,
) -> dict[str, Any]:
    """The one run path: read -> protect -> screen -> select -> analyse -> map -> protect ->
    load (or diff, without ``apply``), under the source's lease, with its run record."""
    sql_table, sql_query, updated_at_column, id_column = source_query
    orchestration = _orchestration()
    logger = orchestration.logger()
    started = time.perf_counter()
    cfg = load_config(
        config_path,
        warehouse_url=warehouse_url.get_secret_value() if warehouse_url else None,
        batch_size=batch_size,
        max_error_rate=max_error_rate,
    )
    src = open_source(
        source,
        fmt=source_format,
        table=sql_table,
        query=sql_query,
        updated_at=updated_at_column,
        id_column=id_column,
    )
    opts = SourceOptions(cfg.source_uri, cfg.max_note_chars, timezone=source_timezone)
    opts.zone()  # an unknown zone fails the run before anything is read
    settings = cfg.nlp_settings()
    check_workers(workers, dask_address)
    # local workers: the flow process never builds a pipeline. They are started before the
    # warehouse is opened and migrated, so their pipeline build (the longest step of a
    # run's start) overlaps with this process's own start (Alembic, the schema check)
    pool = shared_pool(workers, settings) if workers >= 1 and not dask_address else None
    engine = make_engine(cfg.warehouse_url.get_secret_value())
    try:
        _upgrade(engine)
        runner = orchestration.runner(workers, dask_address)
        # the versions come from a worker's pipeline (a pool kept from an earlier run in this
        # process is reused)
        if pool is not None:
            rules_v, dictionary_v = pool.versions()
        else:  # the pipeline is built here (NLP in this process, or Dask for the tasks)
            from pipelines.resources import dictionary_version, rules_version

            rules_v, dictionary_v = rules_version(settings), dictionary_version(settings)
        ctx = BatchContext(
            run_id=str(uuid.uuid4()),
            now=datetime.now(UTC),
            rules_version=rules_v,
            pipeline_version=pipeline_version(),
            store_text=cfg.store_text,
            force=force or selection != "changed",
            dictionary_version=dictionary_v,
            selection=selection,
        )
        # a dry run writes nothing: no lease, no run record
        lease = (
            _take_lease(engine, src, ctx, timedelta(seconds=lock_stale_after_s)) if apply else None
        )
        if lease is not None and lease.took_over:
            logger.warning("took over the stale lease of run %s", lease.took_over)
        try:
            # reprocess reads the whole source: its notes were loaded by earlier runs
            incremental = selection == "changed" and not (force or full_scan)
            since = _watermark(engine, src.key) if incremental else None
            if apply:
                _start(engine, src, ctx, workers, dask_address, flow_name)
            logger.info(
                "run %s started (source kind %s, incremental %s)",
                ctx.run_id,
                src.kind,
                since is not None,
            )
            pool_is_new = pool is not None and pool.runs == 0
            if pool is not None:
                pool.runs += 1
            run = Run(
                orchestration,
                engine,
                src,
                ctx,
                settings,
                lease,
                cfg.batch_size,
                privacy.RunPrivacy.from_config(cfg),
                pool,
                pool_is_new,
                apply=apply,
                steal=cfg.flow_nlp_when_idle,
            )
            report_begin()
            try:
                with Heartbeat(engine, lease, lock_stale_after_s):
                    status = run.execute(opts, since, runner, max(1, workers), bool(dask_address))
            except BaseException:
                _finish(engine, src, ctx, run, "crashed", started, workers)
                raise
            rate = run.total.failed / run.total.read if run.total.read else 0.0
            if status == "completed" and rate > cfg.max_error_rate:
                status = "failed"
            summary = _finish(engine, src, ctx, run, status, started, workers)
        finally:
            if lease is not None:
                with engine.begin() as conn:
                    release_lock(conn, lease)
    finally:
        engine.dispose()
    logger.info(
        "run %s %s: %s", ctx.run_id, status, {k: v for k, v in summary.items() if k != "run_id"}
    )
    report_summary(summary)
    if status == "failed":
        raise RunFailed(
            f"{run.total.failed} of {run.total.read} records failed, above the limit of "
            f"{cfg.max_error_rate:.0%} (see the note_error table for run {ctx.run_id})",
            summary,
        )
    return summary


def _upgrade(engine: Engine) -> None:
    """Bring the warehouse schema to head; two runs starting together may race: retry once."""
    from warehouse.migrate import upgrade  # Alembic: imported while the workers start

    try:
        upgrade(engine)
    except OperationalError:
        time.sleep(1.0)
        upgrade(engine)


def _take_lease(engine: Engine, src: Source, ctx: BatchContext, stale_after: timedelta) -> Lease:
    return acquire_lock(
        engine,
        src.key,
        run_id=ctx.run_id,
        owner=process_owner(),
        now=datetime.now(UTC),
        stale_after=stale_after,
        owner_is_dead=owner_is_dead,
    )


def _watermark(engine: Engine, source_key: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        raw = last_watermark(conn, source_key)
    return json.loads(raw) if raw else None


def _start(
    engine: Engine,
    src: Source,
    ctx: BatchContext,
    workers: int,
    dask: str | None,
    flow_name: str = "nightly-ingest",
) -> None:
    with engine.begin() as conn:
        # we hold the source's lease: any other 'running' run of it died without finishing
        mark_crashed(conn, src.key, except_run=ctx.run_id, now=ctx.now)
        start_run(
            conn,
            run_id=ctx.run_id,
            flow=flow_name,
            started_at=ctx.now,
            pipeline_version=ctx.pipeline_version,
            rules_version=ctx.rules_version,
            dictionary_version=ctx.dictionary_version,
            source_kind=src.kind,
            source_key=src.key,
            metrics={"workers": workers, "dask": bool(dask)},
        )


def _batches(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while chunk := list(islice(records, size)):
        yield chunk


#: Notes per analyse call when the flow process may analyse batches too (``Run._steal``): a
#: batch goes to the workers in parts of this size, so the flow process takes a part, not a
#: whole batch, when it would wait (a multiple of ``batch.LOAD_CHUNK``: the same chunks load).
PART = 50


@dataclass
class _Part:
    """Notes of a batch analysed by one call, and where that call runs (a future)."""

    notes: list[Note]
    future: Any


@dataclass
class _Pending:
    outcome: Counts
    errors: list[NoteError]
    valid: list[Note]
    changed: list[Note]
    #: the batch's analyse calls, in note order (one, unless the flow process may steal)
    parts: list[_Part] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)


class Run:
    """The batch loop: read, screen and select in the flow; analyse on the task runner
    (a window of batches in flight); load in source order."""

    def __init__(
        self,
        orchestration: Any,
        engine: Engine,
        src: Source,
        ctx: BatchContext,
        settings: NlpSettings,
        lease: Lease | None,
        batch_size: int,
        protection: privacy.RunPrivacy,
        pool: NlpPool | None = None,
        pool_is_new: bool = False,
        *,
        apply: bool = True,
        steal: bool = True,
    ) -> None:
        self.engine, self.src, self.ctx, self.settings = engine, src, ctx, settings
        #: how steps are called: ``PLAIN``, or Prefect's tasks in a Prefect flow run
        self.steps = orchestration
        #: pseudonyms as records are read, redaction before anything is written or compared
        self.privacy = protection
        #: load the results (else a dry run: compare them with what is stored, write nothing)
        self.apply = apply
        #: reprocess only: why stored notes were or were not re-run
        self.stored = StoredSelection()
        #: dry run only: what loading would change
        self.plan = ChangePlan()
        self.lease, self.batch_size = lease, batch_size
        self.total = Counts()
        self.sink = current_sink.get()
        self.logger = orchestration.logger()
        #: seconds until every worker process had built its pipeline (new worker pools only)
        self.worker_start_s: float | None = None
        #: pipelines built anew during the run as their vocabulary had grown (worker pools)
        self.pipeline_renewals: int | None = None
        #: the local worker processes (None: NLP in the flow process, or on Dask), and
        #: whether this run started them (a pool kept from an earlier run has no start-up)
        self.pool, self.pool_is_new = pool, pool_is_new
        #: why the run stopped before reading the whole source (the LLM budget), or None
        self.stopped: str | None = None
        #: the flow process analyses a batch itself when it would otherwise wait for the
        #: worker processes (``_steal``): local workers, no Prefect flow run
        self.steals = pool is not None and orchestration is PLAIN and steal
        #: parts of batches this process analysed itself, and the seconds that took
        self.stolen, self.stolen_s = 0, 0.0

    def execute(
        self,
        opts: SourceOptions,
        since: dict[str, Any] | None,
        runner: Any,
        workers: int,
        dask: bool,
    ) -> str:
        # ids read so far, for duplicates: outside the heap, so memory does not grow per note
        seen = SeenNotes()
        self.dask = dask
        # batches in flight: enough to keep every worker busy, bounded to stream in memory
        # (worker processes: one batch more, queued in the pool, so a worker starts its next
        # batch while the flow unpacks and loads the previous one)
        window = 16 if dask else workers + 2 if self.pool is not None else workers + 1
        if self.steals:  # one batch more, for this process to take while the workers work
            window += 1
        pending: deque[_Pending] = deque()
        pool = self.pool
        renewals = pool.renewals if pool is not None else 0
        try:
            self._loop(opts, since, runner, window, pool, seen, pending)
        finally:
            seen.close()
            if pool is not None:
                self.pipeline_renewals = pool.renewals - renewals
                if self.pool_is_new:
                    self.worker_start_s = pool.start_up_s()
        self.total.skipped = self.src.skipped
        return "stopped" if self.stopped else "completed"

    def _loop(
        self,
        opts: SourceOptions,
        since: dict[str, Any] | None,
        runner: Any,
        window: int,
        pool: NlpPool | None,
        seen: SeenNotes,
        pending: deque[_Pending],
    ) -> None:
        self._pending = pending
        with runner:
            records = self.src.records(opts, since)
            # privacy: pseudonymise ids as records are read, before anything is mapped or loaded
            records = self.privacy.records(records)
            for chunk in _batches(iter(records), self.batch_size):
                t0 = time.perf_counter()
                valid, errors = screen(chunk, seen)
                out = Counts(read=len(chunk))
                timed(out, "read", t0)
                t0 = time.perf_counter()
                if self.ctx.selection == "changed":
                    changed, out.unchanged = self.steps.call(
                        steps.SELECT_CHANGED, self.engine, valid, self.ctx
                    )
                else:  # reprocess: stored notes under other rules (or all of them)
                    changed, tally = self.steps.call(
                        steps.SELECT_STORED, self.engine, valid, self.ctx
                    )
                    out.unchanged = len(valid) - len(changed)
                    self.stored.add(tally)
                timed(out, "select", t0)
                job = _Pending(out, errors, valid, changed)
                size = PART if self.steals else max(1, len(changed))
                for i in range(0, len(changed), size):
                    notes = changed[i : i + size]
                    future = self.steps.submit(
                        runner,
                        steps.ANALYSE_BATCH,
                        {
                            "settings": self.settings,
                            "notes": notes,
                            "ctx": self.ctx,
                            "pool": pool,
                            # on Dask the workers map too; here the load maps
                            "map_now": self.dask,
                        },
                    )
                    job.parts.append(_Part(notes, future))
                pending.append(job)
                while len(pending) >= window:
                    self._finish_batch(pending.popleft())
                if llm.budget_spent(self.settings, self.ctx.run_id):  # stop reading: clean end
                    self.stopped = "llm budget reached"
                    break
            while pending:
                self._finish_batch(pending.popleft())

    def _finish_batch(self, job: _Pending) -> None:
        out = job.outcome
        analysed: Any = ()
        errors = list(job.errors)
        t0, here = time.perf_counter(), self.stolen_s
        parts: list[Analysed] = []
        for part in job.parts:
            while self.steals and not part.future.done() and self._steal():
                pass
            try:
                parts.append(part.future.result())
            except Exception as exc:  # the task as a whole failed (worker died, ...)
                errors.extend(dead_batch(part.notes, "nlp", exc))
        if parts:
            analysed = parts[0] if len(parts) == 1 else Joined(parts)
        # waiting for the workers, apart from the parts analysed here meanwhile
        stolen_s = self.stolen_s - here
        out.seconds["analyse_wait"] = time.perf_counter() - t0 - stolen_s
        if self.steals:
            out.seconds["analyse_here"] = stolen_s
        t0 = time.perf_counter()
        if not self.apply:
            self._compare_batch(job, analysed, errors, t0)
            return
        if self.ctx.selection != "changed" and isinstance(analysed, Analysed):
            # reprocess reports what it replaces: compared before the load writes
            plan, _ = self.steps.call(
                steps.DIFF_BATCH,
                self.engine,
                analysed,
                self.ctx,
                redact_text=self.privacy.redact_text,
            )
            self.plan.merge(plan)
        # the load maps the batch a chunk at a time (FHIR, NOTE_NLP), masks PHI when
        # configured (privacy) and writes it with its dead letters in one transaction
        loaded = self.steps.call(
            steps.LOAD_BATCH,
            self.engine,
            analysed,
            errors,
            self.ctx,
            lease=self.lease,
            now=datetime.now(UTC),
            valid=job.valid,
            redact_text=self.privacy.redact_text,
        )
        timed(out, "load", t0)
        out.add(loaded)
        self.total.add(out)
        self.sink.advance(notes=out.read, errors=out.failed, mentions=out.mentions)
        self.logger.info(
            "batch: %d read, %d processed, %d unchanged, %d failed in %.2f s",
            out.read,
            out.processed,
            out.unchanged,
            out.failed,
            time.perf_counter() - job.started,
        )

    def _steal(self) -> bool:
        """Analyse here, in the flow process, the newest part of a batch that no worker has
        started, rather than wait idle for the workers; whether there was one.

        With one worker process (the default) the NLP is the slower half of a run (about 7 ms
        a note against 5 for reading, mapping and loading), so the flow process waited for
        its worker a third of the time. It now analyses a part (``PART`` notes) whenever it
        would wait: its pipeline is built on the first such wait (while the worker is still
        starting); parts are small, so a wait is never overshot by much, and the newest is
        taken, so the worker keeps the older ones, which load first. The output is the same
        wherever a part is analysed (``analyse`` is deterministic).
        """
        for job in reversed(self._pending):
            for part in reversed(job.parts):
                if not part.future.cancel():  # running or done already (or never queued)
                    continue
                from concurrent.futures import Future

                part.future = Future()
                started = time.perf_counter()
                try:
                    part.future.set_result(
                        steps.run_step(steps.ANALYSE_BATCH, self.settings, part.notes, self.ctx)
                    )
                except Exception as exc:  # as the runner's future would hold it
                    part.future.set_exception(exc)
                self.stolen += 1
                self.stolen_s += time.perf_counter() - started
                return True
        return False

    def _compare_batch(
        self, job: _Pending, analysed: Any, errors: list[NoteError], t0: float
    ) -> None:
        """A dry run's 'load': the per-label changes loading would make; nothing written."""
        out = job.outcome
        if isinstance(analysed, Analysed):
            plan, compared = self.steps.call(
                steps.DIFF_BATCH,
                self.engine,
                analysed,
                self.ctx,
                redact_text=self.privacy.redact_text,
            )
            self.plan.merge(plan)
            out.add(compared)
            out.failed += len(errors)
        else:
            out.failed = len(errors)
        timed(out, "compare", t0)
        self.total.add(out)
        self.sink.advance(notes=out.read, errors=out.failed, mentions=out.mentions)


class Heartbeat:
    """Renews the lease from a background thread, so a long batch never looks dead."""

    def __init__(self, engine: Engine, lease: Lease | None, stale_after_s: float) -> None:
        self.engine, self.lease = engine, lease
        self.interval = max(0.5, min(30.0, stale_after_s / 4))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="notestruct-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self.stop.wait(self.interval):
            assert self.lease is not None
            try:
                with self.engine.begin() as conn:
                    if not heartbeat(conn, self.lease, datetime.now(UTC)):
                        return  # taken over: the next load notices and stops the run
            except Exception:  # noqa: S112  a missed beat is retried at the next interval
                continue

    def __enter__(self) -> "Heartbeat":
        if self.lease is not None:  # a dry run holds no lease
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)


def _finish(
    engine: Engine,
    src: Source,
    ctx: BatchContext,
    run: Run,
    status: str,
    started: float,
    workers: int,
) -> dict[str, Any]:
    total = run.total
    elapsed = time.perf_counter() - started
    # only the nightly selection moves the source's watermark (reprocess reads it all)
    position = src.position() if status == "completed" and ctx.selection == "changed" else None
    reprocess = ctx.selection != "changed"
    plan = {k: vars(v) for k, v in sorted(run.plan.by_label.items())}
    if not run.apply:
        status = "dry-run" if status == "completed" else status
    else:
        _record_finish(engine, ctx, run, status, elapsed, position, workers, plan, reprocess)
    summary: dict[str, Any] = {
        "run_id": ctx.run_id,
        "status": status,
        "read": total.read,
        "skipped": total.skipped,
        "processed": total.processed,
        "unchanged": total.unchanged,
        "failed": total.failed,
        "retracted": total.retracted,
        "mentions": total.mentions,
        "resources": total.resources,
        "seconds": round(elapsed, 2),
        "patient_ids": "pseudonymised (keyed HMAC)"
        if run.privacy.pseudonymised
        else "stored as given (no pseudonym key set)",
    }
    summary.update(llm.run_metrics(run.settings, ctx.run_id))
    if run.stopped:
        summary["stopped"] = run.stopped
    if reprocess:
        summary.update(vars(run.stored), rules_version=ctx.rules_version)
        summary["notes_changed"] = run.plan.notes_changed
        summary["plan"] = plan
    return summary


def _record_finish(
    engine: Engine,
    ctx: BatchContext,
    run: Run,
    status: str,
    elapsed: float,
    position: dict[str, Any] | None,
    workers: int,
    plan: dict[str, dict[str, int]],
    reprocess: bool,
) -> None:
    total = run.total
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
            watermark=json.dumps(position, sort_keys=True) if position is not None else None,
            metrics={
                "seconds": {k: round(v, 3) for k, v in total.seconds.items()},
                "notes_per_s": round(total.read / elapsed, 2) if elapsed else None,
                "skipped_by_watermark": total.skipped,
                "workers": workers,
                "worker_start_s": run.worker_start_s,
                "pipeline_renewals": run.pipeline_renewals,
                "parts_analysed_in_flow": run.stolen if run.steals else None,
                **({"selection": vars(run.stored)} if reprocess else {}),
                **llm.run_metrics(run.settings, ctx.run_id),
            },
        )

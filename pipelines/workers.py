"""Where the analyse step runs: threads, local worker processes or an existing Dask cluster."""

from __future__ import annotations

import atexit
import os
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from extractors.settings import NlpSettings
from schemas.model import Note, NoteError
from schemas.wire import Packed, WireMention, mentions_to_wire, pack

if TYPE_CHECKING:
    from pipelines.batch import Analysed, BatchContext


class WorkerError(Exception):
    """The requested worker setup is invalid (e.g. both --workers and --dask-address)."""


class _WorkerState:
    """What a worker process knows of itself. A ``ProcessPoolExecutor`` initializer can hand
    state to later calls in the same process only through the module, so there is one
    instance, ``_WORKER``, and it is only ever written inside a worker process."""

    def __init__(self) -> None:
        #: When this worker process had built its pipeline (epoch seconds).
        self.ready_at = 0.0
        #: Why this worker could not build its pipeline (raised in the flow by the next call).
        self.init_error: BaseException | None = None
        #: Times this worker built its pipeline anew because its vocabulary had grown.
        self.renewals = 0

    def check(self) -> None:
        if self.init_error is not None:
            raise self.init_error

    def status(self) -> tuple[int, float, int]:
        return os.getpid(), self.ready_at, self.renewals


_WORKER = _WorkerState()


def _init_worker(settings: NlpSettings) -> None:
    """Build the NLP pipeline once in a new worker process, before its first batch.

    A failure (a bad rules file, a missing terminology source) is kept and raised by the
    next call into this worker, so the flow reports it as a one-line error instead of the
    pool breaking with a traceback on the worker's stderr.
    """
    import warnings

    from pipelines.resources import get_nlp

    warnings.filterwarnings("ignore")
    try:
        get_nlp(settings)
    except Exception as exc:
        _WORKER.init_error = exc
        return
    _WORKER.ready_at = time.time()


def _versions_in_worker(settings: NlpSettings) -> tuple[str, str | None]:
    _WORKER.check()
    from pipelines.resources import dictionary_version, rules_version

    return rules_version(settings), dictionary_version(settings)


def _analyse_in_worker(
    settings: NlpSettings, notes: Sequence[Note], ctx: BatchContext
) -> tuple[list[Packed], list[NoteError], tuple[int, float, int]]:
    _WORKER.check()
    from pipelines.batch import analyse
    from pipelines.resources import get_nlp

    _renew(settings)
    results, errors = analyse(get_nlp(settings), notes, ctx)
    return [pack(r) for r in results], errors, _WORKER.status()


def _renew(settings: NlpSettings) -> None:
    """Between batches: a new pipeline when the old one's vocabulary has grown too large
    (``resources.renew_if_grown``)."""
    from pipelines.resources import renew_if_grown

    if renew_if_grown(settings):
        _WORKER.renewals += 1


def _extract_in_worker(
    settings: NlpSettings, notes: Sequence[Note], ctx: BatchContext
) -> tuple[list[tuple[str, tuple[WireMention, ...]]], list[NoteError], tuple[int, float, int]]:
    """The NLP only: (note id, mentions as tuples) pairs go back, not the notes the flow
    already has, nor pydantic records (their pickles are several times slower)."""
    _WORKER.check()
    from pipelines.batch import extract_batch
    from pipelines.resources import get_nlp

    _renew(settings)
    extracted, errors = extract_batch(get_nlp(settings), notes, ctx)
    return (
        [(n.note_id, mentions_to_wire(m)) for n, m in extracted],
        errors,
        _WORKER.status(),
    )


#: What ``notestruct extract`` gets back per note: its mentions in the output shape
#: (``Mention.to_contract``), or the message of the note's error.
ContractOutcome = list[dict[str, Any]] | str


def _extract_contracts_in_worker(
    settings: NlpSettings,
    work: Sequence[tuple[Note, Sequence[Mapping[str, Any]]]],
    batch_size: int,
) -> tuple[list[ContractOutcome], tuple[int, float, int]]:
    """``notestruct extract``'s NLP for a batch of (note, given spans): per note, in order,
    its mentions as output dicts or its error message."""
    _WORKER.check()
    from pipelines.resources import get_nlp

    _renew(settings)
    return contract_outcomes(get_nlp(settings), work, batch_size), _WORKER.status()


def contract_outcomes(
    nlp: Any, work: Sequence[tuple[Note, Sequence[Mapping[str, Any]]]], batch_size: int
) -> list[ContractOutcome]:
    """Run ``work`` through ``nlp`` (``extractors.nlp.extract``); per note, in order, its
    mentions as ``notestruct extract`` writes them, or its error message."""
    from extractors.nlp import extract
    from extractors.settings import ExtractionError

    return [
        str(outcome) if isinstance(outcome, ExtractionError) else [m.to_contract() for m in outcome]
        for _note, outcome in extract(nlp, work, batch_size=batch_size)
    ]


class NlpPool:
    """Worker processes for the analyse step, each building the NLP pipeline once.

    Plain ``concurrent.futures`` processes (spawned, so no thread or connection of the flow
    process is inherited); they run library code only and never talk to Prefect, so the
    ``analyse-batch`` task (a thread of the flow) stays the unit Prefect tracks. The flow
    process itself then never builds a pipeline: it reads, selects and loads while the
    workers analyse, so even one worker overlaps the NLP with the loading on another core.

    A worker that dies (killed, out of memory) breaks a ``ProcessPoolExecutor`` for good;
    the pool then starts new workers and tries the batch once more, so one bad batch costs
    that batch (dead letters) and never the rest of the run.
    """

    def __init__(
        self, workers: int, settings: NlpSettings, *, map_in_workers: bool | None = None
    ) -> None:
        self.workers = workers
        self.settings = settings
        #: Where FHIR and NOTE_NLP mapping runs. With one worker the flow process has a core
        #: to spare and maps (the worker only extracts, and sends back mentions instead of
        #: ten times as many bytes of resources); with more, the workers map, or the flow
        #: process would become the bottleneck.
        self.map_in_workers = workers > 1 if map_in_workers is None else map_in_workers
        self.created_at = time.time()
        #: runs that have used this pool (its workers' start-up belongs to the first)
        self.runs = 0
        #: pid -> when that worker had built its pipeline
        self.ready_at: dict[int, float] = {}
        self._renewals: dict[int, int] = {}
        #: times the workers were started again after one died
        self.restarts = 0
        self._executor = self._start()

    def _start(self) -> Any:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.settings,),
        )

    def _restart(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = self._start()
        self.restarts += 1

    def versions(self) -> tuple[str, str | None]:
        """Rules and dictionary versions of the workers' pipeline (waits until one worker
        has built it; raises what the build raised)."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            rules, dictionary = self._call(_versions_in_worker, self.settings)
        except BrokenProcessPool:
            raise WorkerError(
                "the NLP worker process could not start (a script that runs the flow must "
                "guard it with `if __name__ == '__main__':`, as Python's spawned processes "
                "import the main module); or run the NLP in the flow process (workers=0)"
            ) from None
        return rules, dictionary

    def analyse(self, notes: Sequence[Note], ctx: BatchContext) -> Analysed:
        """Analyse one batch in a worker process (blocks the calling thread); the results
        are made as the batch is loaded (``batch.Analysed``)."""
        from pipelines.batch import ToMap, Unpacked

        if self.map_in_workers:
            packed, errors, status = self._call(_analyse_in_worker, self.settings, notes, ctx)
            self._note(*status)
            return Unpacked(packed, errors)
        pairs, errors, status = self._call(_extract_in_worker, self.settings, notes, ctx)
        self._note(*status)
        return ToMap(notes, dict(pairs), errors, ctx, wire=True)

    def extract_contracts(
        self, work: Sequence[tuple[Note, Sequence[Mapping[str, Any]]]], batch_size: int
    ) -> list[ContractOutcome]:
        """``contract_outcomes`` of one batch in a worker process (blocks the calling
        thread: call it from several threads to keep several workers busy)."""
        outcomes, status = self._call(_extract_contracts_in_worker, self.settings, work, batch_size)
        self._note(*status)
        return outcomes  # type: ignore[no-any-return]

    def _note(self, pid: int, ready: float, renewals: int) -> None:
        self.ready_at[pid] = ready
        self._renewals[pid] = renewals

    @property
    def renewals(self) -> int:
        """Times the workers built their pipeline anew as its vocabulary had grown (see
        ``resources.renew_if_grown``), since the pool started."""
        return sum(self._renewals.values())

    def _call(self, fn: Any, *args: Any) -> Any:
        from concurrent.futures.process import BrokenProcessPool

        # a second try on new workers; a batch that kills its worker again fails as a whole
        for attempt in (1, 2):
            executor = self._executor
            try:
                return executor.submit(fn, *args).result()
            except BrokenProcessPool:
                if self._executor is executor:  # another thread may have restarted it already
                    self._restart()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def start_up_s(self) -> float | None:
        """Seconds from the pool's creation until its last worker had built its pipeline
        (None before every worker has returned a batch)."""
        if len(self.ready_at) < self.workers:
            return None
        return round(max(self.ready_at.values()) - self.created_at, 3)

    def close(self) -> None:
        """Stop the worker processes."""
        self._executor.shutdown(wait=True, cancel_futures=True)


class PoolKeeper:
    """Keeps one ``NlpPool`` for later runs in the same process (``notestruct serve``, a
    test session), so a worker builds its pipeline once, not once per run. A request with
    other settings or another worker count stops the old pool first (one pool at a time).

    Stopping the pool at interpreter exit is registered when a pool first starts, not when
    the module is imported: a process that never starts workers registers nothing.
    """

    def __init__(self) -> None:
        self._pool: NlpPool | None = None
        self._key: tuple[str, int] | None = None
        self._lock = threading.Lock()
        self._exit_hook = False

    def get(self, workers: int, settings: NlpSettings) -> NlpPool:
        """The pool of ``workers`` processes for ``settings``, started on first use."""
        from pipelines.resources import settings_key

        key = (settings_key(settings), workers)
        with self._lock:
            if self._pool is not None and self._key == key:
                return self._pool
            self._close_locked()
            if not self._exit_hook:
                atexit.register(self.close)
                self._exit_hook = True
            self._pool, self._key = NlpPool(workers, settings), key
            return self._pool

    @property
    def current(self) -> NlpPool | None:
        """The kept pool, if one is running."""
        return self._pool

    def close(self) -> None:
        """Stop the kept pool, if any."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._pool is not None:
            pool, self._pool, self._key = self._pool, None, None
            pool.close()


#: This process's pool keeper (the flow process's; workers never start pools).
POOLS = PoolKeeper()


def shared_pool(workers: int, settings: NlpSettings) -> NlpPool:
    """``POOLS.get``: this process's pool of ``workers`` NLP processes for ``settings``."""
    return POOLS.get(workers, settings)


def close_shared_pool() -> None:
    """``POOLS.close``: stop this process's kept pool, if any."""
    POOLS.close()


def check_workers(workers: int, dask_address: str | None) -> None:
    """Fail on an invalid worker setup, before anything starts.

    Raises:
        WorkerError: a negative count, or both local workers and a Dask cluster.
    """
    if workers < 0:
        raise WorkerError("--workers must be 0 (in the flow process) or more")
    if dask_address and workers != 1:
        raise WorkerError("use either --workers (local processes) or --dask-address, not both")


def make_task_runner(workers: int, dask_address: str | None) -> Any:
    """The Prefect task runner that runs ``analyse-batch`` tasks.

    * ``dask_address`` set: ``prefect_dask.DaskTaskRunner`` connected to that scheduler; each
      Dask worker process builds the pipeline once (``pipelines.resources`` cache).
    * otherwise a thread pool with one thread per local worker: each ``analyse-batch`` task
      hands its batch to an ``NlpPool`` process (``workers >= 1``) or, with ``workers=0``,
      runs the NLP in the flow process itself; reading and loading overlap with the NLP.

    Raises:
        WorkerError: an invalid combination.
    """
    check_workers(workers, dask_address)
    if dask_address:
        from prefect_dask.task_runners import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    from prefect.task_runners import ThreadPoolTaskRunner

    # worker processes: a thread more than workers, so one batch waits in the pool's queue
    return ThreadPoolTaskRunner(max_workers=workers + 1 if workers else 1)


def process_owner() -> str:
    """``host:pid`` of this process, recorded with the run lease."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_dead(owner: str) -> bool:
    """True when ``owner`` ran on this host and its process no longer exists.

    Leases of other hosts go stale by heartbeat age only (their pids mean nothing here).
    """
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False

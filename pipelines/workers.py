"""Where the analyse step runs: threads, local worker processes or an existing Dask cluster."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from extractors.nlp import NlpSettings
from schemas.model import Note, NoteError, NoteResult

if TYPE_CHECKING:
    from pipelines.batch import BatchContext


class WorkerError(Exception):
    """The requested worker setup is invalid (e.g. both --workers and --dask-address)."""


#: When this worker process had built its pipeline (epoch seconds; 0.0 in other processes).
_READY_AT = 0.0


def _init_worker(settings: NlpSettings) -> None:
    """Build the NLP pipeline once in a new worker process, before its first batch."""
    import warnings

    from pipelines.resources import get_nlp

    global _READY_AT
    warnings.filterwarnings("ignore")
    get_nlp(settings)
    _READY_AT = time.time()


#: A result on its way back from a worker: the result without its FHIR resources, and the
#: resources as one JSON document (None when they are in the result itself).
Packed = tuple[NoteResult, bytes | None]


def pack(result: NoteResult) -> Packed:
    """``result`` ready to cross a process boundary cheaply.

    FHIR resources are plain JSON; as one orjson document they pickle and unpickle several
    times faster than as thousands of small dicts (the flow process unpickles every result
    of every worker, and is then the bottleneck). A resource that is not plain JSON (it never
    is; a bug) stays in the result as it is.
    """
    if not result.resources:
        return result, None
    try:
        blob = orjson.dumps(result.resources, option=orjson.OPT_PASSTHROUGH_DATETIME)
    except TypeError:
        return result, None
    return result.model_copy(update={"resources": ()}), blob


def unpack(packed: Packed) -> NoteResult:
    """The result ``pack`` packed (no validation: it was validated in the worker)."""
    result, blob = packed
    if blob is None:
        return result
    return result.model_copy(update={"resources": tuple(orjson.loads(blob))})


def _analyse_in_worker(
    settings: NlpSettings, notes: Sequence[Note], ctx: BatchContext
) -> tuple[list[Packed], list[NoteError], tuple[int, float]]:
    from pipelines.batch import analyse
    from pipelines.resources import get_nlp

    results, errors = analyse(get_nlp(settings), notes, ctx)
    return [pack(r) for r in results], errors, (os.getpid(), _READY_AT)


class NlpPool:
    """Worker processes for the analyse step, each building the NLP pipeline once.

    Plain ``concurrent.futures`` processes (spawned, so no thread or connection of the flow
    process is inherited); they run library code only and never talk to Prefect, so the
    ``analyse-batch`` task (a thread of the flow) stays the unit Prefect tracks.
    """

    def __init__(self, workers: int, settings: NlpSettings) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        self.settings = settings
        self.created_at = time.time()
        #: pid -> when that worker had built its pipeline
        self.ready_at: dict[int, float] = {}
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(settings,),
        )

    def analyse(
        self, notes: Sequence[Note], ctx: BatchContext
    ) -> tuple[list[NoteResult], list[NoteError]]:
        """Analyse one batch in a worker process (blocks the calling thread)."""
        packed, errors, (pid, ready) = self._executor.submit(
            _analyse_in_worker, self.settings, notes, ctx
        ).result()
        self.ready_at[pid] = ready
        return [unpack(p) for p in packed], errors

    def start_up_s(self) -> float | None:
        """Seconds from the pool's creation until its last worker had built its pipeline
        (None before every worker has returned a batch)."""
        if len(self.ready_at) < self.workers:
            return None
        return round(max(self.ready_at.values()) - self.created_at, 3)

    def close(self) -> None:
        """Stop the worker processes."""
        self._executor.shutdown(wait=True, cancel_futures=True)


def make_task_runner(workers: int, dask_address: str | None) -> Any:
    """The Prefect task runner that runs ``analyse-batch`` tasks.

    * ``dask_address`` set: ``prefect_dask.DaskTaskRunner`` connected to that scheduler; each
      Dask worker process builds the pipeline once (``pipelines.resources`` cache).
    * otherwise a thread pool with one thread per local worker: each ``analyse-batch`` task
      hands its batch to an ``NlpPool`` process when ``workers > 1``, or runs the NLP
      itself, so reading and loading overlap with the NLP of a batch.

    Raises:
        WorkerError: an invalid combination.
    """
    if workers < 1:
        raise WorkerError("--workers must be at least 1")
    if dask_address:
        if workers != 1:
            raise WorkerError("use either --workers (local processes) or --dask-address, not both")
        from prefect_dask.task_runners import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=workers)


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

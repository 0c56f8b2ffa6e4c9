"""Where the analyse step runs: threads, local worker processes or an existing Dask cluster."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from extractors.nlp import NlpSettings
from schemas.model import Note, NoteError, NoteResult

if TYPE_CHECKING:
    from pipelines.batch import BatchContext


class WorkerError(Exception):
    """The requested worker setup is invalid (e.g. both --workers and --dask-address)."""


def _init_worker(settings: NlpSettings) -> None:
    """Build the NLP pipeline once in a new worker process, before its first batch."""
    import warnings

    from pipelines.resources import get_nlp

    warnings.filterwarnings("ignore")
    get_nlp(settings)


def _analyse_in_worker(
    settings: NlpSettings, notes: Sequence[Note], ctx: BatchContext
) -> tuple[list[NoteResult], list[NoteError]]:
    from pipelines.batch import analyse
    from pipelines.resources import get_nlp

    return analyse(get_nlp(settings), notes, ctx)


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
        return self._executor.submit(_analyse_in_worker, self.settings, notes, ctx).result()

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

"""Where the analyse step runs: threads, local worker processes or an existing Dask cluster."""

from __future__ import annotations

import os
import socket
from typing import Any

from extractors.nlp import NlpSettings


class WorkerError(Exception):
    """The requested worker setup is invalid (e.g. both --workers and --dask-address)."""


def warm_worker(settings: NlpSettings) -> None:
    """Build the NLP pipeline once in a new worker process (before its first batch)."""
    from pipelines.resources import get_nlp

    get_nlp(settings)


def make_task_runner(workers: int, dask_address: str | None, settings: NlpSettings) -> Any:
    """The Prefect task runner that runs ``analyse-batch`` tasks.

    * ``dask_address`` set: ``prefect_dask.DaskTaskRunner`` connected to that scheduler; each
      Dask worker process builds the pipeline once (``pipelines.resources`` cache).
    * ``workers > 1``: ``ProcessPoolTaskRunner`` with that many spawned processes, each
      building the pipeline once in its initializer.
    * otherwise a one-thread pool, so reading and loading overlap with the NLP of a batch.

    Raises:
        WorkerError: an invalid combination.
    """
    if workers < 1:
        raise WorkerError("--workers must be at least 1")
    if dask_address:
        if workers != 1:
            raise WorkerError("use either --workers (local processes) or --dask-address, not both")
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    if workers > 1:
        from prefect.task_runners import ProcessPoolTaskRunner

        return ProcessPoolTaskRunner(
            max_workers=workers, initializer=warm_worker, initargs=(settings,)
        )
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=1)


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

"""Prefect flows; each reads like a table of contents (the run itself is ``pipelines.run``)."""

# No ``from __future__ import annotations`` here: Prefect builds the parameter model of a
# flow loaded from its entrypoint file (deployments, serve) from the real annotations.

import inspect
from collections.abc import Callable
from typing import Any

from prefect import Flow
from pydantic import SecretStr

from pipelines import run
from pipelines.run import RunFailed
from pipelines.steps import in_flow_run

__all__ = ["RunFailed", "nightly_ingest", "reprocess_notes"]


class _RunFlow(Flow):  # type: ignore[type-arg]
    """A Prefect flow that, called with no Prefect API configured, runs without one.

    Calling a Prefect 3 flow with no ``PREFECT_API_URL`` starts a temporary local Prefect
    server in a subprocess first (10-20 s on a 2-core machine, about four times what the
    whole NLP pipeline takes to start) only to record task states nobody can look at after
    the process ends; the run's record is ``pipeline_run`` in the warehouse anyway. So with no
    API, the flow's function runs directly: the same run path (``pipelines.run``), its steps
    called with their retries, on a thread pool or Dask. With an API set (a Prefect server or
    Cloud, ``notestruct serve``, deployments, the test harness) or inside another flow run,
    it is an ordinary Prefect flow run whose steps are Prefect tasks (``pipelines.tasks``).
    The CLI, with no API configured, calls the ``pipelines.run`` functions without importing
    this module (``run.entry``).
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("return_state") or kwargs.get("wait_for") or _orchestrated():
            return super().__call__(*args, **kwargs)
        from prefect.utilities.callables import get_call_parameters

        # the parameters checked and coerced as Prefect does for a flow run
        return self.fn(**self.validate_parameters(get_call_parameters(self.fn, args, kwargs)))


def _orchestrated() -> bool:
    """Whether flows report to a Prefect API: one is configured, or this is a flow run."""
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value()) or in_flow_run()


def _flow(name: str, runs: Callable[..., Any]) -> Callable[[Callable[..., Any]], "_RunFlow"]:
    """A ``_RunFlow`` named ``name`` of a function that calls ``runs`` with its arguments.

    The flow keeps its own definition here (Prefect records this file as the entrypoint of a
    served flow) with ``runs``' signature, checked at import so the two never drift, and
    ``runs``' docstring (Prefect shows its parameter descriptions).
    """

    def wrap(fn: Callable[..., Any]) -> _RunFlow:
        if inspect.signature(fn) != inspect.signature(runs):
            raise TypeError(f"flow {name}: its signature differs from {runs.__qualname__}'s")
        fn.__doc__ = runs.__doc__
        return _RunFlow(fn, name=name, persist_result=False, log_prints=False)

    return wrap


@_flow("nightly-ingest", run.nightly_ingest)
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
    """``run.nightly_ingest`` as a Prefect flow (with its docstring, which Prefect shows)."""
    return run.nightly_ingest(
        source=source,
        config_path=config_path,
        warehouse_url=warehouse_url,
        batch_size=batch_size,
        force=force,
        full_scan=full_scan,
        workers=workers,
        dask_address=dask_address,
        max_error_rate=max_error_rate,
        source_timezone=source_timezone,
        sql_table=sql_table,
        sql_query=sql_query,
        updated_at_column=updated_at_column,
        id_column=id_column,
        lock_stale_after_s=lock_stale_after_s,
        source_format=source_format,
    )


@_flow("reprocess", run.reprocess_notes)
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
    """``run.reprocess_notes`` as a Prefect flow (with its docstring)."""
    return run.reprocess_notes(
        source=source,
        config_path=config_path,
        warehouse_url=warehouse_url,
        apply=apply,
        all_notes=all_notes,
        batch_size=batch_size,
        workers=workers,
        dask_address=dask_address,
        max_error_rate=max_error_rate,
        source_timezone=source_timezone,
        sql_table=sql_table,
        sql_query=sql_query,
        updated_at_column=updated_at_column,
        id_column=id_column,
        lock_stale_after_s=lock_stale_after_s,
    )

"""Thin Prefect tasks around the run's steps; nothing here persists or caches inputs (PHI).

Each task is made from a ``pipelines.steps.Step`` (its function, name and retries), so the
run path (``pipelines.run``) is the same with or without Prefect; ``PREFECT_STEPS`` is how a
run calls its steps inside a Prefect flow run. Only imported there: a run without a Prefect
API never imports Prefect.
"""

from __future__ import annotations

import sys
from typing import Any

from prefect import Task, get_run_logger
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from pipelines import steps
from pipelines.steps import (  # noqa: F401  kept importable from here
    DaskRunner,
    LocalRunner,
    analyse,
    in_flow_run,
    run_step,
)
from pipelines.workers import make_task_runner


def _is_transient(state: object) -> bool:
    try:
        state.result()  # type: ignore[attr-defined]
    except Exception as exc:
        return steps.transient(exc)
    return False


def _retry_transient(_task: object, _run: object, state: object) -> bool:
    return _is_transient(state)


def _task(step: steps.Step) -> Task[..., Any]:
    """The Prefect task of ``step``. Inputs and outputs hold note text: never persist
    results, never cache on inputs (persist_result=False, cache_policy=NO_CACHE)."""
    options: dict[str, Any] = {}
    if step.retries:
        options = {
            "retries": step.retries,
            "retry_delay_seconds": list(step.delays),
            "retry_condition_fn": _retry_transient,
        }
    return Task(
        fn=step.fn,
        name=step.name,
        persist_result=False,
        cache_policy=NO_CACHE,
        log_prints=False,
        **options,
    )


select_changed = _task(steps.SELECT_CHANGED)
select_stored = _task(steps.SELECT_STORED)
diff_batch = _task(steps.DIFF_BATCH)
analyse_batch = _task(steps.ANALYSE_BATCH)
load_batch = _task(steps.LOAD_BATCH)

#: step name -> its Prefect task
TASKS: dict[str, Task[..., Any]] = {
    t.name: t for t in (select_changed, select_stored, diff_batch, analyse_batch, load_batch)
}


def run_plain(task_: Task[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A task's function with the task's retries and backoff on transient errors, no Prefect."""
    delays = task_.retry_delay_seconds
    step = steps.Step(
        task_.name,
        task_.fn,
        retries=task_.retries or 0,
        delays=tuple(float(d) for d in delays)
        if isinstance(delays, list)
        else (float(delays or 0.0),),
    )
    return steps.run_step(step, *args, **kwargs)


def call(task_: Task[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a task: through Prefect inside a flow run, else its function directly."""
    if in_flow_run():
        return task_(*args, **kwargs)
    return run_plain(task_, *args, **kwargs)


class PrefectSteps:
    """How a run calls its steps inside a Prefect flow run: as Prefect tasks (task runs the
    API records), the analyse step on a Prefect task runner (threads or ``DaskTaskRunner``).
    The same methods as ``pipelines.run.PlainSteps``."""

    def call(self, step: steps.Step, *args: Any, **kwargs: Any) -> Any:
        # quote(): no futures inside; spares Prefect walking every note and result
        return TASKS[step.name](
            *[quote(a) for a in args], **{k: quote(v) for k, v in kwargs.items()}
        )

    def runner(self, workers: int, dask_address: str | None) -> Any:
        return make_task_runner(workers, dask_address)

    def submit(self, runner: Any, step: steps.Step, parameters: dict[str, Any]) -> Any:
        # quote() spares Prefect walking every note for futures; the Dask runner ships the
        # parameters to its workers itself, so there they go as they are
        dask_runners = sys.modules.get("prefect_dask.task_runners")  # imported if used
        dask = dask_runners is not None and isinstance(runner, dask_runners.DaskTaskRunner)
        params = parameters if dask else {k: quote(v) for k, v in parameters.items()}
        return runner.submit(TASKS[step.name], params)

    def logger(self) -> Any:
        return get_run_logger()


PREFECT_STEPS = PrefectSteps()

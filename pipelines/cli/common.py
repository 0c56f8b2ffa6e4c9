"""Helpers the commands share: progress bar, run summary, flow call, warehouse engine."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.table import Table

from pipelines.cli.app import err, out


@contextmanager
def _progress(total: int | None, what: str) -> Iterator[Callable[..., None]]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from pipelines.config import progress_forced

    counters = {"errors": 0, "mentions": 0, "done": 0}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>7} notes/s"),
        TextColumn("errors {task.fields[errors]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal and not progress_forced(),
    ) as progress:
        task_id = progress.add_task(what, total=total, rate="-", errors=0)
        started = time.perf_counter()

        def begin() -> None:
            nonlocal started
            started = time.perf_counter()
            progress.reset(task_id, total=total, rate="-", errors=0)

        def advance(*, notes: int, errors: int = 0, mentions: int = 0) -> None:
            counters["errors"] += errors
            counters["mentions"] += mentions
            counters["done"] += notes
            elapsed = max(time.perf_counter() - started, 1e-6)
            progress.update(
                task_id,
                advance=notes,
                errors=counters["errors"],
                rate=f"{counters['done'] / elapsed:.1f}",
            )

        advance.begin = begin  # type: ignore[attr-defined]
        yield advance


def _count_records(source: str) -> int | None:
    """A cheap total for the progress bar (lines or files); None when unknown.

    An upper bound on an incremental run (unchanged records are not read): the bar then
    stops short and the summary says how many were skipped.
    """
    path = Path(source)
    try:
        if path.is_dir():
            return sum(1 for _ in path.rglob("*.txt"))
        if path.suffix.lower() in {".jsonl", ".ndjson", ".json"}:
            with path.open("rb") as fh:
                return sum(1 for line in fh if line.strip())
    except OSError:
        return None
    return None


_SUMMARY_LABELS = {
    "read": "records read",
    "skipped": "records not re-read (watermark)",
    "processed": "notes processed",
    "unchanged": "notes unchanged (skipped by hash)",
    "retracted": "notes retracted",
    "failed": "records failed (see note_error)",
    "mentions": "mentions loaded",
    "resources": "FHIR resources loaded",
    "seconds": "seconds",
    "patient_ids": "patient and encounter ids",
}


def _summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title=f"notestruct run — {summary['status']}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    for key, label in _SUMMARY_LABELS.items():
        if key in summary:
            table.add_row(label, str(summary[key]))
    table.add_row("run id", summary["run_id"])
    return table


class _BarSink:
    """Hands a run's progress to the CLI's progress bar and keeps its summary."""

    def __init__(self, advance: Callable[..., None]) -> None:
        self._advance = advance
        self.summary: dict[str, Any] = {}

    def advance(self, *, notes: int, errors: int, mentions: int) -> None:
        self._advance(notes=notes, errors=errors, mentions=mentions)

    def finish(self, summary: dict[str, Any]) -> None:
        self.summary.update(summary)

    def begin(self) -> None:
        self._advance.begin()  # type: ignore[attr-defined]


#: Sources of at most this many records run their NLP in the flow process when one worker
#: (the default) was asked for. A worker overlaps its pipeline build with the flow's start,
#: but a run of one batch gains nothing else from it (the flow waits for the batch), and it
#: costs a second interpreter importing spaCy and the records' models again: one note took
#: 3.3 s in the flow process against 3.7 s with a worker (docs/scaling.md, issue 16).
SMALL_RUN = 50


def _workers_for(source: str, total: int | None, workers: int) -> int:
    """The worker count a run uses: none for a small JSONL or NDJSON file (one record a line:
    ``total`` bounds the notes), else ``workers``. Other sources are not counted exactly (a
    directory holds HL7 or CDA files of several notes each, a bundle holds many)."""
    one_per_line = Path(source).suffix.lower() in {".jsonl", ".ndjson"}
    if workers == 1 and one_per_line and total is not None and total <= SMALL_RUN:
        return 0
    return workers


def _start_workers(config: Path | None, workers: int, dask_address: str | None) -> None:
    """Start the run's NLP worker processes now, before this process imports the run
    (SQLAlchemy, the FHIR models, Prefect when configured): the workers' pipeline build, the
    longest step of a run's start, then overlaps with those imports. The flow finds the same pool
    (``workers.shared_pool``, keyed by the NLP settings and the worker count)."""
    if workers < 1 or dask_address:
        return
    from pipelines.config import load_config
    from pipelines.workers import shared_pool

    shared_pool(workers, load_config(config).nlp_settings())


def _run_flow(
    flow_fn: Callable[..., dict[str, Any]], total: int | None, what: str, **params: Any
) -> dict[str, Any]:
    """Call a run flow with a progress bar; a failed run prints its table, then its error."""
    from pipelines.progress import current_sink
    from pipelines.run import RunFailed

    sink: _BarSink | None = None
    try:
        with _progress(total, what) as advance:
            sink = _BarSink(advance)
            token = current_sink.set(sink)
            try:
                return flow_fn(**params)
            finally:
                current_sink.reset(token)
    except RunFailed as exc:
        # the table first, then main() prints the one-line error
        out.print(_summary_table(exc.summary or (sink.summary if sink else {})))
        raise


def _warehouse_engine(warehouse: str | None, config: Path | None) -> Any:
    """An engine for the configured (or given) warehouse, which must exist at the latest
    schema (read-only commands never create or upgrade one)."""
    from pipelines.config import load_config
    from warehouse.engine import make_engine
    from warehouse.migrate import require_head

    cfg = load_config(config, warehouse_url=warehouse)
    engine = make_engine(cfg.warehouse_url.get_secret_value())
    try:
        require_head(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine

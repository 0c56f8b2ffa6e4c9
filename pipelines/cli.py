"""The ``notestruct`` command line (typer + rich): one clear line per error, no tracebacks."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="notestruct",
    help=(
        "Structure clinical notes: find problems, medications, procedures, labs, vitals and "
        "allergies, decide negation/uncertainty/history/family, code them, emit FHIR R4 and "
        "load a SQL warehouse.\n\n"
        "Start with:  notestruct ingest samples/notes.jsonl  (SQLite warehouse ./notestruct.db)"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Warehouse schema management.", no_args_is_help=True)
export_app = typer.Typer(help="Export the warehouse (FHIR NDJSON, Parquet).", no_args_is_help=True)
extractors_app = typer.Typer(help="Installed extractors.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(export_app, name="export")
app.add_typer(extractors_app, name="extractors")

out = Console()
err = Console(stderr=True, soft_wrap=True)
_STATE: dict[str, bool] = {"debug": False}

WarehouseOpt = Annotated[
    str | None,
    typer.Option(
        "--warehouse",
        "-w",
        help="SQLAlchemy URL, e.g. sqlite:///notestruct.db or "
        "postgresql+psycopg://postgres@127.0.0.1:5432/test "
        "[env NOTESTRUCT_WAREHOUSE_URL; default sqlite:///notestruct.db]",
        show_default=False,
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="pipeline.toml to use (default ./pipeline.toml if present)."
    ),
]


WorkersOpt = Annotated[
    int,
    typer.Option(
        "--workers",
        "-j",
        help="Local NLP worker processes; the flow process reads and loads meanwhile "
        "(0: run the NLP in the flow process).",
        min=0,
    ),
]


class CliError(Exception):
    """A user-facing error with an exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _error_table() -> list[tuple[type[BaseException], int, str]]:
    """Exception classes -> exit code and prefix; imported lazily to keep --help instant."""
    from extractors.registry import RegistryError
    from pipelines.config import ConfigError
    from pipelines.sources import SourceError
    from warehouse.engine import WarehouseError
    from warehouse.runs import LockHeld

    table: list[tuple[type[BaseException], int, str]] = [
        (CliError, 1, "error"),
        (ConfigError, 2, "configuration error"),
        (SourceError, 3, "source error"),
        (WarehouseError, 4, "warehouse error"),
        (RegistryError, 5, "extractor error"),
        (LockHeld, 7, "source busy"),
    ]
    try:
        from pipelines.batch import LeaseLost
        from pipelines.flows import RunFailed
        from pipelines.workers import WorkerError

        table.append((RunFailed, 6, "run failed"))
        table.append((LeaseLost, 7, "source taken over"))
        table.append((WorkerError, 2, "configuration error"))
    except Exception:  # noqa: S110  the flow module needs Prefect; errors above still map
        pass
    import sqlite3

    table.append((sqlite3.Error, 4, "database error"))
    try:
        import psycopg

        table.append((psycopg.Error, 4, "database error"))
    except ImportError:  # pragma: no cover
        pass
    try:
        from sqlalchemy.exc import OperationalError, SQLAlchemyError

        table.append((OperationalError, 4, "database unreachable or refused"))
        table.append((SQLAlchemyError, 4, "database error"))
    except ImportError:  # pragma: no cover
        pass
    return table


def _message(exc: BaseException) -> str:
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, SQLAlchemyError):
        # driver messages can quote SQL parameters (note text): keep the first line of the cause
        orig = getattr(exc, "orig", None)
        first = str(orig or exc).strip().splitlines()[0] if str(orig or exc).strip() else ""
        return f"{type(orig or exc).__name__}: {first[:200]}"
    if type(exc).__module__.split(".")[0] in {"sqlite3", "psycopg"}:
        lines = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {lines[0][:200] if lines else ''}"
    return str(exc)


def main() -> None:
    """Console entry point."""
    args = sys.argv[1:]
    if "--debug" in args:
        _STATE["debug"] = True
        sys.argv.remove("--debug")
    else:
        # library warnings (spaCy, scispaCy, Prefect) are noise to a user of the command
        warnings.filterwarnings("ignore")
    try:
        app(standalone_mode=False, prog_name="notestruct")
    except SystemExit:
        raise
    except (typer.Abort, KeyboardInterrupt):
        err.print("[red]interrupted[/red]")
        sys.exit(130)
    except Exception as exc:  # the one place that turns errors into one line
        if isinstance(exc, _usage_errors()):
            # click's own words: the usage line, a hint to --help and what was wrong
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        if _STATE["debug"]:
            raise
        for cls, code, prefix in _error_table():
            if isinstance(exc, cls):
                err.print(f"[red]notestruct: {prefix}:[/red] {_message(exc)}", highlight=False)
                sys.exit(code)
        err.print(
            f"[red]notestruct: unexpected {type(exc).__name__}[/red] "
            "(run again with --debug for the traceback)",
            highlight=False,
        )
        sys.exit(70)


def _usage_errors() -> tuple[type[Exception], ...]:
    """Click's exception classes: plain click's and, since typer 0.20, the copy of click that
    typer ships (``typer._click``), whose classes plain click's ``isinstance`` misses."""
    import click

    classes: list[type[Exception]] = [click.exceptions.ClickException]
    vendored = getattr(typer, "_click", None)
    if vendored is not None:
        classes.append(vendored.exceptions.ClickException)
    return tuple(classes)


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def notestruct_home() -> Path:
    """The folder notestruct owns for Prefect's state and caches."""
    return Path(os.environ.get("NOTESTRUCT_HOME", Path.home() / ".notestruct")).expanduser()


def prepare_prefect(verbose: bool = False) -> None:
    """Quiet, predictable Prefect: home in notestruct's folder, no analytics, no result storage."""
    home = notestruct_home() / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    defaults = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO" if verbose else "WARNING",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
        "PREFECT_TASKS_DEFAULT_PERSIST_RESULT": "false",
        "PREFECT_LOGGING_LOG_PRINTS": "false",
        "PREFECT_UI_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        # the local server needs longer than Prefect's 20 s on a busy machine
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        # the CLI reports a failed run in one line; Prefect's own error logs would add a
        # traceback (they still reach Prefect's API and show with --verbose)
        "PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL": "INFO" if verbose else "CRITICAL",
        "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "INFO" if verbose else "CRITICAL",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log progress (ids, counts, timings).")
    ] = False,
) -> None:
    """notestruct: clinical notes to coded facts, FHIR R4 and a SQL warehouse.

    Add --debug anywhere to see tracebacks.
    """
    _configure_logging(verbose)
    _STATE["verbose"] = verbose


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
        disable=not err.is_terminal and os.environ.get("NOTESTRUCT_PROGRESS") != "1",
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


@app.command()
def ingest(
    source: Annotated[
        str,
        typer.Argument(
            help="Directory of .txt notes, a .jsonl or .csv file of notes (fields id, text, "
            "optional patient_id, encounter_id, date, note_type), FHIR .ndjson of "
            "DocumentReference, or sql+<SQLAlchemy URL> (sql+env:VAR reads the URL from VAR) "
            "with --table or --query."
        ),
    ],
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
    batch_size: Annotated[int | None, typer.Option(help="Notes per batch task.", min=1)] = None,
    force: Annotated[bool, typer.Option(help="Re-process notes even if unchanged.")] = False,
    full_scan: Annotated[
        bool, typer.Option(help="Ignore the source watermark and read everything.")
    ] = False,
    workers: WorkersOpt = 1,
    dask_address: Annotated[
        str | None,
        typer.Option(help="Run the NLP on an existing Dask cluster, e.g. tcp://10.0.0.5:8786."),
    ] = None,
    max_error_rate: Annotated[
        float | None,
        typer.Option(
            help="Fail the run above this share of failed records [default 0.2].", min=0.0, max=1.0
        ),
    ] = None,
    source_timezone: Annotated[
        str | None,
        typer.Option(
            help="IANA time zone for source dates without an offset "
            "(default: such dates are dead letters)."
        ),
    ] = None,
    table: Annotated[str | None, typer.Option(help="SQL source: table of notes.")] = None,
    query: Annotated[
        str | None, typer.Option(help="SQL source: a query instead of a table.")
    ] = None,
    updated_at: Annotated[
        str, typer.Option(help="SQL source: last-modified column (the watermark).")
    ] = "updated_at",
    id_column: Annotated[str, typer.Option(help="SQL source: note id column.")] = "id",
    source_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Force the source format: text, jsonl, csv, fhir, hl7, cda, bundle, html, rtf, "
            "pdf (default: by extension and content).",
        ),
    ] = None,
) -> None:
    """Run the nightly ingestion flow once: read new and changed notes, extract, load.

    Re-running is safe: records unchanged since the last completed run are not read again,
    unchanged notes are skipped, changed ones replace their facts. A run killed at any
    moment is completed by the next one.

    Examples:  notestruct ingest samples/notes.jsonl --warehouse sqlite:///notestruct.db
               notestruct ingest sql+env:NOTES_DB_URL --table notes --updated-at updated_at
    """
    prepare_prefect(bool(_STATE.get("verbose")))
    from pydantic import SecretStr

    from pipelines.flows import nightly_ingest
    from pipelines.sources import open_source

    # fail fast with one line before Prefect starts
    open_source(
        source, fmt=source_format, table=table, query=query, updated_at=updated_at,
        id_column=id_column,
    )  # fmt: skip
    total = None if source.startswith("sql+") else _count_records(source)
    summary = _run_flow(
        nightly_ingest,
        total,
        "ingest",
        source=source,
        config_path=str(config) if config else None,
        warehouse_url=SecretStr(warehouse) if warehouse else None,
        batch_size=batch_size,
        force=force,
        full_scan=full_scan,
        workers=workers,
        dask_address=dask_address,
        max_error_rate=max_error_rate,
        source_timezone=source_timezone,
        sql_table=table,
        sql_query=query,
        updated_at_column=updated_at,
        id_column=id_column,
        source_format=source_format,
    )
    out.print(_summary_table(summary))


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


def _run_flow(
    flow_fn: Callable[..., dict[str, Any]], total: int | None, what: str, **params: Any
) -> dict[str, Any]:
    """Call a run flow with a progress bar; a failed run prints its table, then its error."""
    from pipelines.flows import RunFailed
    from pipelines.progress import current_sink

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


def _read_extract_input(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, record or None, error or None) per non-blank input line."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                yield lineno, None, "line is not valid UTF-8"
                continue
            except json.JSONDecodeError as exc:
                yield lineno, None, f"invalid JSON at column {exc.colno}"
                continue
            if not isinstance(data, dict):
                yield lineno, None, f"line is a JSON {type(data).__name__}, not an object"
                continue
            yield lineno, data, None


@app.command()
def extract(
    input: Annotated[
        Path,
        typer.Argument(
            help="JSONL of notes: id, text, optional spans [{start, end, label}].",
            exists=True,
            dir_okay=False,
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Output JSONL (default stdout).")
    ] = None,
    config: ConfigOpt = None,
    batch_size: Annotated[int, typer.Option(help="Notes per spaCy batch.", min=1)] = 64,
) -> None:
    """NLP and coding only, no warehouse: one output line per input line, in order.

    Output line: {"id", "mentions": [...], "error": null or "message"}. Given spans come back
    with exactly their offsets and label, with assertions and codes computed.
    """
    from extractors.nlp import ExtractionError
    from extractors.nlp import extract as run_extract
    from pipelines.config import load_config
    from pipelines.resources import get_nlp
    from pipelines.sources import SourceOptions, note_from_mapping
    from schemas.model import Note

    cfg = load_config(config)
    nlp = get_nlp(cfg.nlp_settings())
    opts = SourceOptions(cfg.source_uri, cfg.max_note_chars)
    sink = output.open("w", encoding="utf-8") if output else sys.stdout
    total = _count_records(str(input))
    written = 0

    def items() -> Iterator[tuple[int, dict[str, Any] | None, Any]]:
        for lineno, data, error in _read_extract_input(input):
            if data is None:
                yield lineno, {"id": None, "error": error}, None
                continue
            rec = note_from_mapping(data, opts, f"line {lineno}")
            if not isinstance(rec, Note):
                yield lineno, {"id": data.get("id"), "error": rec.message}, None
                continue
            spans = data.get("spans") or []
            if not isinstance(spans, list) or not all(
                isinstance(s, dict) and {"start", "end", "label"} <= s.keys() for s in spans
            ):
                yield (
                    lineno,
                    {
                        "id": data.get("id"),
                        "error": "'spans' must be a list of {start, end, label}",
                    },
                    None,
                )
                continue
            yield lineno, None, (rec, spans, data.get("id"))

    def ordered() -> Iterator[dict[str, Any]]:
        pending: list[tuple[dict[str, Any] | None, Any]] = []

        def flush() -> Iterator[dict[str, Any]]:
            work = [(p[1][0], p[1][1]) for p in pending if p[1] is not None]
            results = iter(run_extract(nlp, work, batch_size=batch_size))
            for ready, job in pending:
                if job is None:
                    yield {
                        "id": ready["id"] if ready else None,
                        "mentions": [],
                        "error": ready["error"] if ready else None,
                    }
                    continue
                _note, outcome = next(results)
                if isinstance(outcome, ExtractionError):
                    yield {"id": job[2], "mentions": [], "error": str(outcome)}
                else:
                    yield {
                        "id": job[2],
                        "mentions": [m.to_contract() for m in outcome],
                        "error": None,
                    }
            pending.clear()

        for _lineno, ready, job in items():
            pending.append((ready, job))
            if len(pending) >= batch_size:
                yield from flush()
        yield from flush()

    try:
        with _progress(total, "extract") as advance:
            for line in ordered():
                sink.write(json.dumps(line, ensure_ascii=False) + "\n")
                written += 1
                advance(notes=1, errors=int(line["error"] is not None))
    finally:
        if output:
            sink.close()
    if output:
        err.print(f"wrote {written} lines to {output}")


@db_app.command("upgrade")
def db_upgrade(warehouse: WarehouseOpt = None, config: ConfigOpt = None) -> None:
    """Apply the Alembic migrations (creates the tables and views on an empty database)."""
    from pipelines.config import load_config
    from warehouse.engine import redact_url
    from warehouse.migrate import upgrade_url

    cfg = load_config(config, warehouse_url=warehouse)
    url = cfg.warehouse_url.get_secret_value()
    upgrade_url(url)
    out.print(f"warehouse {redact_url(url)} is at the latest schema")


@export_app.command("fhir")
def export_fhir(
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Directory to write NDJSON files into.")
    ],
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
    bundle: Annotated[
        str | None,
        typer.Option(help="'transaction': one R4 transaction Bundle per note (Bundle.ndjson)."),
    ] = None,
) -> None:
    """FHIR Bulk Data NDJSON: one file per resource type plus manifest.json."""
    if bundle:
        from pipelines.writeback import export_bundles

        return out.print(export_bundles(out_dir, warehouse, config, bundle))
    from pipelines.config import load_config
    from warehouse.engine import make_engine
    from warehouse.export import export_fhir_ndjson

    cfg = load_config(config, warehouse_url=warehouse)
    engine = make_engine(cfg.warehouse_url.get_secret_value())
    try:
        manifest = export_fhir_ndjson(engine, out_dir)
    finally:
        engine.dispose()
    table = Table(title=f"FHIR NDJSON in {out_dir}")
    table.add_column("type")
    table.add_column("resources", justify="right")
    for item in manifest["output"]:
        table.add_row(item["type"], str(item["count"]))
    out.print(table)


@extractors_app.command("list")
def extractors_list() -> None:
    """Installed extractors (entry point group notestruct.extractors)."""
    from extractors.registry import available_extractors

    table = Table(title="notestruct extractors")
    for col in ("name", "version", "labels", "class"):
        table.add_column(col)
    for name, cls in sorted(available_extractors().items()):
        table.add_row(
            name,
            str(cls.version),
            ", ".join(sorted(cls.labels)),
            f"{cls.__module__}.{cls.__qualname__}",
        )
    out.print(table)


@db_app.command("roles")
def db_roles(
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
    loader_role: Annotated[
        str, typer.Option("--loader-role", help="Role that loads (reads and writes tables).")
    ] = "notestruct_loader",
    analyst_role: Annotated[
        str, typer.Option("--analyst-role", help="Role that reads only the analyst views.")
    ] = "notestruct_analyst",
    withhold_view: Annotated[
        list[str] | None,
        typer.Option("--withhold-view", help="A view the analyst must not read (repeatable)."),
    ] = None,
) -> None:
    """Create or refresh the PostgreSQL loader and analyst roles (idempotent).

    The analyst gets SELECT on the views that exist now and nothing on base tables:
    run it again after `notestruct db upgrade` adds views.

    Grant the roles to login users, e.g.  GRANT notestruct_analyst TO alice;
    """
    from pipelines.config import load_config
    from warehouse.engine import make_engine, redact_url
    from warehouse.roles import apply_roles

    cfg = load_config(config, warehouse_url=warehouse)
    url = cfg.warehouse_url.get_secret_value()
    engine = make_engine(url)
    try:
        report = apply_roles(
            engine, loader=loader_role, analyst=analyst_role, withhold_views=withhold_view or ()
        )
    finally:
        engine.dispose()
    created = ", ".join(report.created) or "none (already present)"
    out.print(f"warehouse {redact_url(url)}, schema {report.schema}: roles created: {created}")
    out.print(f"{loader_role}: read and write on {len(report.tables)} tables")
    out.print(
        f"{analyst_role}: SELECT on {len(report.views)} views"
        + (f": {', '.join(report.views)}" if report.views else "")
        + (f"; withheld: {', '.join(report.withheld_views)}" if report.withheld_views else "")
    )


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


@export_app.command("parquet")
def export_parquet(
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for <view>.parquet files.")
    ],
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
    view: Annotated[
        list[str] | None,
        typer.Option("--view", help="Only this view (repeatable). Default: every analyst view."),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option(help="Rows fetched and written per chunk.", min=1)
    ] = 50_000,
) -> None:
    """The analyst views as Parquet, one file per view (patient_concept_feature.parquet is the
    patient-by-concept feature matrix for models).

    Example:  notestruct export parquet --out parquet/
    (then in DuckDB: SELECT * FROM 'parquet/problem_list.parquet')
    """
    from warehouse.parquet import export_views
    from warehouse.views import VIEW_NAMES
    from warehouse.views import view as view_named

    unknown = sorted(set(view or ()) - set(VIEW_NAMES))
    if unknown:
        raise CliError(f"unknown view {', '.join(unknown)} (known: {', '.join(VIEW_NAMES)})")
    engine = _warehouse_engine(warehouse, config)
    try:
        chosen = [view_named(v) for v in view] if view else None
        files = (
            export_views(engine, out_dir, views=chosen, chunk_rows=chunk_rows)
            if chosen
            else export_views(engine, out_dir, chunk_rows=chunk_rows)
        )
    finally:
        engine.dispose()
    table = Table(title=f"Parquet in {out_dir}")
    table.add_column("view")
    table.add_column("rows", justify="right")
    table.add_column("file")
    for f in files:
        table.add_row(f.view, f"{f.rows:,}", f.path.name)
    out.print(table)


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="One SELECT/WITH statement (read-only).")],
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option(help="Show at most this many rows.", min=1)] = 200,
) -> None:
    """Run one read-only SQL query against the warehouse and print the rows.

    Writes are refused: the statement is inspected, then run in a read-only transaction.
    Views to start from: problem_list, medication_list, observation_series, negated_finding,
    family_history, note_status, run_history, mention_current, condition_current.

    Example:  notestruct query "SELECT * FROM problem_list WHERE patient_ref = 'P001'"
    """
    from warehouse.query import run_query

    engine = _warehouse_engine(warehouse, config)
    try:
        result = run_query(engine, sql, limit=limit)
    finally:
        engine.dispose()
    table = Table(show_lines=False)
    for col in result.columns:
        table.add_column(col, overflow="fold")
    for row in result.rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    out.print(table)
    more = " (more rows not shown: raise --limit)" if result.truncated else ""
    err.print(f"{len(result.rows)} row{'s' if len(result.rows) != 1 else ''}{more}")


@app.command()
def report(
    out_file: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path(
        "report.html"
    ),
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
    runs: Annotated[int, typer.Option(help="Runs shown in the trend and table.", min=1)] = 30,
) -> None:
    """Write a self-contained HTML report (inline SVG charts, no scripts, opens offline).

    Charts: mentions per label, assertion mix, top concepts, errors by stage, throughput and
    trend over runs; then the run history table.
    """
    from warehouse.report import write_report

    engine = _warehouse_engine(warehouse, config)
    try:
        data = write_report(engine, out_file, runs=runs)
    finally:
        engine.dispose()
    out.print(
        f"wrote {out_file} ({sum(v for _, v in data.mentions_by_label):,} mentions, "
        f"{len(data.runs)} runs)"
    )


@app.command("reprocess")
def reprocess_cmd(
    source: Annotated[str, typer.Argument(help="The source the notes were ingested from.")],
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Write the changes (default: report only).")
    ] = False,
    all_notes: Annotated[
        bool,
        typer.Option("--all", help="Re-run every stored note, not only those under older rules."),
    ] = False,
    workers: WorkersOpt = 1,
) -> None:
    """Re-process stored notes after a rule or dictionary change.

    First run without --apply: it runs the current pipeline on the affected notes and
    reports, per label, the mentions that would be added, removed and changed, writing
    nothing. Run again with --apply to replace their facts. The nightly ingest does not
    do this by itself: it processes only notes that are new or changed at the source.

    It is the same run as ingest (same pseudonyms, redaction, lease and load): give it the
    same --config so stored ids and text hashes compare.
    """
    prepare_prefect(bool(_STATE.get("verbose")))
    from pydantic import SecretStr

    from pipelines.flows import reprocess_notes
    from pipelines.reprocess import ReprocessOutcome
    from pipelines.sources import open_source

    open_source(source)  # fail fast with one line before Prefect starts
    summary = _run_flow(
        reprocess_notes,
        _count_records(source),
        "reprocess",
        source=source,
        config_path=str(config) if config else None,
        warehouse_url=SecretStr(warehouse) if warehouse else None,
        apply=apply,
        all_notes=all_notes,
        workers=workers,
    )
    outcome = ReprocessOutcome.from_summary(summary, applied=apply)
    mode = "applied" if apply else "dry run, nothing written"
    if outcome.plan.by_label:
        table = Table(title=f"reprocess under rules {outcome.rules_version} — {mode}")
        for col in ("label", "added", "removed", "changed", "unchanged"):
            table.add_column(col, justify="left" if col == "label" else "right")
        for label, ch in sorted(outcome.plan.by_label.items()):
            table.add_row(label, str(ch.added), str(ch.removed), str(ch.changed), str(ch.unchanged))
        out.print(table)
    else:
        out.print(
            f"reprocess under rules {outcome.rules_version} — {mode}: no stored note to re-run"
        )
    out.print(
        f"records read {outcome.notes_read}; re-run {outcome.notes_selected} "
        f"({outcome.plan.notes_changed} with changes); already under these rules "
        f"{outcome.notes_current_rules}; changed at the source (use ingest) "
        f"{outcome.notes_text_changed}; not loaded {outcome.notes_not_loaded}; "
        f"failed {outcome.notes_failed}"
    )
    if not apply and outcome.plan.notes_changed:
        out.print("run again with --apply to write these changes")


def _default_shared() -> Path:
    """``../shared`` beside the working directory or beside the repository."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        candidate = base.parent / "shared"
        if candidate.is_dir():
            return candidate
    return Path.cwd().parent / "shared"


@app.command("eval")
def evaluate(
    eval_dir: Annotated[
        Path | None, typer.Option(help="Evaluation corpora (default ../shared/eval).")
    ] = None,
    terminology_dir: Annotated[
        Path | None,
        typer.Option(
            help="Bring-your-own terminology files to load for the concept evaluation "
            "(default ../shared/terminology: SNOMED CT GPS ValueSet, DOID cross-references)."
        ),
    ] = None,
    byo: Annotated[bool, typer.Option(help="Load the bring-your-own terminology files.")] = True,
    baseline: Annotated[
        bool, typer.Option(help="Also score medspaCy's default ConText on the same spans.")
    ] = True,
) -> None:
    """Score the pipeline on the evaluation corpora (skips what is absent).

    Assertion F1 with gold spans given on NegEx/ConText, MACCROBAT problems and E3C disorders,
    beside medspaCy's default ConText on the same spans; concept recall and precision on
    Synthea notes, mention F1 on NCBI disease and BC5CDR; mention P/R/F1 per label (overlap
    and exact) on MACCROBAT case reports, E3C clinical cases and Chia trial criteria, with the
    share of gold dosages and routes found on the matched drug; the 14 chest X-ray finding
    labels per IU X-ray report.

    Errors of one corpus and label, for rule work:
    python -m pipelines.eval_corpora --errors maccrobat:MEDICATION

    Example:  notestruct eval   (reads ../shared/eval; about two minutes)
    """
    from pipelines import eval_assertion, eval_concepts, eval_corpora

    shared = _default_shared()
    eval_dir = eval_dir or shared / "eval"
    terminology_dir = terminology_dir or shared / "terminology"
    if not eval_dir.is_dir():
        raise CliError(f"no evaluation data at {eval_dir} (pass --eval-dir)")
    table = Table(title="notestruct evaluation")
    for col, justify in (
        ("evaluation", "left"),
        ("system", "left"),
        ("P", "right"),
        ("R", "right"),
        ("F1", "right"),
        ("n", "right"),
    ):
        table.add_column(col, justify=justify, no_wrap=col != "evaluation")  # type: ignore[arg-type]
    with err.status("assertion: NegEx/ConText, MACCROBAT and E3C dev with gold spans"):
        for corpus in eval_assertion.evaluate_all(eval_dir, baseline=baseline):
            for r in corpus.rows:
                if r.support == 0:
                    continue  # e.g. no family experiencer in the NegEx dev split
                table.add_row(
                    f"assertion {r.attribute} ({corpus.corpus})",
                    r.system,
                    f"{r.precision:.3f}",
                    f"{r.recall:.3f}",
                    f"{r.f1:.3f}",
                    str(r.support),
                )
    with err.status("concepts: building the dictionary and scoring Synthea, NCBI, BC5CDR"):
        nlp, sources = eval_concepts.build_eval_nlp(
            None, terminology_dir if byo and terminology_dir.is_dir() else None
        )
        for c in eval_concepts.evaluate(nlp, eval_dir):
            table.add_row(
                c.name,
                "notestruct",
                f"{c.precision:.3f}",
                f"{c.recall:.3f}",
                f"{c.f1:.3f}",
                str(c.n),
            )
    with err.status("mentions: MACCROBAT, E3C, Chia spans and IU X-ray report labels"):
        for row in eval_corpora.evaluate(nlp, eval_dir):
            if row.n_gold == 0:
                continue  # e.g. no hernia among the dev reports
            recall_only = row.match == "recall"
            table.add_row(
                f"{row.corpus} {row.label} ({row.match})",
                "notestruct",
                "—" if recall_only else f"{row.precision:.3f}",
                f"{row.recall:.3f}",
                "—" if recall_only else f"{row.f1:.3f}",
                str(row.n_gold),
            )
    table.caption = (
        "assertion rows: gold target spans given; mention rows: overlap (label-aware, any "
        "shared character) and exact span match, attribute recall on the matched drug, IU "
        "X-ray: 14 finding labels per report; concept rows: dictionary = open sources"
        + (" + BYO " + ", ".join(Path(s["path"]).name for s in sources) if sources else "")
    )
    out.print(table)


@app.command()
def serve(
    source: Annotated[str, typer.Argument(help="The source to ingest, as for `ingest`.")],
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
    cron: Annotated[str, typer.Option(help="When to run (cron).")] = "0 2 * * *",
    timezone: Annotated[
        str, typer.Option(help="IANA time zone of the cron schedule.")
    ] = "Europe/Berlin",
    workers: WorkersOpt = 1,
    name: Annotated[str, typer.Option(help="Deployment name.")] = "nightly-local",
) -> None:
    """Run the nightly schedule in this process (Prefect flow.serve) until interrupted.

    One run at a time (a late run never overlaps the previous one). The warehouse URL is
    read from --warehouse, NOTESTRUCT_WAREHOUSE_URL or the config at each run; it is not
    stored in Prefect. For a Prefect server and workers, deploy prefect.yaml instead
    (docs/scaling.md).
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CliError(f"unknown time zone {timezone!r}", 2) from exc
    prepare_prefect(bool(_STATE.get("verbose")))
    from pipelines.sources import open_source

    open_source(source)
    if warehouse:
        # kept out of the deployment's parameters (visible in Prefect): the env reaches runs
        os.environ["NOTESTRUCT_WAREHOUSE_URL"] = warehouse
    parameters: dict[str, Any] = {"source": source}
    if config:
        parameters["config_path"] = str(config)
    if workers != 1:
        parameters["workers"] = workers
    with _prefect_server() as api:
        from prefect.schedules import Cron

        from pipelines.flows import nightly_ingest

        err.print(f"serving {name}: {cron} ({timezone}) on Prefect at {api}; Ctrl-C to stop")
        nightly_ingest.serve(
            name=name,
            schedules=[Cron(cron, timezone=timezone)],
            parameters=parameters,
            limit=1,
            print_starting_message=False,
        )


@contextmanager
def _prefect_server() -> Iterator[str]:
    """The Prefect API to schedule on: PREFECT_API_URL if set, else a local server (with its
    scheduler; Prefect's ephemeral server cannot schedule) started here and stopped on exit."""
    import socket
    import subprocess
    import urllib.request

    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (notestruct_home() / "prefect" / "server.log").open("ab")
    proc = subprocess.Popen(  # noqa: S603  our own venv's prefect, fixed arguments
        [
            str(Path(sys.executable).parent / "prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-ui",
            "--analytics-off",
        ],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise CliError(
                    "the local Prefect server did not start (see "
                    f"{notestruct_home() / 'prefect' / 'server.log'})"
                )
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=2):  # noqa: S310  local
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise CliError("the local Prefect server did not answer in 120 s") from None
                time.sleep(0.5)
        os.environ["PREFECT_API_URL"] = api
        yield api
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


if __name__ == "__main__":  # pragma: no cover
    main()

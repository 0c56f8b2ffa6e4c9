"""Warehouse commands: db upgrade/roles, export fhir/parquet, query, report, extractors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli.app import (
    CliError,
    ConfigOpt,
    WarehouseOpt,
    app,
    db_app,
    err,
    export_app,
    extractors_app,
    out,
)
from pipelines.cli.common import _warehouse_engine


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
) -> None:
    """FHIR Bulk Data NDJSON: one file per resource type plus manifest.json."""
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

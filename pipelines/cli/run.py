"""Commands that run the pipeline into the warehouse: ingest, reprocess, serve."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pipelines.cli.app import (
    _STATE,
    CliError,
    ConfigOpt,
    WarehouseOpt,
    WorkersOpt,
    app,
    err,
    out,
)
from pipelines.cli.common import (
    _count_records,
    _run_flow,
    _start_workers,
    _summary_table,
    _workers_for,
)


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
    from pipelines.config import prepare_prefect

    prepare_prefect(bool(_STATE.get("verbose")))
    from pydantic import SecretStr

    from pipelines.sources import open_source

    # fail fast with one line before Prefect starts
    open_source(
        source,
        fmt=source_format,
        table=table,
        query=query,
        updated_at=updated_at,
        id_column=id_column,
    )
    total = None if source.startswith("sql+") else _count_records(source)
    if not dask_address and source_format in (None, "jsonl", "fhir"):
        workers = _workers_for(source, total, workers)
    _start_workers(config, workers, dask_address)
    from pipelines.resources import import_frozen

    # Prefect only when a Prefect API is configured; SQLAlchemy, the FHIR models, the
    # readers: imported with the collector paused (0.1-0.2 s of a one-note ingest)
    entry = import_frozen("pipelines.run").entry

    summary = _run_flow(
        entry("nightly-ingest"),
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
    from pipelines.config import prepare_prefect

    prepare_prefect(bool(_STATE.get("verbose")))
    from pydantic import SecretStr

    from pipelines.sources import open_source

    open_source(source)  # fail fast with one line before Prefect starts
    total = _count_records(source)
    workers = _workers_for(source, total, workers)
    _start_workers(config, workers, None)
    from pipelines.reprocess import ReprocessOutcome
    from pipelines.resources import import_frozen

    entry = import_frozen("pipelines.run").entry  # see ingest

    summary = _run_flow(
        entry("reprocess"),
        total,
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
    from pipelines.config import prepare_prefect

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

    from pipelines.config import notestruct_home, prefect_api_url

    configured = prefect_api_url()
    if configured:
        yield configured
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

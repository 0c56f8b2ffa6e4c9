"""The ``notestruct`` Typer application, its consoles and the options commands share."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

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


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


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

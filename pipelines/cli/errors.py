"""Errors to one line: exception classes to exit codes, and the console entry point."""

from __future__ import annotations

import gc
import sys
import warnings

import typer

from pipelines.cli.app import _STATE, CliError, app, err


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
    from pipelines.batch import LeaseLost
    from pipelines.run import RunFailed
    from pipelines.workers import WorkerError

    table.append((RunFailed, 6, "run failed"))
    table.append((LeaseLost, 7, "source taken over"))
    table.append((WorkerError, 2, "configuration error"))
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
    try:
        _main()
    finally:
        # The command is done; what is left is the interpreter's exit, which collects garbage
        # over every object still alive (1.7 million in a process that imported Prefect,
        # SQLAlchemy and the FHIR models): 0.5-0.6 s of each command's start-up figure, to
        # free memory the process is about to return anyway. Frozen objects are not walked.
        # Exit handlers (worker pools, log handlers) still run; files are closed by the
        # commands that open them.
        gc.freeze()


def _main() -> None:
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

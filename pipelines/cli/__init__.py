"""The ``notestruct`` command line (typer + rich): one clear line per error, no tracebacks.

One module per group of commands, each registering on the one Typer ``app``:

- ``app``: the application, its consoles, shared options and ``CliError``;
- ``errors``: ``main()``, the console entry point that turns every error into one line;
- ``common``: progress bar, run summary table, flow call, warehouse engine;
- ``run``: ingest, reprocess, serve (the commands that write the warehouse through a Run);
- ``extract``: NLP and coding without a warehouse;
- ``warehouse``: db, export, query, report, extractors;
- ``view``: the note viewer (HTML);
- ``evaluate``: eval (the corpora, or your own gold with ``--gold``);
- ``review``: Label Studio / brat export and import of reviewed gold;
- ``llm``: the llm extractor's reply cache and usage.

Heavy libraries (spaCy, Prefect, SQLAlchemy) are imported inside the commands, so
``notestruct --help`` does not pay for them.
"""

from __future__ import annotations

from importlib import import_module

from pipelines.cli.app import CliError, app
from pipelines.cli.errors import main

# importing a command module registers its commands; --help lists them in this order
for _module in ("run", "extract", "view", "warehouse", "evaluate", "review", "llm"):
    import_module(f"pipelines.cli.{_module}")

__all__ = ["CliError", "app", "main"]


def __getattr__(name: str) -> object:
    # kept importable from here (bench scripts), without importing pydantic for --help
    if name in {"notestruct_home", "prepare_prefect"}:
        from pipelines import config

        return getattr(config, name)
    raise AttributeError(name)

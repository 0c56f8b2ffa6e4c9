"""``notestruct llm ...``: the LLM extractor's reply cache and per-run usage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

llm_app = typer.Typer(help="The LLM extractor: reply cache and usage.", no_args_is_help=True)
cache_app = typer.Typer(
    help="The LLM reply cache (holds data derived from notes).", no_args_is_help=True
)
llm_app.add_typer(cache_app, name="cache")

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="pipeline.toml to use (default ./pipeline.toml)."),
]


def _cache_dir(config: Path | None) -> Path:
    from pipelines.config import load_config
    from pipelines.llm import llm_home

    cfg = load_config(config)
    configured = cfg.extractor_options.get("llm", {}).get("cache_dir")
    return Path(str(configured)).expanduser() if configured else llm_home()


@cache_app.command("clear")
def clear_cache(config: ConfigOpt = None) -> None:
    """Delete every cached LLM reply (the next run asks the model again)."""
    from rich.console import Console

    from extractors.llm.cache import FILE_NAME, LlmCache

    folder = _cache_dir(config)
    if not (folder / FILE_NAME).exists():
        Console().print(f"no LLM cache in {folder}")
        return
    cache = LlmCache(folder)
    try:
        removed = cache.clear()
    finally:
        cache.close()
    Console().print(f"cleared {removed:,} cached LLM replies from {folder}")


@llm_app.command("usage")
def usage(
    run_id: Annotated[str, typer.Argument(help="The run id (see the run summary).")],
    config: ConfigOpt = None,
) -> None:
    """Requests, tokens, cache hits and grounding counts of one run (no text)."""
    from rich.console import Console
    from rich.table import Table

    from extractors.llm.cache import FILE_NAME, LlmCache

    folder = _cache_dir(config)
    if not (folder / FILE_NAME).exists():
        Console().print(f"no LLM cache in {folder}")
        return
    cache = LlmCache(folder)
    try:
        counts = cache.usage(run_id)
        warned = len({note for note, _, _ in cache.warnings(run_id)})
    finally:
        cache.close()
    table = Table(title=f"LLM usage of run {run_id}")
    table.add_column("counter")
    table.add_column("value", justify="right")
    for name, value in counts.items():
        table.add_row(name, f"{value:,}")
    table.add_row("notes with warnings", f"{warned:,}")
    Console().print(table)


def _register() -> None:
    from pipelines.cli.app import app

    app.add_typer(llm_app, name="llm")


_register()

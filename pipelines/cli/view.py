"""``notestruct view``: one self-contained HTML page with the notes and their mentions drawn.

Registered on the app by importing this module (``pipelines/cli/__init__.py``); heavy
imports stay inside the function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

PHI_CONSOLE = "{path} contains note text: treat it as patient data (do not share or upload it)"


def view_cmd(
    input: Annotated[
        Path | None,
        typer.Argument(
            help="A note (.txt), a notes file (.jsonl, .csv, .ndjson) or a directory of .txt "
            "files. Omit it to draw notes stored in the warehouse.",
            exists=True,
            show_default=False,
        ),
    ] = None,
    out_file: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path(
        "view.html"
    ),
    note: Annotated[
        list[str] | None,
        typer.Option("--note", "-n", help="Only this note id (repeatable)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="Draw at most this many notes.", min=1)] = 200,
    warehouse: Annotated[
        str | None,
        typer.Option(
            "--warehouse",
            "-w",
            help="Warehouse URL when drawing stored notes (needs [warehouse] store_text).",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="pipeline.toml to use (default ./pipeline.toml)."),
    ] = None,
) -> None:
    """Draw notes with their mentions in one self-contained HTML page (opens offline).

    Every mention is highlighted by label with its assertion as a badge; hover or click one
    for its codes, attributes, extractor and rule. Sections are shaded and named; filter by
    label and assertion; the mention list sits beside the text. The page contains note text.

    Examples:  notestruct view samples/notes.jsonl -n sample-001 -o view.html
               notestruct view -w sqlite:///notestruct.db -o view.html
    """
    from rich.markup import escape

    from pipelines.cli.app import CliError, err, out
    from pipelines.config import load_config
    from pipelines.resources import get_nlp
    from pipelines.view_html import render_view
    from pipelines.viewer import Skipped, analyse_input, stored_view_notes

    wanted = list(note or [])
    cfg = load_config(config, warehouse_url=warehouse)
    nlp = get_nlp(cfg.nlp_settings())
    skipped: list[Skipped] = []
    if input is not None:
        if warehouse:
            raise CliError("give either an input file or --warehouse, not both", 2)
        notes, skipped = analyse_input(
            nlp, input, cfg.source_uri, cfg.max_note_chars, wanted, limit
        )
    else:
        from pipelines.cli.common import _warehouse_engine
        from warehouse.stored_notes import read_stored_notes

        engine = _warehouse_engine(warehouse, config)
        try:
            stored = read_stored_notes(engine, wanted, limit)
        finally:
            engine.dispose()
        for note_id in stored.without_text:
            skipped.append(Skipped(note_id, "the warehouse does not store this note's text"))
        skipped.extend(Skipped(i, "no such note") for i in stored.missing)
        notes = stored_view_notes(nlp, stored.notes)
        if not notes and not stored.without_text and not wanted:
            raise CliError(
                "the warehouse stores no note text (set [warehouse] store_text = true and "
                "ingest again), or give a notes file"
            )
    for s in skipped:
        err.print(f"[yellow]skipped[/yellow] {escape(str(s))}", highlight=False)
    if not notes:
        raise CliError("no note to draw")
    out_file.write_text(render_view(notes), encoding="utf-8")
    mentions = sum(len(n.mentions) for n in notes)
    out.print(
        f"wrote {out_file} ({len(notes)} note{'s' if len(notes) != 1 else ''}, "
        f"{mentions:,} mentions)",
        highlight=False,
    )
    err.print(f"[yellow]warning:[/yellow] {PHI_CONSOLE.format(path=out_file)}", highlight=False)


def _register() -> None:
    from pipelines.cli.app import app

    app.command("view")(view_cmd)


_register()

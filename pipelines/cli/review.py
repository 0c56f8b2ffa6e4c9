"""``notestruct eval --gold`` (scoring on your own gold) and ``notestruct review`` (export
pre-annotations for Label Studio or brat, import the reviewed results as gold).

Registered on the app by importing this module (``pipelines/cli/__init__.py``); heavy
imports inside the functions.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

review_app = typer.Typer(
    help="Review round trip: pre-annotations for Label Studio or brat, reviewed results "
    "back as gold for `notestruct eval --gold`.",
    no_args_is_help=True,
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="pipeline.toml to use (default ./pipeline.toml)."),
]


def known_labels() -> set[str]:
    """Labels the built-in and installed extractors declare."""
    from extractors.registry import available_extractors
    from schemas.model import LABELS

    labels = set(LABELS)
    for cls in available_extractors().values():
        labels |= set(cls.labels)
    return labels


def _predict(nlp: Any, gold_notes: list[Any]) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    from extractors.nlp import ExtractionError, extract
    from schemas.model import Note

    predicted: dict[str, list[dict[str, Any]]] = {}
    failed: list[str] = []
    notes = ((Note(note_id=g.note_id, text=g.text), ()) for g in gold_notes)
    for note, outcome in extract(nlp, notes, batch_size=16):
        if isinstance(outcome, ExtractionError):
            failed.append(note.note_id)
            predicted[note.note_id] = []
        else:
            predicted[note.note_id] = [m.to_contract() for m in outcome]
    return predicted, failed


def eval_gold(
    gold: Path, *, as_json: bool = False, html: Path | None = None, config: Path | None = None
) -> None:
    """Score the pipeline on ``gold`` (JSONL or brat directory); see ``eval --help``."""
    from rich.markup import escape
    from rich.table import Table

    from pipelines.cli.app import CliError, err, out
    from pipelines.config import load_config
    from pipelines.gold import read_gold
    from pipelines.gold_eval import score
    from pipelines.resources import get_nlp

    gold_notes, problems = read_gold(gold, known_labels())
    for p in problems:
        err.print(f"[yellow]gold problem[/yellow] {escape(str(p))}", highlight=False)
    if not gold_notes:
        raise CliError(f"no usable gold note in {gold}")
    cfg = load_config(config)
    nlp = get_nlp(cfg.nlp_settings())
    with err.status(f"running the pipeline on {len(gold_notes)} gold notes"):
        predicted, failed = _predict(nlp, gold_notes)
    for note_id in failed:
        err.print(
            f"[yellow]note failed[/yellow] {escape(note_id)}: the pipeline failed on it; "
            "scored with no predictions",
            highlight=False,
        )
    scores = score(gold_notes, predicted, problems)
    scores.failed_notes = failed
    if as_json:
        sys.stdout.write(json.dumps(scores.to_json(), indent=2) + "\n")
    else:
        _print_tables(scores, out, Table)
    if html is not None:
        from pipelines.view_html import render_errors

        html.write_text(
            render_errors(scores, {g.note_id: g.text for g in gold_notes}), encoding="utf-8"
        )
        err.print(f"wrote {html} ({len(scores.errors)} errors)", highlight=False)
        err.print(
            f"[yellow]warning:[/yellow] {html} contains note text: treat it as patient data "
            "(do not share or upload it)",
            highlight=False,
        )


def _print_tables(scores: Any, out: Any, table_cls: Any) -> None:
    report = scores.to_json()
    t = table_cls(title=f"gold evaluation: {report['notes']} notes")
    for col in ("label", "gold", "pred", "exact P", "exact R", "exact F1", "overlap P",
                "overlap R", "overlap F1"):  # fmt: skip
        t.add_column(col, justify="left" if col == "label" else "right", no_wrap=col == "label")
    rows = [
        *list(report["labels"].items()),
        ("all (micro)", {"n_gold": "", "n_pred": "", **report["all"]}),
    ]
    for label, per in rows:
        ex, ov = per["exact"], per["overlap"]
        t.add_row(
            label, str(per["n_gold"]), str(per["n_pred"]),
            *(f"{d[k]:.3f}" for d in (ex, ov) for k in ("precision", "recall", "f1")),
        )  # fmt: skip
    out.print(t)
    if report["assertion"]:
        a = table_cls(title="assertion on matched mentions (overlap)")
        for col in ("flag", "P", "R", "F1", "tp", "fp", "fn"):
            a.add_column(col, justify="left" if col == "flag" else "right")
        for flag, c in report["assertion"].items():
            a.add_row(
                flag, f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}",
                str(c["tp"]), str(c["fp"]), str(c["fn"]),
            )  # fmt: skip
        out.print(a)
    if report["attributes"]:
        r = table_cls(title="attribute recall on the matched mention")
        for col in ("label", "attribute", "found", "gold", "recall"):
            r.add_column(col, justify="left" if col in {"label", "attribute"} else "right")
        for row in report["attributes"]:
            r.add_row(
                row["label"], row["key"], str(row["found"]), str(row["n"]),
                f"{row['recall']:.3f}",
            )  # fmt: skip
        out.print(r)


class Format(StrEnum):
    labelstudio = "labelstudio"
    brat = "brat"


@review_app.command("export")
def review_export(
    input: Annotated[
        Path,
        typer.Argument(
            help="Notes: a .txt, .jsonl, .csv, .ndjson or a directory of .txt.", exists=True
        ),
    ],
    out_path: Annotated[
        Path,
        typer.Option("--out", "-o", help="Label Studio: tasks .json file; brat: a directory."),
    ],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Pre-annotation format.")] = (
        Format.labelstudio
    ),
    note: Annotated[
        list[str] | None, typer.Option("--note", "-n", help="Only this note id (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many notes.", min=1)] = 1000,
    config: ConfigOpt = None,
) -> None:
    """Run the pipeline and write its mentions as pre-annotations to review.

    Label Studio: import the tasks file into a project whose labelling interface is the
    written <out>.config.xml (labels plus per-region assertion choices). brat: copy the
    directory into brat's data folder. Then `notestruct review import` the reviewed results.
    """
    from rich.markup import escape

    from extractors.settings import pipeline_version
    from pipelines.cli.app import CliError, err, out
    from pipelines.config import load_config
    from pipelines.resources import get_nlp
    from pipelines.review import labelstudio_config, labelstudio_tasks, write_brat
    from pipelines.viewer import analyse_input

    cfg = load_config(config)
    nlp = get_nlp(cfg.nlp_settings())
    notes, skipped = analyse_input(
        nlp, input, cfg.source_uri, cfg.max_note_chars, list(note or []), limit
    )
    for s in skipped:
        err.print(f"[yellow]skipped[/yellow] {escape(str(s))}", highlight=False)
    if not notes:
        raise CliError("no note to export")
    mentions = sum(len(n.mentions) for n in notes)
    if fmt is Format.labelstudio:
        tasks = labelstudio_tasks(notes, f"notestruct {pipeline_version()}")
        out_path.write_text(json.dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8")
        conf = out_path.with_suffix(".config.xml")
        conf.write_text(labelstudio_config(known_labels()), encoding="utf-8")
        out.print(f"wrote {out_path} ({len(notes)} tasks, {mentions:,} pre-annotations) and {conf}")
    else:
        write_brat(notes, out_path)
        out.print(f"wrote {out_path}/ ({len(notes)} notes, {mentions:,} pre-annotations)")
    err.print(
        f"[yellow]warning:[/yellow] {out_path} contains note text: treat it as patient data",
        highlight=False,
    )


@review_app.command("import")
def review_import(
    input: Annotated[
        Path,
        typer.Argument(help="A Label Studio JSON export, or a brat directory.", exists=True),
    ],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Gold JSONL to write.")] = Path(
        "gold.jsonl"
    ),
) -> None:
    """Turn reviewed annotations into gold JSONL for `notestruct eval --gold`.

    Label Studio: the latest submitted annotation of each task; brat: every .txt/.ann pair.
    Spans are checked against the text (offsets, text, label); each problem is one line
    and the rest is kept.
    """
    from rich.markup import escape

    from pipelines.cli.app import CliError, err, out
    from pipelines.gold import gold_from_records, read_gold
    from pipelines.review import gold_records, read_labelstudio

    if input.is_dir():
        notes, problems = read_gold(input, known_labels())
        records = gold_records(notes)
    else:
        records, problems = read_labelstudio(input)
        # the same checks as `eval --gold`, on what Label Studio gave back
        notes, more = gold_from_records(
            ((f"{input.name} note {r['id']}", r) for r in records), known_labels()
        )
        problems += more
        records = gold_records(notes)
    for p in problems:
        err.print(f"[yellow]gold problem[/yellow] {escape(str(p))}", highlight=False)
    if not records:
        raise CliError(f"no reviewed note in {input}")
    with out_path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    n = sum(len(r["mentions"]) for r in records)
    out.print(f"wrote {out_path} ({len(records)} notes, {n:,} gold mentions)", highlight=False)


def _register() -> None:
    from pipelines.cli.app import app

    app.add_typer(review_app, name="review")


_register()

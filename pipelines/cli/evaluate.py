"""``notestruct eval``: score the pipeline on the evaluation corpora."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli.app import CliError, ConfigOpt, app, err, out


def _default_shared() -> Path:
    """``../shared`` beside the working directory or beside the repository."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
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
    gold: Annotated[
        Path | None,
        typer.Option(
            help="Your own gold instead: JSONL {id, text, mentions: [{start, end, label, "
            "flags, attributes}]} or a brat directory. Per-label exact/overlap P/R/F1, "
            "assertion F1 per flag, attribute recall.",
            exists=True,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="With --gold: print JSON.")] = False,
    html: Annotated[
        Path | None, typer.Option(help="With --gold: write the error browser (HTML).")
    ] = None,
    config: ConfigOpt = None,
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
    if gold is not None:
        from pipelines.cli.review import eval_gold

        return eval_gold(gold, as_json=as_json, html=html, config=config)
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
        "shared character) and exact span match, attribute recall on the matched drug, TEST: "
        "tests with a numeric result as LAB/VITAL and their values, IU "
        "X-ray: 14 finding labels per report; concept rows: dictionary = open sources; "
        "'in context': each abstract sentence read after the ones before it"
        + (" + BYO " + ", ".join(Path(s["path"]).name for s in sources) if sources else "")
    )
    out.print(table)

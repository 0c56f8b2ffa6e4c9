"""Assertion evaluation on the NegEx/ConText annotated set: ours vs medspaCy's default ConText.

Run ``python -m pipelines.eval_assertion [--data PATH] [--errors ATTR]``. The gold target is
handed to the pipeline as a given span, so only assertion is measured, not mention finding.
"""

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_DATA = (
    Path(__file__).resolve().parents[1].parent.parent
    / "shared"
    / "eval"
    / ("negex_context/dev.jsonl")
)

#: attribute -> (gold predicate on a record, predicted flag names; any set counts as positive)
ATTRIBUTES: dict[str, tuple[Callable[[Mapping[str, Any]], bool], tuple[str, ...]]] = {
    "negation": (lambda r: r["negation"] == "negated", ("is_negated",)),
    "historical": (lambda r: r["temporality"] == "historical", ("is_historical",)),
    "hypothetical": (lambda r: r["temporality"] == "hypothetical", ("is_hypothetical",)),
    "experiencer_family": (lambda r: r["experiencer"] == "other", ("is_family",)),
}


@dataclass(frozen=True)
class Row:
    """One line of the evaluation table."""

    system: str
    attribute: str
    precision: float
    recall: float
    f1: float
    support: int
    tp: int
    fp: int
    fn: int


def read_records(path: Path) -> list[dict[str, Any]]:
    """Records with a located target (``start`` not null)."""
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["target"]["start"] is not None:
                out.append(rec)
    return out


def predict_ours(records: list[dict[str, Any]]) -> list[dict[str, bool]]:
    """Flags from notestruct's pipeline (sentences, sections, ConText rules, refiner)."""
    from extractors.nlp import NlpSettings, build_nlp, make_doc
    from schemas.model import Note

    nlp = build_nlp(NlpSettings(extractors=()))
    out = []
    for rec in records:
        note = Note(note_id=rec["id"], text=rec["text"])
        given = [{"start": rec["target"]["start"], "end": rec["target"]["end"], "label": "PROBLEM"}]
        doc = nlp(make_doc(nlp, note, given))
        span = next(s for s in doc.spans["mentions"] if s._.extractor == "input")
        out.append(_flags(span))
    return out


def predict_medspacy_default(records: list[dict[str, Any]]) -> list[dict[str, bool]]:
    """Flags from medspaCy's default ConText rules, one sentence per record, gold span as ent."""
    import medspacy  # noqa: F401  registers medspacy_context
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("medspacy_context")
    out = []
    for rec in records:
        doc = nlp.make_doc(rec["text"])
        span = doc.char_span(
            rec["target"]["start"], rec["target"]["end"], label="PROBLEM", alignment_mode="expand"
        )
        if span is None:
            raise ValueError(f"record {rec['id']}: target does not align with the text")
        doc.ents = [span]
        for _, proc in nlp.pipeline:
            doc = proc(doc)
        out.append(_flags(doc.ents[0]))
    return out


def _flags(span: Any) -> dict[str, bool]:
    names = {n for _, names in ATTRIBUTES.values() for n in names}
    return {n: bool(getattr(span._, n, False)) for n in names}


def score(
    system: str, records: list[dict[str, Any]], predicted: list[dict[str, bool]]
) -> list[Row]:
    """Precision, recall and F1 per attribute."""
    rows = []
    for attr, (gold_of, flags) in ATTRIBUTES.items():
        tp = fp = fn = 0
        for rec, pred in zip(records, predicted, strict=True):
            gold = gold_of(rec)
            got = any(pred[f] for f in flags)
            tp += gold and got
            fp += got and not gold
            fn += gold and not got
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        rows.append(Row(system, attr, p, r, f, tp + fn, tp, fp, fn))
    return rows


def evaluate(path: Path = DEFAULT_DATA, *, baseline: bool = True) -> list[Row]:
    """Rows (system, attribute, precision, recall, f1, support, ...) for ours and the baseline.

    Returns an empty list when the data file is absent.
    """
    if not path.exists():
        logger.warning("assertion eval data not found; skipping")
        return []
    records = read_records(path)
    rows = score("notestruct", records, predict_ours(records))
    if baseline:
        rows += score("medspacy-default", records, predict_medspacy_default(records))
    return rows


def errors(
    records: Iterable[dict[str, Any]], predicted: Iterable[dict[str, bool]], attribute: str
) -> list[str]:
    """Human-readable false positives and negatives for one attribute (for rule tuning)."""
    gold_of, flags = ATTRIBUTES[attribute]
    out = []
    for rec, pred in zip(records, predicted, strict=True):
        gold, got = gold_of(rec), any(pred[f] for f in flags)
        if gold != got:
            kind = "FN" if gold else "FP"
            t = rec["target"]
            marked = rec["text"][: t["start"]] + "[[" + t["text"] + "]]" + rec["text"][t["end"] :]
            out.append(f"{kind} {rec['id']}: {' '.join(marked.split())}")
    return out


def format_table(rows: list[Row]) -> str:
    """Plain-text table of the rows."""
    lines = [
        f"{'system':18} {'attribute':20} {'P':>6} {'R':>6} {'F1':>6} {'support':>8} "
        f"{'tp':>5} {'fp':>5} {'fn':>5}"
    ]
    for r in rows:
        lines.append(
            f"{r.system:18} {r.attribute:20} {r.precision:6.3f} {r.recall:6.3f} {r.f1:6.3f} "
            f"{r.support:8d} {r.tp:5d} {r.fp:5d} {r.fn:5d}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the evaluation table (and optionally the errors of one attribute)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--errors", choices=sorted(ATTRIBUTES), default=None)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args(argv)
    out = sys.stdout
    if not args.data.exists():
        out.write(f"{args.data} not found: nothing to evaluate\n")
        return 0
    if args.errors:
        records = read_records(args.data)
        for line in errors(records, predict_ours(records), args.errors):
            out.write(line + "\n")
        return 0
    out.write(format_table(evaluate(args.data, baseline=not args.no_baseline)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

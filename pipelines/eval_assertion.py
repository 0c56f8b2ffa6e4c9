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

DEFAULT_DATA = next(
    (
        p
        for r in Path(__file__).resolve().parents[1:3]
        if (p := r.parent / "shared" / "eval" / "negex_context" / "dev.jsonl").is_file()
    ),
    Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "negex_context" / "dev.jsonl",
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


# -- document corpora: every gold span of a document given at once ---------------------------


@dataclass(frozen=True)
class Target:
    """A gold span of a document and its gold assertion attributes."""

    start: int
    end: int
    gold: Mapping[str, bool]


@dataclass(frozen=True)
class GoldDoc:
    """A document with the gold spans whose assertion is scored."""

    doc_id: str
    text: str
    targets: tuple[Target, ...]


#: predicted flag per scored attribute of the document corpora
DOC_FLAGS = {
    "negation": "is_negated",
    "uncertain": "is_uncertain",
    "hypothetical": "is_hypothetical",
}


def read_maccrobat(path: Path) -> list[GoldDoc]:
    """MACCROBAT problems (Sign_symptom, Disease_disorder): negated and uncertain."""
    docs = []
    for rec in _jsonl(path):
        targets = []
        for ent in rec["entities"]:
            if ent["label"] not in {"Sign_symptom", "Disease_disorder"}:
                continue
            assertion = (ent.get("attributes") or {}).get("assertion")
            targets.append(
                Target(
                    ent["start"],
                    ent["end"],
                    {"negation": assertion == "negated", "uncertain": assertion == "uncertain"},
                )
            )
        docs.append(GoldDoc(rec["id"], rec["text"], tuple(targets)))
    return docs


def read_e3c(path: Path) -> list[GoldDoc]:
    """E3C disorders (CLINENTITY) that an event annotates: negated, uncertain, hypothetical.

    About a fifth of the disorders have no event and so no assertion: they are left out.
    """
    docs = []
    for rec in _jsonl(path):
        targets = []
        for ent in rec["entities"]:
            attrs = ent.get("attributes") or {}
            if ent["label"] != "CLINENTITY" or not attrs.get("polarity"):
                continue
            modality = str(attrs.get("contextualModality") or "")
            targets.append(
                Target(
                    ent["start"],
                    ent["end"],
                    {
                        "negation": attrs["polarity"] == "NEG",
                        "uncertain": modality == "HEDGED" and attrs["polarity"] != "NEG",
                        "hypothetical": modality.startswith("HYPOTHETICAL"),
                    },
                )
            )
        docs.append(GoldDoc(rec["id"], rec["text"], tuple(targets)))
    return docs


def _jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


#: corpus name -> (file below the eval directory, reader, attributes scored)
DOC_CORPORA: dict[str, tuple[str, Callable[[Path], list[GoldDoc]], tuple[str, ...]]] = {
    "MACCROBAT dev problems": (
        "maccrobat/dev.jsonl",
        read_maccrobat,
        ("negation", "uncertain"),
    ),
    "E3C dev disorders": ("e3c/dev.jsonl", read_e3c, ("negation", "uncertain", "hypothetical")),
}


def predict_ours_docs(docs: list[GoldDoc]) -> list[list[dict[str, bool]]]:
    """Flags from notestruct's pipeline for every gold span (handed in as given spans)."""
    from extractors.nlp import NlpSettings, build_nlp, make_doc
    from schemas.model import Note

    nlp = build_nlp(NlpSettings(extractors=()))
    out = []
    for gd in docs:
        note = Note(note_id=gd.doc_id, text=gd.text)
        given = [{"start": t.start, "end": t.end, "label": "PROBLEM"} for t in gd.targets]
        doc = nlp(make_doc(nlp, note, given))
        by_bounds = {s._.char_bounds: s for s in doc.spans["mentions"] if s._.extractor == "input"}
        out.append([_doc_flags(by_bounds.get((t.start, t.end))) for t in gd.targets])
    return out


def predict_medspacy_docs(docs: list[GoldDoc]) -> list[list[dict[str, bool]]]:
    """Flags from medspaCy's default pipeline pieces (PyRuSH sentences, default ConText
    rules) with the gold spans as entities; overlapping gold spans go in separate passes."""
    import medspacy  # noqa: F401  registers the medspaCy factories
    import spacy

    try:
        from loguru import logger as pyrush_log  # PyRuSH's logger, installed with it

        pyrush_log.disable("PyRuSH")  # it logs every sentence at DEBUG
    except ImportError:  # pragma: no cover
        pass
    nlp = spacy.blank("en")
    nlp.add_pipe("medspacy_pyrush")
    nlp.add_pipe("medspacy_context")
    out = []
    for gd in docs:
        flags: list[dict[str, bool]] = [_doc_flags(None) for _ in gd.targets]
        for layer in _layers(gd.targets):
            doc = nlp.make_doc(gd.text)
            ents, index = [], []
            for i in layer:
                t = gd.targets[i]
                span = doc.char_span(t.start, t.end, label="PROBLEM", alignment_mode="expand")
                if span is not None and len(span):
                    ents.append(span)
                    index.append(i)
            doc.ents = spacy.util.filter_spans(ents)
            kept = {(e.start_char, e.end_char): e for e in doc.ents}
            for _, proc in nlp.pipeline:
                doc = proc(doc)
            kept = {(e.start_char, e.end_char): e for e in doc.ents}
            for i, span in zip(index, ents, strict=True):
                ent = kept.get((span.start_char, span.end_char))
                if ent is not None:
                    flags[i] = _doc_flags(ent)
        out.append(flags)
    return out


def _layers(targets: tuple[Target, ...]) -> list[list[int]]:
    """Indices of ``targets`` split into layers without overlaps (first fit, by start)."""
    layers: list[list[int]] = []
    ends: list[int] = []
    for i in sorted(range(len(targets)), key=lambda i: (targets[i].start, -targets[i].end)):
        t = targets[i]
        for k, end in enumerate(ends):
            if t.start >= end:
                layers[k].append(i)
                ends[k] = t.end
                break
        else:
            layers.append([i])
            ends.append(t.end)
    return layers


def _doc_flags(span: Any) -> dict[str, bool]:
    return {a: bool(span is not None and getattr(span._, f, False)) for a, f in DOC_FLAGS.items()}


def score_docs(
    system: str,
    docs: list[GoldDoc],
    predicted: list[list[dict[str, bool]]],
    attributes: Iterable[str],
) -> list[Row]:
    """Precision, recall and F1 per attribute over every gold span of the documents."""
    rows = []
    for attr in attributes:
        tp = fp = fn = 0
        for gd, flags in zip(docs, predicted, strict=True):
            for t, pred in zip(gd.targets, flags, strict=True):
                gold, got = t.gold.get(attr, False), pred[attr]
                tp += gold and got
                fp += got and not gold
                fn += gold and not got
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        rows.append(Row(system, attr, p, r, f, tp + fn, tp, fp, fn))
    return rows


@dataclass(frozen=True)
class CorpusRows:
    """The assertion rows of one corpus."""

    corpus: str
    rows: tuple[Row, ...]


def evaluate_all(eval_dir: Path, *, baseline: bool = True) -> list[CorpusRows]:
    """Assertion rows on every dev corpus present under ``eval_dir``, ours and medspaCy's."""
    out = []
    negex = eval_dir / "negex_context" / "dev.jsonl"
    if negex.is_file():
        out.append(CorpusRows("NegEx/ConText dev", tuple(evaluate(negex, baseline=baseline))))
    for corpus, (rel, reader, attributes) in DOC_CORPORA.items():
        path = eval_dir / rel
        if not path.is_file():
            logger.warning("%s not found; skipping", rel)
            continue
        docs = reader(path)
        rows = score_docs("notestruct", docs, predict_ours_docs(docs), attributes)
        if baseline:
            rows += score_docs("medspacy-default", docs, predict_medspacy_docs(docs), attributes)
        out.append(CorpusRows(corpus, tuple(rows)))
    return out


def doc_errors(docs: list[GoldDoc], predicted: list[list[dict[str, bool]]], attr: str) -> list[str]:
    """False positives and negatives of one attribute on a document corpus, in context."""
    out = []
    for gd, flags in zip(docs, predicted, strict=True):
        for t, pred in zip(gd.targets, flags, strict=True):
            gold, got = t.gold.get(attr, False), pred[attr]
            if gold != got:
                left = gd.text[max(0, t.start - 80) : t.start]
                right = gd.text[t.end : t.end + 60]
                marked = f"{left}[[{gd.text[t.start : t.end]}]]{right}"
                out.append(f"{'FN' if gold else 'FP'} {gd.doc_id}: {' '.join(marked.split())}")
    return out


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
    parser.add_argument(
        "--corpus",
        choices=sorted(DOC_CORPORA),
        default=None,
        help="with --doc-errors: the document corpus (MACCROBAT, E3C) whose errors to list",
    )
    parser.add_argument("--doc-errors", choices=sorted(DOC_FLAGS), default=None)
    parser.add_argument("--all", action="store_true", help="every dev corpus beside --data")
    args = parser.parse_args(argv)
    out = sys.stdout
    if args.corpus and args.doc_errors:
        rel, reader, _ = DOC_CORPORA[args.corpus]
        docs = reader(args.data.parents[1] / rel)
        for line in doc_errors(docs, predict_ours_docs(docs), args.doc_errors):
            out.write(line + "\n")
        return 0
    if args.all:
        for corpus in evaluate_all(args.data.parents[1], baseline=not args.no_baseline):
            out.write(f"== {corpus.corpus}\n{format_table(list(corpus.rows))}\n")
        return 0
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

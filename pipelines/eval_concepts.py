"""Concept extraction evaluation: Synthea coded encounters, NCBI disease and BC5CDR spans.

Run ``python -m pipelines.eval_concepts [--eval-dir ../shared/eval] [--terminology-dir
../shared/terminology] [--cache-dir DIR]``. Absent files are skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from spacy.language import Language

from extractors.nlp import NlpSettings, build_nlp, extract
from schemas.fhir import condition_category
from schemas.model import Mention, Note

log = logging.getLogger(__name__)

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


class Row(NamedTuple):
    """One evaluation figure."""

    name: str
    precision: float
    recall: float
    f1: float
    n: int


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _row(name: str, tp_p: int, n_pred: int, tp_r: int, n_gold: int) -> Row:
    p = tp_p / n_pred if n_pred else 0.0
    r = tp_r / n_gold if n_gold else 0.0
    return Row(name, round(p, 4), round(r, 4), round(_f1(p, r), 4), n_gold)


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


_TAG = re.compile(r"\s*\([^()]*\)\s*$")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalise_name(text: str) -> str:
    """Lower-case, semantic tag dropped, punctuation folded: names compared across sources."""
    return _NON_WORD.sub(" ", _TAG.sub("", text).lower()).strip()


def build_eval_nlp(
    cache_dir: str | None = None, terminology_dir: Path | None = None
) -> tuple[Language, list[dict[str, str]]]:
    """The real pipeline; BYO sources from ``terminology_dir`` when its files are present."""
    sources: list[dict[str, str]] = []
    if terminology_dir is not None:
        gps = terminology_dir / "ValueSet-snomed-intl-gps.json"
        doid = terminology_dir / "doid-allXREFinDO.tsv"
        if gps.exists():
            sources.append({"kind": "fhir", "path": str(gps)})
        if doid.exists():
            sources.append({"kind": "doid", "path": str(doid)})
    options: dict[str, Any] = {"sources": sources}
    if cache_dir:
        options["cache_dir"] = cache_dir
    return build_nlp(NlpSettings(options={"dictionary": options})), sources


def _mentions(
    nlp: Language, records: Iterable[tuple[str, str]]
) -> Iterator[tuple[str, tuple[Mention, ...]]]:
    notes = ((Note(note_id=rid, text=text), ()) for rid, text in records)
    for note, result in extract(nlp, notes, batch_size=64):
        if isinstance(result, Exception):
            log.warning("note %s failed: %s", note.note_id, result)
            yield note.note_id, ()
        else:
            yield note.note_id, result


def _asserted(m: Mention) -> bool:
    a = m.assertion
    return not (a.is_negated or a.is_hypothetical or a.is_family or a.is_historical)


# ------------------------------------------------------------------ Synthea


def _concept_keys(m: Mention, system: str) -> tuple[set[str], set[str]]:
    codes = {c.code for c in m.codings if c.system == system}
    names = {normalise_name(m.text)} | {normalise_name(c.display or "") for c in m.codings}
    return codes, names - {""}


def eval_synthea(nlp: Language, path: Path) -> list[Row]:
    """Encounter conditions (PROBLEM, SNOMED CT), medications (RxNorm) and procedures
    (PROCEDURE, SNOMED CT) found in each note, against the note's silver FHIR resources.

    A silver item is found when an asserted (not negated, historical, hypothetical or family)
    mention of the label carries its code, or, where the mention has no code of that system,
    its normalised name. Medication requests name a clinical drug ("Cisplatin 50 MG
    Injection") whose ingredient the mention names, so medications compare the mention's
    name as words inside the silver display. Precision counts distinct concepts per note.

    The silver conditions are the encounter's diagnoses, so the headline condition row scores
    the mentions notestruct emits as ``encounter-diagnosis`` Conditions
    (:func:`schemas.fhir.condition_category`): a chief complaint is a health concern, a
    problem list item a list item. The "every category" row scores every PROBLEM mention.
    """
    records = list(_jsonl(path))
    by_id = {r["id"]: r for r in records}
    # (row, silver field, label, code system, only mentions emitted as encounter diagnoses)
    kinds: tuple[tuple[str, str, str, str, bool], ...] = (
        (
            "synthea-conditions (encounter-diagnosis)",
            "encounter_conditions",
            "PROBLEM",
            SNOMED,
            True,
        ),
        ("synthea-medications", "encounter_medication_requests", "MEDICATION", RXNORM, False),
        ("synthea-procedures", "encounter_procedures", "PROCEDURE", SNOMED, False),
        ("synthea-conditions (every category)", "encounter_conditions", "PROBLEM", SNOMED, False),
    )
    counts = {k[0]: [0, 0, 0, 0] for k in kinds}  # tp_pred, n_pred, tp_gold, n_gold
    for rid, all_mentions in _mentions(nlp, ((r["id"], r["text"]) for r in records)):
        silver = by_id[rid]["silver"]
        for name, field, label, system, encounter_only in kinds:
            mentions = all_mentions
            if encounter_only:
                mentions = tuple(
                    m
                    for m in all_mentions
                    if condition_category(m.section)[1] == "encounter-diagnosis"
                )
            gold = {(g.get("code"), normalise_name(g.get("display", ""))) for g in silver[field]}
            preds: dict[str, tuple[set[str], set[str]]] = {}
            for m in mentions:
                if m.label == label and _asserted(m):
                    key = m.provenance.rule_id or normalise_name(m.text)
                    codes, names = _concept_keys(m, system)
                    old = preds.get(key, (set(), set()))
                    preds[key] = (old[0] | codes, old[1] | names)

            def hit(
                codes: set[str], names: set[str], g: tuple[str | None, str], label: str = label
            ) -> bool:
                if g[0] in codes:
                    return True
                if label == "MEDICATION":
                    return any(n and re.search(rf"\b{re.escape(n)}\b", g[1]) for n in names)
                return g[1] in names

            c = counts[name]
            c[1] += len(preds)
            c[0] += sum(any(hit(cs, ns, g) for g in gold) for cs, ns in preds.values())
            c[3] += len(gold)
            c[2] += sum(any(hit(cs, ns, g) for cs, ns in preds.values()) for g in gold)
    return [_row(name, *counts[name]) for name, *_ in kinds]


# ------------------------------------------------------------------ span corpora


#: How many sentences before each one the document-context rows give the pipeline. NCBI disease
#: and BC5CDR are PubMed abstracts cut into sentences, in abstract order, with no abstract
#: boundary kept; an abstract has about ten. A note reaches the product whole, so an abbreviation
#: defined in one sentence ("Huntington disease (HD)") names the disorder in the next ones; a
#: sentence scored alone cannot know that. The window may reach into the previous abstract.
CONTEXT_SENTENCES = 8


def _in_context(records: Sequence[Mapping[str, Any]], context: int) -> Iterator[tuple[str, str]]:
    """Each record's text after the texts of the ``context`` records before it, keyed id|offset."""
    for i, r in enumerate(records):
        before = [x["text"] for x in records[max(0, i - context) : i]]
        prefix = " ".join(before) + " " if before else ""
        yield f"{r['id']}|{len(prefix)}", prefix + r["text"]


def eval_spans(
    nlp: Language,
    path: Path,
    name: str,
    label_map: Mapping[str, str],
    context: int = 0,
) -> list[Row]:
    """Exact-span precision/recall/F1 per mapped label (assertions ignored: every mention).

    With ``context`` > 0 each sentence is read after the ``context`` sentences before it in the
    file, and only the mentions inside the sentence itself are scored.
    """
    records = list(_jsonl(path))
    gold: set[tuple[str, int, int, str]] = set()
    for r in records:
        for e in r["entities"]:
            if e["label"] in label_map:
                gold.add((r["id"], e["start"], e["end"], label_map[e["label"]]))
    labels = set(label_map.values())
    pred: set[tuple[str, int, int, str]] = set()
    for key, mentions in _mentions(nlp, _in_context(records, context)):
        rid, offset_text = key.rsplit("|", 1)
        offset = int(offset_text)
        pred.update(
            (rid, m.start_char - offset, m.end_char - offset, m.label)
            for m in mentions
            if m.label in labels and m.start_char >= offset
        )
    suffix = f" ({context} sentences before as context)" if context else ""
    rows = []
    for source_label, label in label_map.items():
        g = {x for x in gold if x[3] == label}
        p = {x for x in pred if x[3] == label}
        tp = len(g & p)
        rows.append(_row(f"{name} {source_label}->{label}{suffix}", tp, len(p), tp, len(g)))
    return rows


# ------------------------------------------------------------------ driver


def evaluate(nlp: Language, eval_dir: Path, split: str = "devel") -> list[Row]:
    """Every evaluation whose file exists under ``eval_dir``."""
    rows: list[Row] = []
    synthea = eval_dir / "synthea_notes" / "notes.jsonl"
    if synthea.exists():
        rows += eval_synthea(nlp, synthea)
    else:
        log.warning("skipping Synthea: %s not found", synthea)
    for corpus, label_map in (
        ("ncbi_disease", {"Disease": "PROBLEM"}),
        ("bc5cdr", {"Disease": "PROBLEM", "Chemical": "MEDICATION"}),
    ):
        path = eval_dir / corpus / f"{split}.jsonl"
        if path.exists():
            rows += eval_spans(nlp, path, f"{corpus}/{split}", label_map)
            rows += eval_spans(nlp, path, f"{corpus}/{split}", label_map, CONTEXT_SENTENCES)
        else:
            log.warning("skipping %s: %s not found", corpus, path)
    return rows


def format_rows(rows: Sequence[Row]) -> str:
    """A plain-text table."""
    lines = [f"{'evaluation':68} {'precision':>9} {'recall':>7} {'f1':>7} {'n':>6}"]
    lines += [f"{r.name:68} {r.precision:9.3f} {r.recall:7.3f} {r.f1:7.3f} {r.n:6d}" for r in rows]
    return "\n".join(lines)


def _shared_dir() -> Path:
    """``../shared`` beside the repository (or beside the worktree folder)."""
    root = Path(__file__).resolve().parents[1]
    for candidate in (root.parent / "shared", root.parent.parent / "shared"):
        if candidate.exists():
            return candidate
    return root.parent / "shared"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the evaluation table for the open dictionary and with BYO sources if present."""
    shared = _shared_dir()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--eval-dir", type=Path, default=shared / "eval")
    parser.add_argument("--terminology-dir", type=Path, default=shared / "terminology")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--split", default="devel")
    parser.add_argument("--no-byo", action="store_true", help="open sources only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if not args.eval_dir.exists():
        sys.stderr.write(f"no evaluation data at {args.eval_dir}; nothing to do\n")
        return 0
    configs: list[Path | None] = [None]
    if not args.no_byo and args.terminology_dir.exists():
        configs.append(args.terminology_dir)
    for term_dir in configs:
        t0 = time.perf_counter()
        nlp, sources = build_eval_nlp(args.cache_dir, term_dir)
        rows = evaluate(nlp, args.eval_dir, args.split)
        kinds = ", ".join(s["kind"] + ":" + Path(s["path"]).name for s in sources) or "none"
        sys.stdout.write(f"\n## dictionary: open sources; BYO sources: {kinds}\n")
        sys.stdout.write(format_rows(rows) + "\n")
        sys.stdout.write(f"({time.perf_counter() - t0:.0f} s)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Mention evaluation on the annotated document corpora: case reports, clinical cases, trial
criteria and chest X-ray reports.

Run ``python -m pipelines.eval_corpora [--eval-dir ../shared/eval] [--errors CORPUS:LABEL]``.
Absent corpora are skipped.

* MACCROBAT (case reports), E3C (clinical cases), Chia (trial criteria): per label, overlap
  match (label-aware, any shared character: the fair primary figure for a dictionary system,
  since every corpus has its own span conventions) and exact match beside it; for MACCROBAT
  medications, the share of gold dosages and routes found on the matched drug.
* IU X-ray: the 14 NegBio finding labels per report. A label is positive when a mention that
  is not negated, uncertain, hypothetical or about someone else maps to it (by its text or
  its codes' displays, through ``CHEST_XRAY_LABELS``); micro-averaged over the labels.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spacy.language import Language

from schemas.model import Mention

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gold:
    """A gold entity of a document, with its label mapped to ours."""

    start: int
    end: int
    label: str
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """One figure: precision, recall and F1 of a label under one match rule."""

    corpus: str
    label: str
    match: str
    precision: float
    recall: float
    f1: float
    n_gold: int
    n_pred: int

    @classmethod
    def of(
        cls, corpus: str, label: str, match: str, tp_p: int, n_p: int, tp_g: int, n_g: int
    ) -> Row:
        """A row from the counts (predictions correct, predictions, gold found, gold)."""
        p = tp_p / n_p if n_p else 0.0
        r = tp_g / n_g if n_g else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return cls(corpus, label, match, round(p, 4), round(r, 4), round(f, 4), n_g, n_p)


#: corpus -> (file below the eval dir, gold label -> our label)
SPAN_CORPORA: dict[str, tuple[str, Mapping[str, str]]] = {
    "maccrobat": (
        "maccrobat/dev.jsonl",
        {"Sign_symptom": "PROBLEM", "Disease_disorder": "PROBLEM", "Medication": "MEDICATION"},
    ),
    "e3c": ("e3c/dev.jsonl", {"CLINENTITY": "PROBLEM"}),
    "chia": ("chia/dev.jsonl", {"Condition": "PROBLEM", "Drug": "MEDICATION"}),
}


#: ``a`` or ``b``: score only that half of every corpus's documents (``--half``), so that rule
#: work can read the errors of one half and measure its effect on the other, unseen one
HALF: str | None = None


def in_half(doc_id: str, half: str | None) -> bool:
    """Whether a document belongs to a half: a stable split by a hash of its id."""
    if half is None:
        return True
    return "ab"[hashlib.sha256(str(doc_id).encode()).digest()[0] % 2] == half


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                if in_half(rec.get("id", ""), HALF):
                    yield rec


def extract_all(nlp: Language, docs: Sequence[tuple[str, str]]) -> dict[str, tuple[Mention, ...]]:
    """Every document's mentions (a failing document has none, with a warning)."""
    from extractors.nlp import extract
    from schemas.model import Note

    out: dict[str, tuple[Mention, ...]] = {}
    notes = ((Note(note_id=doc_id, text=text), ()) for doc_id, text in docs)
    for note, result in extract(nlp, notes, batch_size=16):
        if isinstance(result, Exception):
            log.warning("document %s failed: %s", note.note_id, result)
            out[note.note_id] = ()
        else:
            out[note.note_id] = result
    return out


def read_gold(path: Path, label_map: Mapping[str, str]) -> list[tuple[str, str, list[Gold]]]:
    """``(id, text, gold entities)`` per document, labels mapped, others dropped."""
    docs = []
    for rec in _jsonl(path):
        gold = [
            Gold(e["start"], e["end"], label_map[e["label"]], e.get("attributes") or {})
            for e in rec["entities"]
            if e["label"] in label_map
        ]
        docs.append((rec["id"], rec["text"], gold))
    return docs


def entity_label(m: Mention) -> str:
    """The entity type a mention's span names, as the span corpora annotate it: our label,
    except that the allergen of a drug allergy ("allergic to [penicillin]") is a drug entity
    (MACCROBAT's Medication, Chia's Drug) while the fact is an AllergyIntolerance, not a
    MedicationStatement."""
    if m.label == "ALLERGY" and (m.attributes or {}).get("category") == "medication":
        return "MEDICATION"
    return m.label


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score_spans(
    corpus: str,
    docs: Sequence[tuple[str, str, list[Gold]]],
    predicted: Mapping[str, Sequence[Mention]],
) -> list[Row]:
    """Overlap and exact P/R/F1 per label of the documents' gold entities."""
    labels = sorted({g.label for _, _, gold in docs for g in gold})
    rows = []
    for label in labels:
        counts = {"overlap": [0, 0, 0, 0], "exact": [0, 0, 0, 0]}
        for doc_id, _, gold in docs:
            g = [(x.start, x.end) for x in gold if x.label == label]
            p = [
                (m.start_char, m.end_char)
                for m in predicted.get(doc_id, ())
                if entity_label(m) == label
            ]
            gs, ps = set(g), set(p)
            c = counts["exact"]
            c[0] += len(ps & gs)
            c[1] += len(ps)
            c[2] += len(gs & ps)
            c[3] += len(gs)
            c = counts["overlap"]
            c[0] += sum(any(_overlaps(x, y) for y in g) for x in p)
            c[1] += len(p)
            c[2] += sum(any(_overlaps(y, x) for x in p) for y in g)
            c[3] += len(g)
        for match, (tp_p, n_p, tp_g, n_g) in counts.items():
            rows.append(Row.of(corpus, label, match, tp_p, n_p, tp_g, n_g))
    return rows


#: MACCROBAT medication attribute -> the parts of our MEDICATION mention that may hold it
MEDICATION_PARTS: dict[str, tuple[str, ...]] = {
    "dosage": ("strength", "dose", "regimen", "dose_change", "sig"),
    "route": ("route", "form"),  # MACCROBAT marks dose forms ("tablets", "injection") as route
    "frequency": ("frequency",),
}


def medication_attribute_recall(
    docs: Sequence[tuple[str, str, list[Gold]]], predicted: Mapping[str, Sequence[Mention]]
) -> list[Row]:
    """Share of gold dosages, routes and frequencies found on the matched drug mention.

    A gold attribute counts as found when a MEDICATION mention overlapping the gold drug has
    a part (``attributes["parts"]``) overlapping the attribute's span. The denominator is the
    gold attributes of every gold drug (a missed drug misses its attributes too).
    """
    found = dict.fromkeys(MEDICATION_PARTS, 0)
    total = dict.fromkeys(MEDICATION_PARTS, 0)
    for _, _, _, attr, _, _, hit in _gold_medication_parts(docs, predicted):
        total[attr] += 1
        found[attr] += hit
    return [
        Row.of(
            "maccrobat",
            f"MEDICATION {attr} on the matched drug",
            "recall",
            0,
            0,
            found[attr],
            total[attr],
        )
        for attr in MEDICATION_PARTS
    ]


def _gold_medication_parts(
    docs: Sequence[tuple[str, str, list[Gold]]], predicted: Mapping[str, Sequence[Mention]]
) -> Iterator[tuple[str, str, Gold, str, tuple[int, int], list[Mention], bool]]:
    """Each gold dosage, route and frequency of each gold drug: (document id, text, the gold
    drug, the attribute, its span, the MEDICATION mentions overlapping the drug, whether one
    of them has a part overlapping the span)."""
    for doc_id, text, gold in docs:
        meds = [m for m in predicted.get(doc_id, ()) if entity_label(m) == "MEDICATION"]
        for g in gold:
            if g.label != "MEDICATION":
                continue
            matched = [m for m in meds if _overlaps((m.start_char, m.end_char), (g.start, g.end))]
            for attr, names in MEDICATION_PARTS.items():
                for item in g.attributes.get(attr, ()) or ():
                    span = (item["start"], item["end"])
                    hit = any(_part_overlaps(m, names, span) for m in matched)
                    yield doc_id, text, g, attr, span, matched, hit


def _part_overlaps(m: Mention, names: Iterable[str], span: tuple[int, int]) -> bool:
    parts = (m.attributes or {}).get("parts") or {}
    for name in names:
        bounds = parts.get(name)
        if bounds and _overlaps((int(bounds[0]), int(bounds[1])), span):
            return True
    return False


#: corpus -> (file, the gold label of a test or measurement, the gold label of a result value,
#: the attribute that links a test to its values)
TEST_CORPORA: dict[str, tuple[str, str, str, str]] = {
    "maccrobat": ("maccrobat/dev.jsonl", "Diagnostic_procedure", "Lab_value", "values"),
    "chia": ("chia/dev.jsonl", "Measurement", "Value", "value"),
}
_DIGIT = re.compile(r"\d")


def _numeric_values(entity: Mapping[str, Any], link: str) -> list[Mapping[str, Any]]:
    """The values linked to a gold test that have a digit in them ("13.1 gm/dl", "> 60")."""
    return [
        v
        for v in (entity.get("attributes") or {}).get(link) or ()
        if isinstance(v, Mapping) and _DIGIT.search(v.get("text", ""))
    ]


def score_tests(
    corpus: str, records: Sequence[Mapping[str, Any]], predicted: Mapping[str, Sequence[Mention]]
) -> list[Row]:
    """Tests with a numeric result, as LAB and VITAL mentions (overlap), and their values.

    Gold: the corpus's tests (MACCROBAT Diagnostic_procedure, Chia Measurement) linked to a
    value with a digit in it ("13.1 gm/dl", "> 60"); a test with only a word for its result
    ("normal", "negative") is not counted. A LAB or VITAL mention is correct when it overlaps
    a test or a value span of the corpus (ours covers name, value and unit). Where the corpus
    gives the value's offsets (MACCROBAT), a second row: the share of numeric gold values
    inside the value part of a mention overlapping their test (a missed test misses them).
    """
    _, test_label, value_label, link = TEST_CORPORA[corpus]
    tp_p = n_p = tp_g = n_g = 0
    v_found = v_total = 0
    has_offsets = False
    for rec in records:
        ents = rec["entities"]
        spans = [(e["start"], e["end"]) for e in ents if e["label"] in (test_label, value_label)]
        ours = [m for m in predicted.get(rec["id"], ()) if m.label in ("LAB", "VITAL")]
        n_p += len(ours)
        tp_p += sum(any(_overlaps((m.start_char, m.end_char), s) for s in spans) for m in ours)
        for e in ents:
            if e["label"] != test_label:
                continue
            values = _numeric_values(e, link)
            if not values:
                continue
            n_g += 1
            matched = [
                m for m in ours if _overlaps((m.start_char, m.end_char), (e["start"], e["end"]))
            ]
            tp_g += bool(matched)
            for v in values:
                if "start" not in v:
                    continue
                has_offsets = True
                v_total += 1
                v_found += any(
                    _part_overlaps(m, ("value",), (v["start"], v["end"])) for m in matched
                )
    rows = [Row.of(corpus, "TEST with a numeric result", "overlap", tp_p, n_p, tp_g, n_g)]
    if has_offsets:
        rows.append(
            Row.of(
                corpus, "TEST numeric value on the matched test", "recall", 0, 0, v_found, v_total
            )
        )
    return rows


# -- chest X-ray report labels ------------------------------------------------------------------

#: The 14 NegBio (ChestX-ray14) finding labels, each with the patterns (on the lower-cased text
#: of a mention and the displays of its codes) that name it. Synonyms and morphology as
#: radiologists write them; the same table for every report corpus.
CHEST_XRAY_LABELS: dict[str, tuple[str, ...]] = {
    "Atelectasis": (r"atelecta",),
    "Cardiomegaly": (
        r"cardiomegal",
        r"enlarge(d|ment of)( the)? (heart|cardiac)",
        r"(heart|cardiac) (size |silhouette )?enlarge",
    ),
    "Effusion": (r"effusion",),
    "Infiltration": (r"infiltrat",),
    # 'masslike opacity' is read as a mass by NegBio's and CheXpert's vocabularies ('mass')
    "Mass": (r"\bmass(es)?\b", r"\bmass-?like\b"),
    "Nodule": (r"nodul",),
    # MeSH "Pneumonia" has "Pneumonitis" as an entry term: inflammation of the lung parenchyma
    "Pneumonia": (r"pneumonia", r"pneumonit"),
    "Pneumothorax": (r"pneumothora",),
    "Consolidation": (r"consolidat",),
    "Edema": (r"\bo?edema",),
    # pulmonary emphysema; air in the soft tissues or mediastinum is another finding
    # (its air outside the lung: the displays "interstitial emphysema", "subcutaneous ...")
    "Emphysema": (
        r"(?<!subcutaneous )(?<!soft tissue )(?<!mediastinal )(?<!surgical )(?<!interstitial )"
        r"emphysem",
    ),
    # pulmonary fibrosis; cystic fibrosis is a genetic disease (its lungs scar, but it is not
    # the finding)
    "Fibrosis": (r"(?<!cystic )fibros", r"fibrotic"),
    "Pleural_Thickening": (r"pleural thicken", r"thickening of the pleura"),
    "Hernia": (r"hernia",),
}

_LABEL_RES = {k: tuple(re.compile(p) for p in v) for k, v in CHEST_XRAY_LABELS.items()}


#: Sections that give the question a report answers, not what the image shows: the indication
#: and the history a requester writes ("HISTORY: rule out pneumonia"; a report's "HISTORY:"
#: heading is read as the history of present illness).
QUESTION_SECTIONS = frozenset(
    {
        "indication",
        "chief_complaint",
        "history_of_present_illness",
        "past_medical_history",
        "past_surgical_history",
        "family_history",
        "social_history",
    }
)


def xray_labels(mentions: Iterable[Mention]) -> set[str]:
    """The finding labels that the report's present, patient-level mentions name."""
    out: set[str] = set()
    for m in mentions:
        if m.section in QUESTION_SECTIONS:
            continue  # the question the report answers; NegBio labels findings and impression
        a = m.assertion
        if a.is_negated or a.is_uncertain or a.is_hypothetical or a.is_family:
            continue
        names = [m.text.lower(), *((c.display or "").lower() for c in m.codings)]
        for label, patterns in _LABEL_RES.items():
            if any(p.search(n) for p in patterns for n in names):
                out.add(label)
    return out


def score_xray(nlp: Language, path: Path) -> tuple[list[Row], list[tuple[str, set[str], set[str]]]]:
    """Per-label and micro P/R/F1 of the report labels, and each report's (gold, predicted)."""
    records = list(_jsonl(path))
    predicted = extract_all(nlp, [(r["id"], r["text"]) for r in records])
    labels = list(CHEST_XRAY_LABELS)
    counts = {label: [0, 0, 0] for label in labels}  # tp, fp, fn
    pairs = []
    for r in records:
        gold = {k for k in labels if r["negbio_gold14"].get(k)}
        pred = xray_labels(predicted[r["id"]])
        pairs.append((r["id"], gold, pred))
        for label in labels:
            c = counts[label]
            c[0] += label in gold and label in pred
            c[1] += label in pred and label not in gold
            c[2] += label in gold and label not in pred
    rows = []
    for label in labels:
        tp, fp, fn = counts[label]
        rows.append(Row.of("iu_xray", label, "report", tp, tp + fp, tp, tp + fn))
    tp = sum(c[0] for c in counts.values())
    fp = sum(c[1] for c in counts.values())
    fn = sum(c[2] for c in counts.values())
    rows.append(Row.of("iu_xray", "micro (14 labels)", "report", tp, tp + fp, tp, tp + fn))
    return rows, pairs


# -- driver -------------------------------------------------------------------------------------


def evaluate(nlp: Language, eval_dir: Path) -> list[Row]:
    """Every corpus present under ``eval_dir``."""
    rows: list[Row] = []
    for corpus, (rel, label_map) in SPAN_CORPORA.items():
        path = eval_dir / rel
        if not path.is_file():
            log.warning("skipping %s: %s not found", corpus, path)
            continue
        docs = read_gold(path, label_map)
        predicted = extract_all(nlp, [(d, t) for d, t, _ in docs])
        rows += score_spans(corpus, docs, predicted)
        if corpus == "maccrobat":
            rows += medication_attribute_recall(docs, predicted)
        if corpus in TEST_CORPORA:
            rows += score_tests(corpus, list(_jsonl(path)), predicted)
    xray = eval_dir / "iu_xray" / "dev.jsonl"
    if xray.is_file():
        rows += score_xray(nlp, xray)[0]
    else:
        log.warning("skipping iu_xray: %s not found", xray)
    return rows


def span_errors(nlp: Language, eval_dir: Path, corpus: str, label: str) -> Iterator[str]:
    """Misses and false positives of one label of a span corpus, in context (for rule work)."""
    known = TEST_CORPORA if label == "TEST" else SPAN_CORPORA
    if corpus not in known:
        raise SystemExit(f"--errors: no corpus {corpus!r} for {label}; one of {sorted(known)}")
    if label == "TEST":
        yield from test_errors(nlp, eval_dir, corpus)
        return
    rel, label_map = SPAN_CORPORA[corpus]
    docs = read_gold(eval_dir / rel, label_map)
    predicted = extract_all(nlp, [(d, t) for d, t, _ in docs])
    if label in MEDICATION_PARTS:
        yield from attribute_errors(docs, predicted, label)
        return
    for doc_id, text, gold in docs:
        g = [(x.start, x.end) for x in gold if x.label == label]
        p = [(m.start_char, m.end_char) for m in predicted[doc_id] if entity_label(m) == label]
        for s, e in g:
            if not any(_overlaps((s, e), x) for x in p):
                yield f"MISS {doc_id}: {_context(text, s, e)}"
        for s, e in p:
            if not any(_overlaps((s, e), y) for y in g):
                yield f"FP   {doc_id}: {_context(text, s, e)}"


def test_errors(nlp: Language, eval_dir: Path, corpus: str) -> Iterator[str]:
    """Tests with a numeric result that no LAB or VITAL mention overlaps (``MISS``), matched
    ones whose value part misses the gold value (``VALUE``, the value marked ``{{...}}``), and
    LAB / VITAL mentions over no test or value of the corpus (``FP``)."""
    rel, test_label, value_label, link = TEST_CORPORA[corpus]
    records = list(_jsonl(eval_dir / rel))
    predicted = extract_all(nlp, [(r["id"], r["text"]) for r in records])
    for rec in records:
        text, ents = rec["text"], rec["entities"]
        ours = [m for m in predicted.get(rec["id"], ()) if m.label in ("LAB", "VITAL")]
        for e in ents:
            values = _numeric_values(e, link)
            if e["label"] != test_label or not values:
                continue
            span = (e["start"], e["end"])
            matched = [m for m in ours if _overlaps((m.start_char, m.end_char), span)]
            if not matched:
                yield f"MISS  {rec['id']}: {_context(text, *span)} -> {values[0]['text']!r}"
                continue
            for v in values:
                if "start" in v and not any(
                    _part_overlaps(m, ("value",), (v["start"], v["end"])) for m in matched
                ):
                    ctx = _context(text, *span)
                    yield f"VALUE {rec['id']}: {ctx} {{{{{v['text']}}}}}"
        spans = [(e["start"], e["end"]) for e in ents if e["label"] in (test_label, value_label)]
        for m in ours:
            if not any(_overlaps((m.start_char, m.end_char), s) for s in spans):
                yield f"FP    {rec['id']}: {_context(text, m.start_char, m.end_char)}"


def attribute_errors(
    docs: Sequence[tuple[str, str, list[Gold]]],
    predicted: Mapping[str, Sequence[Mention]],
    attr: str,
) -> Iterator[str]:
    """Gold dosages (routes, frequencies) not found on the matched drug, in context.

    ``NODRUG`` when no mention overlaps the gold drug, ``MISS`` when one does but none of its
    parts overlaps the attribute; the drug is marked ``<<...>>``, the attribute ``[[...]]``.
    """
    for doc_id, text, g, name, span, matched, hit in _gold_medication_parts(docs, predicted):
        if name != attr or hit:
            continue
        s, e = min(g.start, span[0]), max(g.end, span[1])
        window = text[max(0, s - 40) : e + 30]
        off = max(0, s - 40)
        marks = sorted([(g.start, "<<"), (g.end, ">>"), (span[0], "[["), (span[1], "]]")])
        for pos, mark in reversed(marks):
            window = window[: pos - off] + mark + window[pos - off :]
        kind = "MISS  " if matched else "NODRUG"
        yield f"{kind} {doc_id}: {' '.join(window.split())}"


def _context(text: str, s: int, e: int) -> str:
    return " ".join(f"{text[max(0, s - 60) : s]}[[{text[s:e]}]]{text[e : e + 40]}".split())


def format_rows(rows: Sequence[Row]) -> str:
    """A plain-text table."""
    lines = [f"{'corpus':10} {'label':34} {'match':8} {'P':>6} {'R':>6} {'F1':>6} {'gold':>6}"]
    lines += [
        f"{r.corpus:10} {r.label:34} {r.match:8} {r.precision:6.3f} {r.recall:6.3f} "
        f"{r.f1:6.3f} {r.n_gold:6d}"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table (or the errors of one corpus and label)."""
    from pipelines.eval_concepts import _shared_dir, build_eval_nlp

    shared = _shared_dir()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--eval-dir", type=Path, default=shared / "eval")
    parser.add_argument("--terminology-dir", type=Path, default=shared / "terminology")
    parser.add_argument(
        "--errors", default=None, help="CORPUS:LABEL: chia:PROBLEM, maccrobat:dosage, chia:TEST"
    )
    parser.add_argument("--xray-errors", default=None, help="a label: reports missed / added")
    parser.add_argument(
        "--half",
        choices=("a", "b"),
        default=None,
        help="only half of each corpus's documents (a stable split by id): tune on one, check "
        "on the other",
    )
    args = parser.parse_args(argv)
    global HALF
    HALF = args.half
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if not args.eval_dir.is_dir():
        sys.stderr.write(f"no evaluation data at {args.eval_dir}; nothing to do\n")
        return 0
    term = args.terminology_dir if args.terminology_dir.is_dir() else None
    nlp, _ = build_eval_nlp(None, term)
    write: Callable[[str], object] = sys.stdout.write
    if args.errors:
        corpus, label = args.errors.split(":")
        for line in span_errors(nlp, args.eval_dir, corpus, label):
            write(line + "\n")
        return 0
    if args.xray_errors:
        _, pairs = score_xray(nlp, args.eval_dir / "iu_xray" / "dev.jsonl")
        texts = {r["id"]: r["text"] for r in _jsonl(args.eval_dir / "iu_xray" / "dev.jsonl")}
        for rid, gold, pred in pairs:
            lab = args.xray_errors
            if (lab in gold) != (lab in pred):
                kind = "FN" if lab in gold else "FP"
                write(f"{kind} {rid}: {' '.join(texts[rid].split())[:400]}\n")
        return 0
    write(format_rows(evaluate(nlp, args.eval_dir)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Coverage of the structured extractors on MTSamples: attribute fill rates and a review sample.

Usage: python bench/structured_coverage.py [--limit N] [--sample K] [--seed S]
Reads ../shared/eval/mtsamples/notes.jsonl when present (skips with a message otherwise) and
prints JSON counts; with --sample, also prints K random mentions per label with context for
hand review. Not part of the product or the test suite.
"""

import argparse
import collections
import json
import random
import sys
import time
from pathlib import Path

from extractors.nlp import NlpSettings, build_nlp, extract
from schemas.model import Note

ROOT = Path(__file__).resolve().parents[1]
#: ../shared/eval from the repository root (or from a worktree under wt/).
CANDIDATES = [r / "shared" / "eval" / "mtsamples" / "notes.jsonl" for r in ROOT.parents[:2]]
DATA = next((c for c in CANDIDATES if c.exists()), CANDIDATES[0])
EXTRACTORS = ("dictionary", "medications", "labs", "vitals", "allergies")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--sample", type=int, default=0)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    path = Path(args.data)
    if not path.exists():
        print(f"skipped: {path} not found")
        return 0
    notes = []
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if args.limit and i >= args.limit:
                break
            rec = json.loads(line)
            notes.append(Note(note_id=str(rec["id"]), text=rec["text"]))
    nlp = build_nlp(NlpSettings(extractors=EXTRACTORS, abbreviations=False))
    t0 = time.perf_counter()
    counts: collections.Counter[str] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    by_label: dict[str, list[tuple[Note, object]]] = collections.defaultdict(list)
    for note, mentions in extract(nlp, ((n, ()) for n in notes)):
        if isinstance(mentions, Exception):
            counts["errors"] += 1
            continue
        for m in mentions:
            if m.provenance.extractor not in EXTRACTORS[1:]:
                continue
            counts[m.label] += 1
            by_label[m.label].append((note, m))
            if m.assertion.is_negated:
                counts[f"{m.label}.negated"] += 1
            a = m.attributes
            if m.label == "MEDICATION":
                counts[f"MEDICATION.source.{a.get('drug_source')}"] += 1
                for key in ("strength", "dose", "route", "frequency", "duration", "prn"):
                    if key in a:
                        counts[f"MEDICATION.with_{key}"] += 1
                if "sig" in a:
                    counts["MEDICATION.with_any_sig"] += 1
            elif m.label == "VITAL":
                kinds[f"VITAL.{a['vital']}"] += 1
            elif m.label == "LAB":
                kinds[f"LAB.{a['test']}"] += 1
                if a.get("ucum"):
                    counts["LAB.with_ucum"] += 1
                if a.get("interpretation"):
                    counts["LAB.with_interpretation"] += 1
            elif m.label == "ALLERGY":
                if a.get("no_known_allergy"):
                    counts["ALLERGY.no_known"] += 1
                elif m.codings:
                    counts["ALLERGY.coded"] += 1
                if a.get("reaction"):
                    counts["ALLERGY.with_reaction"] += 1
                if a.get("no_known_allergy") and m.assertion.is_negated:
                    counts["ALLERGY.no_known.negated"] += 1
    elapsed = time.perf_counter() - t0
    out = {
        "notes": len(notes),
        "seconds": round(elapsed, 1),
        "counts": dict(sorted(counts.items())),
        "top_kinds": dict(kinds.most_common(40)),
    }
    print(json.dumps(out, indent=1))
    if args.sample:
        rng = random.Random(args.seed)
        for label, items in sorted(by_label.items()):
            print(f"\n### {label}: {args.sample} of {len(items)}")
            for note, m in rng.sample(items, min(args.sample, len(items))):
                ctx = note.text[max(0, m.start_char - 40) : m.end_char + 60].replace("\n", " | ")
                attrs = {k: v for k, v in m.attributes.items() if k not in ("parts",)}
                print(f"- [{m.text}] ctx: {ctx!r}\n    {json.dumps(attrs)[:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

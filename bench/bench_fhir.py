"""FHIR mapping + serialisation throughput: shape-cached validation vs model-per-resource.

Times are CPU seconds of this single-threaded process (``time.process_time``), so other work
on a shared machine does not count against it; both paths are measured in the same run.

    python bench/bench_fhir.py [--mentions dump.jsonl] [--resources 60000] [--min-rate 20000]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from schemas.fhir import MODELS, ShapeValidator, map_mention, map_note, to_document_reference
from schemas.model import Mention, Note

log = logging.getLogger("bench_fhir")
ROOT = Path(__file__).resolve().parents[1]

Workload = list[tuple[Note, tuple[Mention, ...]]]


def sample_workload(path: Path) -> Workload:
    """The sample notes through the installed default pipeline (extraction is not timed)."""
    from extractors.nlp import ExtractionError, NlpSettings, build_nlp, extract
    from extractors.registry import available_extractors

    notes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        date = d.get("date")
        notes.append(
            Note(
                note_id=d["id"],
                text=d["text"],
                patient_ref=d.get("patient_id"),
                encounter_ref=d.get("encounter_id"),
                note_type=d.get("note_type"),
                authored_at=datetime.fromisoformat(date.replace("Z", "+00:00")) if date else None,
            )
        )
    nlp = build_nlp(NlpSettings(extractors=tuple(sorted(available_extractors()))))
    return [
        (note, out)
        for note, out in extract(nlp, [(n, ()) for n in notes])
        if not isinstance(out, ExtractionError)
    ]


def dumped_workload(path: Path) -> Workload:
    """Notes and mentions dumped as JSONL lines ``{"note": {...}, "mentions": [...]}``."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        out.append(
            (
                Note.model_validate(d["note"]),
                tuple(Mention.model_validate(m) for m in d["mentions"]),
            )
        )
    return out


def run_fast(work: Workload, rounds: int, batch_notes: int) -> tuple[int, float, ShapeValidator]:
    """map_note with one ShapeValidator per run (as pipelines/batch.py) or per batch of notes,
    json.dumps per resource."""
    count = 0
    # one encoder object (json.dumps with options builds one per call); resources are trees
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode
    validator = ShapeValidator()
    seen_notes = 0
    start = time.process_time()
    for _ in range(rounds):
        for note, mentions in work:
            if batch_notes and seen_notes % batch_notes == 0:
                validator = ShapeValidator()  # a validator per batch instead of per run
            seen_notes += 1
            for r in map_note(note, mentions, validator=validator):
                dumps(r)
                count += 1
    return count, time.process_time() - start, validator


def run_baseline(work: Workload, rounds: int) -> tuple[int, float]:
    """Same dicts, each validated through its model and serialised with model_dump_json."""
    count = 0
    start = time.process_time()
    for _ in range(rounds):
        for note, mentions in work:
            resources = [to_document_reference(note)]
            resources += [r for m in mentions if (r := map_mention(m, note)) is not None]
            for r in resources:
                MODELS[r["resourceType"]].model_validate(r).model_dump_json(exclude_none=True)
                count += 1
    return count, time.process_time() - start


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print resources/s of both paths and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notes", type=Path, default=ROOT / "samples" / "notes.jsonl")
    parser.add_argument("--mentions", type=Path, help="JSONL of {note, mentions} to map instead")
    parser.add_argument("--resources", type=int, default=60_000, help="fast-path resources")
    parser.add_argument(
        "--batch-notes",
        type=int,
        default=0,
        help="new ShapeValidator every N notes (0: one per run, as the flow)",
    )
    parser.add_argument("--min-rate", type=float, default=0.0, help="exit 1 below this rate")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    work = dumped_workload(args.mentions) if args.mentions else sample_workload(args.notes)
    per_round = sum(len(map_note(n, ms)) for n, ms in work)
    types = Counter(r["resourceType"] for n, ms in work for r in map_note(n, ms))
    rounds = max(1, args.resources // per_round)
    log.info(
        "workload: %d notes, %d mentions, %d resources per round %s",
        len(work),
        sum(len(ms) for _, ms in work),
        per_round,
        dict(types),
    )
    run_fast(work, 1, args.batch_notes)  # warm-up (imports, regex compilation)
    n_fast, t_fast, validator = run_fast(work, rounds, args.batch_notes)
    base_rounds = max(1, rounds // 10)
    n_base, t_base = run_baseline(work, base_rounds)
    fast, base = n_fast / t_fast, n_base / t_base
    log.info(
        "baseline (model_validate + model_dump_json per resource): %d in %.2f s = %.0f/s",
        n_base,
        t_base,
        base,
    )
    log.info(
        "notestruct (shape-validated dict + json.dumps): %d in %.2f s = %.0f/s",
        n_fast,
        t_fast,
        fast,
    )
    log.info(
        "ratio %.1fx; last batch validator: %d shapes validated, %d resources reused",
        fast / base,
        validator.validated,
        validator.skipped,
    )
    return 0 if fast >= args.min_rate else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Throughput of the whole ``extract`` path against a bare ``spacy.blank("en")`` tokenizer.

Usage: python bench/bench_extract.py [--notes PATH] [--limit N] [--components] [--cli]

Runs, as separate whole processes in the same run: (1) the baseline, reading the JSON-lines
notes and writing one JSON line per note with its token count; (2) notestruct's default
pipeline through ``extractors.nlp.extract``, writing one JSON line of mentions per note (as
``notestruct extract`` does). Reports notes/s for both, the ratio and each process's peak RSS.
``--components`` also times every pipeline component (ms/note) in this process.
``--cli`` also times whole processes from interpreter start to exit, imports and pipeline
build included: ``notestruct extract NOTES -o /dev/null`` against a script that reads the same
JSON lines, tokenises each note with ``spacy.blank("en")`` and writes one JSON line per note.
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NOTES = next(
    (
        p
        for r in (ROOT.parent, ROOT.parent.parent)
        if (p := r / "shared" / "eval" / "mtsamples" / "notes.jsonl").is_file()
    ),
    ROOT.parent / "shared" / "eval" / "mtsamples" / "notes.jsonl",
)


def _read(path: Path, limit: int | None) -> list[dict]:
    notes = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            notes.append(json.loads(line))
            if limit and len(notes) >= limit:
                break
    return notes


def _peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_baseline(path: Path, out: Path, limit: int | None) -> dict:
    """Child: blank("en") tokenizer over every note, JSON lines in and out."""
    import spacy

    nlp = spacy.blank("en")
    t_load = time.perf_counter()
    notes = _read(path, limit)
    t0, c0 = time.perf_counter(), time.process_time()
    with out.open("w", encoding="utf-8") as fh:
        for rec in notes:
            doc = nlp.make_doc(rec["text"])
            fh.write(json.dumps({"id": rec["id"], "tokens": len(doc)}) + "\n")
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "notes": len(notes),
        "seconds": secs,
        "cpu_s": cpu,
        "load_s": t0 - t_load,
        "rss_mb": _peak_rss_mb(),
    }


def _seeded(nlp, text: str, every: int) -> list[dict]:
    """Given PROBLEM spans on every ``every``-th word of 6+ letters (simulates a big dictionary)."""
    words = [t for t in nlp.make_doc(text) if t.is_alpha and len(t) > 5][::every]
    return [{"start": t.idx, "end": t.idx + len(t), "label": "PROBLEM"} for t in words]


def run_extract(path: Path, out: Path, limit: int | None, seed_every: int = 0) -> dict:
    """Child: notestruct's default pipeline through ``extract``, JSON lines in and out."""
    from extractors.nlp import NlpSettings, extract
    from pipelines.resources import get_nlp
    from schemas.model import Note

    t_build = time.perf_counter()
    nlp = get_nlp(NlpSettings())  # as `notestruct extract` builds it (warmed, heap frozen)
    build_s = time.perf_counter() - t_build
    notes = _read(path, limit)
    seeds = [_seeded(nlp, r["text"], seed_every) if seed_every else () for r in notes]
    t0, c0 = time.perf_counter(), time.process_time()
    n_mentions = errors = 0
    with out.open("w", encoding="utf-8") as fh:
        items = (
            (Note(note_id=rec["id"], text=rec["text"]), seed)
            for rec, seed in zip(notes, seeds, strict=True)
        )
        for note, result in extract(nlp, items):
            if isinstance(result, Exception):
                errors += 1
                fh.write(json.dumps({"id": note.note_id, "error": str(result)}) + "\n")
                continue
            n_mentions += len(result)
            fh.write(
                json.dumps({"id": note.note_id, "mentions": [m.to_contract() for m in result]})
                + "\n"
            )
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "notes": len(notes),
        "seconds": secs,
        "cpu_s": cpu,
        "build_s": build_s,
        "mentions": n_mentions,
        "errors": errors,
        "rss_mb": _peak_rss_mb(),
    }


def time_components(path: Path, limit: int | None, seed_every: int = 0) -> list[tuple[str, float]]:
    """CPU ms/note of the tokenizer and of each pipeline component, run one after another."""
    from extractors.nlp import NlpSettings, make_doc
    from pipelines.resources import get_nlp
    from schemas.model import Note

    nlp = get_nlp(NlpSettings())
    notes = _read(path, limit)
    totals: dict[str, float] = {"tokenizer (make_doc)": 0.0}
    for name in nlp.pipe_names:
        totals[name] = 0.0
    for rec in notes:
        seed = _seeded(nlp, rec["text"], seed_every) if seed_every else ()
        t0 = time.process_time()
        doc = make_doc(nlp, Note(note_id=rec["id"], text=rec["text"]), seed)
        totals["tokenizer (make_doc)"] += time.process_time() - t0
        for name, proc in nlp.pipeline:
            t0 = time.process_time()
            doc = proc(doc)
            totals[name] += time.process_time() - t0
    return [(k, v * 1e3 / len(notes)) for k, v in totals.items()]


_BASELINE_SCRIPT = """
import json, sys
import spacy
nlp = spacy.blank("en")
with open(sys.argv[1], encoding="utf-8") as fh, open(sys.argv[2], "w", encoding="utf-8") as out:
    for n, line in enumerate(fh):
        if n >= int(sys.argv[3]):
            break
        rec = json.loads(line)
        out.write(json.dumps({"id": rec["id"], "tokens": len(nlp.make_doc(rec["text"]))}) + "\\n")
"""


def _timed(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one child process, start to exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def time_cli(path: Path, limit: int | None) -> dict:
    """Whole-process timing: ``notestruct extract`` vs a blank("en") tokenizer script."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        notes = path
        if limit:
            notes = Path(tmp) / "notes.jsonl"
            with path.open(encoding="utf-8") as src, notes.open("w", encoding="utf-8") as dst:
                for n, line in enumerate(src):
                    if n >= limit:
                        break
                    dst.write(line)
        exe = Path(sys.executable).with_name("notestruct")
        cli = [str(exe) if exe.exists() else "notestruct", "extract", str(notes)]
        base = [sys.executable, "-c", _BASELINE_SCRIPT, str(notes), "/dev/null", str(10**12)]
        # warm the compiled dictionary cache so neither run pays a first-use build
        _timed([*cli, "--output", "/dev/null"])
        b_wall, b_cpu = _timed(base)
        e_wall, e_cpu = _timed([*cli, "--output", "/dev/null"])
    return {"base_wall": b_wall, "base_cpu": b_cpu, "cli_wall": e_wall, "cli_cpu": e_cpu}


def _child(mode: str, path: Path, limit: int | None, seed_every: int) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--notes", str(path)]
    if limit:
        cmd += ["--limit", str(limit)]
    if seed_every:
        cmd += ["--seed-every", str(seed_every)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    """Run both processes and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notes", type=Path, default=DEFAULT_NOTES)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--components", action="store_true")
    parser.add_argument(
        "--cli",
        action="store_true",
        help="also time whole processes: notestruct extract vs a blank('en') script",
    )
    parser.add_argument("--child", choices=["baseline", "extract"], default=None)
    parser.add_argument(
        "--seed-every",
        type=int,
        default=0,
        help="also hand every k-th 6+ letter word to the pipeline as a PROBLEM mention "
        "(simulates the mention density of a large dictionary; 0 = off)",
    )
    args = parser.parse_args()
    if not args.notes.exists():
        print(f"{args.notes} not found: nothing to benchmark")
        return 0
    if args.child:
        sink = Path("/dev/null")
        if args.child == "baseline":
            print(json.dumps(run_baseline(args.notes, sink, args.limit)))
        else:
            print(json.dumps(run_extract(args.notes, sink, args.limit, args.seed_every)))
        return 0
    base = _child("baseline", args.notes, args.limit, 0)
    full = _child("extract", args.notes, args.limit, args.seed_every)
    b_rate, f_rate = base["notes"] / base["seconds"], full["notes"] / full["seconds"]
    b_cpu, f_cpu = base["notes"] / base["cpu_s"], full["notes"] / full["cpu_s"]
    print(
        f"notes: {base['notes']}"
        + (f" (seeded every {args.seed_every})" if args.seed_every else "")
    )
    print(
        f"blank('en') tokenizer : {b_rate:8.1f} notes/s wall {b_cpu:8.1f} notes/s CPU  "
        f"peak RSS {base['rss_mb']:7.1f} MB"
    )
    print(
        f"notestruct extract    : {f_rate:8.1f} notes/s wall {f_cpu:8.1f} notes/s CPU  "
        f"peak RSS {full['rss_mb']:7.1f} MB  (build {full['build_s']:.1f} s, "
        f"{full['mentions']} mentions, {full['errors']} errors)"
    )
    print(f"ratio extract/tokenizer: {f_rate / b_rate:.3f} wall, {f_cpu / b_cpu:.3f} CPU")
    if args.cli:
        t = time_cli(args.notes, args.limit)
        print(
            f"\nwhole processes (start to exit): blank('en') script {t['base_wall']:.1f} s wall "
            f"{t['base_cpu']:.1f} s CPU; notestruct extract {t['cli_wall']:.1f} s wall "
            f"{t['cli_cpu']:.1f} s CPU"
        )
        print(
            f"ratio notestruct extract/tokenizer (whole process): "
            f"{t['base_wall'] / t['cli_wall']:.3f} wall, {t['base_cpu'] / t['cli_cpu']:.3f} CPU"
        )
    if args.components:
        print("\nper component (CPU ms/note, this process):")
        rows = time_components(args.notes, args.limit, args.seed_every)
        for name, ms in rows:
            print(f"  {name:28} {ms:7.3f}")
        print(f"  {'total':28} {sum(ms for _, ms in rows):7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Whole-process throughput over MTSamples, against the bare tokenizer in the same run.

Every figure is a whole command as a user runs it, start-up included (imports, pipeline
build, worker spawn, migrations): ``notestruct extract``, ``notestruct ingest`` into a new
SQLite warehouse, and into PostgreSQL (a schema emptied first). The baseline is a new Python
process that reads the same file and runs ``spacy.blank("en")`` over every note. Rounds are
interleaved; the ratio is baseline seconds / command seconds (higher is better; issue 16's
goals: extract >= 0.35, ingest SQLite >= 0.25, ingest PostgreSQL >= 0.20).

    python bench/bench_process.py                       # 2 rounds, SQLite and extract
    python bench/bench_process.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/ns_bench
    python bench/bench_process.py --parts extract --rounds 3
    python bench/bench_process.py --parts extract,sqlite --compare-source /tmp/base
        (mkdir /tmp/base && git archive <base commit> | tar -x -C /tmp/base: before and
        after in the same rounds, each "before" command right after its "after")

Reads ../shared/eval/mtsamples/notes.jsonl; exits 0 with a message when it is absent.
The PostgreSQL database must be a scratch one: its ``public`` schema is dropped and created.

Measured 2026-12-04, session 9, ``--compare-source`` commit 5d5d4dc (main before it), 3
rounds. Machine quieter (load average 0.9-2.1), ``--parts sqlite,postgres``: baseline 5.4 s
(438 notes/s); ``ingest`` SQLite 0.284 (rounds 0.287, 0.272, 0.288; that commit 0.232),
PostgreSQL 0.283 (0.288, 0.276, 0.276; that commit 0.232); ``--parts extract`` 0.459 (0.469).
With one or two other busy processes (load average 1.9-3.1): SQLite 0.198 (0.167), PostgreSQL
0.161 (0.168), ``extract`` 0.464 (0.337): the rounds vary by 2x; see docs/scaling.md,
"Third round".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stopwatch import command, eval_dir, load_average, median, run

_BASELINE = r"""
import json, sys
import spacy
nlp = spacy.blank("en")
def texts():
    with open(sys.argv[1], "rb") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)["text"]
n = sum(len(d) for d in nlp.pipe(texts(), batch_size=64))
"""


def reset_postgres(url: str) -> None:
    """Empty the scratch database's ``public`` schema (never point this at real data)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notes", type=Path, default=None)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--parts", default="extract,sqlite,postgres")
    ap.add_argument("--pg", default=None, help="scratch PostgreSQL URL (postgres part)")
    ap.add_argument("--workers", type=int, default=None, help="ingest --workers (default: its)")
    ap.add_argument(
        "--compare-source",
        type=Path,
        help="also run each command with the packages of this source tree first on PYTHONPATH "
        "(e.g. `git archive` of the base commit)",
    )
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    shared = eval_dir()
    notes = args.notes or (shared / "mtsamples" / "notes.jsonl" if shared else None)
    if notes is None or not notes.exists():
        print("bench_process: the MTSamples notes are absent (../shared/eval); skipping")
        return 0
    parts = args.parts.split(",")
    if "postgres" in parts and not args.pg:
        parts.remove("postgres")
        print("bench_process: no --pg URL, PostgreSQL part skipped")
    n = sum(1 for line in notes.open("rb") if line.strip())
    ns = command("notestruct")
    extra = ["--workers", str(args.workers)] if args.workers is not None else []
    walls: dict[str, list[float]] = {"baseline": []}
    cpus: dict[str, list[float]] = {"baseline": []}
    peaks: dict[str, list[float]] = {}
    loads = [load_average()]
    with tempfile.TemporaryDirectory(prefix="notestruct-process-") as name:
        tmp = Path(name)
        for r in range(args.rounds):
            jobs: list[tuple[str, list[str]]] = [
                ("baseline", [sys.executable, "-c", _BASELINE, str(notes)])
            ]
            if "extract" in parts:
                jobs.append(("extract", [ns, "extract", str(notes), "-o", str(tmp / "out.jsonl")]))
            if "sqlite" in parts:
                db = tmp / f"r{r}.db"
                jobs.append(
                    (
                        "ingest sqlite",
                        [ns, "ingest", str(notes), "--warehouse", f"sqlite:///{db}", *extra],
                    )
                )
            if "postgres" in parts:
                jobs.append(
                    ("ingest postgres", [ns, "ingest", str(notes), "--warehouse", args.pg, *extra])
                )
            if args.compare_source is not None:  # each command again on the other tree
                paired: list[tuple[str, list[str]]] = [jobs[0]]
                for label, cmd in jobs[1:]:
                    other = [a.replace(f"r{r}.db", f"before-r{r}.db") for a in cmd]
                    paired += [(label, cmd), ("before: " + label, other)]
                jobs = paired
            for label, cmd in jobs:
                env = dict(os.environ)
                if label.startswith("before: "):
                    # installed as an editable package, found after PYTHONPATH: that tree runs
                    env["PYTHONPATH"] = str(args.compare_source)
                if label.endswith("ingest postgres"):
                    reset_postgres(args.pg)
                t = run(cmd, cwd=tmp, env=env)
                if t.returncode:
                    raise SystemExit(f"{label} failed:\n{t.stderr_tail}")
                walls.setdefault(label, []).append(t.wall_s)
                cpus.setdefault(label, []).append(t.cpu_s)
                peaks.setdefault(label, []).append(t.peak_rss_mib)
                print(
                    f"  round {r + 1} {label:16} {t.wall_s:7.1f} s  CPU {t.cpu_s:6.1f} s  "
                    f"peak {t.peak_rss_mib:6.0f} MiB  load {load_average()}",
                    flush=True,
                )
            loads.append(load_average())
    base = median(walls["baseline"])
    out: dict[str, object] = {
        "notes": n,
        "rounds": args.rounds,
        "load_average": loads,
        "started": time.strftime("%Y-%m-%d %H:%M"),
        "baseline_s": round(base, 2),
        "baseline_notes_per_s": round(n / base, 1),
    }
    print(f"whole process over {n} notes, {args.rounds} rounds, load average {loads}")
    print(
        f"  baseline (python + spacy.blank over every note) {base:.1f} s = {n / base:.0f} notes/s"
    )
    for label, values in walls.items():
        if label == "baseline":
            continue
        per_round = [b / v for b, v in zip(walls["baseline"], values, strict=True)]
        out[label] = {
            "median_s": round(median(values), 2),
            "notes_per_s": round(n / median(values), 1),
            "ratio": round(base / median(values), 3),
            "ratio_per_round": [round(x, 3) for x in per_round],
            "cpu_s": round(median(cpus[label]), 1),
            # CPU of the command's processes against the baseline's: less skewed by other
            # load on a shared machine than wall time (PostgreSQL's server CPU not counted)
            "ratio_cpu": round(median(cpus["baseline"]) / median(cpus[label]), 3),
            "peak_rss_mib": round(max(peaks[label])),
        }
        print(
            f"  {label:16} {median(values):7.1f} s = {n / median(values):6.1f} notes/s, "
            f"ratio {base / median(values):.3f}, in CPU time "
            f"{median(cpus['baseline']) / median(cpus[label]):.3f} (per round "
            + ", ".join(f"{x:.3f}" for x in per_round)
            + ")"
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

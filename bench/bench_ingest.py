"""Ingestion benchmark: end-to-end throughput vs a bare tokenizer, worker speed-up, memory.

Reads ../shared/eval/mtsamples/notes.jsonl (or --notes PATH); exits 0 with a message when the
file is absent. Every ratio is measured in the same process run.

    python bench/bench_ingest.py                      # all parts
    python bench/bench_ingest.py --parts ratio        # end to end (1 worker) / spacy.blank("en")
    python bench/bench_ingest.py --parts workers --workers 2      # all notes; --limit N
    python bench/bench_ingest.py --parts memory --memory-sizes 500,5000

Parts:
  ratio    spacy.blank("en") over every note, then the nightly flow (read, extract, map, load
           into a fresh SQLite warehouse, one worker) over the same file: with its default
           of one NLP worker process (the flow process reads, selects and loads meanwhile),
           and with the NLP in the flow process (--workers 0). The Prefect server start and
           the pipeline build are done before the clock starts (one-time costs, reported
           separately); Prefect's per-task overhead is inside the measured time. The CPU
           ratio counts the CPU of the flow process and of its worker.
  workers  the flow over the first --limit notes (default: all) with 1 and with --workers
           processes, in the same run. The speed-up is given with the pipeline builds in
           the worker processes included (a nightly run pays them once) and without them
           (steady state: the one-worker run uses the pipeline built before the clock).
  memory   a child process per size ingests N notes (mtsamples repeated with new ids,
           written to a temp file by streaming) and reports its peak RSS plus that of its
           NLP worker process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NOTES = ROOT.parent / "shared" / "eval" / "mtsamples" / "notes.jsonl"
if not DEFAULT_NOTES.exists():
    DEFAULT_NOTES = Path("/work/shared/eval/mtsamples/notes.jsonl")


def _texts(path: Path, limit: int | None = None) -> Iterator[str]:
    with path.open("rb") as fh:
        for i, line in enumerate(fh):
            if limit is not None and i >= limit:
                return
            if line.strip():
                yield json.loads(line)["text"]


def write_corpus(src: Path, dest: Path, n: int, distinct: int | None = None) -> Path:
    """``n`` notes: mtsamples repeated with new ids (streamed, nothing held in memory),
    cycling over the first ``distinct`` notes (default: all of them)."""
    written = 0
    with dest.open("w", encoding="utf-8") as out:
        while written < n:
            with src.open("rb") as fh:
                for i, line in enumerate(fh):
                    if distinct is not None and i >= distinct:
                        break
                    if not line.strip():
                        continue
                    rec = json.loads(line)
                    rec["id"] = f"bench-{written:06d}"
                    rec["date"] = "2025-01-01T00:00:00+00:00"
                    out.write(json.dumps(rec) + "\n")
                    written += 1
                    if written >= n:
                        break
    return dest


def _prepare(home: Path) -> None:
    os.environ.setdefault("NOTESTRUCT_HOME", str(home))
    from pipelines.cli import prepare_prefect

    prepare_prefect(False)
    warnings.filterwarnings("ignore")


def _warm(workers: int = 1) -> float:
    """Start Prefect's ephemeral server and build the pipeline where the flow will use it
    (in ``workers`` worker processes, or in this process for 0); the seconds it took."""
    from prefect import flow

    from pipelines.config import load_config
    from pipelines.workers import shared_pool

    @flow(name="bench-warm-up")
    def _noop() -> None:
        return None

    t = time.perf_counter()
    _noop()
    settings = load_config(None).nlp_settings()
    if workers >= 1:
        shared_pool(workers, settings).versions()
    else:
        from pipelines.resources import get_nlp  # the flow process builds it (workers=0)

        get_nlp(settings)
    return time.perf_counter() - t


def _worker_cpu() -> float:
    """CPU seconds used so far by the live NLP worker processes of this process's pool."""
    import psutil

    from pipelines import workers

    pool = workers.POOLS.current
    total = 0.0
    if pool is None:
        return total
    for pid in list(getattr(pool._executor, "_processes", {}) or {}):
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def _run_flow(
    source: Path, db: Path, workers: int = 1, batch_size: int | None = None
) -> tuple[float, dict]:
    from pydantic import SecretStr

    from pipelines.flows import nightly_ingest

    t = time.perf_counter()
    cpu = time.process_time()
    worker_cpu = _worker_cpu()
    summary = nightly_ingest(
        source=str(source),
        warehouse_url=SecretStr(f"sqlite:///{db}"),
        workers=workers,
        max_error_rate=1.0,
        batch_size=batch_size,
    )
    elapsed = time.perf_counter() - t
    summary["cpu_s"] = time.process_time() - cpu  # this process only (not workers, server)
    # the NLP workers' CPU (a pool started during the run counts from zero)
    summary["worker_cpu_s"] = max(0.0, _worker_cpu() - worker_cpu)
    import sqlite3

    con = sqlite3.connect(db)
    metrics = json.loads(
        con.execute(
            "select metrics from pipeline_run where run_id = ?", (summary["run_id"],)
        ).fetchone()[0]
    )
    con.close()
    return elapsed, {**summary, "metrics": metrics}


def part_ratio(notes: Path, tmp: Path) -> dict:
    import spacy

    texts = list(_texts(notes))  # the baseline needs the texts; the flow streams the file
    n = len(texts)
    blank = spacy.blank("en")
    t = time.perf_counter()
    cpu = time.process_time()
    tokens = sum(len(doc) for doc in blank.pipe(texts, batch_size=64))
    base_s = time.perf_counter() - t
    base_cpu = time.process_time() - cpu
    del texts
    warm_s = _warm(1)
    e2e_s, summary = _run_flow(notes, tmp / "ratio.db")
    _warm(0)
    inproc_s, inproc = _run_flow(notes, tmp / "ratio-in-process.db", workers=0)
    base_rate, e2e_rate = n / base_s, summary["read"] / e2e_s
    total_cpu = summary["cpu_s"] + summary["worker_cpu_s"]
    out = {
        "notes": n,
        "tokens": tokens,
        "tokenizer_notes_per_s": round(base_rate, 1),
        "end_to_end_notes_per_s": round(e2e_rate, 1),
        "ratio": round(e2e_rate / base_rate, 3),
        # CPU time of the flow process and its NLP worker (Prefect's server not): less
        # sensitive to other load on a shared machine than the wall-clock ratio, and it
        # counts the work of both cores
        "ratio_cpu": round(base_cpu / total_cpu * summary["read"] / n, 3),
        "cpu_s": {"flow": round(summary["cpu_s"], 2), "worker": round(summary["worker_cpu_s"], 2)},
        "in_process_notes_per_s": round(inproc["read"] / inproc_s, 1),
        "in_process_ratio": round(inproc["read"] / inproc_s / base_rate, 3),
        "in_process_ratio_cpu": round(base_cpu / inproc["cpu_s"] * inproc["read"] / n, 3),
        "one_time_warm_up_s": round(warm_s, 2),
        "flow_seconds": round(e2e_s, 2),
        "stage_seconds": summary["metrics"]["seconds"],
        "processed": summary["processed"],
        "failed": summary["failed"],
    }
    print(
        f"ratio: {n} notes; spacy.blank tokenizer {base_rate:.1f} notes/s; end to end "
        f"(read+extract+map+load SQLite, 1 worker process) {e2e_rate:.1f} notes/s; "
        f"ratio {e2e_rate / base_rate:.3f} (target >= 0.20); in CPU time {out['ratio_cpu']:.3f} "
        f"(flow {summary['cpu_s']:.1f} s + worker {summary['worker_cpu_s']:.1f} s)"
    )
    print(
        f"       NLP in the flow process (--workers 0): {out['in_process_notes_per_s']} notes/s, "
        f"ratio {out['in_process_ratio']:.3f}, in CPU time {out['in_process_ratio_cpu']:.3f}"
    )
    print(f"       stage seconds {summary['metrics']['seconds']}; warm-up (once) {warm_s:.1f} s")
    return out


def _burn(_: int) -> float:
    t = time.perf_counter()
    x = 0
    for i in range(20_000_000):
        x += i
    return time.perf_counter() - t


def parallel_capacity(workers: int) -> float:
    """How much faster ``workers`` processes finish ``workers`` pure-CPU jobs than one
    process finishes one: the speed-up the machine can give right now (shared machines)."""
    import multiprocessing

    one = _burn(0)
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        t = time.perf_counter()
        pool.map(_burn, range(workers))
        many = time.perf_counter() - t
    return workers * one / many


def part_workers(
    notes: Path, tmp: Path, limit: int | None, workers: int, batch_size: int | None
) -> dict:
    n = limit or sum(1 for _ in _texts(notes))
    corpus = write_corpus(notes, tmp / f"workers-{n}.jsonl", n)
    _warm()
    capacity = parallel_capacity(workers)
    load_before = os.getloadavg()[0]
    one_s, one = _run_flow(corpus, tmp / "w1.db", 1, batch_size)
    many_s, many = _run_flow(corpus, tmp / f"w{workers}.db", workers, batch_size)
    start_s = many["metrics"].get("worker_start_s") or 0.0
    out = {
        "notes": n,
        "workers": workers,
        "batch_size": batch_size,
        "one_worker_s": round(one_s, 2),
        f"{workers}_workers_s": round(many_s, 2),
        "speed_up": round(one_s / many_s, 2),
        "worker_start_up_s": start_s,
        "speed_up_without_start_up": round(one_s / (many_s - start_s), 2),
        "flow_process_cpu_s": {"1": round(one["cpu_s"], 2), str(workers): round(many["cpu_s"], 2)},
        "load_average_before": round(load_before, 2),
        "cpu_parallel_capacity": round(capacity, 2),
        "one_worker_notes_per_s": round(one["read"] / one_s, 1),
        "many_workers_notes_per_s": round(many["read"] / many_s, 1),
    }
    print(
        f"workers: {n} notes; 1 worker {one_s:.1f} s ({one['read'] / one_s:.1f} notes/s); "
        f"{workers} workers {many_s:.1f} s ({many['read'] / many_s:.1f} notes/s); "
        f"speed-up {one_s / many_s:.2f}x on {os.cpu_count()} cores, "
        f"{out['speed_up_without_start_up']:.2f}x without the {start_s:.1f} s the workers "
        f"took to build their pipelines"
    )
    print(
        f"         flow process CPU {one['cpu_s']:.1f} s (1 worker) vs {many['cpu_s']:.1f} s "
        f"({workers} workers: reading, selecting, loading); load average before "
        f"{load_before:.1f}, after {os.getloadavg()[0]:.1f}; a pure-CPU job runs "
        f"{capacity:.2f}x faster in {workers} processes right now"
    )
    return out


def child_memory(notes: Path, n: int, tmp: Path, distinct: int | None) -> None:
    """Run in a child: ingest n notes, print peak RSS (MiB) as JSON: of this process (the
    flow: reading, mapping, loading) and of its NLP worker process."""
    from pipelines.workers import close_shared_pool

    corpus = write_corpus(notes, tmp / f"mem-{n}.jsonl", n, distinct)
    _prepare(tmp)
    _warm(1)
    after_warm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    elapsed, summary = _run_flow(corpus, tmp / f"mem-{n}.db")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    close_shared_pool()  # the worker is waited for: its peak shows in RUSAGE_CHILDREN
    worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "notes": n,
                "read": summary["read"],
                "peak_rss_mib": round(peak + worker_peak, 1),
                "flow_peak_rss_mib": round(peak, 1),
                "worker_peak_rss_mib": round(worker_peak, 1),
                "rss_after_warm_up_mib": round(after_warm, 1),
                "seconds": round(elapsed, 1),
                "cpu_s": round(summary["cpu_s"], 1),
            }
        )
    )


def part_memory(notes: Path, tmp: Path, sizes: list[int], distinct: int | None) -> dict:
    results = {}
    for n in sizes:
        extra = ["--distinct", str(distinct)] if distinct else []
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--notes",
                str(notes),
                "--child-memory",
                str(n),
                "--tmp",
                str(tmp),
                *extra,
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            raise SystemExit(f"memory child for {n} notes failed")
        results[n] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[n]
        print(
            f"memory: {n} notes (cycling {distinct or 'all'} distinct): "
            f"peak RSS {r['peak_rss_mib']} MiB = flow {r['flow_peak_rss_mib']} + NLP worker "
            f"{r['worker_peak_rss_mib']} (flow after warm-up {r['rss_after_warm_up_mib']} MiB), "
            f"{r['seconds']} s ({r['cpu_s']} s CPU in the flow process)"
        )
    if len(sizes) >= 2:
        lo, hi = results[sizes[0]]["peak_rss_mib"], results[sizes[-1]]["peak_rss_mib"]
        print(f"memory: peak {sizes[-1]} / {sizes[0]} notes = {hi / lo:.3f}")
    return {str(k): v for k, v in results.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notes", type=Path, default=DEFAULT_NOTES)
    ap.add_argument("--parts", default="ratio,workers,memory")
    ap.add_argument("--limit", type=int, default=None, help="notes for the workers part")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--batch-size", type=int, default=None, help="workers part (default: the config's)"
    )
    ap.add_argument("--memory-sizes", default="500,5000")
    ap.add_argument(
        "--distinct",
        type=int,
        default=None,
        help="memory part: cycle over the first N notes only (separates the growth of spaCy's "
        "string store with new vocabulary from the growth with the number of notes)",
    )
    ap.add_argument("--child-memory", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--tmp", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    if not args.notes.exists():
        print(f"bench_ingest: {args.notes} not found (the eval corpus is optional); skipping")
        return 0
    if args.child_memory:
        child_memory(args.notes, args.child_memory, args.tmp, args.distinct)
        return 0
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="notestruct-bench-") as tmp_name:
        tmp = Path(tmp_name)
        _prepare(tmp)
        parts = set(args.parts.split(","))
        if "ratio" in parts:
            figures["ratio"] = part_ratio(args.notes, tmp)
        if "workers" in parts:
            figures["workers"] = part_workers(
                args.notes, tmp, args.limit, args.workers, args.batch_size
            )
        if "memory" in parts:
            sizes = [int(s) for s in args.memory_sizes.split(",")]
            figures["memory"] = part_memory(args.notes, tmp, sizes, args.distinct)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

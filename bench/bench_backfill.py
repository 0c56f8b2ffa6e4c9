"""Backfill benchmark: N notes into PostgreSQL, a steady rate, flat memory, kill -9 and resume.

    nice -n 10 python bench/bench_backfill.py --pg postgresql+psycopg://postgres@127.0.0.1/ns_bf \
        --notes 100000                  # default: kill -9 at 50 %, then resume
    python bench/bench_backfill.py --pg URL --notes 5000 --kill-at 0   # one clean run

The corpus is MTSamples (../shared/eval; skipped with a message when absent) cycled to N
notes, each copy with its own id, a date spread over ten years and a small text change (one
added line with a number, so every copy is a new text with new word forms and no note is
skipped by its hash). It is written to a temporary file and read by ``notestruct ingest``
exactly as a user runs it (default workers and batch size), into a scratch PostgreSQL
database whose ``public`` schema is dropped first (never point it at real data).

Every 5 s the benchmark counts the notes loaded and samples the RSS and CPU of the command's
process tree. At ``--kill-at`` of N loaded it sends SIGKILL to the whole process group (the
flow process and its NLP worker: a power cut), then runs the same command again, which must
take over the dead run's lease, skip what was loaded and finish the rest. It reports:

* rate: notes/s over the first and the last quarter of the notes (by the loaded count; the
  first quarter of run 1 against the last quarter of the resumed run), and their ratio
  (goal: within 10 %);
* memory: the peak RSS of the process tree in each quarter (goal: flat);
* resume: every note loaded once, no dead letters, the runs' statuses (crashed, completed),
  and that every copy of a source note has as many mentions as the others (a batch lost or
  loaded twice would show);
* PostgreSQL: rows and bytes per note, inserted rows per second, database size.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_process import reset_postgres
from stopwatch import command, eval_dir, load_average

_TABLES = ("note", "mention", "mention_coding", "mention_attribute", "fhir_resource", "note_nlp")


def write_corpus(src: Path, dest: Path, n: int) -> int:
    """``n`` notes cycled from ``src``; returns how many distinct source notes there are."""
    base = [json.loads(line)["text"] for line in src.open("rb") if line.strip()]
    start = datetime(2016, 1, 1, tzinfo=UTC)
    with dest.open("w", encoding="utf-8") as out:
        for i in range(n):
            when = start + timedelta(minutes=53 * i)  # 100,000 notes span about ten years
            rec = {
                "id": f"bf-{i:07d}",
                "text": base[i % len(base)] + f"\n\nTranscription reference {i + 7919}.\n",
                "patient_id": f"pat-{i % 9973:05d}",
                "date": when.isoformat(),
            }
            out.write(json.dumps(rec) + "\n")
    return len(base)


def _count(engine: object) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(text("select count(*) from note")).scalar_one())


class Watch:
    """One run of the command, sampled every ``every`` seconds."""

    def __init__(self, cmd: list[str], engine: object, every: float, cwd: Path) -> None:
        self.cmd, self.engine, self.every, self.cwd = cmd, engine, every, cwd
        #: (seconds since this run started, notes loaded, tree RSS MiB)
        self.samples: list[tuple[float, int, float]] = []
        #: (notes loaded, CPU seconds of every process of the runs so far), per sample
        self.cpu: list[tuple[int, float]] = []
        self.cpu_by_pid: dict[int, float] = {}
        #: the same for the local PostgreSQL server's processes, and the machine's busy CPU
        #: seconds (all processes: what else runs on it shows as busy minus ours minus PG's)
        self.pg_cpu: list[tuple[int, float]] = []
        self.busy_cpu: list[tuple[int, float]] = []
        self.pg_cpu_by_pid: dict[int, float] = {}

    def _postgres(self) -> float:
        """CPU seconds of the local PostgreSQL server's processes so far (0 for a remote one)."""
        import psutil

        for p in psutil.process_iter(["name"]):
            if p.info["name"] in ("postgres", "postmaster"):
                try:
                    t = p.cpu_times()
                    self.pg_cpu_by_pid[p.pid] = t.user + t.system
                except psutil.Error:
                    continue
        return sum(self.pg_cpu_by_pid.values())

    def _tree(self, pid: int) -> tuple[float, list[object]]:
        import psutil

        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0, []
        rss = 0.0
        for p in procs:
            try:
                rss += p.memory_info().rss / 2**20
                t = p.cpu_times()
                self.cpu_by_pid[p.pid] = t.user + t.system  # children are sampled themselves
            except psutil.Error:
                continue
        return rss, procs

    def run(self, kill_at: int | None, t_offset: float) -> tuple[int, str]:
        import psutil

        t0 = time.perf_counter()
        err = tempfile.TemporaryFile()
        proc = subprocess.Popen(
            self.cmd, cwd=self.cwd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
        killed = False
        while proc.poll() is None:
            time.sleep(self.every)
            rss, _ = self._tree(proc.pid)
            try:
                loaded = _count(self.engine)
            except Exception:  # the schema is not there yet (migrations running)
                loaded = 0
            self.samples.append((t_offset + time.perf_counter() - t0, loaded, rss))
            self.cpu.append((loaded, sum(self.cpu_by_pid.values())))
            self.pg_cpu.append((loaded, self._postgres()))
            busy = psutil.cpu_times()
            self.busy_cpu.append((loaded, busy.user + busy.system + busy.nice + busy.irq))
            if kill_at is not None and loaded >= kill_at and not killed:
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
        proc.wait()
        self.samples.append((t_offset + time.perf_counter() - t0, _count(self.engine), 0.0))
        err.seek(0)
        tail = err.read().decode("utf-8", "replace")[-1500:]
        return proc.returncode, tail


def _time_at(samples: list[tuple[float, int, float]], target: int) -> float:
    """When the loaded count reached ``target`` (linear between samples)."""
    prev = samples[0]
    for s in samples:
        if s[1] >= target:
            if s[1] == prev[1]:
                return s[0]
            return prev[0] + (s[0] - prev[0]) * (target - prev[1]) / (s[1] - prev[1])
        prev = s
    return samples[-1][0]


def _rate(samples: list[tuple[float, int, float]], lo: int, hi: int) -> float:
    return (hi - lo) / max(1e-9, _time_at(samples, hi) - _time_at(samples, lo))


def _cpu_per_note(cpu: list[tuple[int, float]], lo: int, hi: int) -> float:
    """CPU seconds per note loaded between the samples nearest ``lo`` and ``hi`` notes."""
    inside = [c for c in cpu if lo <= c[0] <= hi]
    if len(inside) < 2 or inside[-1][0] == inside[0][0]:
        return 0.0
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def _db_figures(engine: object, n: int, distinct: int) -> dict[str, object]:
    from sqlalchemy import text

    out: dict[str, object] = {}
    with engine.connect() as conn:  # type: ignore[attr-defined]
        for table in _TABLES:
            out[f"rows_{table}"] = int(
                conn.execute(text(f"select count(*) from {table}")).scalar_one()
            )
        out["note_errors"] = int(conn.execute(text("select count(*) from note_error")).scalar_one())
        out["runs"] = [
            r[0] for r in conn.execute(text("select status from pipeline_run order by started_at"))
        ]
        out["database_bytes"] = int(
            conn.execute(text("select pg_database_size(current_database())")).scalar_one()
        )
        counts = dict(
            conn.execute(text("select note_id, count(*) from mention group by note_id")).all()
        )
    by_source: dict[int, set[int]] = defaultdict(set)
    for i in range(n):
        by_source[i % distinct].add(int(counts.get(f"bf-{i:07d}", 0)))
    out["source_notes_whose_copies_differ"] = sum(1 for v in by_source.values() if len(v) > 1)
    rows = sum(int(out[f"rows_{t}"]) for t in _TABLES)  # type: ignore[call-overload]
    out["rows_per_note"] = round(rows / max(1, n), 1)
    out["bytes_per_note"] = round(int(out["database_bytes"]) / max(1, n))  # type: ignore[call-overload]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pg", required=True, help="scratch PostgreSQL URL (its schema is dropped)")
    ap.add_argument("--notes", type=int, default=100_000)
    ap.add_argument("--kill-at", type=float, default=0.5, help="share loaded at kill -9; 0: none")
    ap.add_argument("--every", type=float, default=5.0, help="sampling interval, seconds")
    ap.add_argument("--extra", default="", help="more ingest options, e.g. '--workers 2'")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    shared = eval_dir()
    src = shared / "mtsamples" / "notes.jsonl" if shared else None
    if src is None or not src.exists():
        print("bench_backfill: the MTSamples notes are absent (../shared/eval); skipping")
        return 0
    from sqlalchemy import create_engine

    n = args.notes
    reset_postgres(args.pg)
    engine = create_engine(args.pg, pool_pre_ping=True)
    figures: dict[str, object] = {"notes": n, "started": time.strftime("%Y-%m-%d %H:%M")}
    loads = [load_average()]
    with tempfile.TemporaryDirectory(prefix="notestruct-backfill-") as name:
        tmp = Path(name)
        corpus = tmp / "backfill.jsonl"
        distinct = write_corpus(src, corpus, n)
        cmd = [command("notestruct"), "ingest", str(corpus), "--warehouse", args.pg]
        cmd += args.extra.split()
        watch = Watch(cmd, engine, args.every, tmp)
        kill_at = int(n * args.kill_at) if args.kill_at else None
        rc1, err1 = watch.run(kill_at, 0.0)
        first_end = watch.samples[-1][0]
        loaded_at_kill = watch.samples[-1][1]
        loads.append(load_average())
        print(
            f"run 1: exit {rc1}, {loaded_at_kill} notes loaded after {first_end:.0f} s", flush=True
        )
        if kill_at is None and rc1:
            raise SystemExit(f"the run failed:\n{err1}")
        resume_s = None
        if kill_at is not None:
            t = time.perf_counter()
            rc2, err2 = watch.run(None, first_end)
            resume_s = time.perf_counter() - t
            loads.append(load_average())
            print(f"run 2 (resume): exit {rc2} after {resume_s:.0f} s", flush=True)
            if rc2:
                raise SystemExit(f"the resumed run failed:\n{err2}")
        samples = watch.samples
        q = n // 4
        # steady rates: the first quarter from the first loaded batch (start-up excluded)
        first_loaded = next((s[1] for s in samples if s[1] > 0), 0)
        r1 = _rate(samples, first_loaded, q)
        r4 = _rate(samples, 3 * q, n)
        peaks = []
        for k in range(4):
            inside = [s[2] for s in samples if k * q <= s[1] <= (k + 1) * q and s[2] > 0]
            peaks.append(round(max(inside), 1) if inside else None)
        cpu_s = sum(watch.cpu_by_pid.values())
        # CPU per note, first and last quarter: the steady-state check that other engineers'
        # load on a shared machine does not skew (their load shows in the wall-clock rates)
        cpu_q1 = _cpu_per_note(watch.cpu, first_loaded, q)
        cpu_q4 = _cpu_per_note(watch.cpu, 3 * q, n)
        # where a change of the wall rate comes from: PostgreSQL's own CPU per note, and the
        # machine's busy CPU per note (ours + PostgreSQL's + whatever else runs)
        pg_q1 = _cpu_per_note(watch.pg_cpu, first_loaded, q)
        pg_q4 = _cpu_per_note(watch.pg_cpu, 3 * q, n)
        busy_q1 = _cpu_per_note(watch.busy_cpu, first_loaded, q)
        busy_q4 = _cpu_per_note(watch.busy_cpu, 3 * q, n)
        total_s = samples[-1][0]
        db = _db_figures(engine, n, distinct)
        inserted = int(db["rows_per_note"] * n)  # type: ignore[operator]
        figures.update(
            {
                "load_average": loads,
                "seconds_total": round(total_s, 1),
                "notes_per_s_overall": round(n / total_s, 2),
                "rate_first_quarter": round(r1, 2),
                "rate_last_quarter": round(r4, 2),
                "rate_last_over_first": round(r4 / r1, 3),
                "peak_rss_mib_by_quarter": peaks,
                "cpu_s_flow_and_workers": round(cpu_s, 1),
                "cpu_ms_per_note": round(1000 * cpu_s / n, 2),
                "cpu_ms_per_note_first_quarter": round(1000 * cpu_q1, 2),
                "cpu_ms_per_note_last_quarter": round(1000 * cpu_q4, 2),
                "cpu_last_over_first": round(cpu_q4 / cpu_q1, 3) if cpu_q1 else None,
                "postgres_cpu_ms_per_note_first_quarter": round(1000 * pg_q1, 2),
                "postgres_cpu_ms_per_note_last_quarter": round(1000 * pg_q4, 2),
                "machine_busy_ms_per_note_first_quarter": round(1000 * busy_q1, 2),
                "machine_busy_ms_per_note_last_quarter": round(1000 * busy_q4, 2),
                "killed_at_loaded": loaded_at_kill if kill_at is not None else None,
                "resume_s": round(resume_s, 1) if resume_s is not None else None,
                "rows_inserted_per_s": round(inserted / total_s),
                **db,
                "timeline": [(round(t, 1), c, round(m)) for t, c, m in samples],
            }
        )
    engine.dispose()
    ok_rate = abs(figures["rate_last_over_first"] - 1) <= 0.10  # type: ignore[operator]
    ok_notes = db["rows_note"] == n and db["note_errors"] == 0
    ok_copies = db["source_notes_whose_copies_differ"] == 0
    print(json.dumps({k: v for k, v in figures.items() if k != "timeline"}, indent=1))
    print(
        f"backfill {n} notes: {figures['notes_per_s_overall']} notes/s overall; steady rate first "
        f"quarter {r1:.1f}, last {r4:.1f} notes/s (x{r4 / r1:.3f}, {'ok' if ok_rate else 'NOT'} "
        f"within 10 %), CPU per note x{figures['cpu_last_over_first']}; peak RSS by quarter "
        f"{peaks} MiB; every note once and no dead letters: {ok_notes}; copies agree: "
        f"{ok_copies}; runs {db['runs']}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0 if ok_notes and ok_copies else 1


if __name__ == "__main__":
    sys.exit(main())

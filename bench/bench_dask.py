"""Dask benchmark: ``notestruct ingest --dask-address`` on real ``dask scheduler`` and
``dask worker`` processes, with 1 and with N worker processes, in the same run.

    nice -n 10 python bench/bench_dask.py --limit 1200 --nworkers 2

For each worker count a new cluster is started (``dask scheduler`` and ``dask worker
--nworkers K --nthreads 1``, as docs/scaling.md tells users), the first --limit MTSamples
notes are ingested into a new SQLite warehouse twice: a cold run (each Dask worker builds
its pipeline during the run, as a first night does) and a warm run (the workers keep their
pipelines, as every later night on a long-lived cluster). For reference, the same notes go
through the default local run (one NLP worker process). The speed-up is K workers / 1
worker; on a machine with C cores nothing above C can be expected, and the flow process
(reading, loading) needs a core of its own. Skipped with a message when ../shared/eval is
absent.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stopwatch import command, eval_dir, load_average, run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A ``dask scheduler`` and ``dask worker`` processes on this machine."""

    def __init__(self, nworkers: int, tmp: Path) -> None:
        self.nworkers, self.tmp = nworkers, tmp
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Cluster:
        port = self.address.rsplit(":", 1)[1]
        log = (self.tmp / f"dask-{self.nworkers}.log").open("ab")
        dask = command("dask")
        self.procs.append(
            subprocess.Popen(
                [dask, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        )
        self.procs.append(
            subprocess.Popen(
                [
                    dask,
                    "worker",
                    self.address,
                    "--nworkers",
                    str(self.nworkers),
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--local-directory",
                    str(self.tmp / "dask-worker-space"),
                ],
                stdout=log,
                stderr=log,
                start_new_session=True,
                cwd=self.tmp,
            )
        )
        from distributed import Client

        deadline = time.monotonic() + 120
        while True:
            try:
                with Client(self.address, timeout=5) as client:
                    client.wait_for_workers(self.nworkers, timeout=120)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _ingest(corpus: Path, db: Path, tmp: Path, *extra: str) -> float:
    cmd = [command("notestruct"), "ingest", str(corpus), "--warehouse", f"sqlite:///{db}", *extra]
    t = run(cmd, cwd=tmp, env=dict(os.environ))
    if t.returncode:
        raise SystemExit(f"ingest {' '.join(extra)} failed:\n{t.stderr_tail}")
    return t.wall_s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=1200)
    ap.add_argument("--nworkers", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    shared = eval_dir()
    src = shared / "mtsamples" / "notes.jsonl" if shared else None
    if src is None or not src.exists():
        print("bench_dask: the MTSamples notes are absent (../shared/eval); skipping")
        return 0
    out: dict[str, object] = {"notes": args.limit, "cores": os.cpu_count()}
    loads = [load_average()]
    with tempfile.TemporaryDirectory(prefix="notestruct-dask-") as name:
        tmp = Path(name)
        corpus = tmp / "notes.jsonl"
        with src.open("rb") as fh, corpus.open("wb") as dest:
            for i, line in enumerate(fh):
                if i >= args.limit:
                    break
                dest.write(line)
        out["local_1_worker_s"] = round(_ingest(corpus, tmp / "local.db", tmp), 1)
        print(f"local, 1 NLP worker process: {out['local_1_worker_s']} s", flush=True)
        for k in sorted({1, args.nworkers}):
            with Cluster(k, tmp) as cluster:
                cold = _ingest(
                    corpus, tmp / f"d{k}-cold.db", tmp, "--dask-address", cluster.address
                )
                warm = _ingest(
                    corpus, tmp / f"d{k}-warm.db", tmp, "--dask-address", cluster.address
                )
            out[f"dask_{k}_cold_s"], out[f"dask_{k}_warm_s"] = round(cold, 1), round(warm, 1)
            loads.append(load_average())
            print(
                f"dask, {k} worker process(es): cold {cold:.1f} s, warm {warm:.1f} s "
                f"({args.limit / warm:.1f} notes/s), load {loads[-1]}",
                flush=True,
            )
    k = args.nworkers
    if k != 1:
        out["speed_up_cold"] = round(out["dask_1_cold_s"] / out[f"dask_{k}_cold_s"], 2)  # type: ignore[operator]
        out["speed_up_warm"] = round(out["dask_1_warm_s"] / out[f"dask_{k}_warm_s"], 2)  # type: ignore[operator]
    out["load_average"] = loads
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

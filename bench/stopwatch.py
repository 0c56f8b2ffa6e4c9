"""Times whole commands as a user runs them: wall clock, CPU and peak memory of the process tree.

Shared by the whole-process benchmarks (``bench_startup``, ``bench_process``,
``bench_backfill``, ``bench_dask``). Only ratios between commands timed in the same run mean
anything on a shared machine, so every figure comes with the load average seen meanwhile.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: The bare-tokenizer baseline of issue 16: what every spaCy pipeline pays to start.
BASELINE_STARTUP = [sys.executable, "-c", "import spacy; spacy.blank('en')('x')"]


def eval_dir() -> Path | None:
    """``../shared/eval`` next to the repository (or /work/shared/eval), if present."""
    for candidate in (ROOT.parent / "shared" / "eval", Path("/work/shared/eval")):
        if candidate.is_dir():
            return candidate
    return None


@dataclass
class Timing:
    """One command's run."""

    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    returncode: int
    stderr_tail: str = ""
    #: (seconds since start, tree RSS MiB) samples, when sampling was asked for
    samples: list[tuple[float, float]] = field(default_factory=list)


def tree_rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (MiB)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def run(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    sample_every: float = 0.5,
    keep_samples: bool = False,
    on_sample: Callable[[float, float], None] | None = None,
    stdout: int | None = subprocess.DEVNULL,
) -> Timing:
    """Run ``cmd`` to its end; its wall time, CPU (its own and waited-for children's) and
    the peak RSS of its process tree (sampled every ``sample_every`` s)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    peak = 0.0
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(sample_every):
            rss = tree_rss_mib(proc.pid)
            peak = max(peak, rss)
            now = time.perf_counter() - t0
            if keep_samples:
                samples.append((now, rss))
            if on_sample is not None:
                on_sample(now, rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    tail = err.decode("utf-8", "replace")[-1500:] if proc.returncode else ""
    return Timing(wall, cpu, peak, proc.returncode, tail, samples)


def median(values: Sequence[float]) -> float:
    """The median (0.0 for no values)."""
    return statistics.median(values) if values else 0.0


def load_average() -> float:
    """The one-minute load average (other engineers' work shows here)."""
    return round(os.getloadavg()[0], 2)


def command(name: str) -> str:
    """A console script of this virtual environment (``notestruct``, ``dask``)."""
    return str(BIN / name)

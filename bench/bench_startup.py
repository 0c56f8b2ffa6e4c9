"""Start-up benchmark: one note through the commands, against a bare spaCy start in the same run.

Issue 16's yardstick is ``python -c "import spacy; spacy.blank('en')('x')"``: the floor any
spaCy program pays. Each round runs the baseline and every command once, interleaved, in new
processes, exactly as a user types them; the figures are medians over the rounds and the
ratios are command / baseline (lower is better). Goals: extract <= 1.5x, ingest <= 2.5x,
``--help`` instant.

    python bench/bench_startup.py                  # 5 rounds, caches warm (as on a 2nd run)
    python bench/bench_startup.py --rounds 3 --cold   # also a newcomer's very first run
    python bench/bench_startup.py --phases         # where the seconds go, phase by phase
    python bench/bench_startup.py --compare-source /tmp/base   # before/after, same run
        (mkdir /tmp/base && git archive <base commit> | tar -x -C /tmp/base)

The note is the first of ``samples/notes.jsonl`` (synthetic, shipped with the repository).
Warm means: the compiled dictionary and Prefect's home exist (one untimed run of each
command first). ``--cold`` adds one run of each command with a new empty ``HOME`` (no
dictionary cache, no Prefect database): what ``make run`` costs the first time.
``--phases`` times, in one child process each, the steps a run is made of.

Measured 2026-12-05, session 10 (2 cores shared with other work, load average 2.9-3.9),
``--rounds 5 --compare-source`` commit b815fd8 (main before it): baseline 1.11 s;
``extract`` 1.16x (that commit 1.52x); ``ingest`` into a new warehouse 1.63x (2.24x), into an
existing one 1.64x; ``--help`` 0.16 s (a noisier run, baseline 1.46 s: 1.29x, 1.78x against
1.67x, 2.39x). Session 9, against 5d5d4dc: 1.50x, 2.31x against 1.68x, 3.37x.
Details and what is left: docs/scaling.md, "Start-up, whole runs and capacity".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stopwatch import BASELINE_STARTUP, ROOT, command, load_average, median, run

SAMPLE = ROOT / "samples" / "notes.jsonl"


def _one_note(dest: Path, note_id: str) -> Path:
    first = json.loads(SAMPLE.read_text(encoding="utf-8").splitlines()[0])
    first["id"] = note_id
    dest.write_text(json.dumps(first) + "\n", encoding="utf-8")
    return dest


def _commands(tmp: Path, round_no: int, compare: Path | None = None) -> dict[str, list[str]]:
    ns = command("notestruct")
    note = _one_note(tmp / f"note-{round_no}.jsonl", f"startup-{round_no}")
    other: dict[str, list[str]] = {}
    if compare is not None:  # the same commands on another source tree (e.g. the branch base)
        ons = "compare:" + ns  # run() puts ``compare`` first on PYTHONPATH for these
        other = {
            "compare: extract 1 note": [ons, "extract", str(note), "-o", str(tmp / "o.jsonl")],
            "compare: ingest 1 note, new warehouse": [
                ons,
                "ingest",
                str(note),
                "--warehouse",
                f"sqlite:///{tmp / f'cmp-new-{round_no}.db'}",
            ],
        }
    return other | {
        "baseline spacy.blank": BASELINE_STARTUP,
        "notestruct --help": [ns, "--help"],
        "extract 1 note": [ns, "extract", str(note), "-o", str(tmp / "out.jsonl")],
        # a newcomer's first ingest: a new warehouse file (migrations from empty)
        "ingest 1 note, new warehouse": [
            ns,
            "ingest",
            str(note),
            "--warehouse",
            f"sqlite:///{tmp / f'new-{round_no}.db'}",
        ],
        # the nightly case: the warehouse exists (at head), one new note
        "ingest 1 note, existing warehouse": [
            ns,
            "ingest",
            str(note),
            "--warehouse",
            f"sqlite:///{tmp / 'existing.db'}",
        ],
    }


def _with_source(
    cmd: list[str], env: dict[str, str], source: Path | None
) -> tuple[list[str], dict[str, str]]:
    """A ``compare:`` command runs with ``source`` first on PYTHONPATH: the installed
    packages are an editable install found after ``PYTHONPATH``, so that tree's code runs."""
    if not cmd[0].startswith("compare:") or source is None:
        return cmd, env
    return [cmd[0].removeprefix("compare:"), *cmd[1:]], {**env, "PYTHONPATH": str(source)}


def rounds(n: int, tmp: Path, env: dict[str, str], compare: Path | None) -> dict[str, object]:
    # untimed: build the dictionary cache and Prefect's home, create the existing warehouse
    for cmd in _commands(tmp, -1, compare).values():
        argv, cmd_env = _with_source(cmd, env, compare)
        t = run(argv, env=cmd_env, cwd=tmp)
        if t.returncode:
            raise SystemExit(f"warm-up of {cmd[1:3]} failed:\n{t.stderr_tail}")
    walls: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    loads = [load_average()]
    for r in range(n):
        for name, cmd in _commands(tmp, r, compare).items():
            argv, cmd_env = _with_source(cmd, env, compare)
            t = run(argv, env=cmd_env, cwd=tmp)
            if t.returncode:
                raise SystemExit(f"{name} failed:\n{t.stderr_tail}")
            walls.setdefault(name, []).append(t.wall_s)
            cpus.setdefault(name, []).append(t.cpu_s)
        loads.append(load_average())
    base = median(walls["baseline spacy.blank"])
    out: dict[str, object] = {"rounds": n, "load_average": loads}
    print(f"start-up, {n} rounds, load average during the run {loads}")
    print(f"  {'command':36} {'median s':>9} {'ratio':>6} {'CPU s':>6}   per round (s)")
    for name, values in walls.items():
        ratio = median(values) / base
        out[name] = {
            "median_s": round(median(values), 2),
            "ratio": round(ratio, 2),
            "cpu_s": round(median(cpus[name]), 2),
            "runs_s": [round(v, 2) for v in values],
        }
        print(
            f"  {name:36} {median(values):9.2f} {ratio:6.2f} {median(cpus[name]):6.2f}   "
            + " ".join(f"{v:.1f}" for v in values)
        )
    return out


def cold(tmp: Path, env: dict[str, str]) -> dict[str, object]:
    """Each command once with an empty HOME: no dictionary cache, no Prefect database."""
    out: dict[str, object] = {}
    base = run(BASELINE_STARTUP, env=env, cwd=tmp).wall_s
    out["baseline spacy.blank"] = round(base, 2)
    for name in ("extract 1 note", "ingest 1 note, new warehouse"):
        home = Path(tempfile.mkdtemp(prefix="home-", dir=tmp))
        cold_env = {**env, "HOME": str(home)}
        cold_env.pop("NOTESTRUCT_HOME", None)
        t = run(_commands(tmp, 100)[name], env=cold_env, cwd=tmp)
        if t.returncode:
            raise SystemExit(f"cold {name} failed:\n{t.stderr_tail}")
        out[name] = {"s": round(t.wall_s, 2), "ratio": round(t.wall_s / base, 2)}
        print(f"  cold (empty HOME) {name:30} {t.wall_s:6.2f} s, {t.wall_s / base:.2f}x")
    return out


_PHASES = r"""
import json, os, sys, time, warnings
warnings.filterwarnings("ignore")
phase, tmp = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
def lap(out, name):
    global t0
    now = time.perf_counter(); out[name] = round(now - t0, 3); t0 = now
out = {}
if phase == "imports":
    import pipelines.cli; lap(out, "import pipelines.cli (typer, rich)")
    import pipelines.flows; lap(out, "import pipelines.flows (prefect, sqlalchemy, ...)")
    import extractors.nlp; lap(out, "import extractors.nlp (spacy, medspacy, scispacy)")
elif phase == "prefect":
    from pipelines.config import prepare_prefect
    prepare_prefect(False)
    from prefect import flow
    lap(out, "import prefect")
    @flow
    def noop():
        return 1
    noop(); lap(out, "first flow run (starts Prefect's local server)")
    noop(); lap(out, "second flow run, same process")
elif phase == "pipeline":
    from pipelines.config import load_config
    from pipelines.resources import get_nlp
    s = load_config(None).nlp_settings(); lap(out, "load config")
    import extractors.nlp; lap(out, "import extractors.nlp")
    get_nlp(s); lap(out, "build pipeline (cached dictionary) + warm-up")
elif phase == "worker":
    from pipelines.config import load_config
    from pipelines.workers import NlpPool
    s = load_config(None).nlp_settings(); lap(out, "load config")
    pool = NlpPool(1, s); pool.versions(); lap(out, "spawn 1 worker, until its pipeline is built")
    pool.close(); lap(out, "stop the worker")
elif phase == "migrate":
    from warehouse.engine import make_engine
    from warehouse.migrate import upgrade
    lap(out, "import warehouse.migrate (alembic)")
    e = make_engine(f"sqlite:///{tmp}/phase.db")
    upgrade(e); lap(out, "upgrade an empty warehouse to head")
    upgrade(e); lap(out, "upgrade a warehouse already at head")
print(json.dumps(out))
"""


def phases(tmp: Path, env: dict[str, str]) -> dict[str, float]:
    out: dict[str, float] = {}
    print("phases (each in a new process; seconds):")
    for phase in ("imports", "prefect", "pipeline", "worker", "migrate"):
        proc = subprocess.run(
            [sys.executable, "-c", _PHASES, phase, str(tmp)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            check=False,
        )
        if proc.returncode:
            print(proc.stderr[-1500:], file=sys.stderr)
            raise SystemExit(f"phase {phase} failed")
        laps = json.loads(proc.stdout.strip().splitlines()[-1])
        for name, s in laps.items():
            print(f"  {phase:9} {name:58} {s:7.2f}")
        out.update({f"{phase}: {k}": v for k, v in laps.items()})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cold", action="store_true", help="also one run with an empty HOME")
    ap.add_argument("--phases", action="store_true", help="only the phase breakdown")
    ap.add_argument(
        "--compare-source",
        type=Path,
        help="also time extract and ingest with the packages of this source tree first on "
        "PYTHONPATH, interleaved (e.g. `git archive` of the base commit: before and after "
        "in the same run)",
    )
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    env = dict(os.environ)
    figures: dict[str, object] = {"started": time.strftime("%Y-%m-%d %H:%M")}
    with tempfile.TemporaryDirectory(prefix="notestruct-startup-") as name:
        tmp = Path(name)
        # a private Prefect home (created by the untimed warm-up), shared by nobody else
        env.setdefault("NOTESTRUCT_HOME", str(tmp / "notestruct-home"))
        if args.phases:
            figures["phases"] = phases(tmp, env)
        else:
            figures["warm"] = rounds(args.rounds, tmp, env, args.compare_source)
            if args.cold:
                figures["cold"] = cold(tmp, env)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

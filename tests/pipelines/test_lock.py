"""The per-source lease in the warehouse: exclusive, renewed, taken over when stale."""

import multiprocessing
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from pipelines.workers import owner_is_dead, process_owner
from warehouse.engine import make_engine
from warehouse.load import start_run
from warehouse.migrate import upgrade
from warehouse.runs import LockHeld, acquire_lock, heartbeat, mark_crashed, release_lock

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
STALE = timedelta(minutes=10)


@pytest.fixture()
def engine(sqlite_url):
    eng = make_engine(sqlite_url)
    upgrade(eng)
    yield eng
    eng.dispose()


def test_second_run_is_refused_while_the_first_is_alive(engine):
    lease = acquire_lock(engine, "src", run_id="a", owner="elsewhere:1", now=NOW, stale_after=STALE)
    with pytest.raises(LockHeld, match="run a"):
        acquire_lock(
            engine,
            "src",
            run_id="b",
            owner="elsewhere:2",
            now=NOW + timedelta(minutes=5),
            stale_after=STALE,
        )
    other = acquire_lock(
        engine, "other-source", run_id="c", owner="x:3", now=NOW, stale_after=STALE
    )
    assert other.took_over is None
    with engine.begin() as conn:
        release_lock(conn, lease)
    assert (
        acquire_lock(engine, "src", run_id="b", owner="x:2", now=NOW, stale_after=STALE).took_over
        is None
    )


def test_stale_lease_is_taken_over_and_the_old_holder_notices(engine):
    old = acquire_lock(engine, "src", run_id="a", owner="elsewhere:1", now=NOW, stale_after=STALE)
    new = acquire_lock(
        engine,
        "src",
        run_id="b",
        owner="here:2",
        now=NOW + STALE + timedelta(seconds=1),
        stale_after=STALE,
    )
    assert new.took_over == "a"
    with engine.begin() as conn:
        assert heartbeat(conn, old, NOW) is False  # the crashed-then-revived run must stop
        assert heartbeat(conn, new, NOW + STALE) is True


def test_dead_owner_on_this_host_is_taken_over_at_once(engine):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: the pid no longer exists
    dead = f"{process_owner().rsplit(':', 1)[0]}:{proc.pid}"
    assert owner_is_dead(dead) and not owner_is_dead(process_owner())
    acquire_lock(engine, "src", run_id="a", owner=dead, now=NOW, stale_after=STALE)
    new = acquire_lock(
        engine,
        "src",
        run_id="b",
        owner=process_owner(),
        now=NOW,
        stale_after=STALE,
        owner_is_dead=owner_is_dead,
    )
    assert new.took_over == "a"


def test_crashed_runs_are_marked(engine):
    with engine.begin() as conn:
        for run in ("old", "new"):
            start_run(
                conn,
                run_id=run,
                flow="nightly-ingest",
                started_at=NOW,
                pipeline_version="x",
                rules_version="r",
                dictionary_version=None,
                source_kind="jsonl",
                source_key="src",
            )
        assert mark_crashed(conn, "src", except_run="new", now=NOW) == 1
        rows = dict(conn.execute(sa.text("select run_id, status from pipeline_run")).all())
    assert rows == {"old": "crashed", "new": "running"}


def _contend(url, run_id, barrier, results):
    engine = make_engine(url)
    barrier.wait()
    try:
        acquire_lock(
            engine,
            "shared-source",
            run_id=run_id,
            owner=process_owner(),
            now=datetime.now(UTC),
            stale_after=STALE,
            owner_is_dead=owner_is_dead,
        )
        results.put((run_id, "won"))
        barrier.wait()  # hold the lease until every contender has tried
    except LockHeld:
        results.put((run_id, "refused"))
        barrier.wait()
    finally:
        engine.dispose()


def test_two_processes_racing_for_one_source_one_wins(engine, sqlite_url):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_contend, args=(sqlite_url, f"run-{i}", barrier, results))
        for i in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    outcomes = sorted(results.get(timeout=5)[1] for _ in procs)
    assert outcomes == ["refused", "won"]
    with engine.connect() as conn:
        holders = conn.execute(sa.text("select run_id, owner from run_lock")).all()
    assert len(holders) == 1
    # the winner exited without releasing: its pid is gone, so the next run takes over
    assert owner_is_dead(holders[0].owner)
    assert os.getpid() != int(holders[0].owner.rsplit(":", 1)[1])

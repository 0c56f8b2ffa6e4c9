"""Run state in the warehouse: the per-source lease, crashed runs, idempotent dead letters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from schemas.model import NoteError
from warehouse.tables import NoteErrorRow, PipelineRun, RunLock


class LockHeld(Exception):
    """Another live run holds the lease on this source."""


@dataclass(frozen=True)
class Lease:
    """The lease a run holds on a source."""

    lock_key: str
    run_id: str
    owner: str
    #: Run id of a crashed holder whose stale lease was taken over, if any.
    took_over: str | None = None


def acquire_lock(
    engine: Engine,
    lock_key: str,
    *,
    run_id: str,
    owner: str,
    now: datetime,
    stale_after: timedelta,
    owner_is_dead: Callable[[str], bool] = lambda _owner: False,
) -> Lease:
    """Take the lease on ``lock_key`` or take over a stale one.

    A lease is stale when its heartbeat is older than ``stale_after`` or when
    ``owner_is_dead(owner)`` says its holder process is gone (same host, pid not running).
    Takeover is a compare-and-swap on (run_id, heartbeat_at), so two runs racing for a
    stale lease cannot both win.

    Raises:
        LockHeld: a live run holds the lease.
    """
    for _attempt in range(3):
        try:
            with engine.begin() as conn:
                conn.execute(
                    insert(RunLock).values(
                        lock_key=lock_key,
                        run_id=run_id,
                        owner=owner,
                        acquired_at=now,
                        heartbeat_at=now,
                    )
                )
            return Lease(lock_key, run_id, owner)
        except IntegrityError:
            pass
        with engine.begin() as conn:
            held = conn.execute(select(RunLock).where(RunLock.lock_key == lock_key)).first()
            if held is None:
                continue  # released between our insert and select: try again
            beat = _aware(held.heartbeat_at, now)
            stale = now - beat > stale_after or owner_is_dead(held.owner)
            if not stale:
                age = max(0, int((now - beat).total_seconds()))
                raise LockHeld(
                    f"run {held.run_id} ({held.owner}) is ingesting this source "
                    f"(last heartbeat {age} s ago); try again later"
                )
            swapped = conn.execute(
                update(RunLock)
                .where(
                    RunLock.lock_key == lock_key,
                    RunLock.run_id == held.run_id,
                    RunLock.heartbeat_at == held.heartbeat_at,
                )
                .values(run_id=run_id, owner=owner, acquired_at=now, heartbeat_at=now)
            )
            if swapped.rowcount == 1:
                return Lease(lock_key, run_id, owner, took_over=held.run_id)
    raise LockHeld("another run is taking this source's lease at the same moment; try again")


def _aware(value: datetime, like: datetime) -> datetime:
    # SQLite returns naive datetimes for timezone-aware columns: they were written as UTC
    return value.replace(tzinfo=like.tzinfo) if value.tzinfo is None else value


def heartbeat(conn: Connection, lease: Lease, now: datetime) -> bool:
    """Renew the lease; False when another run has taken it over (this run must stop)."""
    result = conn.execute(
        update(RunLock)
        .where(RunLock.lock_key == lease.lock_key, RunLock.run_id == lease.run_id)
        .values(heartbeat_at=now)
    )
    return result.rowcount == 1


def release_lock(conn: Connection, lease: Lease) -> None:
    """Give the lease back (only if this run still holds it)."""
    conn.execute(
        delete(RunLock).where(RunLock.lock_key == lease.lock_key, RunLock.run_id == lease.run_id)
    )


def mark_crashed(conn: Connection, source_key: str, *, except_run: str, now: datetime) -> int:
    """Mark runs of ``source_key`` still 'running' (other than ``except_run``) as crashed.

    Only called while holding the source's lease, so no other run of it can be alive.
    """
    result = conn.execute(
        update(PipelineRun)
        .where(
            PipelineRun.source_key == source_key,
            PipelineRun.status == "running",
            PipelineRun.run_id != except_run,
        )
        .values(status="crashed", finished_at=now)
    )
    return int(result.rowcount or 0)


def forget_errors(conn: Connection, errors: Sequence[NoteError]) -> None:
    """Delete earlier dead letters of the same records, so re-reading a record after a
    crash or on the next night leaves one row per bad record, not one per attempt."""
    keyed = [e for e in errors if e.note_id is not None or e.locator is not None]
    for start in range(0, len(keyed), 200):
        conds = [
            and_(
                NoteErrorRow.source == e.source,
                NoteErrorRow.note_id.is_(None)
                if e.note_id is None
                else NoteErrorRow.note_id == e.note_id,
                NoteErrorRow.locator.is_(None)
                if e.locator is None
                else NoteErrorRow.locator == e.locator,
            )
            for e in keyed[start : start + 200]
        ]
        conn.execute(delete(NoteErrorRow).where(or_(*conds)))


def clear_errors_of_loaded(conn: Connection, source: str, note_ids: Sequence[str]) -> None:
    """A note that now loads has no open dead letter from an earlier attempt."""
    for start in range(0, len(note_ids), 500):
        chunk = list(note_ids[start : start + 500])
        conn.execute(
            delete(NoteErrorRow).where(
                NoteErrorRow.source == source,
                NoteErrorRow.note_id.in_(chunk),
                NoteErrorRow.error_type != "DuplicateId",
            )
        )

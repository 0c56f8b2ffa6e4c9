"""The reply cache and per-run usage ledger: one SQLite file with owner-only permissions.

Replies are derived from patient notes, so the file and its folder are readable by their
owner only (0600 / 0700). Keys are SHA-256 digests of the chunk text, task, prompt, schema
and model: the file holds no note text, but the replies quote it. The usage ledger is shared
by every worker process of a run, so the run's token budget and request cap hold across
them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILE_NAME = "llm-cache.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reply (
    key TEXT PRIMARY KEY,
    answer TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS usage (
    run_id TEXT PRIMARY KEY,
    requests INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cache_hits INTEGER NOT NULL DEFAULT 0,
    grounded INTEGER NOT NULL DEFAULT 0,
    ungrounded INTEGER NOT NULL DEFAULT 0,
    invalid INTEGER NOT NULL DEFAULT 0,
    adjudicated INTEGER NOT NULL DEFAULT 0,
    budget_exhausted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS note_warning (
    run_id TEXT NOT NULL,
    note_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (run_id, note_id, kind)
);
"""

#: Counters of the usage ledger (``pipeline_run.metrics["llm"]``).
COUNTERS = (
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "cache_hits",
    "grounded",
    "ungrounded",
    "invalid",
    "adjudicated",
    "budget_exhausted",
)


def cache_key(chunk: str, *parts: str) -> str:
    """SHA-256 of the chunk text and everything else that changes the answer."""
    digest = hashlib.sha256()
    for part in (chunk, *parts):
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True)
class Cached:
    """A cached answer and what it cost when it was asked."""

    answer: dict[str, Any]
    prompt_tokens: int
    completion_tokens: int


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


class LlmCache:
    """The cache file in ``folder`` (created 0700, the file 0600)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser()
        _private_dir(self.folder)
        self.path = self.folder / FILE_NAME
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(self.path, 0o600)
        self._lock = threading.Lock()
        # autocommit mode: ``reserve`` opens its own IMMEDIATE transaction
        self._db = sqlite3.connect(
            self.path, timeout=30, check_same_thread=False, isolation_level=None
        )
        with self._lock, self._db:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def get(self, key: str) -> Cached | None:
        """The cached answer for ``key``, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT answer, prompt_tokens, completion_tokens FROM reply WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else Cached(json.loads(row[0]), int(row[1]), int(row[2]))

    def put(self, key: str, answer: dict[str, Any], prompt_tokens: int, completion: int) -> None:
        """Store an answer (a valid one: malformed replies are never cached)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO reply VALUES (?, ?, ?, ?, ?)",
                (key, json.dumps(answer, sort_keys=True), prompt_tokens, completion, time.time()),
            )

    def clear(self) -> int:
        """Delete every cached reply (the usage ledger stays); how many were deleted."""
        with self._lock, self._db:
            count = self._db.execute("DELETE FROM reply").rowcount
        with self._lock:
            self._db.execute("VACUUM")  # freed pages would still hold reply text
        return int(count)

    def count(self, run_id: str, **counts: int) -> None:
        """Add ``counts`` (names of ``COUNTERS``) to the run's usage."""
        unknown = set(counts) - set(COUNTERS)
        if unknown:
            raise ValueError(f"unknown usage counters {sorted(unknown)}")
        if not counts:
            return
        names = sorted(counts)
        sets = ", ".join(f"{n} = {n} + excluded.{n}" for n in names)
        with self._lock, self._db:
            self._db.execute(
                f"INSERT INTO usage (run_id, {', '.join(names)}) "
                f"VALUES (?, {', '.join('?' for _ in names)}) "
                f"ON CONFLICT (run_id) DO UPDATE SET {sets}",
                (run_id, *(int(counts[n]) for n in names)),
            )

    def reserve(self, run_id: str, max_requests: int | None, token_budget: int | None) -> bool:
        """Count one request for the run if its cap and token budget allow it (atomically,
        across threads and worker processes); whether it may be sent.

        Tokens are known only when a reply comes, so the budget can be overrun by the
        replies in flight when it is reached (at most ``max_concurrency`` per process).
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT requests, prompt_tokens + completion_tokens FROM usage "
                    "WHERE run_id = ?",
                    (run_id,),
                ).fetchone()
                requests, tokens = row or (0, 0)
                if (max_requests is not None and requests >= max_requests) or (
                    token_budget is not None and tokens >= token_budget
                ):
                    self._db.execute("COMMIT")
                    return False
                self._db.execute(
                    "INSERT INTO usage (run_id, requests) VALUES (?, 1) "
                    "ON CONFLICT (run_id) DO UPDATE SET requests = requests + 1",
                    (run_id,),
                )
                self._db.execute("COMMIT")
                return True
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def usage(self, run_id: str) -> dict[str, int]:
        """The run's counters (zeros for a run that made no use of the LLM)."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {', '.join(COUNTERS)} FROM usage WHERE run_id = ?",
                (run_id,),
            ).fetchone()
        return dict(zip(COUNTERS, row or (0,) * len(COUNTERS), strict=True))

    def warn(self, run_id: str, note_id: str, kind: str, count: int) -> None:
        """Keep a per-note warning (e.g. answers that could not be grounded), no text."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO note_warning VALUES (?, ?, ?, ?) ON CONFLICT (run_id, note_id, kind) "
                "DO UPDATE SET count = excluded.count",
                (run_id, note_id, kind, count),
            )

    def warnings(self, run_id: str) -> list[tuple[str, str, int]]:
        """``(note_id, kind, count)`` of the run's per-note warnings."""
        with self._lock:
            rows = self._db.execute(
                "SELECT note_id, kind, count FROM note_warning WHERE run_id = ? ORDER BY 1, 2",
                (run_id,),
            ).fetchall()
        return [(str(a), str(b), int(c)) for a, b, c in rows]

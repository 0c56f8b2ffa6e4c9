"""Engine and session factories for SQLite (WAL) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


class WarehouseError(Exception):
    """The warehouse URL is invalid or the database cannot be used."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL mode, foreign keys and a busy timeout.

    Raises:
        WarehouseError: the URL is not a valid SQLAlchemy URL or names an unknown backend.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise WarehouseError("the warehouse URL is not a valid database URL") from exc
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise WarehouseError(
            f"unsupported warehouse backend {parsed.get_backend_name()!r} "
            "(use sqlite or postgresql)"
        )
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(parsed, **kwargs)
    except Exception as exc:
        raise WarehouseError(f"cannot create a database engine: {type(exc).__name__}") from exc
    if parsed.get_backend_name() == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            for pragma in sqlite_pragmas(parsed.database):
                cur.execute(pragma)
            cur.close()

    return engine


def sqlite_pragmas(database: str | None) -> list[str]:
    """PRAGMAs every warehouse connection to a SQLite database gets.

    WAL lets analysts read while a batch loads; NORMAL sync is durable across application
    crashes (the last commits may be lost on power loss, and re-running a night repairs
    that); a 64 MiB page cache and checkpoints every ~32 MiB of WAL (instead of 4 MiB) keep
    batch loads from rewriting the same index pages at every commit.
    """
    pragmas = []
    if database not in (None, "", ":memory:"):
        pragmas += ["PRAGMA journal_mode=WAL", "PRAGMA wal_autocheckpoint=8192"]
    pragmas += [
        "PRAGMA synchronous=NORMAL",
        "PRAGMA busy_timeout=30000",
        "PRAGMA cache_size=-65536",
    ]
    return pragmas


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine``."""
    return sessionmaker(engine, expire_on_commit=False)


def redact_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<invalid url>"

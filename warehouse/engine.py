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
            if parsed.database not in (None, "", ":memory:"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine``."""
    return sessionmaker(engine, expire_on_commit=False)


def redact_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<invalid url>"

"""PostgreSQL roles: a loader that writes the warehouse, an analyst that reads only the views.

Views run with their owner's rights, so the analyst reads the de-identified views without
any right on the base tables behind them (``note``, ``mention``, ``fhir_resource``, ...).
Grants are per object: re-run :func:`apply_roles` (``notestruct db roles``) after every
migration that adds a view.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text

from warehouse.engine import WarehouseError

DEFAULT_LOADER = "notestruct_loader"
DEFAULT_ANALYST = "notestruct_analyst"

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class RoleError(WarehouseError):
    """Roles cannot be set up (wrong backend, invalid name, missing rights)."""


@dataclass
class RoleReport:
    """What :func:`apply_roles` did."""

    schema: str
    created: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    views: list[str] = field(default_factory=list)
    withheld_views: list[str] = field(default_factory=list)


def _ident(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _check_name(name: str) -> str:
    if not _ROLE_NAME.match(name):
        raise RoleError(f"invalid role name {name!r}: use lowercase letters, digits and _ (max 63)")
    return name


def _ensure_role(conn: Connection, name: str) -> bool:
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first()
    if exists:
        return False
    # NOLOGIN group role: people and services log in as their own users, granted this role
    conn.execute(text(f"CREATE ROLE {_ident(conn, name)} NOLOGIN"))
    return True


def apply_roles(
    engine: Engine,
    *,
    loader: str = DEFAULT_LOADER,
    analyst: str = DEFAULT_ANALYST,
    withhold_views: Collection[str] = (),
) -> RoleReport:
    """Create (if missing) and grant the loader and analyst roles on the current schema.

    Idempotent: the analyst's rights are reset to exactly USAGE on the schema and SELECT on
    every view present now (minus ``withhold_views``); the loader gets read and write on
    every table and sequence, and by default on tables created later by the caller.

    Raises:
        RoleError: the warehouse is not PostgreSQL or a role name is invalid.
    """
    if engine.dialect.name != "postgresql":
        raise RoleError("database roles need a PostgreSQL warehouse (SQLite has no roles)")
    _check_name(loader)
    _check_name(analyst)
    if loader == analyst:
        raise RoleError("the loader and analyst roles must differ")
    with engine.begin() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one_or_none()
        if not schema:
            raise RoleError("no current schema: check the search_path of the warehouse URL")
        report = RoleReport(schema=schema)
        for role in (loader, analyst):
            if _ensure_role(conn, role):
                report.created.append(role)
        s, lo, an = _ident(conn, schema), _ident(conn, loader), _ident(conn, analyst)
        tables = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = :s "
                    "AND table_type = 'BASE TABLE' ORDER BY table_name"
                ),
                {"s": schema},
            )
        ]
        views = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT viewname FROM pg_views WHERE schemaname = :s UNION "
                    "SELECT matviewname FROM pg_matviews WHERE schemaname = :s ORDER BY 1"
                ),
                {"s": schema},
            )
        ]
        report.tables = tables
        # loader: writes every table; analyst: nothing on tables, SELECT on views
        conn.execute(text(f"GRANT USAGE ON SCHEMA {s} TO {lo}, {an}"))
        conn.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {an}"))
        conn.execute(text(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {an}"))
        conn.execute(
            text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {lo}")
        )
        conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {lo}"))
        conn.execute(
            text(
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} "
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {lo}"
            )
        )
        conn.execute(
            text(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT USAGE, SELECT ON SEQUENCES TO {lo}")
        )
        withheld = set(withhold_views)
        for view in views:
            if view in withheld:
                report.withheld_views.append(view)
                continue
            if _security_invoker(conn, schema, view):
                # such a view checks the reader's rights on its base tables: not de-identifying
                report.withheld_views.append(view)
                continue
            conn.execute(text(f"GRANT SELECT ON {s}.{_ident(conn, view)} TO {an}"))
            report.views.append(view)
    return report


def _security_invoker(conn: Connection, schema: str, view: str) -> bool:
    row = conn.execute(
        text(
            "SELECT c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :s AND c.relname = :v"
        ),
        {"s": schema, "v": view},
    ).first()
    options = (row[0] if row else None) or []
    return any(str(o).lower() in {"security_invoker=true", "security_invoker=on"} for o in options)


def drop_roles(engine: Engine, *roles: str) -> None:
    """Revoke everything granted to ``roles`` in this database and drop them (tests, teardown)."""
    with engine.begin() as conn:
        for role in roles:
            _check_name(role)
            if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": role}).first():
                conn.execute(text(f"DROP OWNED BY {_ident(conn, role)}"))
                conn.execute(text(f"DROP ROLE {_ident(conn, role)}"))

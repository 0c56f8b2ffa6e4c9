"""Read-only ad-hoc SQL for analysts: statements are inspected, then run in a read-only
transaction (SQLite ``PRAGMA query_only``, PostgreSQL ``SET TRANSACTION READ ONLY``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from warehouse.engine import WarehouseError

#: Statements may only start with these keywords.
READ_STARTS = frozenset({"SELECT", "WITH", "VALUES", "TABLE"})
#: Words that make a statement write, lock or change session state, wherever they appear
#: (``WITH x AS (DELETE ...)``, ``SELECT ... INTO``, ``FOR UPDATE``).
WRITE_WORDS = frozenset(
    {
        "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "INTO", "CREATE", "DROP", "ALTER",
        "TRUNCATE", "GRANT", "REVOKE", "ATTACH", "DETACH", "PRAGMA", "COPY", "CALL", "LOCK",
        "VACUUM", "REINDEX", "SET", "RESET", "COMMIT", "ROLLBACK", "BEGIN", "SAVEPOINT",
        "RELEASE", "PREPARE", "EXECUTE", "NOTIFY", "LISTEN", "REFRESH", "CLUSTER",
    }
)  # fmt: skip
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


class QueryRefused(WarehouseError):
    """The statement is not a single read-only query."""


@dataclass(frozen=True)
class QueryResult:
    """Columns and rows of a query (at most ``limit`` rows)."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    truncated: bool


def _code_only(sql: str) -> str:
    """``sql`` with string literals, quoted identifiers and comments blanked out."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
            out.append(" ")
        elif ch == "/" and sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            if j < 0:
                raise QueryRefused("unterminated /* comment")
            i = j + 2
            out.append(" ")
        elif ch in "'\"`":
            j = i + 1
            while True:
                j = sql.find(ch, j)
                if j < 0:
                    raise QueryRefused("unterminated quoted text")
                if sql.startswith(ch * 2, j):
                    j += 2
                    continue
                break
            # keep quoted identifiers as a neutral word so "x"."y" still parses
            out.append(" q " if ch != "'" else " '' ")
            i = j + 1
        elif ch == "$" and (m := _DOLLAR.match(sql, i)):
            tag = m.group(0)
            j = sql.find(tag, m.end())
            if j < 0:
                raise QueryRefused("unterminated dollar-quoted text")
            out.append(" '' ")
            i = j + len(tag)
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def check_read_only(sql: str) -> str:
    """The single read-only statement in ``sql`` (trailing ``;`` removed).

    Raises:
        QueryRefused: empty, several statements, or a statement that could write.
    """
    code = _code_only(sql)
    parts = [p for p in code.split(";")]
    if len([p for p in parts if p.strip()]) != 1 or any(p.strip() for p in parts[1:]):
        raise QueryRefused("give exactly one SQL statement")
    words = [w.upper() for w in _WORD.findall(code)]
    if not words or words[0] not in READ_STARTS:
        raise QueryRefused(
            "only SELECT, WITH, VALUES or TABLE statements are allowed (the warehouse is "
            "read-only here)"
        )
    bad = sorted(set(words) & WRITE_WORDS)
    if bad:
        raise QueryRefused(f"statement contains {', '.join(bad)}: only reads are allowed")
    return sql.strip().rstrip(";").strip()


def run_query(
    engine: Engine,
    sql: str,
    *,
    limit: int = 1000,
    timeout_s: float | None = 60.0,
) -> QueryResult:
    """Run one read-only statement and return at most ``limit`` rows.

    Raises:
        QueryRefused: the statement is not a single read (checked before it runs; the
            database refuses writes as well, as the transaction is read-only).
    """
    statement = check_read_only(sql)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            conn.exec_driver_sql("PRAGMA query_only = ON")
            conn.commit()
        try:
            with conn.begin():
                if not sqlite:
                    conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                    if timeout_s:
                        conn.exec_driver_sql(
                            f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}"
                        )
                # the DBAPI cursor, without parameters: neither SQLAlchemy (":name") nor
                # psycopg ("%s") then reinterprets characters inside the analyst's SQL
                cur = conn.connection.cursor()
                try:
                    cur.execute(statement)
                    if cur.description is None:
                        return QueryResult((), [], False)
                    columns = tuple(str(d[0]) for d in cur.description)
                    rows: Sequence[Any] = cur.fetchmany(limit + 1)
                finally:
                    cur.close()
                truncated = len(rows) > limit
                out = [tuple(r) for r in rows[:limit]]
        finally:
            if sqlite:
                conn.rollback()
                conn.exec_driver_sql("PRAGMA query_only = OFF")
                conn.commit()
    return QueryResult(columns, out, truncated)

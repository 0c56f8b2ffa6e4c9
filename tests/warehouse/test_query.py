"""``notestruct query`` is read-only: writes are refused before and while running."""

import pytest
import sqlalchemy as sa

from tests.warehouse.builders import build_story_warehouse
from warehouse.query import QueryRefused, check_read_only, run_query

REFUSED = [
    "DELETE FROM note",
    "drop table note",
    "SELECT 1; DELETE FROM note",
    "WITH x AS (DELETE FROM note RETURNING 1) SELECT * FROM x",
    "SELECT * INTO copy_of_note FROM note",
    "SELECT * FROM note FOR UPDATE",
    "PRAGMA query_only = OFF",
    "ATTACH DATABASE 'x.db' AS x",
    "update note set status = 'x'",
    "",
    "   ;  ",
    "SELECT 'unterminated",
]
ALLOWED = [
    "SELECT 1",
    "select count(*) from note;",
    "SELECT 'DELETE FROM note; DROP TABLE x' AS harmless",
    "SELECT 1 -- DELETE in a comment\n",
    'SELECT "status" FROM note WHERE note_id LIKE \'n%\'',
    "WITH t AS (SELECT 1 AS a) SELECT a FROM t",
    "SELECT '10:30' AS t",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_writes_are_refused(sql):
    with pytest.raises(QueryRefused):
        check_read_only(sql)


@pytest.mark.parametrize("sql", ALLOWED)
def test_reads_are_allowed(sql):
    check_read_only(sql)


def _run(url):
    engine = build_story_warehouse(url)
    try:
        res = run_query(engine, "SELECT note_id, status FROM note_status ORDER BY note_id", limit=3)
        assert res.columns == ("note_id", "status")
        assert res.rows[0] == ("n1", "processed") and len(res.rows) == 3 and res.truncated
        assert run_query(engine, "SELECT '10:30' AS t, 'a%' AS p").rows == [("10:30", "a%")]
        # the database itself refuses a write that slips past the inspection
        with pytest.raises(sa.exc.DBAPIError):
            with engine.connect() as conn:
                if engine.dialect.name == "sqlite":
                    conn.exec_driver_sql("PRAGMA query_only = ON")
                    conn.exec_driver_sql("DELETE FROM note")
                else:
                    with conn.begin():
                        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                        conn.exec_driver_sql("DELETE FROM note")
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA query_only = OFF") if engine.dialect.name == "sqlite" \
                else None
            assert conn.execute(sa.text("SELECT count(*) FROM note")).scalar_one() == 4
        # query_only is reset on pooled connections after a query
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE note SET mention_count = mention_count"))
    finally:
        engine.dispose()


def test_run_query_sqlite(sqlite_url):
    _run(sqlite_url)


@pytest.mark.postgres
def test_run_query_postgres(pg_url):
    _run(pg_url)

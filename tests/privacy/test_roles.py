"""PostgreSQL roles on the real server: the analyst reads views only, the loader writes."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from warehouse.engine import make_engine
from warehouse.migrate import upgrade
from warehouse.roles import RoleError, apply_roles, drop_roles
from warehouse.views import VIEW_NAMES

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres


@pytest.fixture()
def warehouse(pg_url: str) -> Iterator[tuple[sa.Engine, str, str, str]]:
    """A schema migrated to head (with the analyst views), and unique role names dropped
    afterwards."""
    engine = make_engine(pg_url)
    upgrade(engine)
    tag = uuid.uuid4().hex[:8]
    loader, analyst = f"t_loader_{tag}", f"t_analyst_{tag}"
    try:
        yield engine, pg_url, loader, analyst
    finally:
        drop_roles(engine, loader, analyst)
        engine.dispose()


def _as(engine: sa.Engine, role: str, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        conn.execute(sa.text(f'SET ROLE "{role}"'))
        try:
            return [tuple(r) for r in conn.execute(sa.text(sql))]
        finally:
            conn.rollback()


def _refused(engine: sa.Engine, role: str, sql: str) -> bool:
    try:
        _as(engine, role, sql)
    except sa.exc.ProgrammingError as exc:
        return "permission denied" in str(exc.orig)
    return False


def test_analyst_reads_views_not_base_tables(warehouse) -> None:
    engine, _url, loader, analyst = warehouse
    report = apply_roles(engine, loader=loader, analyst=analyst)
    assert set(report.created) == {loader, analyst}
    assert set(report.views) == set(VIEW_NAMES)
    assert {"note", "mention", "fhir_resource", "note_nlp"} <= set(report.tables)
    assert _as(engine, analyst, "SELECT count(*) FROM problem_list") == [(0,)]
    for table in (
        "note",
        "mention",
        "mention_coding",
        "fhir_resource",
        "note_nlp",
        "note_error",
        "pipeline_run",
        "alembic_version",
    ):
        assert _refused(engine, analyst, f"SELECT * FROM {table}"), table
    assert _refused(
        engine,
        analyst,
        "INSERT INTO note_error (run_id, source, stage, error_type, message, created_at) "
        "VALUES ('r', 's', 'read', 'X', 'm', now())",
    )


def test_loader_writes_and_reads_tables(warehouse) -> None:
    engine, _url, loader, analyst = warehouse
    apply_roles(engine, loader=loader, analyst=analyst)
    with engine.connect() as conn:
        conn.execute(sa.text(f'SET ROLE "{loader}"'))
        conn.execute(
            sa.text(
                "INSERT INTO note_error (run_id, source, stage, error_type, message, created_at) "
                "VALUES ('r', 's', 'read', 'X', 'm', now())"
            )
        )
        assert conn.execute(sa.text("SELECT count(*) FROM note_error")).scalar_one() == 1
        conn.execute(sa.text("DELETE FROM note_error"))
        conn.rollback()


def test_idempotent_and_picks_up_new_views(warehouse) -> None:
    engine, _url, loader, analyst = warehouse
    apply_roles(engine, loader=loader, analyst=analyst)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE VIEW site_note_count AS SELECT count(*) AS n FROM note"))
        conn.execute(sa.text("CREATE VIEW note_text AS SELECT note_id, text FROM note"))
    assert _refused(engine, analyst, "SELECT * FROM site_note_count")
    again = apply_roles(engine, loader=loader, analyst=analyst, withhold_views={"note_text"})
    assert again.created == []
    assert again.views == sorted([*VIEW_NAMES, "site_note_count"])
    assert again.withheld_views == ["note_text"]
    assert _as(engine, analyst, "SELECT n FROM site_note_count") == [(0,)]
    assert _refused(engine, analyst, "SELECT * FROM note_text")


def test_cli_db_roles(warehouse) -> None:
    engine, url, loader, analyst = warehouse
    cmd = [
        sys.executable,
        "-m",
        "pipelines.cli",
        "db",
        "roles",
        "--warehouse",
        url,
        "--loader-role",
        loader,
        "--analyst-role",
        analyst,
    ]
    for _ in range(2):  # idempotent
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    assert f"SELECT on {len(VIEW_NAMES)} views" in " ".join(proc.stdout.split())
    assert _refused(engine, analyst, "SELECT * FROM note")
    assert _as(engine, analyst, "SELECT count(*) FROM problem_list") == [(0,)]


def test_refuses_sqlite_and_bad_names(tmp_path) -> None:
    lite = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with pytest.raises(RoleError):
        apply_roles(lite)
    with pytest.raises(RoleError):
        apply_roles(make_engine("postgresql+psycopg://u@127.0.0.1:1/x"), analyst='x"; DROP')

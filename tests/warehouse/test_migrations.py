"""Migrations create the schema and views on an empty database and agree with the models."""

import pytest
import sqlalchemy as sa

from warehouse.engine import make_engine
from warehouse.migrate import check, downgrade, upgrade
from warehouse.tables import Base
from warehouse.views import VIEWS


def _upgrade_head_matches_models(url):
    engine = make_engine(url)
    try:
        upgrade(engine)
        insp = sa.inspect(engine)
        names = set(insp.get_table_names())
        assert set(Base.metadata.tables) <= names
        assert {"note", "mention", "mention_attribute", "fhir_resource", "pipeline_run"} <= names
        check(engine)  # raises when models and migrations drift
        views = set(insp.get_view_names())
        for v in VIEWS:
            assert v.name in views
            with engine.connect() as conn:
                cols = tuple(conn.execute(sa.text(f"SELECT * FROM {v.name} WHERE 1 = 0")).keys())
            assert cols == v.column_names, v.name
        # every column of every table carries a comment for analysts
        for table in Base.metadata.tables.values():
            for col in table.columns:
                assert col.comment, f"{table.name}.{col.name} has no comment"
        if engine.dialect.name == "postgresql":
            types = {c["name"]: type(c["type"]).__name__ for c in insp.get_columns("mention")}
            assert types["attributes"] == "JSONB"
    finally:
        engine.dispose()


def _down_and_up(url):
    engine = make_engine(url)
    try:
        upgrade(engine)
        downgrade(engine, "base")
        insp = sa.inspect(engine)
        assert not set(insp.get_view_names()) & {v.name for v in VIEWS}
        assert "mention" not in insp.get_table_names()
        upgrade(engine)
        upgrade(engine)  # repeatable
        check(engine)
    finally:
        engine.dispose()


def test_upgrade_head_on_empty_sqlite_matches_models(sqlite_url):
    _upgrade_head_matches_models(sqlite_url)


@pytest.mark.postgres
def test_upgrade_head_on_empty_postgres_matches_models(pg_url):
    _upgrade_head_matches_models(pg_url)


def test_downgrade_to_base_and_up_again_sqlite(sqlite_url):
    _down_and_up(sqlite_url)


@pytest.mark.postgres
def test_downgrade_to_base_and_up_again_postgres(pg_url):
    _down_and_up(pg_url)

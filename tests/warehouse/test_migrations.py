"""Migrations create the schema on an empty database and agree with the models."""

import sqlalchemy as sa

from warehouse.engine import make_engine
from warehouse.migrate import check, upgrade
from warehouse.tables import Base


def test_upgrade_head_on_empty_sqlite_matches_models(sqlite_url):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    names = set(sa.inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= names
    assert {"note", "mention", "fhir_resource", "pipeline_run", "note_error"} <= names
    check(engine)  # raises when models and migrations drift
    engine.dispose()


def test_upgrade_is_repeatable(sqlite_url):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    upgrade(engine)
    engine.dispose()

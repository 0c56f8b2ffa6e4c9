"""The views export as Parquet files that read back with pyarrow, with their declared types."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.warehouse.builders import build_story_warehouse
from warehouse.parquet import arrow_schema, export_views
from warehouse.views import VIEWS, view


def _export(url, tmp_path):
    engine = build_story_warehouse(url)
    try:
        files = export_views(engine, tmp_path / "out", chunk_rows=2)  # several chunks
    finally:
        engine.dispose()
    assert {f.view for f in files} == {v.name for v in VIEWS}
    for f in files:
        table = pq.read_table(f.path)
        assert table.num_rows == f.rows
        assert table.schema.equals(arrow_schema(view(f.view)), check_metadata=False)
    meds = pq.read_table(tmp_path / "out" / "medication_list.parquet").to_pylist()
    metformin = next(r for r in meds if r["concept_display"] == "metformin")
    assert metformin["strength"] == "500 mg" and metformin["prn"] is False
    assert metformin["last_noted"].year == 2025
    feats = pq.read_table(tmp_path / "out" / "patient_concept_feature.parquet")
    assert feats.num_rows > 5
    assert feats.schema.field("first_seen").type == pa.timestamp("us", tz="UTC")
    return {f.view: f.rows for f in files}


def test_parquet_export_sqlite(sqlite_url, tmp_path):
    _export(sqlite_url, tmp_path)


@pytest.mark.postgres
def test_parquet_export_postgres_matches_sqlite(pg_url, sqlite_url, tmp_path):
    assert _export(pg_url, tmp_path / "pg") == _export(sqlite_url, tmp_path / "lite")

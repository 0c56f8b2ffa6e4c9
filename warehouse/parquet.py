"""Exports the analyst views as Parquet files (for DuckDB, pandas, Spark), streaming in chunks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, text

from warehouse.views import VIEWS, ColumnType, View

log = logging.getLogger(__name__)

_ARROW: dict[ColumnType, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


@dataclass(frozen=True)
class ExportedFile:
    """One Parquet file written."""

    view: str
    path: Path
    rows: int


def arrow_schema(view: View) -> pa.Schema:
    """The Arrow schema of ``view``, with each column's description as field metadata."""
    return pa.schema(
        [
            pa.field(c.name, _ARROW[c.type], metadata={"description": c.description})
            for c in view.columns
        ],
        metadata={"view": view.name, "purpose": view.purpose},
    )


def _timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns text from views
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    raise TypeError(f"not a timestamp: {type(value).__name__}")


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


_CONVERT: dict[ColumnType, Callable[[Any], Any]] = {
    "string": _str,
    "int": _int,
    "float": _float,
    "bool": _bool,
    "timestamp": _timestamp,
}


def _batch(view: View, schema: pa.Schema, rows: Sequence[Sequence[Any]]) -> pa.RecordBatch:
    arrays = []
    for i, col in enumerate(view.columns):
        conv = _CONVERT[col.type]
        arrays.append(pa.array([conv(r[i]) for r in rows], type=schema.field(i).type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def export_view(engine: Engine, view: View, path: Path, *, chunk_rows: int = 50_000) -> int:
    """Write ``view`` to ``path`` as Parquet, ``chunk_rows`` rows at a time; returns the count."""
    schema = arrow_schema(view)
    cols = ", ".join(view.column_names)
    rows_written = 0
    tmp = path.with_suffix(path.suffix + ".part")
    with engine.connect() as conn, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(
            text(f"SELECT {cols} FROM {view.name}")
        )
        for part in result.partitions():
            writer.write_batch(_batch(view, schema, part))
            rows_written += len(part)
    tmp.replace(path)
    log.info("exported view %s: %d rows", view.name, rows_written)
    return rows_written


def export_views(
    engine: Engine,
    out_dir: Path,
    *,
    views: Iterable[View] = VIEWS,
    chunk_rows: int = 50_000,
) -> list[ExportedFile]:
    """Write each view to ``out_dir/<view>.parquet``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for v in views:
        path = out_dir / f"{v.name}.parquet"
        rows = export_view(engine, v, path, chunk_rows=chunk_rows)
        written.append(ExportedFile(v.name, path, rows))
    return written

"""mention_attribute key/value table; JSONB on PostgreSQL; JSON null stored as SQL NULL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 23:55:00
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column) holding JSON; JSONB on PostgreSQL from this revision on.
JSON_COLUMNS = (
    ("mention", "attributes", True),
    ("fhir_resource", "resource", False),
    ("pipeline_run", "metrics", True),
)
# Frozen copy of warehouse.load.TEXT_ATTRIBUTE_KEYS at this revision (echoes of note text).
_OLD_ATTR_COMMENT = "Structured values: dose, route, frequency, value, unit, flags (JSON)."
_ATTR_COMMENT = (
    "Structured values: dose, route, frequency, value, unit, flags (JSON); "
    "also flattened into mention_attribute."
)
_TEXT_KEYS = frozenset({"text", "unit_text", "drug", "prn_reason", "parts"})


def _flatten(attrs: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str, float | None]]:
    for k, v in attrs.items():
        if k in _TEXT_KEYS or v is None:
            continue
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _flatten(v, key + ".")
        elif isinstance(v, bool):
            yield key, "true" if v else "false", None
        elif isinstance(v, int | float):
            yield key, str(int(v)) if float(v).is_integer() else repr(float(v)), float(v)
        elif isinstance(v, str):
            yield key, v, None
        else:
            yield key, json.dumps(v, sort_keys=True), None


def upgrade() -> None:
    op.create_table(
        "mention_attribute",
        sa.Column("mention_id", sa.String(length=36), nullable=False, comment="Mention."),
        sa.Column(
            "key",
            sa.String(length=128),
            nullable=False,
            comment="Attribute name; nested objects are flattened with dots (e.g. dose.unit).",
        ),
        sa.Column("note_id", sa.String(length=512), nullable=False, comment="Note (for deletes)."),
        sa.Column(
            "value_text",
            sa.Text(),
            nullable=True,
            comment="Value as text (lists as JSON, booleans as true/false).",
        ),
        sa.Column(
            "value_num", sa.Float(), nullable=True, comment="Value as a number when it is one, else NULL."
        ),
        sa.PrimaryKeyConstraint("mention_id", "key", name=op.f("pk_mention_attribute")),
        comment="Mention attributes as key/value rows (dose, route, frequency, value, unit, ...), "
        "so views read them with portable SQL on SQLite and PostgreSQL.",
    )
    with op.batch_alter_table("mention_attribute", schema=None) as batch_op:
        batch_op.create_index("ix_mention_attribute__key", ["key"], unique=False)
        batch_op.create_index("ix_mention_attribute__note_id", ["note_id"], unique=False)

    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    for table, column, nullable in JSON_COLUMNS:
        if pg:
            op.execute(
                f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE JSONB USING "{column}"::jsonb'
            )
            if nullable:
                op.execute(f"UPDATE {table} SET \"{column}\" = NULL WHERE \"{column}\" = 'null'::jsonb")
        elif nullable:
            op.execute(f"UPDATE {table} SET \"{column}\" = NULL WHERE \"{column}\" = 'null'")

    if pg:  # SQLite keeps no column comments
        op.alter_column(
            "mention", "attributes", existing_type=postgresql.JSONB(), existing_nullable=True,
            comment=_ATTR_COMMENT, existing_comment=_OLD_ATTR_COMMENT,
        )

    # backfill attributes already loaded
    rows = bind.execute(
        sa.text("SELECT mention_id, note_id, attributes FROM mention WHERE attributes IS NOT NULL")
    )
    batch: list[dict[str, Any]] = []
    target = sa.table(
        "mention_attribute",
        sa.column("mention_id"),
        sa.column("key"),
        sa.column("note_id"),
        sa.column("value_text"),
        sa.column("value_num"),
    )
    for mention_id, note_id, attrs in rows.fetchall():
        if isinstance(attrs, str):
            attrs = json.loads(attrs)
        if not isinstance(attrs, dict):
            continue
        for key, text, num in _flatten(attrs):
            if len(key) <= 128:
                batch.append(
                    {"mention_id": mention_id, "key": key, "note_id": note_id,
                     "value_text": text, "value_num": num}
                )
    if batch:
        op.bulk_insert(target, batch)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "mention", "attributes", existing_type=postgresql.JSONB(), existing_nullable=True,
            comment=_OLD_ATTR_COMMENT, existing_comment=_ATTR_COMMENT,
        )
        for table, column, _nullable in JSON_COLUMNS:
            op.alter_column(
                table, column, type_=sa.JSON(), existing_type=postgresql.JSONB(),
                postgresql_using=f'"{column}"::json',
            )
    with op.batch_alter_table("mention_attribute", schema=None) as batch_op:
        batch_op.drop_index("ix_mention_attribute__note_id")
        batch_op.drop_index("ix_mention_attribute__key")
    op.drop_table("mention_attribute")

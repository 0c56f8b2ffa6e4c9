"""run lock: one ingestion run per source, with heartbeat for stale-lease takeover

Revision ID: 0010
Revises: 0003
Create Date: 2026-11-24 23:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0010"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "run_lock",
        sa.Column("lock_key", sa.String(length=64), nullable=False,
                  comment="Source key being ingested (hash, as in pipeline_run)."),
        sa.Column("run_id", sa.String(length=64), nullable=False, comment="Run holding the lease."),
        sa.Column("owner", sa.String(length=256), nullable=False,
                  comment="Host and process id holding the lease (host:pid)."),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False,
                  comment="When the lease was taken (UTC)."),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False,
                  comment="Last sign of life of the holder (UTC); stale after the configured age."),
        sa.PrimaryKeyConstraint("lock_key", name=op.f("pk_run_lock")),
        comment="Which run is ingesting a source now; a crashed run's lease goes stale.",
    )


def downgrade() -> None:
    op.drop_table("run_lock")

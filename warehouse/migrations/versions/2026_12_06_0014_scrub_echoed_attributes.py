"""Scrub the attributes that repeat the note's words from rows already loaded

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 07:00:00

From this release the load keeps the attributes that repeat the note's words (a sig, a drug,
allergen or reaction as written, a combination's words, every ``text``) out of
``mention_attribute`` always, and out of ``mention.attributes`` unless the deployment stores
note text (``warehouse.load.ECHO_ATTRIBUTE_KEYS``). Rows loaded before hold them. This
revision deletes them from ``mention_attribute``, and from ``mention.attributes`` wherever the
note's text is not stored (``note.text`` is NULL: the deployment did not keep it). Their
offsets stay in ``parts``. Downgrade leaves the data as it is: removed words cannot come back
(a re-run with ``store_text = true`` writes them again).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of warehouse.load.ECHO_ATTRIBUTE_KEYS at this revision.
_ECHO = ("text", "unit_text", "drug", "prn_reason", "sig", "allergen", "reaction", "ingredients")
_CHUNK = 1000


def _scrub(attrs: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _scrub(v) if isinstance(v, dict) and k != "parts" else v
        for k, v in attrs.items()
        if k not in _ECHO
    }


def upgrade() -> None:
    bind = op.get_bind()
    # a flattened key is the attribute's path: "sig", "dose.text", "route.text"
    ends = " OR ".join(f"key = '{k}' OR key LIKE '%.{k}'" for k in _ECHO)
    op.execute(f"DELETE FROM mention_attribute WHERE {ends}")
    pg = bind.dialect.name == "postgresql"
    # in pages of mention ids (keyset), so a large warehouse is never read into memory at once
    page = sa.text(
        "SELECT m.mention_id, m.attributes FROM mention m JOIN note n "
        "ON n.note_id = m.note_id WHERE n.text IS NULL AND m.attributes IS NOT NULL "
        "AND m.mention_id > :after ORDER BY m.mention_id LIMIT :size"
    )
    update = sa.text(
        "UPDATE mention SET attributes = "
        + ("CAST(:attributes AS JSONB)" if pg else ":attributes")
        + " WHERE mention_id = :mention_id"
    )
    after = ""
    while True:
        rows = bind.execute(page, {"after": after, "size": _CHUNK}).fetchall()
        if not rows:
            break
        after = rows[-1][0]
        batch: list[dict[str, Any]] = []
        for mention_id, attrs in rows:
            if isinstance(attrs, str):
                attrs = json.loads(attrs)
            if not isinstance(attrs, dict):
                continue
            scrubbed = _scrub(attrs)
            if scrubbed != attrs:
                batch.append({"mention_id": mention_id, "attributes": json.dumps(scrubbed)})
        if batch:
            bind.execute(update, batch)


def downgrade() -> None:
    """Nothing to undo in the schema; the removed words are not restored."""

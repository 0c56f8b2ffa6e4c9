"""Notes whose text the warehouse stores, with their loaded mentions (for ``notestruct view``).

Only notes with ``text_stored`` are returned: a deployment that keeps no note text has
nothing to draw. Mentions come back in the ``notestruct extract`` shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from warehouse.tables import MentionCoding, MentionRow, NoteRow

FLAGS = ("negated", "uncertain", "historical", "hypothetical", "family", "conditional")


@dataclass(frozen=True)
class StoredNote:
    """A stored note: id, text and its mentions as ``extract``-shaped dicts."""

    note_id: str
    text: str
    mentions: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class StoredNotes:
    """The notes found, and the requested ids that are missing or have no stored text."""

    notes: tuple[StoredNote, ...]
    missing: tuple[str, ...]
    without_text: tuple[str, ...]


def read_stored_notes(engine: Engine, note_ids: Sequence[str], limit: int) -> StoredNotes:
    """The given notes (or, with no ids, the first ``limit`` notes with text, by id)."""
    with Session(engine) as conn:
        query = select(NoteRow.note_id, NoteRow.text, NoteRow.text_stored)
        if note_ids:
            query = query.where(NoteRow.note_id.in_(list(note_ids)))
        else:
            query = query.where(NoteRow.text_stored.is_(True)).order_by(NoteRow.note_id)
            query = query.limit(limit)
        rows = conn.execute(query).all()
        found = {r.note_id: r for r in rows}
        missing = tuple(i for i in note_ids if i not in found)
        without_text = tuple(r.note_id for r in rows if not r.text_stored or r.text is None)
        keep = [r for r in rows if r.text_stored and r.text is not None]
        ids = [r.note_id for r in keep]
        mentions: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        codes: dict[str, list[dict[str, Any]]] = {}
        if ids:
            for c in conn.execute(
                select(
                    MentionCoding.mention_id,
                    MentionCoding.system,
                    MentionCoding.code,
                    MentionCoding.display,
                )
                .where(MentionCoding.note_id.in_(ids))
                .order_by(MentionCoding.mention_id, MentionCoding.system, MentionCoding.code)
            ):
                codes.setdefault(c.mention_id, []).append(
                    {"system": c.system, "code": c.code, "display": c.display}
                )
            for m in conn.scalars(
                select(MentionRow)
                .where(MentionRow.note_id.in_(ids))
                .order_by(MentionRow.note_id, MentionRow.start_char, MentionRow.end_char)
            ):
                mentions[m.note_id].append(_contract(m, codes.get(m.mention_id, [])))
    order = {i: k for k, i in enumerate(note_ids)}
    keep.sort(key=lambda r: (order.get(r.note_id, 0), r.note_id))
    notes = tuple(StoredNote(r.note_id, str(r.text), tuple(mentions[r.note_id])) for r in keep)
    return StoredNotes(notes, missing, without_text)


def _contract(m: MentionRow, codes: list[dict[str, Any]]) -> dict[str, Any]:
    flags = {f: bool(getattr(m, f"is_{f}")) for f in FLAGS}
    return {
        "start": m.start_char,
        "end": m.end_char,
        "label": m.label,
        "codes": codes,
        **flags,
        "section": m.section,
        "extractor": m.extractor,
        "rule_id": m.rule_id,
        "attributes": dict(m.attributes or {}),
    }

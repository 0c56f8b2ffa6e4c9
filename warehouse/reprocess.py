"""What re-processing would change: stored mentions diffed against freshly computed ones."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from schemas.model import Mention, NoteResult
from warehouse.load import _chunks, stored_attributes
from warehouse.tables import MentionCoding, MentionRow

_FLAGS = ("is_negated", "is_uncertain", "is_historical", "is_hypothetical", "is_family",
          "is_conditional")  # fmt: skip


@dataclass
class LabelChange:
    """Mentions of one label: added, removed, changed (assertion, codes or attributes)."""

    added: int = 0
    removed: int = 0
    changed: int = 0
    unchanged: int = 0


@dataclass
class ChangePlan:
    """The effect of replacing the stored facts of some notes with new results."""

    notes: int = 0
    notes_changed: int = 0
    by_label: dict[str, LabelChange] = field(default_factory=dict)

    def label(self, name: str) -> LabelChange:
        """The counter of ``name`` (created on first use)."""
        return self.by_label.setdefault(name, LabelChange())

    def merge(self, other: ChangePlan) -> None:
        """Add ``other``'s counts to this plan."""
        self.notes += other.notes
        self.notes_changed += other.notes_changed
        for name, ch in other.by_label.items():
            mine = self.label(name)
            mine.added += ch.added
            mine.removed += ch.removed
            mine.changed += ch.changed
            mine.unchanged += ch.unchanged


Signature = tuple[str, tuple[bool, ...], frozenset[tuple[str, str]], str]


def _attrs_key(attrs: Any) -> str:
    # as stored by default, without the words of the note: a stored and a new reading compare
    # equal whatever ``store_text`` was (the echoed words follow from the offsets in ``parts``)
    return json.dumps(stored_attributes(attrs or {}, False), sort_keys=True, default=str)


def _new_signature(m: Mention) -> Signature:
    a = m.assertion
    flags = (a.is_negated, a.is_uncertain, a.is_historical, a.is_hypothetical, a.is_family,
             a.is_conditional)  # fmt: skip
    codes = frozenset((c.system, c.code) for c in m.codings)
    return (m.label, flags, codes, _attrs_key(dict(m.attributes)))


def stored_signatures(conn: Connection, note_ids: Sequence[str]) -> dict[str, dict[str, Signature]]:
    """Per note, ``mention_id -> (label, flags, codes, attributes)`` as stored."""
    out: dict[str, dict[str, Signature]] = {nid: {} for nid in note_ids}
    codes: dict[str, set[tuple[str, str]]] = {}
    for chunk in _chunks(list(note_ids)):
        for mid, system, code in conn.execute(
            select(MentionCoding.mention_id, MentionCoding.system, MentionCoding.code).where(
                MentionCoding.note_id.in_(chunk)
            )
        ):
            codes.setdefault(mid, set()).add((system, code))
        cols = [getattr(MentionRow, f) for f in _FLAGS]
        for row in conn.execute(
            select(
                MentionRow.note_id, MentionRow.mention_id, MentionRow.label,
                MentionRow.attributes, *cols,
            ).where(MentionRow.note_id.in_(chunk))
        ):  # fmt: skip
            flags = tuple(bool(v) for v in row[4:])
            out[row[0]][row[1]] = (
                row[2],
                flags,
                frozenset(codes.get(row[1], ())),
                _attrs_key(row[3]),
            )
    return out


def diff_results(conn: Connection, results: Iterable[NoteResult]) -> ChangePlan:
    """Counts per label of what loading ``results`` would add, remove and change."""
    results = list(results)
    stored = stored_signatures(conn, [r.note.note_id for r in results])
    plan = ChangePlan()
    for r in results:
        plan.notes += 1
        old = stored.get(r.note.note_id, {})
        new = {m.mention_id: _new_signature(m) for m in r.mentions}
        if r.note.status == "entered-in-error":
            new = {}
        differs = False
        for mid, sig in new.items():
            before = old.get(mid)
            if before is None:
                plan.label(sig[0]).added += 1
                differs = True
            elif before != sig:
                plan.label(sig[0]).changed += 1
                differs = True
            else:
                plan.label(sig[0]).unchanged += 1
        for mid, sig in old.items():
            if mid not in new:
                plan.label(sig[0]).removed += 1
                differs = True
        plan.notes_changed += differs
    return plan

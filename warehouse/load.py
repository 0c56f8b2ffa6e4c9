"""Idempotent loading: per-note delete-then-insert in one transaction with the run record.

Rows go in through the fastest path each backend offers inside the caller's transaction:
PostgreSQL gets ``COPY ... FROM STDIN`` (psycopg 3) straight into the tables, SQLite one
``executemany`` per table on the DBAPI cursor (WAL mode is set by ``warehouse.engine``).
COPY straight into the tables (no staging table and merge) is safe because every fact row's
key is derived from its note id (mention ids are UUIDv5 of note, offsets, label and
extractor; resource ids derive from the mention or the note), the batch is de-duplicated
by note id first, and the note's old rows are deleted earlier in the same transaction: no
row of the batch can collide with a row that survives the delete.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, DateTime, Table, delete, insert, select, update

from schemas.model import Mention, NoteError, NoteResult
from warehouse.tables import (
    Base,
    FhirResource,
    MentionAttribute,
    MentionCoding,
    MentionRow,
    NoteErrorRow,
    NoteNlp,
    NoteRow,
    PipelineRun,
)

#: Tables holding facts derived from a note (deleted and re-inserted together).
FACT_TABLES = (MentionCoding, MentionAttribute, MentionRow, FhirResource, NoteNlp)
#: Attribute keys whose values are note text as written: a drug's name, a sig, an allergen and
#: its reaction, the words of a combination. Kept out of ``mention.attributes`` unless
#: ``store_text`` (``stored_attributes``) and always out of ``mention_attribute``.
ECHO_ATTRIBUTE_KEYS = frozenset(
    {"text", "unit_text", "drug", "prn_reason", "sig", "allergen", "reaction", "ingredients"}
)
#: Attribute keys that echo note text or offsets; kept out of ``mention_attribute`` (which the
#: analyst views read) so the views never expose note text.
TEXT_ATTRIBUTE_KEYS = ECHO_ATTRIBUTE_KEYS | {"parts"}
#: Error stages after which a known note is marked ``failed`` (its old facts then leave the
#: views until a later run succeeds); read-stage errors such as a repeated id are not about
#: the stored note.
FAILING_STAGES = frozenset({"validate", "nlp", "map", "load"})
_CHUNK = 500


@dataclass(frozen=True)
class LoadSettings:
    """Deployment choices that change what is stored."""

    store_text: bool = False
    rules_version: str = ""


@dataclass
class LoadCounts:
    """Rows written by one load call."""

    notes: int = 0
    mentions: int = 0
    resources: int = 0
    errors: int = 0
    retracted: int = 0
    rows: int = 0


@dataclass(frozen=True)
class StoredNote:
    """What the warehouse already knows about a note (to skip unchanged ones)."""

    text_sha256: str
    rules_version: str
    status: str
    source_status: str
    version: int


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def stored_notes(conn: Connection, note_ids: Sequence[str]) -> dict[str, StoredNote]:
    """Hash, rules version and status of the given notes, if loaded before."""
    out: dict[str, StoredNote] = {}
    for chunk in _chunks(list(note_ids)):
        rows = conn.execute(
            select(
                NoteRow.note_id,
                NoteRow.text_sha256,
                NoteRow.rules_version,
                NoteRow.status,
                NoteRow.source_status,
                NoteRow.version,
            ).where(NoteRow.note_id.in_(chunk))
        )
        for r in rows:
            out[r.note_id] = StoredNote(
                r.text_sha256, r.rules_version, r.status, r.source_status, r.version
            )
    return out


def delete_facts(conn: Connection, note_ids: Sequence[str]) -> None:
    """Remove every derived row of the given notes."""
    for chunk in _chunks(list(note_ids)):
        for table in FACT_TABLES:
            col = NoteNlp.note_key if table is NoteNlp else table.note_id
            conn.execute(delete(table).where(col.in_(chunk)))


def stored_attributes(attrs: Mapping[str, Any], store_text: bool) -> dict[str, Any]:
    """A mention's attributes as ``mention.attributes`` keeps them: without the keys that echo
    note text (``ECHO_ATTRIBUTE_KEYS``, at any depth) unless ``store_text``; their offsets stay
    in ``parts``, so the text can be found again where the note is stored."""
    if store_text:
        return dict(attrs)
    return {
        k: v if k == "parts" else _without_text(v)  # offsets, named after what they locate
        for k, v in attrs.items()
        if k not in ECHO_ATTRIBUTE_KEYS
    }


def _without_text(value: Any) -> Any:
    """``value`` without ``ECHO_ATTRIBUTE_KEYS`` in its mappings, in lists too (``dose_changes``
    is a list of readings, each with the text of its strength)."""
    if isinstance(value, Mapping):
        return {k: _without_text(v) for k, v in value.items() if k not in ECHO_ATTRIBUTE_KEYS}
    if isinstance(value, list):
        return [_without_text(v) for v in value]
    return value


def flatten_attributes(
    attrs: Mapping[str, Any], prefix: str = ""
) -> Iterator[tuple[str, str, float | None]]:
    """``(key, value_text, value_num)`` rows of a mention's attributes.

    Nested objects are joined with dots (``dose.value``), lists kept as JSON text, booleans
    as ``true``/``false``; keys echoing note text (``TEXT_ATTRIBUTE_KEYS``) are skipped.
    """
    for k, v in attrs.items():
        if v is None or k in TEXT_ATTRIBUTE_KEYS:
            continue
        key = prefix + k if prefix else k
        t = type(v)
        if t is str:
            yield key, v, None
        elif t is bool:
            yield key, "true" if v else "false", None
        elif t is int or t is float:
            f = float(v)
            if not math.isfinite(f):
                yield key, str(v), None
            else:
                yield key, str(int(f)) if f.is_integer() else repr(f), f
        elif isinstance(v, Mapping):
            yield from flatten_attributes(v, key + ".")
        else:  # a list, as JSON text, without the words of the note inside it
            yield key, json.dumps(_without_text(v), sort_keys=True, default=str), None


class _Writer:
    """Appends rows to tables with COPY (PostgreSQL) or executemany (SQLite)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect
        self.pg = conn.dialect.name == "postgresql"
        self.quote = conn.dialect.identifier_preparer.quote

    def _processors(self, table: Table, columns: Sequence[str]) -> list[Any]:
        procs: list[Any] = []
        for name in columns:
            impl = table.c[name].type.dialect_impl(self.dialect)
            if self.pg or not isinstance(impl, DateTime):
                # rows carry JSON as text already (serialised once, by ``json_text``),
                # sqlite3 stores bools as 0/1 itself and psycopg adapts every type for
                # COPY: only SQLite datetimes need SQLAlchemy's format (read back by it)
                procs.append(None)
            else:
                procs.append(_memo(impl.bind_processor(self.dialect)))
        return procs

    def write(self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> int:
        """Insert ``rows`` (tuples in ``columns`` order) into ``table``; returns the count."""
        if not rows:
            return 0
        procs = self._processors(table, columns)
        active = [(i, p) for i, p in enumerate(procs) if p is not None]
        if active:
            converted: list[tuple[Any, ...]] = []
            for row in rows:
                values = list(row)
                for i, p in active:
                    values[i] = p(values[i])
                converted.append(tuple(values))
            rows = converted
        cols = ", ".join(self.quote(c) for c in columns)
        name = self.quote(table.name)
        if self.pg:
            raw: Any = self.conn.connection.dbapi_connection  # a psycopg 3 connection
            with raw.cursor() as cur, cur.copy(f"COPY {name} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            self.conn.exec_driver_sql(f"INSERT INTO {name} ({cols}) VALUES ({marks})", rows)
        return len(rows)


def _memo(proc: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """``proc`` remembering its results: a batch repeats the same few datetimes (run time,
    note dates) thousands of times."""
    if proc is None:
        return None
    seen: dict[Any, Any] = {}

    def run(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            seen[value] = out = proc(value)
            return out

    return run


def json_text(value: Any) -> str | None:
    """Compact JSON text of ``value`` (None stays SQL NULL); readable by SQLAlchemy's JSON."""
    if value is None:
        return None
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:  # e.g. integers beyond 64 bits
        return json.dumps(value, separators=(",", ":"), default=str)


def _t(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


NOTE_COLUMNS = (
    "note_id", "source", "patient_ref", "encounter_ref", "note_type", "authored_at",
    "text_sha256", "text_length", "version", "status", "source_status", "text_stored", "text",
    "pipeline_version", "rules_version", "run_id", "processed_at", "mention_count",
)  # fmt: skip
MENTION_COLUMNS = (
    "mention_id", "note_id", "start_char", "end_char", "label", "text", "section",
    "is_negated", "is_uncertain", "is_historical", "is_hypothetical", "is_family",
    "is_conditional", "experiencer", "attributes", "extractor", "extractor_version", "rule_id",
    "pipeline_version", "run_id",
)  # fmt: skip
CODING_COLUMNS = ("mention_id", "system", "code", "display", "coder", "score", "note_id")
ATTRIBUTE_COLUMNS = ("mention_id", "key", "note_id", "value_text", "value_num")
RESOURCE_COLUMNS = ("resource_type", "resource_id", "note_id", "mention_id", "resource", "run_id")
NOTE_NLP_COLUMNS = tuple(c.name for c in _t(NoteNlp).columns)


def _mention_row(m: Mention, run_id: str, store_text: bool) -> tuple[Any, ...]:
    a = m.assertion
    p = m.provenance
    return (
        m.mention_id, m.note_id, m.start_char, m.end_char, m.label,
        m.text if store_text else None, m.section,
        a.is_negated, a.is_uncertain, a.is_historical, a.is_hypothetical, a.is_family,
        a.is_conditional, a.experiencer,
        json_text(stored_attributes(m.attributes, store_text)) if m.attributes else None,
        p.extractor, p.extractor_version, p.rule_id, p.pipeline_version, run_id,
    )  # fmt: skip


def load_results(
    conn: Connection,
    results: Sequence[NoteResult],
    *,
    run_id: str,
    now: datetime,
    settings: LoadSettings,
    failed: Sequence[NoteError] = (),
) -> LoadCounts:
    """Replace the facts of ``results``' notes and record ``failed`` ones, in the caller's
    transaction (so the batch and its checkpoint commit together).

    A note whose text hash changed gets ``version + 1``; the same text loaded again keeps
    its version (re-running a night changes nothing). A note whose status is
    ``entered-in-error`` at the source is retracted: its facts and FHIR resources are
    removed and its row is marked ``retracted``. When a batch holds the same note id twice
    the last one wins.
    """
    counts = LoadCounts()
    latest: dict[str, NoteResult] = {}
    for r in results:
        latest.pop(r.note.note_id, None)
        latest[r.note.note_id] = r
    ids = list(latest)
    known = stored_notes(conn, ids)
    # facts are only ever written with their note row, in one transaction: a note with no
    # row has no facts, so new notes (the nightly common case) need no deletes
    delete_facts(conn, list(known))
    note_rows: list[tuple[Any, ...]] = []
    mentions: list[tuple[Any, ...]] = []
    codings: list[tuple[Any, ...]] = []
    attributes: list[tuple[Any, ...]] = []
    resources: list[tuple[Any, ...]] = []
    nlp_rows: list[tuple[Any, ...]] = []
    store_text = settings.store_text
    for r in latest.values():
        note = r.note
        nid = note.note_id
        retract = note.status == "entered-in-error"
        prior = known.get(nid)
        version = 1 if prior is None else prior.version + (prior.text_sha256 != note.text_sha256)
        status = "retracted" if retract else ("empty" if not note.text.strip() else "processed")
        keep_text = store_text and not retract
        note_rows.append(
            (
                nid, note.source, note.patient_ref, note.encounter_ref, note.note_type,
                note.authored_at, note.text_sha256, len(note.text), version, status,
                note.status, keep_text, note.text if keep_text else None,
                r.mentions[0].provenance.pipeline_version if r.mentions else "",
                settings.rules_version, run_id, now, 0 if retract else len(r.mentions),
            )
        )  # fmt: skip
        if retract:
            counts.retracted += 1
            continue
        for m in r.mentions:
            mid = m.mention_id
            mentions.append(_mention_row(m, run_id, store_text))
            seen: set[tuple[str, str]] = set()
            for c in m.codings:
                if (c.system, c.code) in seen:
                    continue
                seen.add((c.system, c.code))
                codings.append((mid, c.system, c.code, c.display, c.coder, c.score, nid))
            if m.attributes:
                for key, text, num in flatten_attributes(m.attributes):
                    if len(key) <= 128:
                        attributes.append((mid, key, nid, text, num))
        for res in r.resources:
            resources.append(
                (res["resourceType"], res["id"], nid, _mention_of(res), json_text(res), run_id)
            )
        nlp_rows.extend(tuple(map(row.get, NOTE_NLP_COLUMNS)) for row in r.note_nlp)
    for chunk in _chunks(list(known)):
        conn.execute(delete(NoteRow).where(NoteRow.note_id.in_(chunk)))
    writer = _Writer(conn)
    rows = writer.write(_t(NoteRow), NOTE_COLUMNS, note_rows)
    rows += writer.write(_t(MentionRow), MENTION_COLUMNS, mentions)
    rows += writer.write(_t(MentionCoding), CODING_COLUMNS, codings)
    rows += writer.write(_t(MentionAttribute), ATTRIBUTE_COLUMNS, attributes)
    rows += writer.write(_t(FhirResource), RESOURCE_COLUMNS, resources)
    rows += writer.write(_t(NoteNlp), NOTE_NLP_COLUMNS, nlp_rows)
    record_errors(conn, failed, run_id=run_id, now=now)
    counts.notes = len(latest)
    counts.mentions = len(mentions)
    counts.resources = len(resources)
    counts.errors = len(failed)
    counts.rows = rows + len(failed)
    return counts


def _mention_of(resource: dict[str, Any]) -> str | None:
    for tag in resource.get("meta", {}).get("tag", ()):
        if tag.get("system") == "urn:notestruct:mention":
            return str(tag.get("code"))
    return None


def record_errors(
    conn: Connection, errors: Sequence[NoteError], *, run_id: str, now: datetime
) -> None:
    """Write dead letters (no note text) and mark their notes ``failed`` if known.

    A failed note's earlier facts stay in the base tables but leave the analyst views
    (they show only ``processed`` notes); the next run retries it.
    """
    if not errors:
        return
    failing = sorted({e.note_id for e in errors if e.note_id and e.stage in FAILING_STAGES})
    for chunk in _chunks(failing):
        conn.execute(
            update(NoteRow)
            .where(NoteRow.note_id.in_(chunk), NoteRow.status != "retracted")
            .values(status="failed", run_id=run_id, processed_at=now)
        )
    conn.execute(
        insert(NoteErrorRow),
        [
            {
                "run_id": run_id,
                "note_id": e.note_id,
                "source": e.source,
                "locator": e.locator,
                "stage": e.stage,
                "error_type": e.error_type,
                "message": e.message[:2000],
                "created_at": now,
            }
            for e in errors
        ],
    )


def start_run(conn: Connection, **values: Any) -> None:
    """Insert a ``pipeline_run`` row with status ``running``."""
    conn.execute(insert(PipelineRun).values(status="running", **values))


def finish_run(conn: Connection, run_id: str, **values: Any) -> None:
    """Update a ``pipeline_run`` row with its final status, counts and watermark."""
    if "metrics" in values and values["metrics"] is not None:
        values["metrics"] = json.loads(json.dumps(values["metrics"], default=str))
    conn.execute(update(PipelineRun).where(PipelineRun.run_id == run_id).values(**values))


def last_watermark(conn: Connection, source_key: str) -> str | None:
    """Watermark of the latest completed run over the same source that recorded one
    (a reprocess run reads the whole source and leaves the nightly watermark as it was)."""
    row = conn.execute(
        select(PipelineRun.watermark)
        .where(
            PipelineRun.source_key == source_key,
            PipelineRun.status == "completed",
            PipelineRun.watermark.is_not(None),
        )
        .order_by(PipelineRun.started_at.desc())
        .limit(1)
    ).first()
    return row[0] if row else None

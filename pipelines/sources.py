"""Note sources (text directories, JSONL, CSV, FHIR NDJSON, SQL), streamed and incremental.

Every reader yields ``Note`` or ``NoteError``; a bad record never stops the stream, and no
error message quotes note text. Each source reads only what changed since a *watermark*
(a small JSON dict stored in ``pipeline_run.watermark`` by the last completed run) and
reports the watermark it reached in ``position()`` once its records are exhausted.

Decisions on ambiguous input (documented in docs/scaling.md, "Sources"):

* ids must be strings in JSONL/JSON sources: an integer ``id`` is a dead letter, since
  ``12345`` and ``"12345"`` would collide as join keys. SQL sources stringify their id
  column (its type is fixed by the schema, so there is nothing to collide with).
* a ``date`` without a timezone is a dead letter unless the source timezone is configured
  (``--source-timezone Europe/Paris``); ``Note.authored_at`` is always aware.
* text must be a string (numbers are not coerced); empty or blank notes are dead-lettered
  by the flow (``EmptyNote``), not passed to the NLP.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from schemas.model import Note, NoteError

Record = Note | NoteError
Watermark = dict[str, Any]

#: Bytes before the watermark offset whose hash proves a JSONL/NDJSON file was only appended to.
_TAIL = 4096


class SourceError(Exception):
    """The source as a whole cannot be read (missing, unknown format, unreadable)."""


@dataclass(frozen=True)
class SourceOptions:
    """Reading options."""

    source_uri: str = "urn:notestruct:source:local"
    max_note_chars: int = 1_000_000
    #: IANA zone applied to dates without an offset; None dead-letters such dates.
    timezone: str | None = None

    def zone(self) -> ZoneInfo | None:
        """The configured zone, validated.

        Raises:
            SourceError: the name is not a known IANA time zone.
        """
        if not self.timezone:
            return None
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SourceError(f"unknown time zone {self.timezone!r}") from exc


class _NaiveDate(ValueError):
    pass


def _parse_date(value: Any, zone: ZoneInfo | None) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    else:
        raise TypeError("date must be a string")
    if parsed.tzinfo is None:
        if zone is None:
            raise _NaiveDate
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def note_from_mapping(
    data: Mapping[str, Any],
    opts: SourceOptions,
    locator: str,
    status: str = "current",
    *,
    coerce_id: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> Record:
    """Validate one record of the JSONL/CSV contract (id, text, optional ids, date, type).

    ``extra`` holds further ``Note`` fields set by a document reader (converter, source
    document).
    """
    raw_id = data.get("id")
    note_id: str | None
    if isinstance(raw_id, str):
        note_id = raw_id.strip() or None
    elif raw_id is not None and coerce_id and not isinstance(raw_id, bool | float):
        note_id = str(raw_id).strip() or None
    else:
        note_id = None

    def fail(error_type: str, message: str, stage: str = "validate") -> NoteError:
        return NoteError(
            note_id=note_id,
            source=opts.source_uri,
            stage=stage,
            error_type=error_type,
            message=message,
            locator=locator,
        )

    if raw_id is not None and not isinstance(raw_id, str) and note_id is None:
        return fail("InvalidField", f"'id' must be a string, not {type(raw_id).__name__}")
    if not note_id:
        return fail("MissingField", "record has no 'id'")
    text = data.get("text")
    if text is None:
        return fail("MissingField", "record has no 'text'")
    if not isinstance(text, str):
        return fail("InvalidField", f"'text' must be a string, not {type(text).__name__}")
    if len(text) > opts.max_note_chars:
        return fail(
            "NoteTooLarge",
            f"note has {len(text)} characters, above the limit {opts.max_note_chars}",
        )
    if "\x00" in text:
        return fail("BinaryContent", "note text contains NUL bytes (binary content)")
    try:
        authored = _parse_date(data.get("date"), opts.zone())
    except _NaiveDate:
        return fail(
            "NaiveDate", "'date' has no timezone offset and no source timezone is configured"
        )
    except (ValueError, TypeError, OverflowError):
        return fail("InvalidField", "'date' is not an ISO 8601 date")
    try:
        return Note(
            note_id=note_id,
            source=opts.source_uri,
            patient_ref=_opt_str(data.get("patient_id")),
            encounter_ref=_opt_str(data.get("encounter_id")),
            note_type=_opt_str(data.get("note_type")),
            authored_at=authored,
            text=text,
            status=status,
            **(extra or {}),
        )
    except ValidationError as exc:  # never str(exc): pydantic quotes the input value
        first = exc.errors()[0]
        return fail("InvalidField", f"invalid field {'.'.join(map(str, first['loc']))}")


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):  # some exports carry several note types
        value = value[0] if value else None
        if value is None:
            return None
    text = str(value).strip()
    return text or None


def _read_error(
    opts: SourceOptions, locator: str, error_type: str, message: str, note_id: str | None = None
) -> NoteError:
    return NoteError(
        note_id=note_id if isinstance(note_id, str) and note_id else None,
        source=opts.source_uri,
        stage="read",
        error_type=error_type,
        message=message,
        locator=locator,
    )


# --- line parsers: one raw line -> one record ---------------------------------------------


def parse_jsonl_line(raw: bytes, opts: SourceOptions, locator: str) -> Record:
    """One JSONL line of the notes contract."""
    try:
        line = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _read_error(opts, locator, "InvalidEncoding", "line is not valid UTF-8")
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return _read_error(opts, locator, "InvalidJSON", f"invalid JSON at column {exc.colno}")
    except RecursionError:
        return _read_error(opts, locator, "InvalidJSON", "JSON nested too deeply")
    if not isinstance(data, dict):
        return _read_error(
            opts, locator, "InvalidRecord", f"line is a JSON {type(data).__name__}, not an object"
        )
    return note_from_mapping(data, opts, locator)


def parse_docref_line(raw: bytes, opts: SourceOptions, locator: str) -> Iterator[Record]:
    """One FHIR NDJSON line: a DocumentReference, DiagnosticReport or Bundle."""
    from pipelines.formats.fhir import parse_resource_line

    return parse_resource_line(raw, opts, locator)


def docref_to_note(res: dict[str, Any], opts: SourceOptions, locator: str) -> Record:
    """A DocumentReference with an inline attachment as a ``Note``.

    ``status`` is honoured: ``entered-in-error`` retracts the note's facts, ``superseded``
    loads it marked as such (current views hide it). Attachments given only by ``url`` are
    not fetched (no network at run time). HTML, RTF and PDF attachments are converted to
    text (``pipelines.formats``); the note then names its converter and source document.
    """
    note_id = res.get("id")
    status = res.get("status") or "current"
    if status not in {"current", "superseded", "entered-in-error"}:
        return _read_error(
            opts, locator, "InvalidResource", "unknown DocumentReference status", note_id
        )
    from pipelines.formats.fhir import attachment_text
    from pipelines.formats.text import ConversionError

    text, converter = "", None
    if status != "entered-in-error":
        contents = res.get("content") or []
        attachments = [c.get("attachment") for c in contents if isinstance(c, dict)]
        try:
            text, converter = attachment_text(attachments)
        except ConversionError as exc:
            return _read_error(opts, locator, exc.error_type, str(exc), note_id)
    subject = ((res.get("subject") or {}).get("reference") or "").rsplit("/", 1)[-1] or None
    encounters = (res.get("context") or {}).get("encounter") or []
    encounter = (encounters[0].get("reference") or "").rsplit("/", 1)[-1] if encounters else None
    record = {
        "id": note_id,
        "text": text,
        "patient_id": subject,
        "encounter_id": encounter or None,
        "date": res.get("date"),
        "note_type": ((res.get("type") or {}).get("text")),
    }
    extra = {"converter": converter}
    if converter and isinstance(note_id, str):
        extra["source_document"] = f"DocumentReference/{note_id}"
    return note_from_mapping(record, opts, locator, status=status, extra=extra)


# --- sources ------------------------------------------------------------------------------


class Source:
    """A readable, incremental note source."""

    kind: str = ""

    def __init__(self) -> None:
        self._position: Watermark | None = None
        #: Records (files, lines, rows) passed over because the watermark shows them unchanged.
        self.skipped = 0

    @property
    def key(self) -> str:
        """A hash identifying the source (no path or credentials stored in clear)."""
        raise NotImplementedError

    def records(self, opts: SourceOptions, since: Watermark | None = None) -> Iterator[Record]:
        """Stream the records changed since ``since`` (everything when None)."""
        raise NotImplementedError

    def position(self) -> Watermark | None:
        """The watermark reached by the last fully consumed ``records()``."""
        return self._position


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


class TextDirSource(Source):
    """One note per ``*.txt`` file; the id is the path relative to the root without suffix.

    Document files beside them are read too (``pipelines.formats.SUFFIX_FORMATS``: HL7 v2,
    CDA, FHIR JSON/NDJSON, HTML, RTF, PDF), each file whole; ``fmt`` reads every file of
    the directory in that one format.

    Incremental by modification time: files older than the watermark (the newest mtime of
    the previous complete run, capped at its start time) are not opened, nor are the files
    of the watermark's own mtime tick that run read (named in the watermark); a new file of
    that same tick is read. Changed content is then told apart by hash.
    """

    kind = "directory"

    def __init__(self, path: Path, fmt: str | None = None) -> None:
        super().__init__()
        self.path = path
        self.fmt = fmt

    @property
    def key(self) -> str:
        return _digest(self.kind, str(self.path.resolve()), *([self.fmt] if self.fmt else []))

    def _files(self) -> Iterator[Path]:
        from pipelines.formats import SUFFIX_FORMATS

        # os.walk with sorted names streams a deterministic order without listing everything
        for folder, dirs, files in os.walk(self.path):
            dirs.sort()
            for name in sorted(files):
                suffix = os.path.splitext(name)[1].lower()
                if self.fmt or suffix == ".txt" or suffix in SUFFIX_FORMATS:
                    yield Path(folder) / name

    def records(self, opts: SourceOptions, since: Watermark | None = None) -> Iterator[Record]:
        started_ns = time.time_ns()
        floor = int(since["mtime_ns"]) if since and "mtime_ns" in since else None
        at_floor = set(since.get("at_mark", ())) if since else set()
        newest = floor or 0
        at_newest: set[str] = set(at_floor)
        self._position = None
        self.skipped = 0
        for file in self._files():
            rel = file.relative_to(self.path).with_suffix("").as_posix()
            locator = file.relative_to(self.path).as_posix()
            try:
                st = file.stat()
            except OSError as exc:
                yield _read_error(opts, locator, "OSError", exc.strerror or "cannot stat file", rel)
                continue
            mtime = st.st_mtime_ns
            if floor is not None and (mtime < floor or (mtime == floor and locator in at_floor)):
                self.skipped += 1
                continue
            if mtime > newest:
                newest, at_newest = mtime, {locator}
            elif mtime == newest:
                at_newest.add(locator)
            if (self.fmt is None and file.suffix == ".txt") or self.fmt == "text":
                yield self._read(file, st, rel, locator, opts)
            else:
                yield from _read_document_file(file, st, rel, locator, opts, self.fmt)
        if newest > started_ns:  # written during the scan: read again next time
            newest, at_newest = started_ns, set()
        # files of the watermark's own mtime tick are named, so they are not read again while
        # a new file written in the same tick still is; a huge tick (an unpacked archive)
        # falls back to re-reading it and skipping by hash
        names = sorted(at_newest) if len(at_newest) <= 10_000 else []
        self._position = {"mtime_ns": newest, "at_mark": names}

    @staticmethod
    def _read(
        file: Path, st: os.stat_result, rel: str, locator: str, opts: SourceOptions
    ) -> Record:
        if st.st_size > opts.max_note_chars * 4:
            return _read_error(
                opts, locator, "NoteTooLarge", f"file has {st.st_size} bytes, above the limit", rel
            )
        try:
            data = file.read_bytes()
        except OSError as exc:
            return _read_error(opts, locator, "OSError", exc.strerror or "cannot read file", rel)
        if b"\x00" in data:
            return _read_error(
                opts, locator, "BinaryContent", "file contains NUL bytes (binary, not text)", rel
            )
        try:
            text = data.decode("utf-8-sig")  # a BOM is an encoding marker, not text
        except UnicodeDecodeError:
            return _read_error(
                opts, locator, "InvalidEncoding", "file is not valid UTF-8 text", rel
            )
        modified = datetime.fromtimestamp(st.st_mtime, tz=UTC)
        return note_from_mapping({"id": rel, "text": text, "date": modified}, opts, locator)


def _read_document_file(
    file: Path, st: os.stat_result, rel: str, locator: str, opts: SourceOptions, fmt: str | None
) -> Iterator[Record]:
    """The records of one document file (format by ``fmt``, else extension and content)."""
    from pipelines.formats import SUFFIX_FORMATS, read_document, sniff

    if st.st_size > opts.max_note_chars * 50:  # a PDF or a batch file is larger than its text
        yield _read_error(
            opts, locator, "NoteTooLarge", f"file has {st.st_size} bytes, above the limit", rel
        )
        return
    try:
        data = file.read_bytes()
    except OSError as exc:
        yield _read_error(opts, locator, "OSError", exc.strerror or "cannot read file", rel)
        return
    kind = fmt or sniff(file, data[:4096]) or SUFFIX_FORMATS.get(file.suffix.lower())
    if kind is None or (kind == "cda" and b"ClinicalDocument" not in data[:65536]):
        yield _read_error(
            opts, locator, "UnknownFormat", "file format not recognised (use --format)", rel
        )
        return
    yield from read_document(kind, data, opts, locator, rel)


class DocumentFileSource(Source):
    """One document file read whole: HL7 v2, CDA, a FHIR JSON resource, HTML, RTF or PDF.

    Incremental by file identity like ``CsvSource``: an unchanged file (same size, mtime
    and head hash) is not read again; a changed one is, and unchanged notes are skipped by
    hash.
    """

    def __init__(self, path: Path, fmt: str) -> None:
        super().__init__()
        self.path = path
        self.fmt = fmt
        self.kind = fmt

    @property
    def key(self) -> str:
        return _digest(self.kind, str(self.path.resolve()))

    def records(self, opts: SourceOptions, since: Watermark | None = None) -> Iterator[Record]:
        self._position = None
        self.skipped = 0
        try:
            st = self.path.stat()
            with self.path.open("rb") as fh:
                head = hashlib.sha256(fh.read(_TAIL)).hexdigest()
        except OSError as exc:
            raise SourceError(f"cannot read {self.path.name}: {exc.strerror}") from exc
        ident = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "head": head}
        if since and {k: since.get(k) for k in ident} == ident:
            self.skipped = int(since.get("records", 0))
            self._position = dict(since)
            return
        count = 0
        rel = self.path.stem
        for rec in _read_document_file(self.path, st, rel, self.path.name, opts, self.fmt):
            count += 1
            yield rec
        self._position = {**ident, "records": count}


class LineFileSource(Source):
    """A JSONL file of notes or FHIR Bulk NDJSON of DocumentReference, one record per line.

    Incremental by byte offset: an unchanged file (same size and mtime) is not read; a file
    that only grew (the 4 KiB before the old end hash the same) is read from the old end; any
    other change reads the whole file again, and unchanged notes are skipped by hash.
    """

    def __init__(self, path: Path, kind: str) -> None:
        super().__init__()
        self.path = path
        self.kind = kind
        self._parse: Callable[[bytes, SourceOptions, str], Record | Iterator[Record]] = (
            parse_docref_line if kind == "fhir" else parse_jsonl_line
        )

    @property
    def key(self) -> str:
        return _digest(self.kind, str(self.path.resolve()))

    def _tail(self, fh: Any, offset: int) -> str:
        start = max(0, offset - _TAIL)
        fh.seek(start)
        return hashlib.sha256(fh.read(offset - start)).hexdigest()

    def records(self, opts: SourceOptions, since: Watermark | None = None) -> Iterator[Record]:
        self._position = None
        self.skipped = 0
        try:
            st = self.path.stat()
            fh = self.path.open("rb")
        except OSError as exc:
            raise SourceError(f"cannot read {self.path.name}: {exc.strerror}") from exc
        with fh:
            start, lineno = 0, 0
            if since and {"offset", "line", "tail", "size", "mtime_ns"} <= since.keys():
                offset = int(since["offset"])
                if st.st_size >= offset and self._tail(fh, offset) == since["tail"]:
                    if st.st_size == offset:
                        self.skipped = int(since["line"])
                        self._position = dict(since)
                        return
                    start, lineno = offset, int(since["line"])
                    self.skipped = lineno
            fh.seek(start)
            pos = start
            for raw in fh:
                pos += len(raw)
                lineno += 1
                if not raw.strip():
                    continue
                out = self._parse(raw, opts, f"{self.path.name}:{lineno}")
                yield from (out,) if isinstance(out, Note | NoteError) else out  # a Bundle: many
            self._position = {
                "offset": pos,
                "line": lineno,
                "tail": self._tail(fh, pos),
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
            }


class CsvSource(Source):
    """One note per CSV row with a header naming at least ``id`` and ``text``.

    Incremental by file identity: an unchanged file (same size, mtime and head hash) is not
    read; a changed one is read again and unchanged notes are skipped by hash (CSV quoting
    makes resuming at a byte offset unsafe).
    """

    kind = "csv"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    @property
    def key(self) -> str:
        return _digest(self.kind, str(self.path.resolve()))

    def _identity(self) -> Watermark:
        st = self.path.stat()
        with self.path.open("rb") as fh:
            head = hashlib.sha256(fh.read(_TAIL)).hexdigest()
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "head": head}

    def records(self, opts: SourceOptions, since: Watermark | None = None) -> Iterator[Record]:
        self._position = None
        self.skipped = 0
        try:
            ident = self._identity()
        except OSError as exc:
            raise SourceError(f"cannot read {self.path.name}: {exc.strerror}") from exc
        if since and {k: since.get(k) for k in ident} == ident:
            self.skipped = int(since.get("rows", 0))
            self._position = dict(since)
            return
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        fh = self.path.open("r", encoding="utf-8-sig", newline="")
        with fh:
            reader = csv.DictReader(fh)
            try:
                header = reader.fieldnames or []
            except UnicodeDecodeError as exc:
                raise SourceError(f"{self.path.name} is not UTF-8 text") from exc
            except csv.Error as exc:
                raise SourceError(f"{self.path.name}: unreadable CSV header") from exc
            missing = {"id", "text"} - set(header)
            if missing:
                raise SourceError(f"{self.path.name} has no column(s) {', '.join(sorted(missing))}")
            rownum = 1
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except UnicodeDecodeError:
                    yield _read_error(
                        opts,
                        f"{self.path.name}:row {rownum + 1}",
                        "InvalidEncoding",
                        "row is not valid UTF-8",
                    )
                    break
                except csv.Error:
                    yield _read_error(
                        opts,
                        f"{self.path.name}:row {rownum + 1}",
                        "InvalidCSV",
                        "malformed CSV row",
                    )
                    break
                rownum += 1
                yield note_from_mapping(row, opts, f"{self.path.name}:row {rownum}")
        self._position = {**ident, "rows": rownum - 1}


class SqlSource(Source):
    """Notes in another database: a table or a query, read in order of an updated-at column.

    Columns follow the JSONL contract (``id``, ``text``, optional ``patient_id``,
    ``encounter_id``, ``date``, ``note_type``, ``status``) plus the updated-at column. The
    watermark is the last (updated_at, id) read; the next run reads rows after it. Rows are
    streamed (server-side cursor where the driver has one).
    """

    kind = "sql"

    def __init__(
        self,
        url: str,
        *,
        table: str | None = None,
        query: str | None = None,
        updated_at: str = "updated_at",
        id_column: str = "id",
    ) -> None:
        super().__init__()
        if bool(table) == bool(query):
            raise SourceError("a SQL source needs exactly one of --table or --query")
        self.url = url
        self.table = table
        self.query = query
        self.updated_at = updated_at
        self.id_column = id_column

    @property
    def key(self) -> str:
        from sqlalchemy.engine import make_url

        try:
            safe = make_url(self.url).render_as_string(hide_password=True)
        except Exception as exc:
            raise SourceError("the SQL source URL is not a valid SQLAlchemy URL") from exc
        return _digest(self.kind, safe, self.table or "", self.query or "", self.updated_at)

    def records(self, opts: SourceOptions, since: Watermark | None = None) -> Iterator[Record]:
        import sqlalchemy as sa

        self._position = dict(since) if since else None
        self.skipped = 0
        try:
            engine = sa.create_engine(self.url)
        except Exception as exc:
            raise SourceError(f"cannot open the SQL source: {type(exc).__name__}") from exc
        upd: Any = sa.column(self.updated_at)
        ident: Any = sa.column(self.id_column)
        if self.table:
            schema, _, name = self.table.rpartition(".")
            base: Any = sa.table(name, schema=schema or None)
        else:
            base = sa.text(f"({self.query}) AS q")  # operator-supplied query (config, not input)
        stmt = sa.select(sa.text("*")).select_from(base)
        if since and "updated_at" in since:
            last = _from_json(since["updated_at"], since.get("updated_at_type"))
            stmt = stmt.where(sa.or_(upd > last, sa.and_(upd == last, ident > since["id"])))
        stmt = stmt.order_by(upd, ident)
        try:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=500).execute(stmt)
                for row in result:
                    data = dict(row._mapping)
                    raw_id = data.get(self.id_column)
                    data["id"] = raw_id
                    locator = f"{self.table or 'query'}:{self.id_column}={str(raw_id)[:64]}"
                    status = str(data.get("status") or "current")
                    if status not in {"current", "superseded", "entered-in-error"}:
                        status = "current"
                    yield note_from_mapping(data, opts, locator, status, coerce_id=True)
                    if raw_id is not None and data.get(self.updated_at) is not None:
                        value, kind = _to_json(data[self.updated_at])
                        self._position = {
                            "updated_at": value,
                            "updated_at_type": kind,
                            "id": raw_id if isinstance(raw_id, int | str) else str(raw_id),
                        }
        except sa.exc.SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None) or exc
            raise SourceError(f"cannot read the SQL source: {type(orig).__name__}") from exc
        finally:
            engine.dispose()


def _to_json(value: Any) -> tuple[Any, str]:
    if isinstance(value, datetime):
        return value.isoformat(), "datetime"
    if isinstance(value, date):
        return value.isoformat(), "date"
    if isinstance(value, int | float | str):
        return value, type(value).__name__
    return str(value), "str"


def _from_json(value: Any, kind: str | None) -> Any:
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    return value


#: ``--format`` values: how to read a file or every file of a directory.
FORMATS = ("text", "jsonl", "csv", "fhir", "hl7", "cda", "bundle", "html", "rtf", "pdf")


def open_source(
    location: str | Path,
    *,
    fmt: str | None = None,
    table: str | None = None,
    query: str | None = None,
    updated_at: str = "updated_at",
    id_column: str = "id",
    environ: Mapping[str, str] | None = None,
) -> Source:
    """Recognise a source: a directory, ``.jsonl``, ``.csv``, ``.ndjson``, ``.hl7``, CDA
    ``.xml``, a FHIR ``.json`` resource, ``.html``/``.rtf``/``.pdf``, or ``sql+<url>``.

    ``fmt`` (one of ``FORMATS``) forces the format of a file, or of every file of a
    directory, whatever its extension.

    ``sql+env:NAME`` reads the SQLAlchemy URL from the environment variable ``NAME`` so a
    password never appears in a command line or in Prefect's flow parameters.

    Raises:
        SourceError: the path does not exist or its format is not recognised.
    """
    text = str(location)
    if text.startswith("sql+"):
        url = text[4:]
        if url.startswith("env:"):
            env = os.environ if environ is None else environ
            url = env.get(url[4:], "")
            if not url:
                raise SourceError(f"environment variable {text[8:]} is not set")
        src = SqlSource(url, table=table, query=query, updated_at=updated_at, id_column=id_column)
        src.key  # validates the URL  # noqa: B018
        return src
    if fmt is not None and fmt not in FORMATS:
        raise SourceError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    path = Path(location)
    if not path.exists():
        raise SourceError(f"source not found: {path}")
    if path.is_dir():
        if fmt in {"jsonl", "csv"}:
            raise SourceError(f"--format {fmt} reads a file, not a directory")
        return TextDirSource(path, "ndjson" if fmt == "fhir" else fmt)
    from pipelines.formats import DOCUMENT_FORMATS, sniff

    if fmt in DOCUMENT_FORMATS:
        return DocumentFileSource(path, fmt)
    if fmt is not None:
        kinds = {"text": "jsonl", "jsonl": "jsonl", "fhir": "fhir"}
        if fmt == "csv":
            return CsvSource(path)
        if fmt == "text":
            raise SourceError("--format text reads a directory of .txt files")
        return LineFileSource(path, kinds[fmt])
    suffix = path.suffix.lower()
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise SourceError(f"cannot read {path.name}: {exc.strerror}") from exc
    sniffed = sniff(path, head)
    if suffix in {".hl7", ".xml", ".html", ".htm", ".rtf", ".pdf"} or sniffed in {"hl7", "pdf"}:
        if sniffed is None and suffix in {".hl7", ".rtf", ".pdf"}:
            sniffed = {".hl7": "hl7", ".rtf": "rtf", ".pdf": "pdf"}[suffix]
        if sniffed is None:
            raise SourceError(f"{path.name}: content not recognised, use --format")
        return DocumentFileSource(path, sniffed)
    if suffix == ".json" and _is_fhir_json(head):
        return DocumentFileSource(path, "bundle")
    if suffix in {".jsonl", ".json"}:
        return LineFileSource(path, "jsonl")
    if suffix == ".csv":
        return CsvSource(path)
    if suffix == ".ndjson":
        return LineFileSource(path, "fhir")
    raise SourceError(
        f"unrecognised source {path.name}: use a directory, .jsonl, .csv, FHIR .ndjson or "
        ".json, .hl7, CDA .xml, .html, .rtf, .pdf (or --format), or sql+<SQLAlchemy URL> "
        "with --table or --query"
    )


def _is_fhir_json(head: bytes) -> bool:
    """A ``.json`` file holding one FHIR resource (pretty-printed, or with a resourceType on
    its first line) rather than JSONL notes."""
    first = head.split(b"\n", 1)[0].strip()
    try:
        data = json.loads(first.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")  # a multi-line object
    return isinstance(data, dict) and "resourceType" in data

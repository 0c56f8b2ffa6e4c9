"""Note sources: text directories, JSONL, CSV and FHIR NDJSON, streamed record by record.

Every reader yields ``Note`` or ``NoteError``; a bad record never stops the stream, and no
error message quotes note text.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas.model import Note, NoteError

Record = Note | NoteError


class SourceError(Exception):
    """The source as a whole cannot be read (missing, unknown format, unreadable)."""


@dataclass(frozen=True)
class SourceOptions:
    """Reading options."""

    source_uri: str = "urn:notestruct:source:local"
    max_note_chars: int = 1_000_000


def _parse_date(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def note_from_mapping(
    data: Mapping[str, Any], opts: SourceOptions, locator: str, status: str = "current"
) -> Record:
    """Validate one record of the JSONL/CSV contract (id, text, optional ids, date, type)."""
    raw_id = data.get("id")
    note_id = None if raw_id is None else str(raw_id).strip()

    def fail(error_type: str, message: str, stage: str = "validate") -> NoteError:
        return NoteError(
            note_id=note_id or None,
            source=opts.source_uri,
            stage=stage,
            error_type=error_type,
            message=message,
            locator=locator,
        )

    if not note_id:
        return fail("MissingField", "record has no 'id'")
    text = data.get("text")
    if text is None:
        return fail("MissingField", "record has no 'text'")
    if not isinstance(text, str):
        return fail("InvalidField", f"'text' must be a string, not {type(text).__name__}")
    if len(text) > opts.max_note_chars:
        return fail(
            "NoteTooLarge", f"note has {len(text)} characters, above the limit {opts.max_note_chars}"
        )
    if "\x00" in text:
        return fail("BinaryContent", "note text contains NUL bytes (binary content)")
    try:
        authored = _parse_date(data.get("date"))
    except (ValueError, TypeError):
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
        )
    except ValidationError as exc:
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


def read_jsonl(path: Path, opts: SourceOptions) -> Iterator[Record]:
    """One note per JSON line."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            locator = f"{path.name}:{lineno}"
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield _read_error(opts, locator, "InvalidEncoding", "line is not valid UTF-8")
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                yield _read_error(
                    opts, locator, "InvalidJSON", f"invalid JSON at column {exc.colno}"
                )
                continue
            if not isinstance(data, dict):
                yield _read_error(
                    opts, locator, "InvalidRecord", f"line is a JSON {type(data).__name__}, not an object"
                )
                continue
            yield note_from_mapping(data, opts, locator)


def read_csv(path: Path, opts: SourceOptions) -> Iterator[Record]:
    """One note per CSV row with a header naming at least ``id`` and ``text``."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        fh = path.open("r", encoding="utf-8-sig", newline="")
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path.name} is not UTF-8 text") from exc
    with fh:
        missing = {"id", "text"} - set(header)
        if missing:
            raise SourceError(f"{path.name} has no column(s) {', '.join(sorted(missing))}")
        rownum = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except UnicodeDecodeError:
                yield _read_error(opts, f"{path.name}:row {rownum + 1}", "InvalidEncoding", "row is not valid UTF-8")
                break
            except csv.Error as exc:
                yield _read_error(opts, f"{path.name}:row {rownum + 1}", "InvalidCSV", str(exc)[:200])
                break
            rownum += 1
            yield note_from_mapping(row, opts, f"{path.name}:row {rownum}")


def read_text_dir(root: Path, opts: SourceOptions) -> Iterator[Record]:
    """One note per ``*.txt`` file; the id is the path relative to ``root`` without suffix."""
    for file in sorted(root.rglob("*.txt")):
        rel = file.relative_to(root).with_suffix("").as_posix()
        locator = file.relative_to(root).as_posix()
        try:
            size = file.stat().st_size
            if size > opts.max_note_chars * 4:
                yield NoteError(
                    note_id=rel, source=opts.source_uri, stage="read", error_type="NoteTooLarge",
                    message=f"file has {size} bytes, above the limit", locator=locator,
                )
                continue
            data = file.read_bytes()
        except OSError as exc:
            yield NoteError(
                note_id=rel, source=opts.source_uri, stage="read", error_type="OSError",
                message=exc.strerror or "cannot read file", locator=locator,
            )
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            yield NoteError(
                note_id=rel, source=opts.source_uri, stage="read", error_type="InvalidEncoding",
                message="file is not valid UTF-8 text", locator=locator,
            )
            continue
        modified = datetime.fromtimestamp(file.stat().st_mtime, tz=UTC)
        yield note_from_mapping(
            {"id": rel, "text": text, "date": modified.isoformat()}, opts, locator
        )


def read_fhir_ndjson(path: Path, opts: SourceOptions) -> Iterator[Record]:
    """FHIR DocumentReference per line, text/plain attachments (base64 ``data``)."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            locator = f"{path.name}:{lineno}"
            if not raw.strip():
                continue
            try:
                res = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                yield _read_error(opts, locator, "InvalidJSON", "line is not a JSON object")
                continue
            if not isinstance(res, dict) or res.get("resourceType") != "DocumentReference":
                kind = res.get("resourceType") if isinstance(res, dict) else type(res).__name__
                yield _read_error(opts, locator, "InvalidResource", f"expected DocumentReference, got {kind}")
                continue
            yield _docref_to_note(res, opts, locator)


def _docref_to_note(res: dict[str, Any], opts: SourceOptions, locator: str) -> Record:
    note_id = res.get("id")
    status = res.get("status") or "current"
    if status not in {"current", "superseded", "entered-in-error"}:
        # privacy: the value comes from the source record, so it is not quoted
        return _read_error(
            opts, locator, "InvalidResource",
            "status is not current, superseded or entered-in-error", note_id,
        )
    text = None
    for content in res.get("content") or []:
        att = (content or {}).get("attachment") or {}
        ctype = str(att.get("contentType", "text/plain")).split(";")[0].strip().lower()
        if ctype != "text/plain" or "data" not in att:
            continue
        try:
            text = base64.b64decode(att["data"], validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return _read_error(opts, locator, "InvalidAttachment", "attachment data is not valid base64 UTF-8 text", note_id)
        break
    if text is None:
        if status == "entered-in-error":
            text = ""
        else:
            return _read_error(opts, locator, "UnsupportedAttachment", "no text/plain attachment with inline data", note_id)
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
    return note_from_mapping(record, opts, locator, status=status)


def _read_error(
    opts: SourceOptions, locator: str, error_type: str, message: str, note_id: str | None = None
) -> NoteError:
    return NoteError(
        note_id=note_id, source=opts.source_uri, stage="read", error_type=error_type,
        message=message, locator=locator,
    )


@dataclass(frozen=True)
class Source:
    """A readable note source."""

    kind: str
    path: Path

    @property
    def key(self) -> str:
        """A hash identifying the source (no path or credentials stored in clear)."""
        return hashlib.sha256(f"{self.kind}|{self.path.resolve()}".encode()).hexdigest()[:32]

    def records(self, opts: SourceOptions) -> Iterator[Record]:
        """Stream the source's records."""
        reader = {
            "directory": read_text_dir,
            "jsonl": read_jsonl,
            "csv": read_csv,
            "fhir": read_fhir_ndjson,
        }[self.kind]
        return reader(self.path, opts)


def open_source(location: str | Path) -> Source:
    """Recognise a source by its path: a directory, ``.jsonl``, ``.csv`` or ``.ndjson``.

    Raises:
        SourceError: the path does not exist or its format is not recognised.
    """
    path = Path(location)
    if not path.exists():
        raise SourceError(f"source not found: {path}")
    if path.is_dir():
        return Source("directory", path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl" or suffix == ".json":
        return Source("jsonl", path)
    if suffix == ".csv":
        return Source("csv", path)
    if suffix == ".ndjson":
        return Source("fhir", path)
    raise SourceError(
        f"unrecognised source {path.name}: use a directory of .txt files, .jsonl, .csv or "
        "FHIR .ndjson of DocumentReference"
    )

"""Privacy passes of a run: keyed pseudonyms for ids, PHI redaction of stored text, scrubbed errors.

The flow applies :func:`protect_records` right after reading (before anything is mapped or
loaded) and :func:`protect_results` right before loading. Both are pure functions of their
input and the config; the key lives only in the in-memory config of the flow run.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ParamSpec, Protocol, TypeVar

from pydantic import SecretStr

from schemas.model import Note, NoteError, NoteResult
from schemas.redaction import PhiSpan, find_phi, mask
from warehouse.engine import WarehouseError

log = logging.getLogger(__name__)

#: Hex characters kept of the HMAC-SHA256 (128 bits: collisions are out of reach).
PSEUDONYM_HEX = 32

P = ParamSpec("P")
R = TypeVar("R")


class Pseudonymiser:
    """Keyed HMAC-SHA256 pseudonyms; the same key and id always give the same pseudonym.

    The kind ("patient", "encounter", "note") is part of the HMAC input, so a patient id and
    an encounter id that happen to be equal get unrelated pseudonyms.
    """

    __slots__ = ("_key", "note_ids")

    def __init__(self, key: SecretStr, *, note_ids: bool = False) -> None:
        self._key = key.get_secret_value().encode("utf-8")
        self.note_ids = note_ids

    def __repr__(self) -> str:  # never show the key
        return f"Pseudonymiser(note_ids={self.note_ids})"

    def __reduce__(self) -> Any:  # never pickle the key into a result store or a cache
        raise TypeError("a Pseudonymiser holds the key and cannot be serialised")

    def pseudonym(self, kind: str, value: str) -> str:
        """The pseudonym of ``value`` (an id of the given kind)."""
        digest = hmac.new(self._key, f"{kind}|{value}".encode(), hashlib.sha256).hexdigest()
        return digest[:PSEUDONYM_HEX]

    def note(self, note: Note) -> Note:
        """``note`` with patient, encounter (and, if configured, note) ids replaced.

        The text hash becomes keyed too: a plain SHA-256 of a short or templated note can be
        reversed by hashing guesses. It still detects changed text (same key, same hash).
        """
        update: dict[str, Any] = {"text_sha256": self.text_digest(note.text)}
        if note.patient_ref:
            update["patient_ref"] = self.pseudonym("patient", note.patient_ref)
        if note.encounter_ref:
            update["encounter_ref"] = self.pseudonym("encounter", note.encounter_ref)
        if self.note_ids:
            update["note_id"] = self.pseudonym("note", note.note_id)
            if note.source_document:  # the source's document id would name the note again
                alias = self.pseudonym("document", note.source_document)
                update["source_document"] = f"urn:notestruct:pseudonym|{alias}"
        return note.model_copy(update=update)

    def text_digest(self, text: str) -> str:
        """Keyed HMAC-SHA256 of a note text (64 hex characters, like the plain hash)."""
        data = text.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, b"text|" + data, hashlib.sha256).hexdigest()

    def error(self, error: NoteError) -> NoteError:
        """A dead letter with its note id (and a locator that quotes it) pseudonymised."""
        if not self.note_ids or not error.note_id:
            return error
        alias = self.pseudonym("note", error.note_id)
        locator = error.locator
        if locator and error.note_id in locator:
            locator = locator.replace(error.note_id, alias)
        return error.model_copy(update={"note_id": alias, "locator": locator})


def pseudonymiser_for(key: SecretStr | None, *, note_ids: bool = False) -> Pseudonymiser | None:
    """The pseudonymiser of a config, or None when no key is configured."""
    return Pseudonymiser(key, note_ids=note_ids) if key is not None else None


class RunPrivacy:
    """A run's privacy passes, fixed when the run is made: every path through the run
    (ingest, reprocess, dry run) reads records through :meth:`records` and writes results
    through :meth:`results`, so no caller can load ids or text that skipped them."""

    __slots__ = ("_alias", "redact_text")

    def __init__(self, alias: Pseudonymiser | None, *, redact_text: bool = False) -> None:
        self._alias = alias
        self.redact_text = redact_text

    @classmethod
    def from_config(cls, cfg: PrivacySettings) -> RunPrivacy:
        """The passes a config asks for (pseudonym key, note ids, redaction)."""
        return cls(
            pseudonymiser_for(cfg.pseudonym_key, note_ids=cfg.pseudonymise_note_ids),
            redact_text=cfg.redact_text,
        )

    def __repr__(self) -> str:  # never show the key
        return f"RunPrivacy(pseudonyms={self.pseudonymised}, redact_text={self.redact_text})"

    def __reduce__(self) -> Any:  # holds the key: never pickled into a result store or a task
        raise TypeError("a RunPrivacy holds the pseudonym key and cannot be serialised")

    @property
    def pseudonymised(self) -> bool:
        """Whether patient and encounter ids are replaced by keyed pseudonyms."""
        return self._alias is not None

    def records(self, records: Iterable[Note | NoteError]) -> Iterator[Note | NoteError]:
        """Source records with their ids pseudonymised (first pass after reading)."""
        return _protect(records, self._alias)

    def results(self, results: Sequence[NoteResult]) -> list[NoteResult]:
        """Results as they may be stored (last pass before loading or diffing)."""
        return protect_results(results, redact_text=self.redact_text)


class PrivacySettings(Protocol):
    """The privacy part of ``PipelineConfig``."""

    @property
    def pseudonym_key(self) -> SecretStr | None: ...

    @property
    def pseudonymise_note_ids(self) -> bool: ...

    @property
    def redact_text(self) -> bool: ...


def protect_records(
    records: Iterable[Note | NoteError],
    key: SecretStr | None,
    *,
    note_ids: bool = False,
) -> Iterator[Note | NoteError]:
    """Pseudonymise ids of a record stream as it is read (a no-op without a key)."""
    return _protect(records, pseudonymiser_for(key, note_ids=note_ids))


def _protect(
    records: Iterable[Note | NoteError], alias: Pseudonymiser | None
) -> Iterator[Note | NoteError]:
    if alias is None:
        log.info(
            "no pseudonym key configured: patient and encounter ids are stored as given "
            "(set NOTESTRUCT_PSEUDONYM_KEY or NOTESTRUCT_PSEUDONYM_KEY_FILE)"
        )
        yield from records
        return
    for rec in records:
        yield alias.note(rec) if isinstance(rec, Note) else alias.error(rec)


def protect_results(results: Sequence[NoteResult], *, redact_text: bool) -> list[NoteResult]:
    """Results as they may be stored: PHI masked in note text, mention text, snippets, FHIR."""
    if not redact_text:
        return list(results)
    return [redact_result(r) for r in results]


def redact_result(result: NoteResult) -> NoteResult:
    """``result`` with PHI masked wherever it carries text; offsets stay valid (same length).

    The change-detection hash ``text_sha256`` is kept: it is computed from the source text.
    """
    note = result.note
    spans = find_phi(note.text)
    if not spans:
        return result
    text = mask(note.text, spans)
    mentions = tuple(
        m.model_copy(update={"text": text[m.start_char : m.end_char]})
        if text[m.start_char : m.end_char] != m.text
        else m
        for m in result.mentions
    )
    replaced = {
        old.text: new.text
        for old, new in zip(result.mentions, mentions, strict=True)
        if old.text != new.text
    }
    rows = tuple(_redact_nlp_row(row, note.text, spans) for row in result.note_nlp)
    resources = tuple(_redact_resource(res, note.text, text, replaced) for res in result.resources)
    return result.model_copy(
        update={
            "note": note.model_copy(update={"text": text}),
            "mentions": mentions,
            "note_nlp": rows,
            "resources": resources,
        }
    )


def _redact_nlp_row(row: dict[str, Any], source: str, spans: list[PhiSpan]) -> dict[str, Any]:
    out = dict(row)
    for field in ("snippet", "lexical_variant"):
        value = out.get(field)
        if not value:
            continue
        start = _locate(source, value, int(out.get("offset") or 0))
        if start is None:  # cannot place it: redact the fragment on its own
            out[field] = mask(value, find_phi(value))
        else:
            local = [
                PhiSpan(s.start - start, s.end - start, s.kind)
                for s in spans
                if s.end > start and s.start < start + len(value)
            ]
            out[field] = mask(value, local)
    return out


def _locate(source: str, fragment: str, near: int) -> int | None:
    """Start of ``fragment`` in ``source``, the occurrence closest to offset ``near``."""
    best: int | None = None
    pos = source.find(fragment, max(0, near - len(fragment) - 1))
    if pos != -1 and pos <= near:
        best = pos
    if best is None:
        pos = source.find(fragment)
        best = pos if pos != -1 else None
    return best


def _redact_resource(
    res: dict[str, Any], source: str, redacted: str, replaced: dict[str, str]
) -> dict[str, Any]:
    encoded = base64.b64encode(source.encode("utf-8")).decode("ascii")
    fresh = base64.b64encode(redacted.encode("utf-8")).decode("ascii")

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str):
            if node == encoded:
                return fresh
            if node in replaced:
                return replaced[node]
        return node

    out: dict[str, Any] = walk(res)
    return out


def scrub_errors(stage: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a batch function so an escaping exception carries no data values.

    Database drivers quote statement parameters and failing rows (note text, ids) in their
    messages, and pydantic quotes input values; Prefect stores and logs exception messages
    and tracebacks. The replacement keeps the type, SQLSTATE and constraint name only, and
    is raised without its cause chain.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except ScrubbedError:
                raise
            except Exception as exc:
                scrubbed = ScrubbedError(describe_error(stage, exc))
            raise scrubbed from None

        return wrapper

    return decorate


class ScrubbedError(WarehouseError):
    """A stage failed; the message holds the error type and codes, never data values."""


def describe_error(stage: str, exc: BaseException) -> str:
    """A data-free description of ``exc``: type, and SQLSTATE/constraint for database errors."""
    orig = getattr(exc, "orig", None) or exc
    parts = [f"{stage} failed: {type(orig).__name__}"]
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate:
        parts.append(f"SQLSTATE {sqlstate}")
    diag = getattr(orig, "diag", None)
    for attr in ("table_name", "column_name", "constraint_name"):
        value = getattr(diag, attr, None) if diag is not None else None
        if value:
            parts.append(f"{attr.replace('_name', '')} {value}")
    code = getattr(orig, "sqlite_errorname", None)
    if code:
        parts.append(code)
    return ", ".join(parts)

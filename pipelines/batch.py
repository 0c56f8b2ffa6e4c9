"""One batch of records: skip unchanged notes, extract, code, map to FHIR and OMOP, load."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine

from extractors.settings import ExtractionError
from pipelines.privacy import protect_results, scrub_errors
from schemas.fhir import MappingError, ShapeValidator, map_note
from schemas.model import Mention, Note, NoteError, NoteResult
from schemas.omop import to_note_nlp
from schemas.wire import Packed, WireMention, mentions_from_wire, unpack
from warehouse.load import LoadSettings, load_results, record_errors, stored_notes
from warehouse.reprocess import ChangePlan, diff_results
from warehouse.runs import Lease, clear_errors_of_loaded, forget_errors, heartbeat

if TYPE_CHECKING:
    from spacy.language import Language

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another run took over this run's lease (it was thought dead): this run must stop."""


@dataclass
class Counts:
    """The one count of a run, a batch, a load or a dry-run comparison: records read and
    skipped, notes processed, unchanged, failed and retracted, mentions and resources, and
    stage timings (no text, no identifiers). A step fills the fields it knows; ``add``
    accumulates batches into a run."""

    read: int = 0
    skipped: int = 0
    processed: int = 0
    unchanged: int = 0
    failed: int = 0
    retracted: int = 0
    mentions: int = 0
    resources: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, other: Counts) -> None:
        """Accumulate ``other`` into these counts."""
        for name in (
            "read",
            "skipped",
            "processed",
            "unchanged",
            "failed",
            "retracted",
            "mentions",
            "resources",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for stage, secs in other.seconds.items():
            self.seconds[stage] = self.seconds.get(stage, 0.0) + secs


@dataclass(frozen=True)
class BatchContext:
    """What every batch of a run shares."""

    run_id: str
    now: datetime
    rules_version: str
    pipeline_version: str
    store_text: bool = False
    force: bool = False
    dictionary_version: str | None = None
    #: which notes the run analyses (``SELECTIONS``)
    selection: str = "changed"
    #: Validates each FHIR resource shape through its model once per run (schemas.fhir).
    validator: ShapeValidator = field(default_factory=ShapeValidator, compare=False, repr=False)


@scrub_errors("select")  # privacy: driver messages quote parameters (ids)
def select_changed(
    engine: Engine, notes: Sequence[Note], ctx: BatchContext
) -> tuple[list[Note], int]:
    """Notes whose text or source status differ from what is loaded (or that failed before).

    A rules or dictionary change alone does not re-process stored notes: the nightly run
    handles new and changed notes only, and ``notestruct reprocess`` (which first reports
    what would change) re-runs stored notes under new rules. ``ctx.force`` processes all.
    """
    with engine.connect() as conn:
        known = stored_notes(conn, [n.note_id for n in notes])
    changed: list[Note] = []
    for note in notes:
        prior = known.get(note.note_id)
        if (
            not ctx.force
            and prior is not None
            and prior.text_sha256 == note.text_sha256
            and prior.source_status == note.status
            and prior.status != "failed"
        ):
            continue
        changed.append(note)
    return changed, len(notes) - len(changed)


#: How a run picks the notes it analyses (``BatchContext.selection``):
#: ``changed``: new or changed at the source (the nightly ingest; ``force`` takes all);
#: ``rules``: stored notes whose rules version differs from the run's (reprocess);
#: ``all``: every stored note (``reprocess --all``).
SELECTIONS = ("changed", "rules", "all")


@dataclass
class StoredSelection:
    """Why the notes of a reprocess batch were or were not re-run (counts only)."""

    selected: int = 0
    current_rules: int = 0
    text_changed: int = 0
    not_loaded: int = 0

    def add(self, other: StoredSelection) -> None:
        """Accumulate ``other`` into this tally."""
        for name in ("selected", "current_rules", "text_changed", "not_loaded"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@scrub_errors("select")  # privacy: driver messages quote parameters (ids)
def select_stored(
    engine: Engine, notes: Sequence[Note], ctx: BatchContext
) -> tuple[list[Note], StoredSelection]:
    """Stored notes to re-run under the current rules (``ctx.selection`` ``rules`` or ``all``).

    The notes come from the source *after* the run's privacy pass, so their ids and keyed
    text hashes compare with what is stored whatever the pseudonym settings. A note that is
    not loaded (or failed or was retracted), or whose text or status changed at the source,
    is left to the nightly ingest: reprocess only re-derives facts of text already loaded.
    """
    with engine.connect() as conn:
        known = stored_notes(conn, [n.note_id for n in notes])
    tally = StoredSelection()
    selected: list[Note] = []
    for note in notes:
        prior = known.get(note.note_id)
        if prior is None or prior.status in {"retracted", "failed"}:
            tally.not_loaded += 1
        elif prior.text_sha256 != note.text_sha256 or prior.source_status != note.status:
            tally.text_changed += 1
        elif prior.rules_version == ctx.rules_version and ctx.selection != "all":
            tally.current_rules += 1
        else:
            selected.append(note)
    tally.selected = len(selected)
    return selected, tally


@scrub_errors("analyse")  # privacy: pydantic/spaCy messages may quote note text
def analyse(
    nlp: Language, notes: Sequence[Note], ctx: BatchContext
) -> tuple[list[NoteResult], list[NoteError]]:
    """Extract, map to FHIR and to NOTE_NLP; per-note failures become dead letters."""
    extracted, errors = extract_batch(nlp, notes, ctx)
    results, map_errors = map_batch(notes, extracted, ctx)
    return results, errors + map_errors


Extracted = list[tuple[Note, tuple[Mention, ...]]]

#: Notes mapped and written at a time inside a batch's load transaction. A note's FHIR
#: resources, NOTE_NLP rows and table rows take about a quarter of a MiB of Python objects;
#: a chunk of 25 keeps that to a few MiB however large the batch, while the statements per
#: chunk stay cheap (6 ``executemany`` calls).
LOAD_CHUNK = 25


class Analysed:
    """One batch's analysis, waiting to be loaded: its NLP dead letters now, its results
    made a chunk of notes at a time as they are loaded.

    The mapped results (FHIR resources, NOTE_NLP rows) of a batch of 200 notes take about
    45 MiB of Python objects; the flow keeps several batches in flight so its NLP workers
    never wait, and holding each of them mapped made the flow's peak memory depend on how
    those batches happened to overlap (and so grow with the length of the run). A batch
    waiting here keeps the compact form it came back in (mention tuples from a worker, or
    packed results), and the load maps or unpacks ``LOAD_CHUNK`` notes at a time. A chunk
    can be made again, so a retried load maps again, with the same outcome.
    """

    def __init__(self, notes: Sequence[Note], errors: Sequence[NoteError]) -> None:
        #: the notes that were analysed (those whose dead letters of earlier runs a load clears)
        self.notes = list(notes)
        #: dead letters of the NLP stage
        self.errors = list(errors)

    def chunks(self, size: int = LOAD_CHUNK) -> Iterator[tuple[list[NoteResult], list[NoteError]]]:
        """``(results, mapping dead letters)`` of up to ``size`` notes at a time, in order."""
        raise NotImplementedError

    def collect(self) -> tuple[list[NoteResult], list[NoteError]]:
        """Every result and dead letter at once (for callers that need the whole batch)."""
        results, errors = [], list(self.errors)
        for chunk, failed in self.chunks():
            results.extend(chunk)
            errors.extend(failed)
        return results, errors


class Joined(Analysed):
    """A batch analysed in parts (by worker processes and the flow process), loaded as one
    batch: its notes, dead letters and chunks are the parts', in order."""

    def __init__(self, parts: Sequence[Analysed]) -> None:
        super().__init__(
            [n for part in parts for n in part.notes], [e for part in parts for e in part.errors]
        )
        self.parts = list(parts)

    def chunks(self, size: int = LOAD_CHUNK) -> Iterator[tuple[list[NoteResult], list[NoteError]]]:
        for part in self.parts:
            yield from part.chunks(size)


class Mapped(Analysed):
    """Results mapped already (by the analyse step itself, e.g. on a Dask worker)."""

    def __init__(self, results: Sequence[NoteResult], errors: Sequence[NoteError]) -> None:
        super().__init__([r.note for r in results], errors)
        self.results = list(results)

    def chunks(self, size: int = LOAD_CHUNK) -> Iterator[tuple[list[NoteResult], list[NoteError]]]:
        for i in range(0, len(self.results), size):
            yield self.results[i : i + size], []


class ToMap(Analysed):
    """Extracted mentions, mapped to FHIR and NOTE_NLP a chunk at a time when loaded.

    ``extracted`` gives each extracted note's mentions, as records or as the tuples a worker
    process sends (``schemas.wire``); notes of ``notes`` absent from it failed the NLP (their
    dead letters are in ``errors``) or are retractions (an empty result each, as
    ``map_batch`` makes).
    """

    def __init__(
        self,
        notes: Sequence[Note],
        extracted: dict[str, tuple[Mention, ...] | tuple[WireMention, ...]],
        errors: Sequence[NoteError],
        ctx: BatchContext,
        *,
        wire: bool = False,
    ) -> None:
        super().__init__(notes, errors)
        self.extracted, self.ctx, self.wire = extracted, ctx, wire

    def chunks(self, size: int = LOAD_CHUNK) -> Iterator[tuple[list[NoteResult], list[NoteError]]]:
        for i in range(0, len(self.notes), size):
            notes = self.notes[i : i + size]
            cache: dict[tuple[Any, ...], Any] = {}
            pairs: Extracted = []
            for note in notes:
                found = self.extracted.get(note.note_id)
                if found is None:  # failed the NLP, or a retraction (never extracted)
                    continue
                mentions = mentions_from_wire(found, cache) if self.wire else found
                pairs.append((note, tuple(mentions)))
            yield map_batch(notes, pairs, self.ctx)


class Unpacked(Analysed):
    """Results mapped in a worker process and packed for the trip (``schemas.wire.pack``),
    unpacked a chunk at a time when loaded."""

    def __init__(self, packed: Sequence[Packed], errors: Sequence[NoteError]) -> None:
        super().__init__([result.note for result, _ in packed], errors)
        self.packed = list(packed)

    def chunks(self, size: int = LOAD_CHUNK) -> Iterator[tuple[list[NoteResult], list[NoteError]]]:
        for i in range(0, len(self.packed), size):
            yield [unpack(p) for p in self.packed[i : i + size]], []


@scrub_errors("analyse")
def extract_for_load(nlp: Language, notes: Sequence[Note], ctx: BatchContext) -> ToMap:
    """The NLP stage now, the mapping when the batch is loaded (``ToMap``)."""
    extracted, errors = extract_batch(nlp, notes, ctx)
    return ToMap(notes, {n.note_id: m for n, m in extracted}, errors, ctx)


@scrub_errors("analyse")
def extract_batch(
    nlp: Language, notes: Sequence[Note], ctx: BatchContext
) -> tuple[Extracted, list[NoteError]]:
    """The NLP stage: the mentions of every live note (retracted notes are skipped), in
    order; notes the pipeline fails on become dead letters."""
    from extractors.nlp import extract  # spaCy: not imported by the flow process

    extracted: Extracted = []
    errors: list[NoteError] = []
    live = [(n, ()) for n in notes if n.status != "entered-in-error"]
    for note, outcome in extract(nlp, live, run_id=ctx.run_id):
        if isinstance(outcome, ExtractionError):
            # an extractor's own stage when it names one (the llm extractor: "llm")
            errors.append(_dead(note, getattr(outcome, "stage", "nlp"), outcome))
        else:
            extracted.append((note, outcome))
    return extracted, errors


@scrub_errors("analyse")
def map_batch(
    notes: Sequence[Note], extracted: Extracted, ctx: BatchContext
) -> tuple[list[NoteResult], list[NoteError]]:
    """The mapping stage: FHIR resources and NOTE_NLP rows of extracted notes, plus an empty
    result for each retracted note of ``notes`` (first); mapping failures are dead letters."""
    results: list[NoteResult] = [
        NoteResult(note=note) for note in notes if note.status == "entered-in-error"
    ]
    errors: list[NoteError] = []
    nlp_system = f"notestruct {ctx.pipeline_version} rules {ctx.rules_version}"
    for note, outcome in extracted:
        try:
            resources = map_note(
                note, outcome, include_text=ctx.store_text, validator=ctx.validator
            )
            rows = tuple(
                to_note_nlp(
                    m, note, processed_at=ctx.now, nlp_system=nlp_system, store_text=ctx.store_text
                )
                for m in outcome
            )
        except MappingError as exc:
            errors.append(_dead(note, "map", exc))
            continue
        except Exception as exc:  # a bug must not sink the batch; the type only (no text)
            errors.append(_dead(note, "map", exc, f"{type(exc).__name__} while mapping"))
            continue
        # model_construct: every part is ours and checked already (the mentions are Mention
        # records, the resources went through the shape validator); validating the result
        # again walked every resource dict (a tenth of the flow process's time)
        results.append(
            NoteResult.model_construct(
                note=note, mentions=tuple(outcome), resources=resources, note_nlp=rows
            )
        )
    return results, errors


def _dead(note: Note, stage: str, exc: Exception, message: str | None = None) -> NoteError:
    # ExtractionError and MappingError messages are written by us and never quote text
    return NoteError(
        note_id=note.note_id,
        source=note.source,
        stage=stage,
        error_type=type(exc).__name__,
        # privacy: only our own exceptions have text-free messages; others give their type
        message=(
            message
            or (
                str(exc)
                if isinstance(exc, ExtractionError | MappingError)
                else f"{type(exc).__name__} in the {stage} stage"
            )
        )[:500],
    )


def dead_batch(notes: Sequence[Note], stage: str, exc: BaseException) -> list[NoteError]:
    """Dead letters for every note of a batch whose task failed as a whole (e.g. a worker
    process died); the exception type only, never its message."""
    return [
        NoteError(
            note_id=n.note_id,
            source=n.source,
            stage=stage,
            error_type=type(exc).__name__,
            message=f"the batch failed as a whole ({type(exc).__name__})",
        )
        for n in notes
    ]


class Seen(Protocol):
    """Note ids read so far in a run, with their text hashes (a ``dict`` will do)."""

    def get(self, note_id: str, /) -> str | None: ...

    def __setitem__(self, note_id: str, text_sha256: str, /) -> None: ...


class SeenNotes:
    """The note ids a run has read, with their text hashes, outside the Python heap.

    A private temporary SQLite database (SQLite keeps it in a small page cache and spills it
    to a temporary file that is deleted when closed): the run's memory does not grow with the
    number of notes it reads, as a dict of every id would (~150 bytes a note). Ids are
    stored as SHA-256 digests, so the temporary file holds no identifier.
    """

    def __init__(self, cache_kib: int = 2048) -> None:
        self._db = sqlite3.connect("", check_same_thread=False)  # "": private, temporary
        self._db.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
        self._db.execute("CREATE TABLE seen (id BLOB PRIMARY KEY, sha TEXT NOT NULL) WITHOUT ROWID")

    @staticmethod
    def _key(note_id: str) -> bytes:
        return hashlib.sha256(note_id.encode("utf-8", "surrogatepass")).digest()

    def get(self, note_id: str, /) -> str | None:
        """The text hash first read with ``note_id``, or None."""
        row = self._db.execute(
            "SELECT sha FROM seen WHERE id = ?", (self._key(note_id),)
        ).fetchone()
        return None if row is None else str(row[0])

    def __setitem__(self, note_id: str, text_sha256: str, /) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO seen (id, sha) VALUES (?, ?)",
            (self._key(note_id), text_sha256),
        )

    def close(self) -> None:
        """Drop the database (and its temporary file)."""
        self._db.close()

    def __enter__(self) -> SeenNotes:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def screen(chunk: Sequence[Note | NoteError], seen: Seen) -> tuple[list[Note], list[NoteError]]:
    """Notes worth analysing and dead letters of a chunk of source records.

    A blank note is dead-lettered (``EmptyNote``), except a retraction. A note id repeated
    in the same run with different text is a dead letter (``DuplicateId``; the first wins);
    an identical repeat is dropped silently. ``seen`` maps ids to hashes across the run
    (``SeenNotes`` in the nightly flow).
    """
    notes: list[Note] = []
    errors: list[NoteError] = []
    for rec in chunk:
        if isinstance(rec, NoteError):
            errors.append(rec)
            continue
        prior = seen.get(rec.note_id)
        if prior is not None:
            if prior != rec.text_sha256:
                errors.append(
                    NoteError(
                        note_id=rec.note_id,
                        source=rec.source,
                        stage="read",
                        error_type="DuplicateId",
                        message="note id repeated in the same run with different text; "
                        "the first occurrence was kept",
                        locator=None,
                    )
                )
            continue
        seen[rec.note_id] = rec.text_sha256
        if rec.status != "entered-in-error" and not rec.text.strip():
            errors.append(
                NoteError(
                    note_id=rec.note_id,
                    source=rec.source,
                    stage="validate",
                    error_type="EmptyNote",
                    message="note text is empty or blank",
                )
            )
            continue
        notes.append(rec)
    return notes, errors


@scrub_errors("load")  # privacy: driver messages quote failing rows (text, ids)
def load(
    engine: Engine,
    results: Analysed | Sequence[NoteResult],
    errors: Sequence[NoteError],
    ctx: BatchContext,
    lease: Lease | None = None,
    now: datetime | None = None,
    valid: Sequence[Note] = (),
    *,
    redact_text: bool = False,
) -> Counts:
    """Load results and dead letters of a batch in one transaction, renewing the lease.

    The counts: notes processed and retracted, mentions and resources written, and dead
    letters recorded (``failed``: the read and NLP ones given, and those of the mapping).

    ``results`` is an ``Analysed`` batch (its NLP dead letters are recorded too, and its
    results are mapped and written ``LOAD_CHUNK`` notes at a time) or a list of results.
    With ``redact_text`` PHI is masked in what is stored (``privacy.protect_results``).
    Earlier dead letters of the same records are replaced, and those of ``valid`` notes (read
    fine in this batch, whether loaded now or unchanged) are cleared, so a re-run after a
    crash leaves the rows a clean run leaves.

    Raises:
        LeaseLost: another run has taken over the source (nothing of this batch is written).
    """
    analysed = results if isinstance(results, Analysed) else Mapped(results, ())
    errors = [*errors, *analysed.errors]
    report = Counts()
    settings = LoadSettings(store_text=ctx.store_text, rules_version=ctx.rules_version)
    with engine.begin() as conn:
        if lease is not None and not heartbeat(conn, lease, now or ctx.now):
            raise LeaseLost(f"run {ctx.run_id} lost its lease on the source to another run")
        by_source: dict[str, list[str]] = {}
        for note in valid or analysed.notes:
            by_source.setdefault(note.source, []).append(note.note_id)
        for source, ids in by_source.items():
            clear_errors_of_loaded(conn, source, ids)
        for chunk, failed in analysed.chunks(LOAD_CHUNK):
            errors.extend(failed)
            if not chunk:
                continue
            chunk = protect_results(chunk, redact_text=redact_text)
            counts = load_results(conn, chunk, run_id=ctx.run_id, now=ctx.now, settings=settings)
            report.processed += counts.notes - counts.retracted
            report.retracted += counts.retracted
            report.mentions += counts.mentions
            report.resources += counts.resources
        forget_errors(conn, errors)
        record_errors(conn, errors, run_id=ctx.run_id, now=ctx.now)
    report.failed = len(errors)
    return report


@scrub_errors("load")  # privacy: driver messages quote parameters (ids)
def diff(
    engine: Engine, results: Analysed, ctx: BatchContext, *, redact_text: bool = False
) -> tuple[ChangePlan, Counts]:
    """Compare a batch's results with what is stored, a chunk at a time; writes nothing:
    the per-label plan, and the notes and mentions compared and the dead letters.

    The results pass the same privacy step as a load (``protect_results``), so what is
    compared is exactly what ``--apply`` would write.
    """
    plan, report = ChangePlan(), Counts(failed=len(results.errors))
    with engine.connect() as conn:
        for chunk, failed in results.chunks(LOAD_CHUNK):
            report.failed += len(failed)
            if not chunk:
                continue
            chunk = protect_results(chunk, redact_text=redact_text)
            plan.merge(diff_results(conn, chunk))
            report.processed += len(chunk)
            report.mentions += sum(len(r.mentions) for r in chunk)
    return plan, report


def timed(outcome: Counts, stage: str, start: float) -> None:
    """Add the time since ``start`` to ``stage``."""
    outcome.seconds[stage] = outcome.seconds.get(stage, 0.0) + time.perf_counter() - start

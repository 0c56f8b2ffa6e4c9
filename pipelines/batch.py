"""One batch of records: skip unchanged notes, extract, code, map to FHIR and OMOP, load."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from extractors.nlp import ExtractionError, extract
from pipelines.privacy import scrub_errors
from schemas.fhir import MappingError, ShapeValidator, map_note
from schemas.model import Note, NoteError, NoteResult
from schemas.omop import to_note_nlp
from spacy.language import Language
from warehouse.load import LoadSettings, load_results, record_errors, stored_notes

log = logging.getLogger(__name__)


@dataclass
class BatchOutcome:
    """Counts and stage timings of one batch (no text, no identifiers)."""

    read: int = 0
    processed: int = 0
    unchanged: int = 0
    failed: int = 0
    retracted: int = 0
    mentions: int = 0
    resources: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, other: BatchOutcome) -> None:
        """Accumulate ``other`` into this outcome."""
        for name in ("read", "processed", "unchanged", "failed", "retracted", "mentions", "resources"):
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


@scrub_errors("analyse")  # privacy: pydantic/spaCy messages may quote note text
def analyse(
    nlp: Language, notes: Sequence[Note], ctx: BatchContext
) -> tuple[list[NoteResult], list[NoteError]]:
    """Extract, map to FHIR and to NOTE_NLP; per-note failures become dead letters."""
    results: list[NoteResult] = []
    errors: list[NoteError] = []
    nlp_system = f"notestruct {ctx.pipeline_version} rules {ctx.rules_version}"
    live = [(n, ()) for n in notes if n.status != "entered-in-error"]
    for note in notes:
        if note.status == "entered-in-error":
            results.append(NoteResult(note=note))
    for note, outcome in extract(nlp, live, run_id=ctx.run_id):
        if isinstance(outcome, ExtractionError):
            errors.append(_dead(note, "nlp", outcome))
            continue
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
        except Exception as exc:  # privacy: _dead keeps only the type of unexpected errors
            errors.append(_dead(note, "map", exc))
            continue
        results.append(NoteResult(note=note, mentions=outcome, resources=resources, note_nlp=rows))
    return results, errors


def _dead(note: Note, stage: str, exc: Exception) -> NoteError:
    return NoteError(
        note_id=note.note_id,
        source=note.source,
        stage=stage,
        error_type=type(exc).__name__,
        # privacy: only our own exceptions have text-free messages; others give their type
        message=str(exc)[:500]
        if isinstance(exc, ExtractionError | MappingError)
        else f"{type(exc).__name__} in the {stage} stage",
    )


@scrub_errors("load")  # privacy: driver messages quote failing rows (text, ids)
def load(
    engine: Engine,
    results: Sequence[NoteResult],
    errors: Sequence[NoteError],
    ctx: BatchContext,
) -> None:
    """Load results and dead letters of a batch in one transaction."""
    with engine.begin() as conn:
        if results:
            load_results(
                conn,
                results,
                run_id=ctx.run_id,
                now=ctx.now,
                settings=LoadSettings(store_text=ctx.store_text, rules_version=ctx.rules_version),
                failed=errors,
            )
        else:
            record_errors(conn, errors, run_id=ctx.run_id, now=ctx.now)


def timed(outcome: BatchOutcome, stage: str, start: float) -> None:
    """Add the time since ``start`` to ``stage``."""
    outcome.seconds[stage] = outcome.seconds.get(stage, 0.0) + time.perf_counter() - start

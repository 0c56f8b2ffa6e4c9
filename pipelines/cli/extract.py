"""``notestruct extract``: NLP and coding of a JSONL file, no warehouse."""

from __future__ import annotations

import json
import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipelines.cli.app import ConfigOpt, app, err
from pipelines.cli.common import SMALL_RUN, _count_records, _progress

if TYPE_CHECKING:
    from extractors.settings import NlpSettings
    from pipelines.workers import ContractOutcome


def _read_extract_input(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, record or None, error or None) per non-blank input line."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                yield lineno, None, "line is not valid UTF-8"
                continue
            except json.JSONDecodeError as exc:
                yield lineno, None, f"invalid JSON at column {exc.colno}"
                continue
            if not isinstance(data, dict):
                yield lineno, None, f"line is a JSON {type(data).__name__}, not an object"
                continue
            yield lineno, data, None


@app.command()
def extract(
    input: Annotated[
        Path,
        typer.Argument(
            help="JSONL of notes: id, text, optional spans [{start, end, label}].",
            exists=True,
            dir_okay=False,
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Output JSONL (default stdout).")
    ] = None,
    config: ConfigOpt = None,
    batch_size: Annotated[int, typer.Option(help="Notes per spaCy batch.", min=1)] = 64,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-j",
            help="NLP worker processes (0: in this process) [default: 2 for more than "
            f"{SMALL_RUN} lines, else 0].",
            min=0,
        ),
    ] = None,
) -> None:
    """NLP and coding only, no warehouse: one output line per input line, in order.

    Output line: {"id", "mentions": [...], "error": null or "message"}. Given spans come back
    with exactly their offsets and label, with assertions and codes computed.
    """
    from pipelines.config import load_config
    from pipelines.sources import SourceOptions, note_from_mapping
    from schemas.model import Note

    cfg = load_config(config)
    total = _count_records(str(input))
    if workers is None:  # a worker's start costs more than a few notes' NLP
        workers = 0 if total is not None and total <= SMALL_RUN else min(2, os.cpu_count() or 1)
    analyse = _analyser(cfg.nlp_settings(), workers, batch_size)
    opts = SourceOptions(cfg.source_uri, cfg.max_note_chars)
    sink = output.open("w", encoding="utf-8") if output else sys.stdout
    written = 0

    def items() -> Iterator[tuple[dict[str, Any] | None, Any]]:
        for lineno, data, error in _read_extract_input(input):
            if data is None:
                yield {"id": None, "error": error}, None
                continue
            rec = note_from_mapping(data, opts, f"line {lineno}")
            if not isinstance(rec, Note):
                yield {"id": data.get("id"), "error": rec.message}, None
                continue
            spans = data.get("spans") or []
            if not isinstance(spans, list) or not all(
                isinstance(s, dict) and {"start", "end", "label"} <= s.keys() for s in spans
            ):
                yield (
                    {
                        "id": data.get("id"),
                        "error": "'spans' must be a list of {start, end, label}",
                    },
                    None,
                )
                continue
            yield None, (rec, spans, data.get("id"))

    def lines(
        pending: list[tuple[dict[str, Any] | None, Any]], outcomes: list[ContractOutcome]
    ) -> Iterator[dict[str, Any]]:
        results = iter(outcomes)
        for ready, job in pending:
            if job is None:
                yield {
                    "id": ready["id"] if ready else None,
                    "mentions": [],
                    "error": ready["error"] if ready else None,
                }
                continue
            outcome = next(results)
            if isinstance(outcome, str):
                yield {"id": job[2], "mentions": [], "error": outcome}
            else:
                yield {"id": job[2], "mentions": outcome, "error": None}

    def batches() -> Iterator[list[tuple[dict[str, Any] | None, Any]]]:
        pending: list[tuple[dict[str, Any] | None, Any]] = []
        for item in items():
            pending.append(item)
            if len(pending) >= batch_size:
                yield pending
                pending = []
        if pending:
            yield pending

    def ordered() -> Iterator[dict[str, Any]]:
        for pending, outcomes in analyse(batches()):
            yield from lines(pending, outcomes)

    try:
        with _progress(total, "extract") as advance:
            for line in ordered():
                sink.write(json.dumps(line, ensure_ascii=False) + "\n")
                written += 1
                advance(notes=1, errors=int(line["error"] is not None))
    finally:
        if output:
            sink.close()
    if output:
        err.print(f"wrote {written} lines to {output}")


def _analyser(settings: NlpSettings, workers: int, batch_size: int) -> Any:
    """A function from batches of (ready line or None, job) to (batch, outcome per job), in
    order: the NLP in this process (``workers`` 0), or in worker processes, a batch per
    worker at a time (and one more queued), each worker building the pipeline once."""

    def work_of(pending: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
        return [(job[0], job[1]) for _, job in pending if job is not None]

    if workers == 0:
        from pipelines.resources import get_nlp
        from pipelines.workers import contract_outcomes

        nlp = get_nlp(settings)

        def here(batches: Iterable[list[Any]]) -> Iterator[tuple[list[Any], list[Any]]]:
            for pending in batches:
                yield pending, contract_outcomes(nlp, work_of(pending), batch_size)

        return here

    def pooled(batches: Iterable[list[Any]]) -> Iterator[tuple[list[Any], list[Any]]]:
        from concurrent.futures import ThreadPoolExecutor

        from pipelines.workers import NlpPool

        pool = NlpPool(workers, settings)
        window: deque[tuple[list[Any], Any]] = deque()
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="notestruct-extract") as threads:
                for pending in batches:
                    window.append(
                        (
                            pending,
                            threads.submit(pool.extract_contracts, work_of(pending), batch_size),
                        )
                    )
                    if len(window) > workers:  # bounded: the input streams
                        done, future = window.popleft()
                        yield done, future.result()
                while window:
                    done, future = window.popleft()
                    yield done, future.result()
        finally:
            pool.close()

    return pooled

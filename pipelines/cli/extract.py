"""``notestruct extract``: NLP and coding of a JSONL file, no warehouse."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from pipelines.cli.app import ConfigOpt, app, err
from pipelines.cli.common import _count_records, _progress


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
) -> None:
    """NLP and coding only, no warehouse: one output line per input line, in order.

    Output line: {"id", "mentions": [...], "error": null or "message"}. Given spans come back
    with exactly their offsets and label, with assertions and codes computed.
    """
    from extractors.nlp import ExtractionError
    from extractors.nlp import extract as run_extract
    from pipelines.config import load_config
    from pipelines.resources import get_nlp
    from pipelines.sources import SourceOptions, note_from_mapping
    from schemas.model import Note

    cfg = load_config(config)
    nlp = get_nlp(cfg.nlp_settings())
    opts = SourceOptions(cfg.source_uri, cfg.max_note_chars)
    sink = output.open("w", encoding="utf-8") if output else sys.stdout
    total = _count_records(str(input))
    written = 0

    def items() -> Iterator[tuple[int, dict[str, Any] | None, Any]]:
        for lineno, data, error in _read_extract_input(input):
            if data is None:
                yield lineno, {"id": None, "error": error}, None
                continue
            rec = note_from_mapping(data, opts, f"line {lineno}")
            if not isinstance(rec, Note):
                yield lineno, {"id": data.get("id"), "error": rec.message}, None
                continue
            spans = data.get("spans") or []
            if not isinstance(spans, list) or not all(
                isinstance(s, dict) and {"start", "end", "label"} <= s.keys() for s in spans
            ):
                yield (
                    lineno,
                    {
                        "id": data.get("id"),
                        "error": "'spans' must be a list of {start, end, label}",
                    },
                    None,
                )
                continue
            yield lineno, None, (rec, spans, data.get("id"))

    def ordered() -> Iterator[dict[str, Any]]:
        pending: list[tuple[dict[str, Any] | None, Any]] = []

        def flush() -> Iterator[dict[str, Any]]:
            work = [(p[1][0], p[1][1]) for p in pending if p[1] is not None]
            results = iter(run_extract(nlp, work, batch_size=batch_size))
            for ready, job in pending:
                if job is None:
                    yield {
                        "id": ready["id"] if ready else None,
                        "mentions": [],
                        "error": ready["error"] if ready else None,
                    }
                    continue
                _note, outcome = next(results)
                if isinstance(outcome, ExtractionError):
                    yield {"id": job[2], "mentions": [], "error": str(outcome)}
                else:
                    yield {
                        "id": job[2],
                        "mentions": [m.to_contract() for m in outcome],
                        "error": None,
                    }
            pending.clear()

        for _lineno, ready, job in items():
            pending.append((ready, job))
            if len(pending) >= batch_size:
                yield from flush()
        yield from flush()

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

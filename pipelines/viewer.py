"""Notes to draw: read them (a .txt, a notes file or directory, the warehouse) and analyse
them with the configured pipeline, keeping the sections the sectionizer found.

Bad records are reported as one line each (no note text) and the rest are still drawn.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.view_html import ViewNote


@dataclass(frozen=True)
class Skipped:
    """A record that could not be drawn, as one printable line."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def read_notes(path: Path, source_uri: str, max_chars: int) -> Iterator[Any]:
    """``Note`` or :class:`Skipped` per record of a .txt file, notes file or directory."""
    from pipelines.sources import SourceOptions, open_source
    from schemas.model import Note, NoteError

    if path.is_file() and path.suffix.lower() == ".txt":
        try:
            with path.open(encoding="utf-8", newline="") as fh:
                text = fh.read()
        except (UnicodeDecodeError, OSError) as exc:
            yield Skipped(path.name, f"unreadable ({type(exc).__name__})")
            return
        if not text.strip():
            yield Skipped(path.name, "empty note")
            return
        yield Note(note_id=path.stem, source=source_uri, text=text)
        return
    for rec in open_source(path).records(SourceOptions(source_uri, max_chars)):
        if isinstance(rec, NoteError):
            yield Skipped(rec.locator or rec.note_id or path.name, rec.message)
        elif isinstance(rec, Note):
            yield rec


def _section_spans(doc: Any) -> tuple[tuple[str | None, int, int], ...]:
    """(category, start char, end char) of each section of a processed Doc."""
    out = []
    n, length = len(doc), len(doc.text)
    for sec in getattr(doc._, "sections", None) or ():
        start_tok, end_tok = sec.title_span[0], sec.body_span[1]
        start = doc[start_tok].idx if start_tok < n else length
        end = doc[end_tok].idx if end_tok < n else length
        if end > start:
            out.append((sec.category, start, end))
    return tuple(out)


def analyse(nlp: Any, notes: Iterable[Any], batch_size: int = 16) -> Iterator[Any]:
    """:class:`ViewNote` per note (mentions and sections), :class:`Skipped` on failure."""
    from extractors.nlp import make_doc
    from extractors.settings import pipeline_version
    from extractors.spans import doc_to_mentions

    version = pipeline_version()
    for note in notes:
        if isinstance(note, Skipped):
            yield note
            continue
        try:
            doc = nlp(make_doc(nlp, note))
            mentions = doc_to_mentions(doc, note, version)
        except Exception as exc:  # the type only: messages may quote note text
            yield Skipped(note.note_id, f"{type(exc).__name__} in the NLP stage")
            continue
        yield ViewNote(
            note.note_id,
            note.text,
            tuple(m.to_contract() for m in mentions),
            _section_spans(doc),
        )


def sections_only(nlp: Any, text: str) -> tuple[tuple[str | None, int, int], ...]:
    """The sections of ``text`` (tokeniser, sentences and sectionizer only)."""
    keep = {"ns_sentences", "ns_sections"}
    disable = [name for name in nlp.pipe_names if name not in keep]
    with nlp.select_pipes(disable=disable):
        return _section_spans(nlp(text))


def stored_view_notes(nlp: Any, stored: Sequence[Any]) -> list[ViewNote]:
    """ViewNotes from warehouse notes: the loaded mentions, sections found again."""
    return [ViewNote(s.note_id, s.text, s.mentions, sections_only(nlp, s.text)) for s in stored]


def analyse_input(
    nlp: Any, path: Path, source_uri: str, max_chars: int, wanted: Sequence[str], limit: int
) -> tuple[list[ViewNote], list[Skipped]]:
    """Analyse up to ``limit`` notes of ``path`` (only ``wanted`` ids when given)."""

    def selected() -> Iterator[Any]:
        count = 0
        for rec in read_notes(path, source_uri, max_chars):
            if count >= limit:
                break
            if not isinstance(rec, Skipped) and wanted and rec.note_id not in wanted:
                continue
            count += not isinstance(rec, Skipped)
            yield rec

    notes: list[ViewNote] = []
    skipped: list[Skipped] = []
    for item in analyse(nlp, selected()):
        (skipped if isinstance(item, Skipped) else notes).append(item)
    found = {n.note_id for n in notes}
    skipped.extend(Skipped(i, "no such note") for i in wanted if i not in found)
    return notes, skipped

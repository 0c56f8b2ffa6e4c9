"""Splits long notes into overlapping chunks on section and sentence boundaries."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: A section header: a line that starts with a capitalised phrase and a colon ("HPI:").
_SECTION = re.compile(r"(?m)^(?=[A-Z][A-Za-z /&()-]{1,60}:)")
#: After a sentence end (".", "?", "!" then space) or a line break.
_SENTENCE = re.compile(r"(?<=[.?!])\s+(?=\S)|\n+")


@dataclass(frozen=True)
class Chunk:
    """A slice of the note: ``text == note[start:end]``."""

    start: int
    end: int
    text: str


def _boundaries(text: str) -> list[int]:
    cuts = {0, len(text)}
    cuts.update(m.start() for m in _SECTION.finditer(text))
    cuts.update(m.end() for m in _SENTENCE.finditer(text))
    return sorted(c for c in cuts if 0 <= c <= len(text))


def chunk_text(text: str, max_chars: int = 6000, overlap_chars: int = 400) -> list[Chunk]:
    """Chunks of at most ``max_chars`` covering ``text``, cut on section or sentence
    boundaries, each starting up to ``overlap_chars`` before the previous one ended (on a
    boundary too), so a mention cut by one chunk's end is whole in the next.

    A sentence longer than ``max_chars`` is cut on whitespace (or hard, if it has none).
    """
    if max_chars <= 0:
        raise ValueError("max_chars must be positive")
    if len(text) <= max_chars:
        return [Chunk(0, len(text), text)] if text else []
    cuts = _boundaries(text)
    chunks: list[Chunk] = []
    start = 0
    while start < len(text):
        limit = start + max_chars
        if limit >= len(text):
            end = len(text)
        else:
            inside = [c for c in cuts if start < c <= limit]
            end = inside[-1] if inside else 0
            if end <= start + max_chars // 4:  # no useful boundary: cut at whitespace
                space = text.rfind(" ", start + max_chars // 2, limit)
                end = space + 1 if space > start else limit
        chunks.append(Chunk(start, end, text[start:end]))
        if end >= len(text):
            break
        back = [c for c in cuts if end - overlap_chars <= c < end and c > start]
        nxt = back[0] if back else end
        start = nxt if nxt > start else end
    return chunks

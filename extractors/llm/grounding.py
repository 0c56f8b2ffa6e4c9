"""Aligns the spans an LLM returns with exact character offsets in the note.

An answer is matched exactly first, then ignoring case and whitespace, then fuzzily over
windows of word tokens above a threshold. When it occurs more than once, the occurrence
inside the answer's ``context`` quote wins, then one no earlier answer took, then the first.
An answer that matches nowhere is *ungrounded*: it is counted, never given made-up offsets.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from difflib import SequenceMatcher

#: Grounding statuses, best first; "ungrounded" answers never become mentions.
STATUSES = ("exact", "normalized", "fuzzy", "ungrounded")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class Grounding:
    """Where an answer was found: ``note[start:end]`` is the mention text."""

    start: int
    end: int
    status: str
    score: float = 1.0


def _loose_pattern(answer: str) -> re.Pattern[str] | None:
    """Case-insensitive, whitespace-free pattern: whitespace may appear or vanish anywhere."""
    chars = [c for c in answer if not c.isspace()]
    if not chars:
        return None
    return re.compile(r"\s*".join(re.escape(c) for c in chars), re.IGNORECASE)


def _find_all(text: str, needle: str) -> list[tuple[int, int]]:
    out, i = [], text.find(needle)
    while i >= 0 and needle:
        out.append((i, i + len(needle)))
        i = text.find(needle, i + 1)
    return out


def _at_word_edges(text: str, start: int, end: int) -> bool:
    before = start > 0 and bool(_WORD.match(text[start - 1])) and bool(_WORD.match(text[start]))
    after = end < len(text) and bool(_WORD.match(text[end])) and bool(_WORD.match(text[end - 1]))
    return not before and not after


def _fuzzy(answer: str, text: str, threshold: float) -> list[tuple[int, int, float]]:
    """Windows of word tokens of ``text`` whose similarity to ``answer`` is >= threshold."""
    wanted = " ".join(t.lower() for t in _TOKEN.findall(answer))
    n = len(_TOKEN.findall(answer))
    if not n:
        return []
    tokens = [(m.start(), m.end(), m.group().lower()) for m in _TOKEN.finditer(text)]
    best: list[tuple[int, int, float]] = []
    for size in {max(1, n - 1), n, n + 1}:
        for i in range(len(tokens) - size + 1):
            window = tokens[i : i + size]
            candidate = " ".join(t[2] for t in window)
            matcher = SequenceMatcher(None, wanted, candidate, autojunk=False)
            if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
                continue
            score = matcher.ratio()
            if score >= threshold:
                best.append((window[0][0], window[-1][1], score))
    if not best:
        return []
    top = max(s for _, _, s in best)
    return [(s, e, sc) for s, e, sc in best if sc == top]


def _locate_context(context: str | None, text: str) -> tuple[int, int] | None:
    if not context or not context.strip():
        return None
    hit = text.find(context)
    if hit >= 0:
        return hit, hit + len(context)
    pattern = _loose_pattern(context)
    match = pattern.search(text) if pattern else None
    return (match.start(), match.end()) if match else None


def _nth_in_context(
    answer: str,
    context: str | None,
    where: tuple[int, int] | None,
    found: list[tuple[int, int, float]],
) -> tuple[int, int] | None:
    """When the answer occurs more than once inside the quote, the occurrence the quote
    centres on (a quote is written around its mention): its rank among the occurrences
    in the quote picks the same rank among those in the note's quoted region."""
    if context is None or where is None:
        return None
    inside = [(s, e) for s, e, _ in found if where[0] <= s and e <= where[1]]
    if len(inside) < 2:
        return None
    pattern = _loose_pattern(answer)
    in_quote = (
        [m.start() + (m.end() - m.start()) / 2 for m in pattern.finditer(context)]
        if (pattern)
        else []
    )
    if len(in_quote) != len(inside):
        return None
    centre = len(context) / 2
    k = min(range(len(in_quote)), key=lambda i: abs(in_quote[i] - centre))
    return inside[k]


def ground(
    answer: str,
    note_text: str,
    start: int = 0,
    end: int | None = None,
    *,
    context: str | None = None,
    taken: Collection[tuple[int, int]] = (),
    threshold: float = 0.88,
) -> Grounding | None:
    """Find ``answer`` in ``note_text[start:end]`` (the chunk it was extracted from).

    Args:
        answer: the span text the model returned.
        note_text: the whole note, exactly as stored.
        start, end: the chunk the answer came from (offsets into ``note_text``).
        context: the model's verbatim quote around the mention, to pick among repeats.
        taken: note offsets already given to earlier answers (of the same label).
        threshold: the least token-level similarity (0-1) a fuzzy match needs.

    Returns:
        The grounding, with offsets into ``note_text``; None when the answer is ungrounded.
    """
    end = len(note_text) if end is None else end
    chunk = note_text[start:end]
    answer = answer.strip()
    if not answer:
        return None
    status, found = "exact", [(s, e, 1.0) for s, e in _find_all(chunk, answer)]
    if not found:
        pattern = _loose_pattern(answer)
        if pattern is not None:
            status = "normalized"
            found = [(m.start(), m.end(), 1.0) for m in pattern.finditer(chunk)]
    if not found:
        status, found = "fuzzy", _fuzzy(answer, chunk, threshold)
    if not found:
        return None
    where = _locate_context(context, chunk)
    preferred = _nth_in_context(answer, context, where, found) if status != "fuzzy" else None

    def rank(hit: tuple[int, int, float]) -> tuple[int, int, int, int, int]:
        s, e, _ = hit
        inside = where is not None and where[0] <= s and e <= where[1]
        free = (s + start, e + start) not in taken
        return (not inside, (s, e) != preferred, not free, not _at_word_edges(chunk, s, e), s)

    s, e, score = min(found, key=rank)
    return Grounding(s + start, e + start, status, round(score, 3))

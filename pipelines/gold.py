"""Gold annotations of your own: read and check a JSONL file or a brat standoff directory.

JSONL: one note per line, ``{"id", "text", "mentions": [{"start", "end", "label", ...}]}``,
mentions in the shape ``notestruct extract`` writes (assertion flags ``negated``,
``uncertain``, ``historical``, ``hypothetical``, ``family``, ``conditional`` and
``attributes`` are optional). brat: ``<id>.txt`` beside ``<id>.ann`` with ``T`` lines for
mentions and ``A``/``M`` lines for flags (``Negated T1``) or attributes (``Route T1 PO``).

Each problem (a malformed line, offsets outside the text, text that does not match the
offsets, an unknown label) is one :class:`GoldProblem`; the rest of the file is still read.
Messages name the file, line and mention but never quote note text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.model import ASSERTION_FLAGS


@dataclass(frozen=True)
class GoldMention:
    """A gold mention; ``flags`` holds the assertion flags the annotator set."""

    start: int
    end: int
    label: str
    flags: frozenset[str] = frozenset()
    #: Flags this mention was annotated for (given true or false); absent ones are unknown.
    annotated: frozenset[str] = frozenset()
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GoldNote:
    """A note with its gold mentions."""

    note_id: str
    text: str
    mentions: tuple[GoldMention, ...]


@dataclass(frozen=True)
class GoldProblem:
    """One problem found in the gold input, as one printable line (no note text)."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


#: brat attribute names (case-insensitive) -> our assertion flag
BRAT_FLAGS: dict[str, str] = {
    **{f: f for f in ASSERTION_FLAGS},
    "negation": "negated",
    "uncertainty": "uncertain",
    "history": "historical",
    "hypothesis": "hypothetical",
    "experiencer": "family",
}


def read_gold(path: Path, known_labels: Iterable[str]) -> tuple[list[GoldNote], list[GoldProblem]]:
    """Gold notes and the problems found, from a JSONL file or a brat directory."""
    known = frozenset(known_labels)
    if path.is_dir():
        return _read_brat(path, known)
    return _read_jsonl(path, known)


def _check_span(text: str, start: Any, end: Any, label: Any, known: frozenset[str]) -> str | None:
    """Why this span cannot be used, or None."""
    if isinstance(start, bool) or isinstance(end, bool):
        return "start and end must be integers"
    if not isinstance(start, int) or not isinstance(end, int):
        return "start and end must be integers"
    if not isinstance(label, str) or not label:
        return "label must be a non-empty string"
    if start < 0 or end > len(text) or start >= end:
        return f"offsets {start}-{end} outside the text (length {len(text)})"
    if label not in known:
        return f"unknown label {label!r} (known: {', '.join(sorted(known))})"
    return None


def _read_jsonl(path: Path, known: frozenset[str]) -> tuple[list[GoldNote], list[GoldProblem]]:
    problems: list[GoldProblem] = []

    def records() -> Iterator[tuple[str, Any]]:
        with path.open("rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                where = f"{path.name} line {lineno}"
                try:
                    yield where, json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    problems.append(GoldProblem(where, "line is not valid UTF-8; note skipped"))
                except json.JSONDecodeError as exc:
                    problems.append(
                        GoldProblem(where, f"invalid JSON at column {exc.colno}; note skipped")
                    )

    notes, more = gold_from_records(records(), known)
    return notes, sorted(problems + more, key=_problem_order)


def _problem_order(p: GoldProblem) -> tuple[str, int]:
    head, _, rest = p.where.partition(" line ")
    digits = rest.split(",")[0]
    return head, int(digits) if digits.isdigit() else 0


def gold_from_records(
    records: Iterable[tuple[str, Any]], known_labels: Iterable[str]
) -> tuple[list[GoldNote], list[GoldProblem]]:
    """Gold notes from ``(where, record)`` pairs of the JSONL shape, and the problems."""
    known = frozenset(known_labels)
    notes: list[GoldNote] = []
    problems: list[GoldProblem] = []
    seen: set[str] = set()
    for where, rec in records:
        if not isinstance(rec, dict):
            problems.append(GoldProblem(where, "not a JSON object; note skipped"))
            continue
        note_id, text, mentions = rec.get("id"), rec.get("text"), rec.get("mentions", [])
        if not isinstance(note_id, str | int) or isinstance(note_id, bool) or note_id == "":
            problems.append(GoldProblem(where, "missing or invalid 'id'; note skipped"))
            continue
        note_id = str(note_id)
        if not isinstance(text, str):
            problems.append(GoldProblem(where, f"note {note_id}: missing 'text'; skipped"))
            continue
        if note_id in seen:
            problems.append(GoldProblem(where, f"duplicate note id {note_id}; skipped"))
            continue
        if not isinstance(mentions, list):
            problems.append(
                GoldProblem(where, f"note {note_id}: 'mentions' is not a list; skipped")
            )
            continue
        seen.add(note_id)
        gold = list(_jsonl_mentions(where, note_id, text, mentions, known, problems))
        notes.append(GoldNote(note_id, text, tuple(gold)))
    return notes, problems


def _jsonl_mentions(
    where: str,
    note_id: str,
    text: str,
    mentions: list[Any],
    known: frozenset[str],
    problems: list[GoldProblem],
) -> Iterator[GoldMention]:
    for i, m in enumerate(mentions, start=1):
        here = f"{where}, note {note_id}, mention {i}"
        if not isinstance(m, dict):
            problems.append(GoldProblem(here, "not an object; mention skipped"))
            continue
        why = _check_span(text, m.get("start"), m.get("end"), m.get("label"), known)
        if why is None and isinstance(m.get("text"), str):
            if text[m["start"] : m["end"]] != m["text"]:
                why = f"text does not match the note at offsets {m['start']}-{m['end']}"
        if why is not None:
            problems.append(GoldProblem(here, f"{why}; mention skipped"))
            continue
        assertion = m.get("assertion") if isinstance(m.get("assertion"), dict) else {}
        flags: set[str] = set()
        annotated: set[str] = set()
        for flag in ASSERTION_FLAGS:
            for key, source in ((flag, m), (f"is_{flag}", m), (f"is_{flag}", assertion)):
                if key in source:
                    value = source[key]
                    if not isinstance(value, bool):
                        problems.append(
                            GoldProblem(here, f"flag {key!r} must be true or false; ignored")
                        )
                        continue
                    annotated.add(flag)
                    if value:
                        flags.add(flag)
        attributes = m.get("attributes") or {}
        if not isinstance(attributes, dict):
            problems.append(GoldProblem(here, "'attributes' is not an object; ignored"))
            attributes = {}
        yield GoldMention(
            m["start"],
            m["end"],
            m["label"],
            frozenset(flags),
            frozenset(annotated),
            {k: v for k, v in attributes.items() if k != "parts"},
        )


def _read_brat(root: Path, known: frozenset[str]) -> tuple[list[GoldNote], list[GoldProblem]]:
    notes: list[GoldNote] = []
    problems: list[GoldProblem] = []
    txts = sorted(root.rglob("*.txt"))
    if not txts:
        problems.append(GoldProblem(root.name, "no .txt files in this brat directory"))
    for txt in txts:
        rel = txt.relative_to(root).with_suffix("")
        note_id = rel.as_posix()
        try:
            with txt.open(encoding="utf-8", newline="") as fh:
                text = fh.read()
        except (UnicodeDecodeError, OSError) as exc:
            problems.append(GoldProblem(f"{rel}.txt", f"unreadable ({type(exc).__name__})"))
            continue
        ann = txt.with_suffix(".ann")
        if not ann.exists():
            problems.append(GoldProblem(f"{rel}.txt", "no .ann file beside it; no gold mentions"))
            notes.append(GoldNote(note_id, text, ()))
            continue
        notes.append(GoldNote(note_id, text, _brat_mentions(ann, rel, text, known, problems)))
    return notes, problems


def _brat_mentions(
    ann: Path, rel: Path, text: str, known: frozenset[str], problems: list[GoldProblem]
) -> tuple[GoldMention, ...]:
    spans: dict[str, tuple[int, int, str]] = {}
    flags: dict[str, set[str]] = {}
    attributes: dict[str, dict[str, Any]] = {}
    annotated_flags: set[str] = set()
    try:
        lines = ann.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError) as exc:
        problems.append(GoldProblem(f"{rel}.ann", f"unreadable ({type(exc).__name__})"))
        return ()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip() or line[0] in "#RENr*":
            continue  # notes, relations, events and normalisations are not scored
        where = f"{rel}.ann line {lineno}"
        parts = line.split("\t")
        if line[0] == "T":
            if len(parts) < 2 or len(parts[1].split(" ", 1)) < 2:
                problems.append(GoldProblem(where, "malformed text-bound annotation; skipped"))
                continue
            label, offsets = parts[1].split(" ", 1)
            if ";" in offsets:
                problems.append(
                    GoldProblem(where, f"{parts[0]}: discontinuous span not supported; skipped")
                )
                continue
            try:
                start, end = (int(x) for x in offsets.split())
            except ValueError:
                problems.append(GoldProblem(where, f"{parts[0]}: malformed offsets; skipped"))
                continue
            why = _check_span(text, start, end, label, known)
            if why is None and len(parts) > 2:
                # brat writes a newline inside a span as a space
                if text[start:end].replace("\n", " ").replace("\r", " ") != parts[2]:
                    why = f"text does not match the note at offsets {start}-{end}"
            if why is not None:
                problems.append(GoldProblem(where, f"{parts[0]}: {why}; skipped"))
                continue
            spans[parts[0]] = (start, end, label)
        elif line[0] in "AM":
            fields = parts[1].split() if len(parts) > 1 else []
            if len(fields) < 2:
                problems.append(GoldProblem(where, "malformed attribute; skipped"))
                continue
            name, target, value = fields[0], fields[1], " ".join(fields[2:])
            flag = BRAT_FLAGS.get(name.lower())
            if flag is not None:
                annotated_flags.add(flag)
                if value.lower() not in {"false", "no", "0", "patient"}:
                    flags.setdefault(target, set()).add(flag)
            else:
                attributes.setdefault(target, {})[name.lower()] = value or True
        else:
            problems.append(GoldProblem(where, f"unknown annotation kind {line[0]!r}; skipped"))
    for target in set(flags) | set(attributes):
        if target not in spans:
            problems.append(
                GoldProblem(f"{rel}.ann", f"attribute on {target}, which is not a usable span")
            )
    return tuple(
        GoldMention(
            s,
            e,
            label,
            frozenset(flags.get(tid, ())),
            frozenset(annotated_flags),
            attributes.get(tid, {}),
        )
        for tid, (s, e, label) in sorted(spans.items(), key=lambda kv: (kv[1][0], kv[1][1]))
    )

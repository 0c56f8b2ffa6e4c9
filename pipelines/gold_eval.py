"""Score predicted mentions against your own gold (``notestruct eval --gold``).

Per label: exact match (same offsets and label) and overlap match (same label, at least one
shared character; pairs are one-to-one, exact pairs first, then the largest overlaps).
Assertion: per flag, precision/recall/F1 over the overlap-matched pairs, for the flags the
gold annotates (a flag no gold mention mentions is not scored). Attributes: per label and
key, the share of gold attribute values found on the matched predicted mention.

Predicted mentions are dicts in the ``notestruct extract`` shape (``Mention.to_contract``).
The machine-readable result (``GoldScores.to_json``) holds counts and offsets, never text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipelines.gold import GoldMention, GoldNote, GoldProblem
from schemas.model import ASSERTION_FLAGS


@dataclass
class Counts:
    """True positives (predicted side and gold side can differ for overlap), totals."""

    tp: int = 0
    n_pred: int = 0
    n_gold: int = 0

    @property
    def precision(self) -> float:
        return self.tp / self.n_pred if self.n_pred else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_gold if self.n_gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "tp": self.tp,
            "fp": self.n_pred - self.tp,
            "fn": self.n_gold - self.tp,
        }


@dataclass(frozen=True)
class ErrorItem:
    """One error for the browser: a false positive, a miss or an assertion disagreement."""

    kind: str  # "false_positive" | "miss" | "assertion"
    note_id: str
    label: str
    start: int
    end: int
    #: for "assertion": the flag, gold and predicted values
    flag: str | None = None
    gold: bool | None = None
    predicted: bool | None = None
    #: for a miss: the predicted span of another label or partial overlap, if any
    near: tuple[int, int, str] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "note_id": self.note_id,
            "label": self.label,
            "start": self.start,
            "end": self.end,
        }
        if self.kind == "assertion":
            out.update(flag=self.flag, gold=self.gold, predicted=self.predicted)
        return out


@dataclass
class GoldScores:
    """Everything ``eval --gold`` reports."""

    notes: int = 0
    labels: dict[str, dict[str, Counts]] = field(default_factory=dict)
    assertion: dict[str, Counts] = field(default_factory=dict)
    attributes: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    errors: list[ErrorItem] = field(default_factory=list)
    problems: list[GoldProblem] = field(default_factory=list)
    failed_notes: list[str] = field(default_factory=list)

    def total(self, match: str) -> Counts:
        """Micro-average over every label."""
        c = Counts()
        for per in self.labels.values():
            c.tp += per[match].tp
            c.n_pred += per[match].n_pred
            c.n_gold += per[match].n_gold
        return c

    def to_json(self) -> dict[str, Any]:
        return {
            "notes": self.notes,
            "labels": {
                label: {
                    "n_gold": per["exact"].n_gold,
                    "n_pred": per["exact"].n_pred,
                    "exact": per["exact"].to_json(),
                    "overlap": per["overlap"].to_json(),
                }
                for label, per in sorted(self.labels.items())
            },
            "all": {
                "exact": self.total("exact").to_json(),
                "overlap": self.total("overlap").to_json(),
            },
            "assertion": {flag: c.to_json() for flag, c in self.assertion.items()},
            "attributes": [
                {
                    "label": label,
                    "key": key,
                    "found": found,
                    "n": n,
                    "recall": round(found / n, 4) if n else 0.0,
                }
                for (label, key), (found, n) in sorted(self.attributes.items())
            ],
            "errors": [e.to_json() for e in self.errors],
            "problems": [str(p) for p in self.problems],
            "failed_notes": list(self.failed_notes),
        }


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def match(
    gold: Sequence[GoldMention], pred: Sequence[Mapping[str, Any]]
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """One-to-one (gold index, predicted index) pairs of one label: exact, then overlap."""
    used_g: set[int] = set()
    used_p: set[int] = set()
    exact: list[tuple[int, int]] = []
    by_span: dict[tuple[int, int], list[int]] = {}
    for j, p in enumerate(pred):
        by_span.setdefault((p["start"], p["end"]), []).append(j)
    for i, g in enumerate(gold):
        for j in by_span.get((g.start, g.end), []):
            if j not in used_p:
                exact.append((i, j))
                used_g.add(i)
                used_p.add(j)
                break
    candidates = sorted(
        (
            (-_overlap((g.start, g.end), (p["start"], p["end"])), i, j)
            for i, g in enumerate(gold)
            if i not in used_g
            for j, p in enumerate(pred)
            if j not in used_p and _overlap((g.start, g.end), (p["start"], p["end"])) > 0
        )
    )
    partial: list[tuple[int, int]] = []
    for _neg, i, j in candidates:
        if i in used_g or j in used_p:
            continue
        partial.append((i, j))
        used_g.add(i)
        used_p.add(j)
    return exact, partial


def _norm(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"{float(value):g}"
    return " ".join(str(value).casefold().split())


def attribute_matches(gold: Any, pred: Any) -> bool:
    """Whether a predicted attribute value carries the gold one.

    A dict gold value matches when every one of its keys matches in a predicted dict; a
    scalar gold value matches an equal scalar or any of a predicted dict's ``text``,
    ``code``, ``value``, ``display`` or "value unit" (case and spacing ignored, numbers
    compared as numbers).
    """
    if pred is None:
        return False
    if isinstance(gold, dict):
        return isinstance(pred, dict) and all(
            attribute_matches(v, pred.get(k)) for k, v in gold.items() if k != "parts"
        )
    if isinstance(gold, list):
        return isinstance(pred, list) and sorted(map(_norm, gold)) == sorted(map(_norm, pred))
    if isinstance(pred, dict):
        forms = [pred.get(k) for k in ("text", "code", "value", "display")]
        if pred.get("value") is not None and pred.get("unit"):
            forms.append(f"{_norm(pred['value'])} {pred['unit']}")
        return any(f is not None and _norm(f) == _norm(gold) for f in forms)
    try:
        return float(gold) == float(pred)
    except (TypeError, ValueError):
        return _norm(gold) == _norm(pred)


def score(
    gold_notes: Sequence[GoldNote],
    predicted: Mapping[str, Sequence[Mapping[str, Any]]],
    problems: Sequence[GoldProblem] = (),
) -> GoldScores:
    """Score every gold note against its predicted mentions."""
    out = GoldScores(notes=len(gold_notes), problems=list(problems))
    annotated = {f for n in gold_notes for m in n.mentions for f in m.annotated}
    out.assertion = {f: Counts() for f in ASSERTION_FLAGS if f in annotated}
    for note in gold_notes:
        preds = list(predicted.get(note.note_id, ()))
        note_labels = sorted({m.label for m in note.mentions} | {p["label"] for p in preds})
        for label in note_labels:
            g = [m for m in note.mentions if m.label == label]
            p = [x for x in preds if x["label"] == label]
            exact, partial = match(g, p)
            per = out.labels.setdefault(label, {"exact": Counts(), "overlap": Counts()})
            for key, pairs in (("exact", exact), ("overlap", exact + partial)):
                per[key].tp += len(pairs)
                per[key].n_pred += len(p)
                per[key].n_gold += len(g)
            matched_g = {i: j for i, j in exact + partial}
            matched_p = set(matched_g.values())
            for j, x in enumerate(p):
                if j not in matched_p:
                    out.errors.append(
                        ErrorItem("false_positive", note.note_id, label, x["start"], x["end"])
                    )
            for i, gm in enumerate(g):
                j_or_none = matched_g.get(i)
                if j_or_none is None:
                    near = next(
                        (
                            (x["start"], x["end"], x["label"])
                            for x in preds
                            if _overlap((gm.start, gm.end), (x["start"], x["end"])) > 0
                        ),
                        None,
                    )
                    out.errors.append(
                        ErrorItem("miss", note.note_id, label, gm.start, gm.end, near=near)
                    )
                x = p[j_or_none] if j_or_none is not None else None
                for key, value in gm.attributes.items():
                    cell = out.attributes.setdefault((label, key), [0, 0])
                    cell[1] += 1
                    if x is not None and attribute_matches(
                        value, (x.get("attributes") or {}).get(key)
                    ):
                        cell[0] += 1
                if x is None:
                    continue
                for flag, c in out.assertion.items():
                    if flag not in gm.annotated:
                        continue
                    gv, pv = flag in gm.flags, bool(x.get(flag))
                    c.tp += gv and pv
                    c.n_pred += pv
                    c.n_gold += gv
                    if gv != pv:
                        out.errors.append(
                            ErrorItem(
                                "assertion",
                                note.note_id,
                                label,
                                gm.start,
                                gm.end,
                                flag=flag,
                                gold=gv,
                                predicted=pv,
                            )
                        )
    return out

"""Review round trip: pre-annotations out (Label Studio tasks, brat standoff), reviewed
annotations back in as gold JSONL (the ``eval --gold`` input).

Label Studio: one task per note, ``data`` = ``{"text", "note_id"}``; the pipeline's mentions
are ``predictions`` (a ``labels`` region per mention, and a per-region ``choices`` result
with its assertion flags under the same region id). ``labelstudio_config`` is the labelling
interface that matches. On import the latest submitted (not cancelled) annotation of each
task becomes gold; tasks nobody annotated are skipped with a line saying so.

brat: ``<id>.txt`` and ``<id>.ann`` per note (``T`` lines for mentions, one binary ``A`` line
per assertion flag) and an ``annotation.conf``; ``read_gold`` reads such a directory back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pipelines.gold import GoldNote, GoldProblem
from pipelines.view_html import ViewNote, flags_of
from schemas.model import ASSERTION_FLAGS

LS_LABELS = "label"
LS_ASSERTION = "assertion"
LS_TEXT = "text"
BRAT_FLAG_NAMES = {f: f.capitalize() for f in ASSERTION_FLAGS}


def labelstudio_config(labels: Iterable[str]) -> str:
    """Label Studio labelling config: the text, our labels, per-region assertion choices."""
    label_tags = "\n".join(f'    <Label value="{lab}"/>' for lab in sorted(labels))
    choices = "\n".join(f'    <Choice value="{f}"/>' for f in ASSERTION_FLAGS)
    return (
        "<View>\n"
        f'  <Labels name="{LS_LABELS}" toName="{LS_TEXT}">\n{label_tags}\n  </Labels>\n'
        f'  <Text name="{LS_TEXT}" value="$text"/>\n'
        f'  <Choices name="{LS_ASSERTION}" toName="{LS_TEXT}" perRegion="true" '
        f'choice="multiple" showInline="true">\n{choices}\n  </Choices>\n'
        "</View>\n"
    )


def labelstudio_tasks(notes: Sequence[ViewNote], model_version: str) -> list[dict[str, Any]]:
    """Label Studio import tasks with the mentions as predictions."""
    tasks = []
    for note in notes:
        result: list[dict[str, Any]] = []
        for i, m in enumerate(note.mentions):
            region = f"m{i}"
            value = {
                "start": m["start"],
                "end": m["end"],
                "text": note.text[m["start"] : m["end"]],
            }
            result.append(
                {
                    "id": region,
                    "from_name": LS_LABELS,
                    "to_name": LS_TEXT,
                    "type": "labels",
                    "value": {**value, "labels": [m["label"]]},
                }
            )
            flags = flags_of(m)
            if flags:
                result.append(
                    {
                        "id": region,
                        "from_name": LS_ASSERTION,
                        "to_name": LS_TEXT,
                        "type": "choices",
                        "value": {**value, "choices": flags},
                    }
                )
        tasks.append(
            {
                "data": {"text": note.text, "note_id": note.note_id},
                "predictions": [{"model_version": model_version, "result": result}],
            }
        )
    return tasks


def _safe_name(note_id: str, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]", "_", note_id).strip(".") or "note"
    name, k = base, 1
    while name in used:
        k += 1
        name = f"{base}_{k}"
    used.add(name)
    return name


def write_brat(notes: Sequence[ViewNote], out_dir: Path) -> dict[str, str]:
    """Write ``<id>.txt``/``.ann`` per note and ``annotation.conf``; note id -> file stem."""
    out_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    names: dict[str, str] = {}
    labels: set[str] = set()
    for note in notes:
        stem = _safe_name(note.note_id, used)
        names[note.note_id] = stem
        lines = []
        attr = 0
        for i, m in enumerate(note.mentions, start=1):
            labels.add(m["label"])
            span = note.text[m["start"] : m["end"]].replace("\r", " ").replace("\n", " ")
            lines.append(f"T{i}\t{m['label']} {m['start']} {m['end']}\t{span}")
            for f in flags_of(m):
                attr += 1
                lines.append(f"A{attr}\t{BRAT_FLAG_NAMES[f]} T{i}")
        with (out_dir / f"{stem}.txt").open("w", encoding="utf-8", newline="") as fh:
            fh.write(note.text)
        (out_dir / f"{stem}.ann").write_text(
            "".join(line + "\n" for line in lines), encoding="utf-8"
        )
    conf = (
        "[entities]\n"
        + "".join(f"{lab}\n" for lab in sorted(labels))
        + "\n[relations]\n\n[events]\n\n[attributes]\n"
        + "".join(f"{name}\tArg:<ENTITY>\n" for name in BRAT_FLAG_NAMES.values())
    )
    (out_dir / "annotation.conf").write_text(conf, encoding="utf-8")
    return names


def gold_records(notes: Iterable[GoldNote]) -> list[dict[str, Any]]:
    """Gold notes as ``eval --gold`` JSONL records (every flag written, true or false)."""
    return [
        {
            "id": n.note_id,
            "text": n.text,
            "mentions": [
                {
                    "start": m.start,
                    "end": m.end,
                    "label": m.label,
                    "text": n.text[m.start : m.end],
                    **{f: f in m.flags for f in ASSERTION_FLAGS if f in m.annotated},
                    **({"attributes": m.attributes} if m.attributes else {}),
                }
                for m in n.mentions
            ],
        }
        for n in notes
    ]


def _latest_annotation(task: dict[str, Any]) -> dict[str, Any] | None:
    done = [
        a
        for a in task.get("annotations") or ()
        if isinstance(a, dict) and not a.get("was_cancelled")
    ]
    if not done:
        return None
    return max(enumerate(done), key=lambda ia: (str(ia[1].get("updated_at") or ""), ia[0]))[1]


def read_labelstudio(path: Path) -> tuple[list[dict[str, Any]], list[GoldProblem]]:
    """Gold JSONL records from a Label Studio JSON export, and the problems found."""
    problems: list[GoldProblem] = []
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [], [
            GoldProblem(path.name, f"not a Label Studio JSON export ({type(exc).__name__})")
        ]
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        return [], [GoldProblem(path.name, "not a Label Studio JSON export (expected a list)")]
    records = []
    for k, task in enumerate(tasks, start=1):
        where = f"{path.name} task {k}"
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get(LS_TEXT), str):
            problems.append(GoldProblem(where, "no data.text; skipped"))
            continue
        text = data[LS_TEXT]
        note_id = str(data.get("note_id") or data.get("id") or task.get("id") or k)
        annotation = _latest_annotation(task)
        if annotation is None:
            problems.append(
                GoldProblem(where, f"note {note_id} has no submitted annotation; skipped")
            )
            continue
        spans: dict[str, dict[str, Any]] = {}
        flags: dict[str, set[str]] = {}
        for r in annotation.get("result") or ():
            if not isinstance(r, dict) or not isinstance(r.get("value"), dict):
                continue
            value, rid = r["value"], str(r.get("id"))
            if r.get("type") == "labels" and value.get("labels"):
                if "start" not in value or "end" not in value:
                    problems.append(GoldProblem(where, f"region {rid} has no offsets; skipped"))
                    continue
                spans[rid] = {
                    "start": value["start"],
                    "end": value["end"],
                    "label": value["labels"][0],
                    "text": value.get("text"),
                }
            elif r.get("type") == "choices" and r.get("from_name") == LS_ASSERTION:
                flags.setdefault(rid, set()).update(value.get("choices") or ())
        mentions = []
        for rid, span in spans.items():
            if span["text"] is None:
                del span["text"]
            mentions.append({**span, **{f: f in flags.get(rid, set()) for f in ASSERTION_FLAGS}})
        mentions.sort(key=lambda m: (m["start"], m["end"], m["label"]))
        records.append({"id": note_id, "text": text, "mentions": mentions})
    return records, problems

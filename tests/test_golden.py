"""Golden files: synthetic notes through the stages nlp -> map, diffed against reviewed output.

Regenerate with ``pytest tests/test_golden.py --update-golden`` and review the diff.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from extractors.nlp import extract
from schemas.fhir import map_note
from schemas.model import Note

DATA = Path(__file__).parent / "data"
CASES = sorted(p.stem for p in (DATA / "notes").glob("*.txt"))


def _stable(obj):
    """Drop values that legitimately change between versions (pipeline version, run ids)."""
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in obj.items() if k not in {"pipeline_version", "run_id"}}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


@pytest.mark.parametrize("case", CASES)
def test_golden(case, nlp, request):
    text = (DATA / "notes" / f"{case}.txt").read_text(encoding="utf-8")
    note = Note(
        note_id=case,
        text=text,
        patient_ref="golden-patient",
        encounter_ref="golden-encounter",
        authored_at=datetime(2025, 3, 14, 9, 30, tzinfo=UTC),
        note_type="progress_note",
    )
    [(_, mentions)] = list(extract(nlp, [(note, [])]))
    assert isinstance(mentions, tuple), mentions
    got_mentions = [_stable(m.to_contract()) for m in mentions]
    got_fhir = [_stable(r) for r in map_note(note, mentions)]
    for m in got_mentions:
        assert text[m["start"] : m["end"]] == m["text"]
    folder = DATA / "golden" / case
    files = {
        "mentions.jsonl": "".join(json.dumps(m, sort_keys=True) + "\n" for m in got_mentions),
        "fhir.ndjson": "".join(json.dumps(r, sort_keys=True) + "\n" for r in got_fhir),
    }
    if request.config.getoption("--update-golden"):
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (folder / name).write_text(content, encoding="utf-8")
        return
    for name, content in files.items():
        expected = (folder / name).read_text(encoding="utf-8")
        assert content.splitlines() == expected.splitlines(), (
            f"{case}/{name} differs from the golden file; review and run pytest --update-golden"
        )

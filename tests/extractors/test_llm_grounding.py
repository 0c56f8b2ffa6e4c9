"""Grounding, chunking, tasks and the AI label: pure functions, no server."""

from __future__ import annotations

from itertools import pairwise

import pytest

from extractors.llm.chunking import chunk_text
from extractors.llm.client import parse_json_answer
from extractors.llm.grounding import ground
from extractors.llm.tasks import TaskError, load_task, task_from_dict
from schemas.ai import AI_SECURITY_CODE, TAG_MODEL
from schemas.fhir import map_note
from schemas.model import Mention, Note, Provenance

TEXT = "Pain in the left knee. No knee swelling.\nPlan: knee  X-ray if the pain persists."


@pytest.mark.parametrize(
    ("answer", "context", "expected", "status"),
    [
        ("left knee", None, (12, 21), "exact"),
        ("LEFT KNEE", None, (12, 21), "normalized"),
        ("knee x-ray", None, (TEXT.index("knee  X"), TEXT.index("X-ray") + 5), "normalized"),
        (
            "knee swelling",
            None,
            (TEXT.index("knee swelling"), TEXT.index(" swelling") + 9),
            "exact",
        ),
        ("kne swelling", None, (TEXT.index("knee swelling"), TEXT.index(" swelling") + 9), "fuzzy"),
        # "pain" twice: the context quote picks the second
        ("pain", "if the pain persists", (TEXT.rindex("pain"), TEXT.rindex("pain") + 4), "exact"),
        ("PAIN", None, (0, 4), "normalized"),
    ],
)
def test_ground(answer: str, context: str | None, expected: tuple[int, int], status: str) -> None:
    g = ground(answer, TEXT, context=context)
    assert g is not None and (g.start, g.end) == expected and g.status == status


def test_ungrounded_answers_get_no_offsets() -> None:
    assert ground("pulmonary embolism", TEXT) is None
    assert ground("   ", TEXT) is None
    # only inside the chunk it came from
    assert ground("Pain", TEXT, start=10, end=30) is None


def test_taken_occurrences_and_word_edges() -> None:
    text = "knee pain; painful knee; knee pain again"
    first = ground("knee pain", text)
    assert first is not None and first.start == 0
    second = ground("knee pain", text, taken={(first.start, first.end)})
    assert second is not None and second.start == text.rindex("knee pain")
    g = ground("pain", "painful. pain")
    assert g is not None and g.start == 9  # a whole word beats the inside of "painful"


def test_chunks_cover_the_text_on_boundaries_with_overlap() -> None:
    text = "".join(f"SECTION {i}:\nSentence one of {i}. Sentence two of {i}.\n" for i in range(40))
    chunks = chunk_text(text, 300, 60)
    assert len(chunks) > 5
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    for a, b in pairwise(chunks):
        assert b.start <= a.end  # no gap
        assert b.start > a.start
        assert text[a.end - 1] in ".\n " or text[a.end :].startswith("SECTION")
    for c in chunks:
        assert len(c.text) <= 300 and text[c.start : c.end] == c.text
    assert chunk_text("short", 300, 60)[0].text == "short"
    assert chunk_text("", 300, 60) == []


def test_reply_parsing_tolerates_servers_that_ignore_response_format() -> None:
    assert parse_json_answer('{"mentions": []}') == {"mentions": []}
    assert parse_json_answer('```json\n{"mentions": []}\n```') == {"mentions": []}
    assert parse_json_answer('Here you go: {"mentions": []} Hope it helps') == {"mentions": []}
    assert parse_json_answer("[1, 2]") is None
    assert parse_json_answer("nothing") is None


def test_tasks_as_data() -> None:
    task = load_task("default")
    assert task.mode == "extract" and task.labels == {"PROBLEM", "MEDICATION", "PROCEDURE"}
    assert task.tag == "default@1"
    changed = task_from_dict({**_raw(task), "prompt": task.prompt + " Be brief."})
    assert changed.digest() != task.digest()  # a prompt edit changes the cache key
    with pytest.raises(TaskError, match="mode"):
        task_from_dict({**_raw(task), "mode": "summarise"})
    with pytest.raises(TaskError, match="no built-in"):
        load_task("nope")
    assert load_task("adjudicate").mode == "adjudicate"


def _raw(task: object) -> dict:
    t = task  # type: ignore[assignment]
    return {
        "name": t.name,
        "version": t.version,
        "mode": t.mode,
        "prompt": t.prompt,  # type: ignore[attr-defined]
        "schema": dict(t.schema),
        "labels": sorted(t.labels),
    }  # type: ignore[attr-defined]


def test_llm_resources_carry_the_ai_security_label_and_model() -> None:
    note = Note(note_id="n1", text="Chest pain.")

    def mention(extractor: str, attributes: dict) -> Mention:
        return Mention(
            mention_id=f"m-{extractor}",
            note_id="n1",
            start_char=0,
            end_char=10,
            text="Chest pain",
            label="PROBLEM",
            attributes=attributes,
            provenance=Provenance(extractor=extractor, extractor_version=1, pipeline_version="0"),
        )

    resources = map_note(
        note,
        [
            mention("llm", {"llm_model": "qwen2.5-7b", "grounding": "exact"}),
            mention("dictionary", {}),
        ],
    )
    llm, rules = resources[1], resources[2]
    assert {"system": TAG_MODEL, "code": "qwen2.5-7b"} in llm["meta"]["tag"]
    assert [s["code"] for s in llm["meta"]["security"]] == [AI_SECURITY_CODE]
    assert "security" not in rules.get("meta", {})

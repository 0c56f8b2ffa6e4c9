"""The llm extractor against a real chat-completions server on loopback (scripted replies)."""

from __future__ import annotations

import json
import os
import stat
from typing import Any

import pytest
import spacy

from extractors.extensions import register_extensions
from extractors.llm.cache import LlmCache
from extractors.llm.client import LlmConfigError
from extractors.llm.extractor import LlmExtractor, LlmOptions
from extractors.nlp import extract
from extractors.settings import ExtractionError, NlpSettings
from schemas.model import Note
from tests.extractors.llm_server import ChatServer, completion, mentions_reply, user_text

NOTE = (
    "HPI: 64 year old man with chest pain since this morning. Denies fever.\n"
    "PMH: Type 2 diabetes. Mother had breast cancer.\n"
    "MEDICATIONS: metformin 500 mg twice daily.\n"
)

GOOD = mentions_reply(
    {"text": "chest pain", "label": "PROBLEM", "context": "man with chest pain since"},
    {"text": "fever", "label": "PROBLEM", "negated": True, "context": "Denies fever."},
    {"text": "type 2  diabetes", "label": "PROBLEM", "historical": True},
    {"text": "Breast Cancer", "label": "PROBLEM", "family": True},
    {"text": "metformin", "label": "MEDICATION"},
)


def _nlp(server: ChatServer, tmp_path: Any, **options: Any) -> spacy.language.Language:
    """A small pipeline: sentences, then the llm components (no ConText)."""
    register_extensions()
    nlp = spacy.blank("en")
    nlp.add_pipe("ns_sentences")
    opts = {
        "model": "test-model",
        "base_url": server.base_url,
        "cache_dir": str(tmp_path / "llm"),
        "backoff_s": 0.01,
        "timeout_s": 2.0,
        **options,
    }
    LlmExtractor().add_pipes(nlp, opts)
    LlmExtractor().add_final_pipes(nlp, opts)
    return nlp


def _run(nlp: Any, *texts: str, run_id: str = "run-1") -> list[Any]:
    notes = [(Note(note_id=f"n{i}", text=t), ()) for i, t in enumerate(texts)]
    return [outcome for _, outcome in extract(nlp, notes, run_id=run_id)]


def test_good_reply_is_grounded_to_exact_offsets_with_flags(tmp_path: Any) -> None:
    with ChatServer(lambda body: GOOD) as server:
        (mentions,) = _run(_nlp(server, tmp_path), NOTE)
        body = server.requests[0]
    assert user_text(body) == NOTE  # the chunk goes verbatim
    assert body["temperature"] == 0 and body["seed"] == 0 and body["model"] == "test-model"
    assert body["response_format"] == {"type": "json_object"}
    by_text = {m.text: m for m in mentions}
    assert set(by_text) == {"chest pain", "fever", "Type 2 diabetes", "breast cancer", "metformin"}
    for m in mentions:
        assert NOTE[m.start_char : m.end_char] == m.text
        assert m.provenance.extractor == "llm" and m.provenance.rule_id == "default@1"
        assert m.attributes["llm_model"] == "test-model"
    assert by_text["chest pain"].attributes["grounding"] == "exact"
    assert by_text["Type 2 diabetes"].attributes["grounding"] == "normalized"
    assert by_text["fever"].assertion.is_negated
    assert by_text["Type 2 diabetes"].assertion.is_historical
    assert by_text["breast cancer"].assertion.is_family
    assert by_text["metformin"].label == "MEDICATION"


def test_partial_and_ungroundable_answers_are_counted_never_invented(tmp_path: Any) -> None:
    reply = mentions_reply(
        {"text": "chest pain", "label": "PROBLEM"},
        {"text": "pulmonary embolism", "label": "PROBLEM"},  # not in the note
        {"text": "metformin", "label": "DEVICE"},  # a label the task does not allow
    )
    # partial: one item lacks its flags
    body = json.loads(reply[2]["choices"][0]["message"]["content"])
    body["mentions"].append({"text": "fever", "label": "PROBLEM"})
    partial = (200, {}, completion(json.dumps(body)), 0.0)
    with ChatServer(lambda _: partial) as server:
        (mentions,) = _run(_nlp(server, tmp_path), NOTE)
    assert [m.text for m in mentions] == ["chest pain"]
    cache = LlmCache(tmp_path / "llm")
    usage = cache.usage("run-1")
    assert usage["grounded"] == 1 and usage["ungrounded"] == 1 and usage["invalid"] == 2
    assert cache.warnings("run-1") == [("n0", "invalid", 2), ("n0", "ungrounded", 1)]


def test_malformed_json_gets_one_repair_retry(tmp_path: Any) -> None:
    replies = iter(
        [
            (200, {}, completion("Sure! Here are the mentions: [chest pain"), 0.0),
            (200, {}, completion('```json\n{"mentions": []}\n```'), 0.0),
        ]
    )
    with ChatServer(lambda _: next(replies)) as server:
        (mentions,) = _run(_nlp(server, tmp_path), NOTE)
        assert len(server.requests) == 2
        assert server.requests[1]["messages"][-1]["role"] == "user"
    assert mentions == ()


def test_malformed_twice_is_a_dead_letter_and_the_next_note_goes_on(tmp_path: Any) -> None:
    def responder(body: dict[str, Any]) -> Any:
        if "BROKEN" in user_text(body):
            return 200, {}, completion("not json at all"), 0.0
        return mentions_reply({"text": "chest pain", "label": "PROBLEM"})

    with ChatServer(responder) as server:
        bad, good = _run(_nlp(server, tmp_path), "BROKEN note with chest pain.", NOTE)
        broken = [r for r in server.requests if "BROKEN" in user_text(r)]
    assert isinstance(bad, ExtractionError) and bad.stage == "llm"  # type: ignore[attr-defined]
    assert "malformed" in str(bad) and "chest" not in str(bad)
    assert len(broken) == 2  # the repair retry only: the one-by-one re-run asks no more
    assert [m.text for m in good] == ["chest pain"]


def test_429_with_retry_after_is_retried(tmp_path: Any) -> None:
    replies = iter([(429, {"Retry-After": "0"}, {"error": "rate"}, 0.0), GOOD])
    with ChatServer(lambda _: next(replies)) as server:
        (mentions,) = _run(_nlp(server, tmp_path), NOTE)
        assert len(server.requests) == 2
    assert len(mentions) == 5


def test_slow_server_times_out_then_dead_letter(tmp_path: Any) -> None:
    with ChatServer(lambda _: (*GOOD[:3], 1.0)) as server:
        (outcome,) = _run(_nlp(server, tmp_path, timeout_s=0.2, max_retries=1), NOTE)
        assert len(server.requests) == 2
    assert isinstance(outcome, ExtractionError) and "timed out" in str(outcome)


def test_5xx_then_good(tmp_path: Any) -> None:
    replies = iter([(503, {}, "busy", 0.0), (500, {}, "oops", 0.0), GOOD])
    with ChatServer(lambda _: next(replies)) as server:
        (mentions,) = _run(_nlp(server, tmp_path), NOTE)
    assert len(mentions) == 5


def test_cache_makes_no_request_on_rerun_and_is_owner_only(tmp_path: Any) -> None:
    with ChatServer(lambda _: GOOD) as server:
        first = _run(_nlp(server, tmp_path), NOTE, run_id="a")
        second = _run(_nlp(server, tmp_path), NOTE, run_id="b")
        assert len(server.requests) == 1

    def strip(ms: Any) -> list[Any]:
        return [m.model_dump(exclude={"provenance"}) for m in ms[0]]

    assert strip(first) == strip(second) and len(first[0]) == 5
    path = tmp_path / "llm" / "llm-cache.sqlite3"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "llm").st_mode) == 0o700
    cache = LlmCache(tmp_path / "llm")
    assert cache.usage("b")["cache_hits"] == 1 and cache.usage("b")["requests"] == 0
    assert cache.clear() == 1
    with ChatServer(lambda _: GOOD) as server:
        _run(_nlp(server, tmp_path), NOTE, run_id="c")
        assert len(server.requests) == 1  # cleared: asked again


def test_request_cap_stops_further_requests(tmp_path: Any) -> None:
    with ChatServer(lambda _: GOOD) as server:
        outcomes = _run(_nlp(server, tmp_path, max_requests=1), NOTE, NOTE + "More.", NOTE + "X.")
        assert len(server.requests) == 1
    assert len(outcomes[0]) == 5
    assert all(type(o).__name__ == "LlmBudgetExhausted" for o in outcomes[1:])
    assert LlmCache(tmp_path / "llm").usage("run-1")["budget_exhausted"] >= 1


def test_token_budget(tmp_path: Any) -> None:
    with ChatServer(lambda _: GOOD) as server:  # 70 tokens a reply
        outcomes = _run(
            _nlp(server, tmp_path, token_budget=100, max_concurrency=1),
            NOTE,
            "a" + NOTE,
            "b" + NOTE,
        )
        assert len(server.requests) == 2
    assert [type(o).__name__ for o in outcomes][2] == "LlmBudgetExhausted"


def test_remote_endpoint_is_refused_unless_allowed() -> None:
    with pytest.raises(LlmConfigError, match="not loopback"):
        LlmOptions.from_mapping({"model": "m", "base_url": "https://api.example.com/v1"})
    opts = LlmOptions.from_mapping(
        {"model": "m", "base_url": "https://api.example.com/v1", "allow_remote": True}
    )
    assert opts.allow_remote
    for url in ("http://localhost:11434/v1", "http://127.0.0.2:8000/v1", "http://[::1]:8000/v1"):
        LlmOptions.from_mapping({"model": "m", "base_url": url})
    with pytest.raises(LlmConfigError, match="unknown"):
        LlmOptions.from_mapping({"model": "m", "temprature": 1})


def test_long_note_is_chunked_and_merged(tmp_path: Any) -> None:
    text = "".join(f"Visit {i}: stable angina noted. " for i in range(60))

    def responder(body: dict[str, Any]) -> Any:
        chunk = user_text(body)
        count = chunk.count("stable angina")
        return mentions_reply(*[{"text": "stable angina", "label": "PROBLEM"}] * count)

    with ChatServer(responder) as server:
        (mentions,) = _run(_nlp(server, tmp_path, max_chunk_chars=400, overlap_chars=80), text)
        assert len(server.requests) > 3
    assert len(mentions) == 60  # each occurrence once, overlaps merged
    assert all(text[m.start_char : m.end_char] == "stable angina" for m in mentions)


def test_redaction_before_sending_keeps_offsets(tmp_path: Any) -> None:
    text = "Seen by Dr. John Smith on 03/04/2025 for chest pain."
    with ChatServer(lambda _: mentions_reply({"text": "chest pain", "label": "PROBLEM"})) as srv:
        (mentions,) = _run(_nlp(srv, tmp_path, redact=True), text)
        sent = user_text(srv.requests[0])
    assert "Smith" not in sent and "03/04/2025" not in sent and len(sent) == len(text)
    assert [(m.start_char, m.text) for m in mentions] == [(text.index("chest"), "chest pain")]


def test_adjudicate_redecides_uncertain_rule_mentions(tmp_path: Any) -> None:
    """Full pipeline: dictionary + ConText flag 'possible pneumonia' uncertain; the model
    decides it is affirmed."""
    text = "Chest X-ray shows possible pneumonia.\n"

    def responder(body: dict[str, Any]) -> Any:
        assert "Findings:" in user_text(body)
        content = {
            "mentions": [
                {
                    "id": 1,
                    "text": "pneumonia",
                    "negated": False,
                    "uncertain": False,
                    "historical": False,
                    "hypothetical": False,
                    "family": False,
                }
            ]
        }
        return 200, {}, completion(json.dumps(content)), 0.0

    from pipelines.resources import get_nlp

    with ChatServer(responder) as server:
        settings = NlpSettings(
            extractors=("dictionary", "llm"),
            options={
                "llm": {
                    "model": "judge",
                    "base_url": server.base_url,
                    "task": "",
                    "adjudicate": True,
                    "cache_dir": str(tmp_path / "llm"),
                }
            },
        )
        nlp = get_nlp(settings)
        assert nlp.pipe_names[-1] == "ns_llm_assertion"
        (mentions,) = _run(nlp, text)
        assert len(server.requests) == 1
    pneumonia = [m for m in mentions if m.text == "pneumonia"]
    assert pneumonia and not pneumonia[0].assertion.is_uncertain
    assert pneumonia[0].attributes["assertion_adjudicated_by"] == "judge"

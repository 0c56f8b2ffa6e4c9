"""The pipeline side of the llm extractor: cache folder, dead letters at stage llm, run
metrics and the budget flag (library functions; the server is the loopback test server)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import spacy

from extractors.extensions import register_extensions
from extractors.llm.extractor import LlmExtractor
from extractors.settings import NlpSettings
from pipelines.batch import BatchContext, extract_batch
from pipelines.config import load_config
from pipelines.llm import budget_spent, run_metrics, with_llm_defaults
from schemas.model import Note
from tests.extractors.llm_server import ChatServer, completion, mentions_reply, user_text


def test_cache_folder_defaults_under_notestruct_home(tmp_path: Any) -> None:
    toml = tmp_path / "p.toml"
    toml.write_text('[nlp]\nextractors = ["llm"]\n[nlp.options.llm]\nmodel = "m"\n')
    cfg = load_config(toml, environ={"NOTESTRUCT_HOME": str(tmp_path / "home")})
    assert cfg.extractor_options["llm"]["cache_dir"] == str(tmp_path / "home" / "llm")
    assert with_llm_defaults({"extractors": ("dictionary",)}) == {"extractors": ("dictionary",)}


def test_dead_letter_at_stage_llm_and_run_metrics(tmp_path: Any) -> None:
    options = {
        "model": "m",
        "cache_dir": str(tmp_path / "llm"),
        "backoff_s": 0.01,
        "max_requests": 3,
        "max_concurrency": 1,
    }

    def responder(body: dict[str, Any]) -> Any:
        if "garbled" in user_text(body):
            return 200, {}, completion("{not json"), 0.0
        return mentions_reply(
            {"text": "cough", "label": "PROBLEM"}, {"text": "wheeze", "label": "PROBLEM"}
        )

    with ChatServer(responder) as server:
        register_extensions()
        nlp = spacy.blank("en")
        nlp.add_pipe("ns_sentences")
        LlmExtractor().add_pipes(nlp, {**options, "base_url": server.base_url})
        ctx = BatchContext(
            run_id="run-x", now=datetime.now(UTC), rules_version="r", pipeline_version="p"
        )
        notes = [
            Note(note_id="a", text="Dry cough."),
            Note(note_id="b", text="garbled"),
            Note(note_id="c", text="Cough again."),
        ]
        extracted, errors = extract_batch(nlp, notes, ctx)
    assert [n.note_id for n, _ in extracted] == ["a"]
    assert [(e.note_id, e.stage, e.error_type) for e in errors] == [
        ("b", "llm", "LlmError"),
        ("c", "llm", "LlmBudgetExhausted"),
    ]
    assert all("cough" not in e.message.lower() for e in errors)  # no note text
    settings = NlpSettings(extractors=("llm",), options={"llm": options})
    metrics = run_metrics(settings, "run-x")["llm"]
    assert metrics["requests"] == 3 and metrics["prompt_tokens"] == 150  # the repair too
    assert metrics["grounded"] == 1 and metrics["ungrounded"] == 1
    assert metrics["budget_exhausted"] is True and metrics["notes_with_warnings"] == 1
    assert budget_spent(settings, "run-x") and not budget_spent(settings, "other-run")
    assert run_metrics(NlpSettings(), "run-x") == {}

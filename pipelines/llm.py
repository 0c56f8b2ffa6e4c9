"""The pipeline side of the ``llm`` extractor: where its cache lives, the run's usage in
``pipeline_run.metrics``, and the run stopping cleanly when the LLM budget is spent."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from extractors.settings import NlpSettings

NAME = "llm"


def llm_home(environ: Mapping[str, str] | None = None) -> Path:
    """``NOTESTRUCT_HOME/llm`` (default ``~/.notestruct/llm``): the reply cache's folder."""
    env = os.environ if environ is None else environ
    home = env.get("NOTESTRUCT_HOME") or str(Path.home() / ".notestruct")
    return Path(home).expanduser() / "llm"


def with_llm_defaults(
    raw: dict[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The flattened config with the llm extractor's cache folder filled in (when it runs
    and its options name none): the extractors layer never reads the environment."""
    if NAME not in tuple(raw.get("extractors", ())):
        return raw
    options = {k: dict(v) for k, v in dict(raw.get("extractor_options") or {}).items()}
    llm = options.setdefault(NAME, {})
    llm.setdefault("cache_dir", str(llm_home(environ)))
    return {**raw, "extractor_options": options}


def _cache(settings: NlpSettings) -> Any:
    if NAME not in settings.extractors:
        return None
    folder = dict(settings.options.get(NAME, {})).get("cache_dir")
    if not folder:
        return None
    from extractors.llm.cache import LlmCache

    return LlmCache(folder)


def run_metrics(settings: NlpSettings, run_id: str) -> dict[str, Any]:
    """``{"llm": {...}}`` for ``pipeline_run.metrics``: requests, tokens, cache hits,
    grounded / ungrounded / invalid answers, notes with warnings, whether the budget ran
    out; ``{}`` when the llm extractor does not run. Counts only, no text."""
    cache = _cache(settings)
    if cache is None:
        return {}
    try:
        usage: dict[str, Any] = dict(cache.usage(run_id))
        usage["notes_with_warnings"] = len({n for n, _, _ in cache.warnings(run_id)})
    finally:
        cache.close()
    usage["budget_exhausted"] = bool(usage["budget_exhausted"])
    return {"llm": usage}


def budget_spent(settings: NlpSettings, run_id: str) -> bool:
    """Whether the run's LLM token budget or request cap has stopped a request."""
    cache = _cache(settings)
    if cache is None:
        return False
    try:
        return bool(cache.usage(run_id)["budget_exhausted"])
    finally:
        cache.close()

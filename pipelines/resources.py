"""The one sanctioned process-level cache: the spaCy pipeline, built once per worker process."""

from __future__ import annotations

import gc
import hashlib
import importlib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from functools import lru_cache
from types import ModuleType
from typing import TYPE_CHECKING

from extractors.settings import NlpSettings
from pipelines.config import vocab_limit

if TYPE_CHECKING:
    from spacy.language import Language


def settings_key(settings: NlpSettings) -> str:
    """A stable hash of the NLP settings (a field at its empty default is left out, so adding
    an optional setting does not change the key, and the rules version, of existing setups)."""
    return hashlib.sha256(json.dumps(_payload(settings), sort_keys=True).encode()).hexdigest()


def _payload(settings: NlpSettings) -> dict[str, object]:
    data = asdict(settings)
    if not data.get("coders"):
        data.pop("coders", None)
    return json.loads(json.dumps(data, default=str))  # type: ignore[no-any-return]


#: A made-up text run once through a new pipeline, so components that load their data on
#: first use (dictionaries, matchers) have loaded it before the pipeline is frozen.
_WARM_UP_TEXT = "HISTORY: Chest pain. No fever.\nMEDICATIONS: aspirin 81 mg PO daily.\n"


@contextmanager
def _collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def import_frozen(name: str) -> ModuleType:
    """``importlib.import_module(name)`` with the garbage collector paused, and what the
    import made then frozen (out of every later collection's walk).

    Importing spaCy, medspaCy, SQLAlchemy or the FHIR models allocates a few hundred thousand
    objects that live as long as the modules; the collections their allocation triggers
    walk them again and again for almost nothing (full collections that found 0 dead
    objects in 0.03-0.06 s each, 0.1-0.2 s of a one-note ``ingest``). About 1,400 dead objects
    of the imports stay frozen with them (a renewal of the pipeline collects them). What
    died before is collected first (the young generations: milliseconds).
    """
    module = sys.modules.get(name)
    if module is not None:
        return module
    gc.collect(1)
    with _collector_paused():
        module = importlib.import_module(name)
        gc.freeze()
    return module


@lru_cache(maxsize=4)
def _build(key: str, payload: str) -> Language:
    # The collector is also paused while the pipeline is built: the build allocates about
    # 150,000 objects that stay alive, and the collections their allocation triggered (with
    # those of the imports, 0.26-0.42 s of a one-note ``extract``, two full collections
    # among them) kept walking them for the few thousand dead ones; the one collection after
    # the build (``_freeze_heap``) finds those (0.01-0.03 s).
    with _collector_paused():
        # spaCy and medspaCy: only where a pipeline is built
        build_nlp = import_frozen("extractors.nlp").build_nlp
        data = json.loads(payload)
        nlp = build_nlp(
            NlpSettings(
                extractors=tuple(data["extractors"]),
                options=data["options"],
                tokenizer=data["tokenizer"],
                abbreviations=data["abbreviations"],
                coders=tuple(data.get("coders") or ()),
            )
        )
        nlp(_WARM_UP_TEXT)
        _freeze_heap()
    return nlp  # type: ignore[no-any-return]


def _freeze_heap() -> None:
    """Move everything alive now (the pipeline: its tables, rules, dictionaries) out of the
    garbage collector's view.

    The pipeline lives as long as the process and holds a few hundred thousand objects;
    every full collection would walk them all again (about a tenth of a run's time in
    the nightly flow). The young generations are collected first: with the collector paused
    during the build (``_build``), they hold everything the build made, so this one
    collection frees the build's dead objects (about 13,500); a full one would also walk what
    was alive before the build, for the few dozen dead objects there, which stay frozen (a
    few KiB; a renewal collects them).
    """
    gc.collect(1)
    gc.freeze()
    # (Rarer full collections would save a few per cent more but keep spaCy's Docs, which
    # live in reference cycles, alive for longer: +70 MiB peak over 400 notes. Not done.)


def get_nlp(settings: NlpSettings) -> Language:
    """The pipeline for ``settings``, built on first use in this process."""
    payload = json.dumps(_payload(settings), sort_keys=True)
    return _build(settings_key(settings), payload)


def renew_if_grown(settings: NlpSettings, limit: int | None = None) -> bool:
    """Build the pipeline for ``settings`` anew when its vocabulary has grown past ``limit``
    word forms; whether it did.

    spaCy 3.7 keeps every new word form it reads (numbers, ids, dates, misspellings) in the
    pipeline's vocabulary and never lets one go, so a worker that reads millions of notes
    grows without bound (spaCy 3.8's ``memory_zone`` is out of reach: medspaCy needs spaCy
    < 3.8 on Python < 3.12). Building the pipeline anew is spaCy's own advice for
    long-running processes: it costs one build (about 7 s) and returns the memory. Checked
    between batches, so no Doc of the old pipeline is alive. The output does not change: a
    word form's vocabulary entry holds no state a text can change.
    """
    limit = vocab_limit() if limit is None else limit
    if not limit or _build.cache_info().currsize == 0:
        return False
    if len(get_nlp(settings).vocab) <= limit:
        return False
    _build.cache_clear()
    gc.unfreeze()  # the old pipeline was frozen with the heap: let the collector free it
    gc.collect()
    get_nlp(settings)  # builds, warms up and freezes the new one
    return True


def rules_version(settings: NlpSettings) -> str:
    """Version of the rule set: extractor names and versions, rule files, pipeline version."""
    nlp = get_nlp(settings)
    parts = [settings_key(settings)]
    for name, _ in nlp.pipeline:
        parts.append(name)
    meta = nlp.meta.get("notestruct", {})
    parts.append(json.dumps(meta, sort_keys=True, default=str))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def dictionary_version(settings: NlpSettings) -> str | None:
    """Version of the compiled terminology dictionary: a hash of its sources and their
    versions, build code version and tokenizer (None when no dictionary extractor runs)."""
    nlp = get_nlp(settings)
    if "ns_dictionary" not in nlp.pipe_names:
        return None
    meta = dict(getattr(nlp.get_pipe("ns_dictionary"), "meta", {}) or {})
    stable = {
        k: meta.get(k) for k in ("build_version", "concepts_per_source", "entries", "tokenizer")
    }
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()[:16]

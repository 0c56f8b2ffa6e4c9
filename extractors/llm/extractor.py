"""The ``llm`` extractor: spaCy components that ask a chat-completions model for mentions
(``extract`` tasks) or for the assertion of the rules' doubtful mentions (``adjudicate``),
ground every answer to exact offsets, cache replies and keep to the run's budget.
"""

# No ``from __future__ import annotations``: spaCy reads the factories' real annotations.

import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from spacy.language import Language
from spacy.tokens import Doc, Span

from extractors.base import MENTIONS, doc_text
from extractors.extensions import plain_span_value, set_span_values, span_values
from extractors.llm.cache import LlmCache, cache_key
from extractors.llm.chunking import Chunk, chunk_text
from extractors.llm.client import (
    ChatClient,
    ClientSettings,
    LlmBudgetExhausted,
    LlmConfigError,
    LlmError,
    Reply,
    check_endpoint,
    conforms,
)
from extractors.llm.grounding import ground
from extractors.llm.tasks import LlmTask, load_task

log = logging.getLogger(__name__)

NAME = "llm"
#: ``doc.user_data`` key of the run id (set by ``extractors.nlp.make_doc``).
RUN_ID_KEY = "ns_run_id"
#: ``doc.user_data`` key of the note's LLM warnings (``{"ungrounded": n, "invalid": n}``).
WARNINGS_KEY = "ns_llm_warnings"
_FLAGS_KEY = "ns_llm_flags"
#: medspaCy ConText flags an answer decides (the LLM never sets ``is_conditional``).
FLAGS = ("negated", "uncertain", "historical", "hypothetical", "family")


@dataclass(frozen=True)
class LlmOptions:
    """``[nlp.options.llm]``: endpoint, tasks, limits, cache (see docs/llm.md)."""

    model: str = ""
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key_env: str | None = None
    seed: int | None = 0
    timeout_s: float = 60.0
    max_concurrency: int = 4
    max_retries: int = 4
    backoff_s: float = 1.0
    response_format: bool = True
    #: extract task (built-in name or a .json path); "" runs no extraction
    task: str = "default"
    #: re-decide the assertion of the rules' uncertain or conflicting mentions
    adjudicate: bool = False
    adjudicate_task: str = "adjudicate"
    allow_remote: bool = False
    #: mask PHI (same length, so offsets hold) in what is sent
    redact: bool = False
    token_budget: int | None = None
    max_requests: int | None = None
    #: where the reply cache lives (the pipeline fills NOTESTRUCT_HOME/llm); None: no cache
    cache_dir: str | None = None
    max_chunk_chars: int = 6000
    overlap_chars: int = 400
    fuzzy_threshold: float = 0.88

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> "LlmOptions":
        """Options from the config table; unknown keys and a missing model are errors."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise LlmConfigError(f"unknown [nlp.options.llm] option(s): {', '.join(unknown)}")
        opts = cls(**dict(raw))
        if not opts.model:
            raise LlmConfigError("[nlp.options.llm] model is required")
        if opts.max_concurrency < 1 or opts.max_chunk_chars < 200:
            raise LlmConfigError("llm max_concurrency must be >= 1 and max_chunk_chars >= 200")
        check_endpoint(opts.base_url, opts.allow_remote)
        return opts


class LlmExtractor:
    """Problems, medications and procedures from an LLM, grounded to exact offsets."""

    name: ClassVar[str] = NAME
    # 1 (2026-12): first version: default extract task, adjudicate task
    version: ClassVar[int] = 1
    labels: ClassVar[frozenset[str]] = frozenset({"PROBLEM", "MEDICATION", "PROCEDURE"})

    def add_pipes(self, nlp: Language, options: Mapping[str, object]) -> None:
        """Add ``ns_llm`` (extraction, before assertion)."""
        nlp.add_pipe("ns_llm", config={"options": dict(options)})

    def add_final_pipes(self, nlp: Language, options: Mapping[str, object]) -> None:
        """Add ``ns_llm_assertion`` after assertion: the model's flags for its own mentions,
        and adjudication of the rules' doubtful ones."""
        nlp.add_pipe("ns_llm_assertion", config={"options": dict(options)})


@dataclass
class _Job:
    doc_index: int
    chunk: Chunk
    key: str
    system: str
    user: str
    task: LlmTask
    reply: Reply | None = None
    cached: bool = False
    error: LlmError | None = None
    payload: Any = None  # adjudicate: the spans asked about


@dataclass
class _Engine:
    """What both components share: options, task, client, cache."""

    options: LlmOptions
    client: ChatClient
    cache: LlmCache | None
    _failed: dict[tuple[str, str], LlmError] = field(default_factory=dict)

    @classmethod
    def build(cls, raw: Mapping[str, Any]) -> "_Engine":
        opts = LlmOptions.from_mapping(raw)
        client = ChatClient(
            ClientSettings(
                base_url=opts.base_url,
                model=opts.model,
                api_key_env=opts.api_key_env,
                seed=opts.seed,
                timeout_s=opts.timeout_s,
                max_retries=opts.max_retries,
                backoff_s=opts.backoff_s,
                send_response_format=opts.response_format,
            )
        )
        cache = LlmCache(opts.cache_dir) if opts.cache_dir else None
        return cls(opts, client, cache)

    def sendable(self, text: str) -> str:
        if not self.options.redact:
            return text
        from schemas.redaction import redact  # same length: offsets still hold

        return redact(text)

    def key(self, task: LlmTask, user: str) -> str:
        o = self.options
        return cache_key(user, task.digest(), o.model, str(o.seed), o.base_url)

    def run(self, jobs: list[_Job], run_id: str) -> None:
        """Answer every job: from the cache, else by request (``max_concurrency`` at once)."""
        todo = []
        for job in jobs:
            prior = self._failed.get((run_id, job.key))
            if prior is not None:  # the same run retries a failed note one by one: no re-ask
                job.error = prior
                continue
            hit = self.cache.get(job.key) if self.cache else None
            if hit is not None:
                job.reply = Reply(hit.answer, hit.prompt_tokens, hit.completion_tokens, 0)
                job.cached = True
            else:
                todo.append(job)
        if self.cache and len(todo) < len(jobs):
            self.cache.count(run_id, cache_hits=sum(j.cached for j in jobs))
        if not todo:
            return
        workers = min(self.options.max_concurrency, len(todo))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ns-llm") as pool:
            list(pool.map(lambda j: self._ask(j, run_id), todo))

    def _admit(self, run_id: str) -> None:
        """Before each request: count it, or refuse it when the run's budget is spent."""
        o = self.options
        if self.cache is None:
            return
        if not self.cache.reserve(run_id, o.max_requests, o.token_budget):
            used = self.cache.usage(run_id)
            tokens = used["prompt_tokens"] + used["completion_tokens"]
            raise LlmBudgetExhausted(
                f"the run's LLM budget is reached ({used['requests']} requests, {tokens} "
                "tokens); the note is left for the next run"
            )

    def _ask(self, job: _Job, run_id: str) -> None:
        try:
            reply = self.client.complete(
                job.system, job.user, job.task.schema, admit=lambda: self._admit(run_id)
            )
        except LlmBudgetExhausted as exc:
            job.error = exc
            if self.cache:
                self.cache.count(run_id, budget_exhausted=1)
        except LlmError as exc:
            job.error = exc
            self._failed[(run_id, job.key)] = exc
        except Exception as exc:  # a bug must not sink the batch; the type only (no text)
            job.error = LlmError(f"{type(exc).__name__} in the LLM stage")
            self._failed[(run_id, job.key)] = job.error
        else:
            job.reply = reply
            if self.cache:
                self.cache.put(job.key, reply.answer, reply.prompt_tokens, reply.completion_tokens)
        if self.cache:
            spent = (
                (job.reply.prompt_tokens, job.reply.completion_tokens)
                if job.reply
                else job.error.usage
                if job.error
                else (0, 0)
            )
            # requests were counted as they were sent (``_admit``)
            self.cache.count(run_id, prompt_tokens=spent[0], completion_tokens=spent[1])


def _run_id(doc: Doc, fallback: str) -> str:
    return str(doc.user_data.get(RUN_ID_KEY) or fallback)


def _system(task: LlmTask) -> str:
    import json

    return f"{task.prompt}\n\nJSON schema of the answer:\n{json.dumps(task.schema)}"


class LlmComponent:
    """``ns_llm``: extraction. Each note is chunked, each chunk asked (or read from the
    cache), and every answer grounded; ungrounded answers are counted, never added."""

    def __init__(self, engine: _Engine, task: LlmTask | None) -> None:
        self.engine = engine
        self.task = task
        self.version = LlmExtractor.version
        #: run id for calls outside a run (a notebook): budget and counts per pipeline
        self.session = str(uuid.uuid4())

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs: Iterable[Doc], batch_size: int = 8) -> Iterator[Doc]:
        batch: list[Doc] = []
        for doc in docs:
            batch.append(doc)
            if len(batch) >= batch_size:
                yield from self._batch(batch)
                batch = []
        if batch:
            yield from self._batch(batch)

    def _batch(self, docs: list[Doc]) -> list[Doc]:
        if self.task is None:
            return docs
        engine, task = self.engine, self.task
        o = engine.options
        system = _system(task)
        by_run: dict[str, list[_Job]] = {}
        for i, doc in enumerate(docs):
            for chunk in chunk_text(doc_text(doc), o.max_chunk_chars, o.overlap_chars):
                user = engine.sendable(chunk.text)
                job = _Job(i, chunk, engine.key(task, user), system, user, task)
                by_run.setdefault(_run_id(doc, self.session), []).append(job)
        for run_id, jobs in by_run.items():
            engine.run(jobs, run_id)
        for jobs in by_run.values():
            for job in jobs:
                if job.error is not None:  # the note's dead letter (stage llm)
                    raise job.error
        for i, doc in enumerate(docs):
            jobs = [j for js in by_run.values() for j in js if j.doc_index == i]
            self._add_spans(doc, jobs)
        return docs

    def _add_spans(self, doc: Doc, jobs: list[_Job]) -> None:
        engine, task = self.engine, self.task
        assert task is not None
        o = engine.options
        text = doc_text(doc)
        sent_text = engine.sendable(text)  # what the model saw: ground there (same length)
        seen: set[tuple[int, int, str]] = set()
        spans = list(doc.spans[MENTIONS]) if MENTIONS in doc.spans else []
        counts = {"grounded": 0, "ungrounded": 0, "invalid": 0}
        item_schema = task.schema.get("properties", {}).get("mentions", {}).get("items", {})
        for job in jobs:
            assert job.reply is not None
            items = job.reply.answer.get("mentions")
            taken: set[tuple[int, int]] = set()
            for item in items if isinstance(items, list) else []:
                if not isinstance(item, dict) or not conforms(item, item_schema):
                    counts["invalid"] += 1
                    continue
                label = str(item.get("label", "")).upper()
                if label not in task.labels:
                    counts["invalid"] += 1
                    continue
                hit = ground(
                    str(item["text"]),
                    sent_text,
                    job.chunk.start,
                    job.chunk.end,
                    context=item.get("context") if isinstance(item.get("context"), str) else None,
                    taken=taken,
                    threshold=o.fuzzy_threshold,
                )
                if hit is None:
                    counts["ungrounded"] += 1
                    continue
                taken.add((hit.start, hit.end))
                if (hit.start, hit.end, label) in seen:  # the overlap of two chunks
                    continue
                seen.add((hit.start, hit.end, label))
                aligned = doc.char_span(hit.start, hit.end, alignment_mode="expand")
                if aligned is None or not len(aligned):
                    counts["ungrounded"] += 1
                    continue
                span = Span(doc, aligned.start, aligned.end, label=label, span_id=NAME)
                set_span_values(
                    span,
                    {
                        "extractor": NAME,
                        "extractor_version": self.version,
                        "rule_id": task.tag,
                        "char_bounds": (hit.start, hit.end),
                        "codes": [],
                        "attributes": {
                            "grounding": hit.status,
                            "grounding_score": hit.score,
                            "llm_model": o.model,
                            "llm_task": task.tag,
                        },
                    },
                )
                doc.user_data[(_FLAGS_KEY, span.start_char, span.end_char, label)] = {
                    f: item.get(f) is True for f in FLAGS
                }
                spans.append(span)
                counts["grounded"] += 1
        doc.spans[MENTIONS] = spans
        doc.user_data[WARNINGS_KEY] = {k: v for k, v in counts.items() if k != "grounded"}
        if engine.cache:
            run_id = _run_id(doc, self.session)
            engine.cache.count(run_id, **counts)
            note_id = str(getattr(doc._, "note_id", None) or "")
            for kind in ("ungrounded", "invalid"):
                if counts[kind] and note_id:
                    engine.cache.warn(run_id, note_id, kind, counts[kind])
        if counts["ungrounded"]:
            log.info("LLM: %d answer(s) of a note could not be grounded", counts["ungrounded"])


class LlmAssertion:
    """``ns_llm_assertion`` (after ConText and the refiner): the model's flags for its own
    mentions (unless a rule mention has the same tokens: the flags are shared by offsets,
    and the rules' stand), then, with ``adjudicate``, the model's decision for rule mentions
    flagged uncertain or on which two extractors disagree about negation."""

    def __init__(self, engine: _Engine, task: LlmTask | None) -> None:
        self.engine = engine
        self.task = task
        self.session = str(uuid.uuid4())

    def __call__(self, doc: Doc) -> Doc:
        if MENTIONS not in doc.spans:
            return doc
        spans = list(doc.spans[MENTIONS])
        data = doc.user_data
        rule_bounds = {
            (s.start_char, s.end_char) for s in spans if span_values(s)["extractor"] != NAME
        }
        for span in spans:
            flags = data.get((_FLAGS_KEY, span.start_char, span.end_char, span.label_))
            if flags is None or (span.start_char, span.end_char) in rule_bounds:
                continue
            for name in FLAGS:
                data[("._.", f"is_{name}", span.start_char, span.end_char)] = flags[name]
        if self.task is not None:
            self._adjudicate(doc, [s for s in spans if span_values(s)["extractor"] != NAME])
        return doc

    def _adjudicate(self, doc: Doc, spans: list[Span]) -> None:
        assert self.task is not None
        doubtful = _doubtful(spans)
        if not doubtful:
            return
        text = doc_text(doc)
        groups: dict[tuple[int, int], list[Span]] = {}
        for span in doubtful:
            sent = span.sent if span.doc.has_annotation("SENT_START") else span
            groups.setdefault((sent.start_char, sent.end_char), []).append(span)
        system = _system(self.task)
        jobs = []
        for (start, end), members in sorted(groups.items()):
            chunk = Chunk(start, end, text[start:end])
            listing = "\n".join(
                f"{i}. {text[s.start_char : s.end_char]}" for i, s in enumerate(members, 1)
            )
            user = (
                f"{self.engine.sendable(chunk.text)}\n\nFindings:\n{self.engine.sendable(listing)}"
            )
            job = _Job(0, chunk, self.engine.key(self.task, user), system, user, self.task)
            job.payload = members
            jobs.append(job)
        run_id = _run_id(doc, self.session)
        self.engine.run(jobs, run_id)
        for job in jobs:
            if job.error is not None:
                raise job.error
        data = doc.user_data
        decided = 0
        for job in jobs:
            assert job.reply is not None
            members = job.payload
            items = job.reply.answer.get("mentions")
            for item in items if isinstance(items, list) else []:
                idx = item.get("id") if isinstance(item, dict) else None
                if not isinstance(idx, int) or not 1 <= idx <= len(members):
                    continue
                span = members[idx - 1]
                for name in FLAGS:
                    if isinstance(item.get(name), bool):
                        data[("._.", f"is_{name}", span.start_char, span.end_char)] = item[name]
                values = span_values(span)
                attrs = dict(values["attributes"] or {})
                attrs["assertion_adjudicated_by"] = f"{self.engine.options.model}"
                set_span_values(span, {"attributes": attrs})
                decided += 1
        if self.engine.cache:
            self.engine.cache.count(run_id, adjudicated=decided)
        log.info("LLM: adjudicated %d of %d doubtful mention(s)", decided, len(doubtful))


def _doubtful(spans: list[Span]) -> list[Span]:
    """Rule mentions flagged uncertain, or overlapping ones whose negation differs."""
    out: dict[tuple[int, int, str], Span] = {}
    for span in spans:
        if plain_span_value(span, "is_uncertain", False):
            out[(span.start_char, span.end_char, span.label_)] = span
    ordered = sorted(spans, key=lambda s: (s.start_char, s.end_char))
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b.start_char >= a.end_char:
                break
            if plain_span_value(a, "is_negated", False) != plain_span_value(b, "is_negated", False):
                out[(a.start_char, a.end_char, a.label_)] = a
                out[(b.start_char, b.end_char, b.label_)] = b
    return sorted(out.values(), key=lambda s: (s.start_char, s.end_char))


@Language.factory("ns_llm", default_config={"options": {}})
def make_llm_component(nlp: Language, name: str, options: dict[str, Any]) -> LlmComponent:
    """The LLM extraction component (``[nlp.options.llm]``)."""
    engine = _Engine.build(options)
    task_name = engine.options.task
    task = load_task(task_name) if task_name else None
    if task is not None and task.mode != "extract":
        raise LlmConfigError(f"llm task {task_name!r} is not an extract task")
    return LlmComponent(engine, task)


@Language.factory("ns_llm_assertion", default_config={"options": {}})
def make_llm_assertion(nlp: Language, name: str, options: dict[str, Any]) -> LlmAssertion:
    """Applies the model's flags to its mentions; adjudicates the rules' doubtful ones."""
    # one engine (client, cache, failure memo) for both components when ns_llm runs too
    extraction = nlp.get_pipe("ns_llm") if "ns_llm" in nlp.pipe_names else None
    engine = extraction.engine if isinstance(extraction, LlmComponent) else _Engine.build(options)
    task = None
    if engine.options.adjudicate:
        task = load_task(engine.options.adjudicate_task)
        if task.mode != "adjudicate":
            raise LlmConfigError("llm adjudicate_task must be an adjudicate task")
    return LlmAssertion(engine, task)

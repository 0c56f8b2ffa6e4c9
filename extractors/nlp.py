"""Builds the spaCy ``Language`` and runs notes through it, isolating per-note failures."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from importlib import resources
from typing import Any

import medspacy  # noqa: F401  registers medspacy_sectionizer and medspacy_context
import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span

import extractors.dictionary
import extractors.sections
import extractors.sentences  # noqa: F401  registers ns_sentences
from extractors.assertion import VERSION as ASSERTION_VERSION
from extractors.assertion import add_assertion_pipes
from extractors.base import MENTIONS, seed_doc_text
from extractors.coding import add_coding_stage, coding_stage
from extractors.extensions import register_extensions
from extractors.registry import select_extractors
from extractors.sentences import LETTER_PERIOD, letter_ends_sentence
from extractors.settings import (  # noqa: F401  DEFAULT_EXTRACTORS re-exported
    DEFAULT_EXTRACTORS,
    ExtractionError,
    NlpSettings,
    pipeline_version,
)
from extractors.spans import doc_to_mentions
from schemas.model import Mention, Note

# Version history of how a note's text becomes tokens (beyond the tokenizer's own rules):
# 1 (2026-12): a capital letter and its period that end a sentence after a word that takes a
#              letter are a letter and a full stop ("hepatitis C.", "vitamin D."), not an
#              initial ("J. Doe") nor an organism ("C. Difficile"); the sentence ends there.
TOKENS_VERSION = 1

#: ``doc.user_data`` key of the run id (``extractors.llm.extractor.RUN_ID_KEY``).
RUN_ID_KEY = "ns_run_id"
#: Extractor name (and span id) of spans given by the caller.
GIVEN = "input"


def build_nlp(settings: NlpSettings | None = None) -> Language:
    """Build the default clinical pipeline: tokenizer, sentences, sections, extractors, ConText."""
    settings = settings or NlpSettings()
    register_extensions()
    if settings.tokenizer == "scispacy":
        # built in place of spaCy's default tokenizer, not after it (0.06 s a build)
        spacy.registry.tokenizers.register(_SCISPACY_TOKENIZER, func=_scispacy_tokenizer)
        config = {"nlp": {"tokenizer": {"@tokenizers": _SCISPACY_TOKENIZER}}}
        nlp = spacy.blank("en", config=config)
    else:
        nlp = spacy.blank("en")
    nlp.add_pipe("ns_sentences")
    if settings.abbreviations:
        import extractors.abbreviations  # noqa: F401  registers "ns_abbreviation_detector"

        # scispaCy's AbbreviationDetector with a faster (equivalent) parenthesis scan
        nlp.add_pipe("ns_abbreviation_detector", name="abbreviation_detector")
    # medspaCy's sectionizer with our rules (rules/sections/sections.json); headers must start
    # a line. Section defaults are applied by ns_assertion, after ConText, on the mentions.
    nlp.add_pipe("ns_sections")
    selected = select_extractors(list(settings.extractors))
    for extractor in selected:
        extractor.add_pipes(nlp, dict(settings.options.get(extractor.name, {})))
    add_assertion_pipes(nlp)
    for extractor in selected:  # optional hook: components that read the assertion (llm)
        final = getattr(extractor, "add_final_pipes", None)
        if final is not None:
            final(nlp, dict(settings.options.get(extractor.name, {})))
    stage = add_coding_stage(nlp, settings.coders, settings.options)
    nlp.meta["notestruct"] = {
        "pipeline_version": pipeline_version(),
        # each extractor's own VERSION (bumped with a change of its code): part of the rules
        # version, so ``reprocess`` finds the notes an older extractor read
        "extractors": {e.name: int(e.version) for e in selected},
        # the assertion stage's code version likewise (its rules are in rules_sha256)
        "assertion": ASSERTION_VERSION,
        "tokens": TOKENS_VERSION,
        "rules_sha256": rules_digest(),
    }
    if stage is not None:
        nlp.meta["notestruct"]["coders"] = stage.versions
    return nlp


_SCISPACY_TOKENIZER = "notestruct.scispacy_tokenizer.v1"


def _scispacy_tokenizer() -> Callable[[Language], Any]:
    """spaCy's tokenizer entry for scispaCy's ``combined_rule_tokenizer`` with the word-slash
    split (``split_word_slashes``): the tokenizer ``nlp.tokenizer = combined_rule_tokenizer(nlp)``
    then ``split_word_slashes(nlp.tokenizer)`` give, made in one go (identical tokens, norms
    and shapes on every MTSamples note).

    Each of those steps loads spaCy's 1,300-odd tokenizer exceptions (setting a tokenizer's
    infix pattern loads them again, as exceptions depend on the affix patterns), and spaCy's
    default English tokenizer, only to be thrown away, a third time: 0.1-0.15 s a build.
    Here scispaCy's function runs on its own exceptions only (its 20 abbreviations), and the
    tokenizer is made once from its patterns, the word-slash infix and all exceptions.
    """

    def make(nlp: Language) -> Any:
        import re
        from types import SimpleNamespace

        from scispacy.custom_tokenizer import combined_rule_tokenizer
        from spacy.tokenizer import Tokenizer

        # everything scispaCy reads of ``nlp``: the vocab, the exceptions it adds its own to
        # and the token_match of the tokenizer it replaces (the language's)
        bare = SimpleNamespace(
            vocab=nlp.vocab,
            Defaults=SimpleNamespace(tokenizer_exceptions={}),
            tokenizer=SimpleNamespace(token_match=nlp.Defaults.token_match),
        )
        sci = combined_rule_tokenizer(bare)
        infix = sci.infix_finditer.__self__.pattern
        return Tokenizer(
            nlp.vocab,
            {**nlp.Defaults.tokenizer_exceptions, **sci.rules},  # scispaCy's win, as there
            prefix_search=sci.prefix_search,
            suffix_search=sci.suffix_search,
            infix_finditer=re.compile(f"{infix}|{WORD_SLASH_INFIX}").finditer,
            token_match=sci.token_match,
            url_match=sci.url_match,
        )

    return make


#: Words after a slash that make "x/y" a rate or ratio ("beats/min", "hours/day"), kept whole.
_PER_WORDS = (
    "min|mins|minute|minutes|hr|hrs|hour|hours|day|days|wk|wks|week|weeks|month|months|year|"
    "years|dose|doses|kg|mol|mmol|cycle|cycles|breath|breaths|beat|beats|meal|meals|session|"
    "sessions|night|nights|time|times|visit|visits"
)
#: A slash between two words of three letters or more: "nausea/vomiting", "HTN/HLD",
#: "atelectasis/scarring", "hydrocodone/acetaminophen". Shorter sides keep their token
#: ("s/p", "w/o", "N/V", "and/or", "mg/kg"), and so do rates ("breaths/min").
WORD_SLASH_INFIX = rf"(?<=[A-Za-z]{{3}})/(?=[A-Za-z]{{3}})(?!(?:{_PER_WORDS})\b)"


def split_word_slashes(tokenizer: Any) -> None:
    """Split "word/word" into three tokens, so each word can be a term of its own.

    scispaCy's tokenizer keeps "scarring/atelectasis" as one token, and no term matches it:
    both findings were lost. The pattern becomes part of the tokenizer's infix pattern, so
    the compiled dictionary (keyed by that pattern) is rebuilt with the same split.
    """
    import re

    pattern = tokenizer.infix_finditer.__self__.pattern
    tokenizer.infix_finditer = re.compile(f"{pattern}|{WORD_SLASH_INFIX}").finditer


def rules_digest() -> str:
    """SHA-256 over every rule file shipped in ``extractors/rules`` (changes with any edit)."""
    digest = hashlib.sha256()
    root = resources.files("extractors") / "rules"
    stack = [root]
    files = []
    while stack:
        node = stack.pop()
        for child in node.iterdir():
            if child.is_dir():
                stack.append(child)
            elif child.is_file():
                files.append(child)
    for f in sorted(files, key=lambda t: str(t)):
        digest.update(str(f).rsplit("rules", 1)[-1].encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()


def make_doc(
    nlp: Language,
    note: Note,
    given_spans: Sequence[Mapping[str, Any]] = (),
    run_id: str | None = None,
) -> Doc:
    """Tokenise ``note`` and seed ``doc.spans["mentions"]`` with caller-given spans.

    Given spans keep their exact character offsets (``span._.char_bounds``) even when they
    do not fall on token boundaries; the token span is expanded to cover them.
    """
    doc = split_final_letters(nlp.make_doc(note.text), note.text)
    seed_doc_text(doc, note.text)
    doc._.note_id = note.note_id
    if run_id is not None:  # components that keep per-run state (llm budget) read it
        doc.user_data[RUN_ID_KEY] = run_id
    seeded: list[Span] = []
    for given in given_spans:
        start, end, label = int(given["start"]), int(given["end"]), str(given["label"])
        if not 0 <= start <= end <= len(note.text):
            raise ExtractionError(f"given span {start}-{end} is outside the note")
        aligned = doc.char_span(start, end, alignment_mode="expand")
        if aligned is None or len(aligned) == 0:
            raise ExtractionError(f"given span {start}-{end} covers no token")
        # a distinct span_id keeps its extension values apart from an extractor's span
        # with the same offsets and label (spaCy keys Span._ values by those fields)
        span = Span(doc, aligned.start, aligned.end, label=label, span_id=GIVEN)
        span._.extractor = GIVEN
        span._.extractor_version = 0
        span._.rule_id = GIVEN
        span._.char_bounds = (start, end)
        span._.codes = []
        span._.attributes = {}
        seeded.append(span)
    doc.spans[MENTIONS] = seeded
    return doc


def split_final_letters(doc: Doc, text: str | None = None) -> Doc:
    """Split "C." into "C" and "." where a capital letter after a word ends a sentence: the
    tokenizer keeps a capital with its period as an initial ("J. Doe"), so "He has hepatitis
    C." matched only "hepatitis" and the sentence ran on into the next."""
    if text is None:
        text = doc.text  # built from the tokens: the caller passes the note's text when it has it
    starts = [
        m.start(1) for m in LETTER_PERIOD.finditer(text) if letter_ends_sentence(text, m.end(1))
    ]
    if not starts:
        return doc
    tokens = [doc.char_span(i, i + 2) for i in starts]
    with doc.retokenize() as retokenizer:
        for span in tokens:
            if span is not None and len(span) == 1:
                token = span[0]
                retokenizer.split(token, [token.text[0], "."], heads=[token, token])
    return doc


def extract(
    nlp: Language,
    notes: Iterable[tuple[Note, Sequence[Mapping[str, Any]]]],
    *,
    run_id: str | None = None,
    batch_size: int = 8,
) -> Iterator[tuple[Note, tuple[Mention, ...] | ExtractionError]]:
    """Run notes through ``nlp``; yield each note with its mentions or its error, in order.

    A failing note does not sink its batch: the batch is re-run note by note.
    """
    version_ = pipeline_version()
    batch: list[tuple[Note, Sequence[Mapping[str, Any]]]] = []
    for item in notes:
        batch.append(item)
        if len(batch) >= batch_size:
            yield from _run_batch(nlp, batch, version_, run_id)
            batch = []
    if batch:
        yield from _run_batch(nlp, batch, version_, run_id)


def _run_batch(
    nlp: Language,
    batch: list[tuple[Note, Sequence[Mapping[str, Any]]]],
    version_: str,
    run_id: str | None,
) -> Iterator[tuple[Note, tuple[Mention, ...] | ExtractionError]]:
    try:
        docs = [make_doc(nlp, note, spans, run_id) for note, spans in batch]
        results = [
            _mentions(nlp, doc, note, version_, run_id)
            for doc, (note, _) in zip(nlp.pipe(docs), batch, strict=True)
        ]
    except Exception:  # isolate the failing note by re-running one at a time
        for note, spans in batch:
            yield note, _run_one(nlp, note, spans, version_, run_id)
        return
    for (note, _), mentions in zip(batch, results, strict=True):
        yield note, mentions


def _run_one(
    nlp: Language,
    note: Note,
    spans: Sequence[Mapping[str, Any]],
    version_: str,
    run_id: str | None,
) -> tuple[Mention, ...] | ExtractionError:
    try:
        doc = nlp(make_doc(nlp, note, spans, run_id))
        return _mentions(nlp, doc, note, version_, run_id)
    except ExtractionError as exc:
        return exc
    except Exception as exc:  # report the type only: messages may quote note text
        return ExtractionError(f"{type(exc).__name__} in the NLP stage")


def _mentions(
    nlp: Language, doc: Doc, note: Note, version_: str, run_id: str | None
) -> tuple[Mention, ...]:
    """The Doc's mentions as records, then the code step (configured coders), if any."""
    mentions = doc_to_mentions(doc, note, version_, run_id)
    stage = coding_stage(nlp)
    return stage.apply(mentions) if stage is not None else mentions

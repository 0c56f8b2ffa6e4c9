"""Dictionary extractor: terminology phrases -> PROBLEM, MEDICATION and PROCEDURE spans."""


import json
from collections.abc import Mapping
from importlib import resources
from typing import Any, ClassVar

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from extractors.base import MENTIONS

# Version history:
# 1 (2026-11): curated phrase rules from rules/dictionary/targets.json.
VERSION = 1


def _load_rules() -> list[dict[str, Any]]:
    path = resources.files("extractors") / "rules" / "dictionary" / "targets.json"
    return list(json.loads(path.read_text(encoding="utf-8")))


class DictionaryMatcher:
    """Matches curated phrases case-insensitively and adds coded spans."""

    def __init__(self, nlp: Language, name: str) -> None:
        self.name = name
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.rules: dict[str, dict[str, Any]] = {}
        for rule in _load_rules():
            rid = rule["rule_id"]
            self.rules[rid] = rule
            terms = [rule["literal"], *rule.get("synonyms", [])]
            self.matcher.add(rid, list(nlp.tokenizer.pipe(terms)))

    def __call__(self, doc: Doc) -> Doc:
        found: list[Span] = []
        for match_id, start, end in self.matcher(doc):
            rule = self.rules[doc.vocab.strings[match_id]]
            found.append(Span(doc, start, end, label=rule["category"], kb_id=match_id))
        out = list(doc.spans[MENTIONS]) if MENTIONS in doc.spans else []
        for span in filter_spans(found):
            rule = self.rules[span.kb_id_]
            span._.extractor = DictionaryExtractor.name
            span._.extractor_version = VERSION
            span._.rule_id = span.kb_id_
            span._.codes = list(rule.get("codes", []))
            span._.attributes = {}
            out.append(span)
        doc.spans[MENTIONS] = out
        return doc


@Language.factory("ns_dictionary")
def make_dictionary_matcher(nlp: Language, name: str) -> DictionaryMatcher:
    """spaCy factory for :class:`DictionaryMatcher`."""
    return DictionaryMatcher(nlp, name)


class DictionaryExtractor:
    """Problems, medications and procedures from the terminology dictionary."""

    name: ClassVar[str] = "dictionary"
    version: ClassVar[int] = VERSION
    labels: ClassVar[frozenset[str]] = frozenset({"PROBLEM", "MEDICATION", "PROCEDURE"})

    def add_pipes(self, nlp: Language, options: Mapping[str, object]) -> None:
        """Add ``ns_dictionary``."""
        nlp.add_pipe("ns_dictionary")

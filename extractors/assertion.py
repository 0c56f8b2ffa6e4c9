"""Assertion: medspaCy ConText over the mention group, then section-aware refinement."""


from spacy.language import Language
from spacy.tokens import Doc

from extractors.base import MENTIONS

# Version history:
# 1 (2026-11): medspaCy default ConText rules; section defaults for family and past history.
VERSION = 1

#: Section categories (medspaCy names) whose mentions default to an assertion flag.
SECTION_DEFAULTS: dict[str, str] = {
    "family_history": "is_family",
    "past_medical_history": "is_historical",
    "past_surgical_history": "is_historical",
}


class AssertionRefiner:
    """Applies section defaults after ConText (ConText decides inside sentences only)."""

    def __init__(self, nlp: Language, name: str) -> None:
        self.name = name

    def __call__(self, doc: Doc) -> Doc:
        if MENTIONS not in doc.spans:
            return doc
        for span in doc.spans[MENTIONS]:
            category = span._.section_category
            flag = SECTION_DEFAULTS.get(category or "")
            if flag:
                setattr(span._, flag, True)
        return doc


@Language.factory("ns_assertion")
def make_assertion_refiner(nlp: Language, name: str) -> AssertionRefiner:
    """spaCy factory for :class:`AssertionRefiner`."""
    return AssertionRefiner(nlp, name)


def add_assertion_pipes(nlp: Language) -> None:
    """Add ConText over ``doc.spans["mentions"]`` and the section refiner."""
    nlp.add_pipe(
        "medspacy_context",
        config={"input_span_type": "group", "span_group_name": MENTIONS},
    )
    nlp.add_pipe("ns_assertion")

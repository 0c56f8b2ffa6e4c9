"""Registry checks for the built-in extractors: entry points load, protocol, names, labels."""

import spacy

from extractors.base import Extractor
from extractors.nlp import DEFAULT_EXTRACTORS
from extractors.registry import available_extractors, describe_extractors
from schemas.model import LABELS

STRUCTURED = ("medications", "labs", "vitals", "allergies")


def test_structured_extractors_are_registered() -> None:
    classes = available_extractors()
    for name in STRUCTURED:
        cls = classes[name]
        assert isinstance(cls(), Extractor)
        assert cls.name == name
        assert isinstance(cls.version, int) and cls.version >= 1
        assert cls.labels <= LABELS


def test_default_pipeline_order() -> None:
    # medications after the dictionary (it reads its MEDICATION spans), allergies last
    # (it takes over allergen spans from the medications extractor)
    assert DEFAULT_EXTRACTORS[0] == "dictionary"
    order = [DEFAULT_EXTRACTORS.index(n) for n in STRUCTURED]
    assert order == sorted(order)


def test_describe_extractors() -> None:
    rows = {row["name"]: row for row in describe_extractors()}
    for name in STRUCTURED:
        row = rows[name]
        assert row["module"] == f"extractors.{name}"
        assert row["distribution"] == "notestruct"
        assert row["version"] == available_extractors()[name].version
        assert row["labels"] == sorted(available_extractors()[name].labels)
    assert [r["name"] for r in describe_extractors()] == sorted(rows)


def test_factories_resolve_through_spacy_entry_points() -> None:
    # a notebook can add our components by name, without importing our modules first
    nlp = spacy.blank("en")
    from extractors.extensions import register_extensions

    register_extensions()
    for name in STRUCTURED:
        nlp.add_pipe(f"ns_{name}")
    doc = nlp("BP 120/80, K 4.1. Aspirin 81 mg daily. NKDA.")
    labels = sorted(s.label_ for s in doc.spans["mentions"])
    assert labels == ["ALLERGY", "LAB", "MEDICATION", "VITAL"]

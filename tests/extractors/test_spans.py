"""doc_to_mentions reads span attributes through fast paths; they must agree with ``span._``."""

from extractors.base import MENTIONS
from extractors.extensions import SPAN_ATTRS, plain_span_value, span_values
from extractors.nlp import make_doc
from extractors.spans import CONTEXT_FLAGS, doc_to_mentions
from schemas.ids import mention_id
from schemas.model import Mention, Note

TEXT = (
    "PAST MEDICAL HISTORY: Hypertension.\n\n"
    "HISTORY OF PRESENT ILLNESS: Denies chest pain. Possible pneumonia.\n\n"
    "FAMILY HISTORY: Mother had a myocardial infarction.\n"
)


def _doc(nlp):
    note = Note(note_id="fast", text=TEXT)
    doc = make_doc(nlp, note, [{"start": 71, "end": 81, "label": "PROBLEM"}])
    for _, proc in nlp.pipeline:
        doc = proc(doc)
    return note, doc


def test_fast_paths_agree_with_underscore(nlp):
    _, doc = _doc(nlp)
    spans = list(doc.spans[MENTIONS])
    assert len(spans) >= 4
    for span in spans:
        values = span_values(span)
        for name in SPAN_ATTRS:
            assert values[name] == getattr(span._, name), name
        for flag in CONTEXT_FLAGS:
            assert plain_span_value(span, flag, False) == bool(getattr(span._, flag)), flag


def test_constructed_mentions_are_valid_records(nlp):
    note, doc = _doc(nlp)
    mentions = doc_to_mentions(doc, note, "test")
    assert mentions
    by_text = {m.text.lower(): m for m in mentions}
    assert by_text["chest pain"].assertion.is_negated
    assert by_text["chest pain"].section == "history_of_present_illness"
    for m in mentions:
        # model_construct skips validation: re-validate every record to prove it is sound
        assert Mention.model_validate(m.model_dump()) == m


def test_fast_constructor_matches_model_construct(nlp):
    note, doc = _doc(nlp)
    for m in doc_to_mentions(doc, note, "test"):
        values = {name: getattr(m, name) for name in Mention.model_fields}
        ref = Mention.model_construct(**values)
        assert m == ref
        assert m.__dict__ == ref.__dict__ and list(m.__dict__) == list(ref.__dict__)
        assert m.model_fields_set == ref.model_fields_set
        assert m.__pydantic_extra__ == ref.__pydantic_extra__
        assert m.__pydantic_private__ == ref.__pydantic_private__
        for record in (m.assertion, m.provenance, *m.codings):
            ref = type(record).model_construct(**record.__dict__)
            assert record.__dict__ == ref.__dict__ and list(record.__dict__) == list(ref.__dict__)
            assert record.model_fields_set == ref.model_fields_set
        assert m.mention_id == mention_id(
            note.note_id, m.start_char, m.end_char, m.label, m.provenance.extractor
        )


def test_mentions_survive_the_wire_format_unchanged(nlp):
    import pickle

    from schemas.model import Coding
    from schemas.wire import mentions_from_wire, mentions_to_wire

    note, doc = _doc(nlp)
    mentions = doc_to_mentions(doc, note, "test")
    # a validated record (fields set by pydantic) and attributes travel the same way
    extra = Mention.model_validate(
        {
            **mentions[0].model_dump(),
            "attributes": {"dose": 5, "unit": "mg", "list": [1, 2]},
            "codings": [Coding(system="s", code="c", display=None, score=0.5, coder="x")],
        }
    )
    sent = (*mentions, extra)
    back = mentions_from_wire(pickle.loads(pickle.dumps(mentions_to_wire(sent))))
    assert back == sent
    for a, b in zip(back, sent, strict=True):
        assert a.__dict__ == b.__dict__ and list(a.__dict__) == list(b.__dict__)
        assert a.model_dump() == b.model_dump()
        assert Mention.model_validate(a.model_dump()) == b

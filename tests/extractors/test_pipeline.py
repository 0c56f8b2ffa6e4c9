"""The default pipeline end to end on synthetic sentences: offsets, given spans, empty notes."""

from extractors.nlp import ExtractionError, extract
from schemas.model import Note


def _run(nlp, text, spans=()):
    [(note, result)] = list(extract(nlp, [(Note(note_id="t", text=text), list(spans))]))
    return note, result


def test_offsets_match_text(nlp):
    note, mentions = _run(nlp, "Patient with COPD and HTN. Denies chest pain.")
    assert mentions, "expected mentions"
    for m in mentions:
        assert note.text[m.start_char : m.end_char] == m.text


def test_negation_and_codes(nlp):
    _, mentions = _run(nlp, "Patient with hypertension. Denies chest pain.")
    by_text = {m.text.lower(): m for m in mentions}
    assert not by_text["hypertension"].assertion.is_negated
    assert by_text["chest pain"].assertion.is_negated
    assert any(c.system == "http://snomed.info/sct" for c in by_text["hypertension"].codings)


def test_given_span_keeps_exact_offsets_even_inside_a_token(nlp):
    text = "No evidence of pneumothoraces on the film."
    _, mentions = _run(nlp, text, [{"start": 15, "end": 27, "label": "PROBLEM"}])
    given = [m for m in mentions if m.provenance.extractor == "input"]
    assert len(given) == 1
    assert (given[0].start_char, given[0].end_char, given[0].label) == (15, 27, "PROBLEM")
    assert given[0].assertion.is_negated


def test_empty_note_gives_no_mentions(nlp):
    _, mentions = _run(nlp, "")
    assert mentions == ()


def test_bad_given_span_is_an_error_not_a_crash(nlp):
    _, result = _run(nlp, "short", [{"start": 2, "end": 99, "label": "PROBLEM"}])
    assert isinstance(result, ExtractionError)


def test_one_bad_note_does_not_sink_the_batch(nlp):
    notes = [
        (Note(note_id="a", text="Fever."), []),
        (Note(note_id="b", text="x"), [{"start": 0, "end": 50, "label": "PROBLEM"}]),
        (Note(note_id="c", text="Cough."), []),
    ]
    out = dict((n.note_id, r) for n, r in extract(nlp, notes))
    assert isinstance(out["b"], ExtractionError)
    assert [m.text for m in out["a"]] == ["Fever"]
    assert [m.text for m in out["c"]] == ["Cough"]

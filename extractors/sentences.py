"""Fast clinical sentence splitter (``ns_sentences``): headers, list items, blank lines, periods."""


from spacy.language import Language
from spacy.tokens import Doc

_TERMINAL = frozenset({".", "?", "!", ";"})


class SentenceSplitter:
    """Sets ``is_sent_start``: after terminal punctuation, at blank lines, and after a header colon.

    A single newline inside a sentence (hard-wrapped text) does not split it.
    """

    def __init__(self, nlp: Language, name: str) -> None:
        self.name = name

    def __call__(self, doc: Doc) -> Doc:
        if len(doc) == 0:
            return doc
        doc[0].is_sent_start = True
        split_next = False
        for tok in doc[1:]:
            prev = doc[tok.i - 1]
            start = split_next
            text = prev.text
            if text in _TERMINAL and not tok.is_punct:
                start = True
            elif prev.is_space and text.count("\n") >= 2:
                start = True
            elif "\n" in text and (tok.is_title or tok.is_upper or tok.like_num or tok.text in "-*•"):
                start = True
            tok.is_sent_start = start
            split_next = False
        return doc


@Language.factory("ns_sentences")
def make_sentence_splitter(nlp: Language, name: str) -> SentenceSplitter:
    """spaCy factory for :class:`SentenceSplitter`."""
    return SentenceSplitter(nlp, name)

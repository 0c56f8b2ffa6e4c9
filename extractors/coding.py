"""The code step: the configured coders (entry point group ``notestruct.coders``) add codings
to a note's mentions after extraction.

Coders are named in ``[nlp] coders`` (none by default) with options under
``[nlp.options.<coder>]``; e.g. the bundled ``crosswalk`` coder adds SNOMED CT codes to
mentions coded in ICD-10-CM, HPO, UMLS or DOID. They run once per note on the ``Mention``
records (the data contract), not on the spaCy Doc, so a coder never sees the note text
beyond each mention's own span. The stage is the last component of the pipeline
(``ns_coders``), so building, caching and versioning the pipeline covers it: the coders'
names and versions are part of ``nlp.meta["notestruct"]`` and so of the rules version that
decides which stored notes a reprocess re-runs.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc

from extractors.base import Coder
from extractors.registry import RegistryError, available_coders
from schemas.model import Mention

#: Name of the pipeline component that holds the coders.
CODERS_PIPE = "ns_coders"


class CodingStage:
    """Holds the instantiated coders; ``apply`` runs them over a note's mentions."""

    def __init__(self, coders: Sequence[Coder]) -> None:
        self.coders = tuple(coders)
        #: name -> version of every coder, recorded in the pipeline's meta
        self.versions = {c.name: int(c.version) for c in self.coders}

    def __call__(self, doc: Doc) -> Doc:
        return doc  # the coders work on mentions (``apply``), after ``doc_to_mentions``

    def apply(self, mentions: Sequence[Mention]) -> tuple[Mention, ...]:
        """The mentions with each coder's codings appended (no (system, code) twice); a
        mention no coder adds to is returned as it is."""
        out: list[Mention] = []
        for mention in mentions:
            added = []
            have = {(c.system, c.code) for c in mention.codings}
            for coder in self.coders:
                for coding in coder.code(mention):
                    key = (coding.system, coding.code)
                    if key not in have:
                        have.add(key)
                        added.append(coding)
            out.append(
                mention.model_copy(update={"codings": (*mention.codings, *added)})
                if added
                else mention
            )
        return tuple(out)


def select_coders(names: Sequence[str], options: Mapping[str, Mapping[str, Any]]) -> list[Coder]:
    """Instantiate the named coders in order with their options; unknown names are an error.

    Raises:
        RegistryError: a name no installed coder has.
    """
    classes = available_coders()
    missing = [n for n in names if n not in classes]
    if missing:
        raise RegistryError(
            f"unknown coder(s) {', '.join(missing)}; installed: {', '.join(sorted(classes))}"
        )
    return [classes[n](dict(options.get(n, {}))) for n in names]  # type: ignore[call-arg]


def add_coding_stage(
    nlp: Language, names: Sequence[str], options: Mapping[str, Mapping[str, Any]]
) -> CodingStage | None:
    """Add the ``ns_coders`` component (last) when coders are configured."""
    if not names:
        return None
    config = {"coders": list(names), "options": {n: dict(options.get(n, {})) for n in names}}
    return nlp.add_pipe(CODERS_PIPE, last=True, config=config)  # type: ignore[no-any-return]


@Language.factory(CODERS_PIPE, default_config={"coders": [], "options": {}})
def make_coding_stage(
    nlp: Language, name: str, coders: list[str], options: dict[str, dict[str, Any]]
) -> CodingStage:
    """spaCy factory of the coding stage."""
    return CodingStage(select_coders(coders, options))


def coding_stage(nlp: Language) -> CodingStage | None:
    """The pipeline's coding stage, if coders are configured."""
    if CODERS_PIPE not in nlp.pipe_names:
        return None
    return nlp.get_pipe(CODERS_PIPE)  # type: ignore[return-value]

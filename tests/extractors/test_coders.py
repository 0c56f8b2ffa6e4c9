"""Crosswalk coder: local tables add SNOMED CT codes to ICD-10-CM/HPO/UMLS-coded mentions."""

from pathlib import Path

import pytest

from extractors.base import Coder
from extractors.coders.crosswalk import CrosswalkCoder
from extractors.registry import available_coders
from extractors.terminology import systems
from extractors.terminology.byo import TerminologySourceError
from schemas.model import Coding, Mention, Provenance

DATA = Path(__file__).resolve().parents[1] / "data" / "terminology"


def mention(*codes: tuple[str, str]) -> Mention:
    return Mention(
        mention_id="m1",
        note_id="n1",
        start_char=0,
        end_char=3,
        text="abc",
        label="PROBLEM",
        codings=tuple(Coding(system=s, code=c) for s, c in codes),
        provenance=Provenance(extractor="dictionary", extractor_version=2, pipeline_version="0"),
    )


@pytest.fixture(scope="module")
def coder() -> CrosswalkCoder:
    return CrosswalkCoder(
        {
            "sources": [
                {"kind": "doid", "path": str(DATA / "doid.tsv")},
                {"kind": "umls", "path": str(DATA / "umls")},
                {"kind": "tsv", "path": str(DATA / "crosswalk.tsv")},
            ]
        }
    )


def test_registered_and_protocol() -> None:
    cls = available_coders()["crosswalk"]
    assert cls is CrosswalkCoder
    assert isinstance(CrosswalkCoder({"hpo": False}), Coder)


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([(systems.HPO, "HP:0000822")], "38341003"),  # HPO xref: Hypertension
        ([(systems.ICD10CM, "I10")], "38341003"),  # curated table
        ([(systems.ICD10CM, "Q87.89")], "900000001"),  # DOID xrefs (synthetic)
        ([(systems.UMLS, "C9000001")], "900000001"),  # UMLS: same CUI (synthetic)
        ([(systems.ICD10CM, "R99.9")], "900000099"),  # plain TSV crosswalk
    ],
)
def test_crosswalk_adds_snomed(coder, codes, expected) -> None:
    out = coder.code(mention(*codes))
    assert expected in {c.code for c in out}
    assert all(c.system == systems.SNOMED and c.coder == "crosswalk" for c in out)


def test_no_duplicates_and_no_codes_for_unknown(coder) -> None:
    assert coder.code(mention((systems.SNOMED, "38341003"))) == ()
    already = coder.code(mention((systems.ICD10CM, "I10"), (systems.SNOMED, "38341003")))
    assert "38341003" not in {c.code for c in already}
    assert coder.code(mention((systems.ICD10CM, "ZZZ"))) == ()


def test_missing_source_is_an_error() -> None:
    with pytest.raises(TerminologySourceError):
        CrosswalkCoder({"hpo": False, "sources": [{"kind": "doid", "path": "/nonexistent"}]})

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


def test_configured_coders_run_in_the_pipeline_and_version_it(tmp_path: Path) -> None:
    """``[nlp] coders`` puts the coders into the pipeline: their codings reach the mentions
    and their names and versions the pipeline's meta (so the rules version changes)."""
    from extractors.coding import CODERS_PIPE
    from extractors.nlp import build_nlp, extract
    from extractors.settings import NlpSettings
    from schemas.model import Note

    table = tmp_path / "xw.tsv"
    table.write_text(
        "source_system\tsource_code\ttarget_system\ttarget_code\ttarget_display\n"
        f"{systems.ICD10CM}\tJ18.9\turn:example:local\tPNEU-1\tlocal pneumonia\n",
        encoding="utf-8",
    )
    options = {
        "crosswalk": {
            "hpo": False,
            "curated": False,
            "targets": ["urn:example:local"],
            "sources": [{"kind": "tsv", "path": str(table)}],
        }
    }
    note = Note(note_id="n1", text="Assessment: pneumonia. History of asthma.")
    plain = build_nlp(NlpSettings(extractors=("dictionary",)))
    coded = build_nlp(
        NlpSettings(extractors=("dictionary",), coders=("crosswalk",), options=options)
    )
    assert CODERS_PIPE not in plain.pipe_names and CODERS_PIPE in coded.pipe_names
    assert coded.meta["notestruct"]["coders"] == {"crosswalk": CrosswalkCoder.version}

    def codes(nlp) -> dict[str, set[tuple[str, str, str | None]]]:
        [(_, mentions)] = list(extract(nlp, [(note, [])]))
        return {m.text: {(c.system, c.code, c.coder) for c in m.codings} for m in mentions}

    before, after = codes(plain), codes(coded)
    assert after["pneumonia"] - before["pneumonia"] == {
        ("urn:example:local", "PNEU-1", "crosswalk")
    }
    assert after["asthma"] == before["asthma"]  # nothing in the table for it


def test_an_unknown_coder_is_a_clear_error() -> None:
    from extractors.coding import select_coders
    from extractors.registry import RegistryError

    with pytest.raises(RegistryError, match=r"unknown coder.*no-such-coder"):
        select_coders(["no-such-coder"], {})


def test_pipeline_toml_names_coders_and_their_options(tmp_path: Path) -> None:
    from pipelines.config import load_config

    cfg_file = tmp_path / "pipeline.toml"
    cfg_file.write_text(
        '[nlp]\ncoders = ["crosswalk"]\n[nlp.options.crosswalk]\nhpo = false\n', encoding="utf-8"
    )
    settings = load_config(cfg_file, environ={}).nlp_settings()
    assert settings.coders == ("crosswalk",)
    assert settings.options["crosswalk"] == {"hpo": False}
    assert load_config(None, environ={}).nlp_settings().coders == ()

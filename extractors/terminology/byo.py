"""Bring-your-own terminology loaders: UMLS, RxNorm, LOINC, SNOMED CT RF2, FHIR JSON, DOID.

Each loader reads files from a path the user gives (licensed terminologies cannot ship with
notestruct) and yields :class:`Concept` records. A source is configured as a mapping, e.g.
``{"kind": "umls", "path": "/data/umls/META"}``; see :func:`read_byo_source`.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from extractors.terminology import systems
from extractors.terminology.concepts import Code, Concept, strip_semantic_tag

log = logging.getLogger(__name__)


class TerminologySourceError(Exception):
    """A bring-your-own terminology source is misconfigured or unreadable."""


#: UMLS semantic types (TUI) -> label. Broad types (T033 Finding, T109 Organic Chemical,
#: T059 Laboratory Procedure) are left out: they would flood notes with false matches.
UMLS_TUI_LABELS: dict[str, str] = {
    "T019": "PROBLEM",
    "T020": "PROBLEM",
    "T037": "PROBLEM",
    "T046": "PROBLEM",
    "T047": "PROBLEM",
    "T048": "PROBLEM",
    "T049": "PROBLEM",
    "T190": "PROBLEM",
    "T191": "PROBLEM",
    "T184": "PROBLEM",
    "T121": "MEDICATION",
    "T195": "MEDICATION",
    "T200": "MEDICATION",
    "T125": "MEDICATION",
    "T060": "PROCEDURE",
    "T061": "PROCEDURE",
}

#: SNOMED CT semantic tags -> label (FSN suffix in RF2 and in FHIR displays).
SNOMED_TAG_LABELS: dict[str, str] = {
    "disorder": "PROBLEM",
    "finding": "PROBLEM",
    # no "situation": SNOMED CT files there a finding or procedure with an explicit context
    # ("History of hypertension", "Family history of asthma", "Chest pain not present",
    # "Medication given"); the finding's own term is the mention, and the assertion reads
    # the context from the words around it (historical, family, negated)
    # the form a disease gives a tissue ("Diverticulum", "Adhesion", "Tortuosity", "Scar");
    # surgically made structures and sites filed under the tag are none (``_NOT_A_FINDING``)
    "morphologic abnormality": "PROBLEM",
    "procedure": "PROCEDURE",
    "regime/therapy": "PROCEDURE",
    "medicinal product": "MEDICATION",
    "clinical drug": "MEDICATION",
    "product": "MEDICATION",
}

#: A device among SNOMED CT products (no medication): its name ends with a device noun.
_DEVICE_PRODUCT = re.compile(
    r"\b(?:stent|catheter|implant|device|prosthesis|dressing|pacemaker|syringe)s?$", re.I
)

#: Names filed as morphologic abnormalities that are a structure a surgeon made, a site or
#: a normal variant: no problem of the patient ("Coronary artery graft", "Operative site",
#: "Appendiceal stump", "Surgically constructed ...", "Supernumerary ... tooth").
_NOT_A_FINDING = re.compile(
    r"\b(?:surgically|graft|site|stump|supernumerary|orifice|valve|root|vena cava|foramen|"
    r"shunt|connection|confluence|chamber|pathway|collateral artery|anomalous)\b",
    re.I,
)

#: RxNorm term types worth matching in notes: ingredients, precise ingredients, brands.
RXNORM_TTYS = frozenset({"IN", "PIN", "MIN", "BN"})

_FSN = "900000000000003001"


def _semantic_tag(text: str) -> str | None:
    text = text.rstrip()
    if not text.endswith(")") or "(" not in text:
        return None
    return text[text.rindex("(") + 1 : -1].strip().lower()


def _find(path: Path, name: str) -> Path:
    """``path`` itself if it is a file, else ``name`` below it (searched recursively)."""
    if path.is_file():
        return path
    hits = sorted(path.rglob(name)) if path.is_dir() else []
    if not hits:
        raise TerminologySourceError(f"{name} not found under {path}")
    return hits[0]


def _rrf(path: Path) -> Iterator[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        for line in fh:
            yield line.rstrip("\n").split("|")


def read_umls(path: Path, options: Mapping[str, Any]) -> Iterator[Concept]:
    """UMLS Metathesaurus: MRCONSO.RRF strings, MRSTY.RRF semantic types -> labels.

    Options: ``languages`` (default ["ENG"]), ``tui_labels`` (TUI -> label, default
    :data:`UMLS_TUI_LABELS`), ``sabs`` (only atoms of these sources give strings).
    """
    tui_labels = dict(options.get("tui_labels") or UMLS_TUI_LABELS)
    langs = set(options.get("languages") or ["ENG"])
    sabs = set(options.get("sabs") or [])
    labels: dict[str, str] = {}
    for row in _rrf(_find(path, "MRSTY.RRF")):
        label = tui_labels.get(row[1])
        if label and row[0] not in labels:
            labels[row[0]] = label
    strings: dict[str, list[str]] = defaultdict(list)
    codes: dict[str, list[Code]] = defaultdict(list)
    preferred: dict[str, str] = {}
    for row in _rrf(_find(path, "MRCONSO.RRF")):
        cui, lat, ts, stt, ispref, sab, tty, code, text, suppress = (
            row[0],
            row[1],
            row[2],
            row[4],
            row[6],
            row[11],
            row[12],
            row[13],
            row[14],
            row[16],
        )
        if cui not in labels or lat not in langs or suppress in ("O", "E", "Y"):
            continue
        if sabs and sab not in sabs:
            continue
        if ts == "P" and stt == "PF" and ispref == "Y" and cui not in preferred:
            preferred[cui] = text
        strings[cui].append(text)
        system = systems.UMLS_SAB_SYSTEMS.get(sab)
        if system and (system, code) not in {(c[0], c[1]) for c in codes[cui]}:
            if sab != "RXNORM" or tty in RXNORM_TTYS:
                codes[cui].append((system, code, text))
    for cui, texts in strings.items():
        name = preferred.get(cui, texts[0])
        yield Concept(
            "umls:" + cui,
            labels[cui],
            ((systems.UMLS, cui, name), *codes[cui]),
            tuple(dict.fromkeys(texts)),
            "umls",
            "byo",
        )


def read_umls_crosswalk(path: Path) -> Iterator[list[Code]]:
    """Per CUI, the UMLS code and the source codes (SNOMED CT, ICD-10-CM, RxNorm, ...) of
    its English atoms: codes that share a CUI name one concept."""
    groups: dict[str, list[Code]] = defaultdict(list)
    for row in _rrf(_find(path, "MRCONSO.RRF")):
        cui, lat, sab, code, text, suppress = row[0], row[1], row[11], row[13], row[14], row[16]
        system = systems.UMLS_SAB_SYSTEMS.get(sab)
        if lat != "ENG" or suppress in ("O", "E", "Y") or system is None:
            continue
        if not groups[cui]:
            groups[cui].append((systems.UMLS, cui, text))
        groups[cui].append((system, code, text))
    yield from groups.values()


def read_rxnorm(path: Path, options: Mapping[str, Any]) -> Iterator[Concept]:
    """RxNorm RXNCONSO.RRF: ingredients and brand names (TTY IN/PIN/MIN/BN) -> MEDICATION."""
    ttys = set(options.get("ttys") or RXNORM_TTYS)
    for row in _rrf(_find(path, "RXNCONSO.RRF")):
        rxcui, lat, sab, tty, text, suppress = row[0], row[1], row[11], row[12], row[14], row[16]
        if sab != "RXNORM" or lat != "ENG" or tty not in ttys or suppress in ("O", "E", "Y"):
            continue
        yield Concept(
            "rxnorm:" + rxcui,
            "MEDICATION",
            ((systems.RXNORM, rxcui, text),),
            (text,),
            "rxnorm",
            "byo",
        )


def read_loinc(path: Path, options: Mapping[str, Any]) -> Iterator[Concept]:
    """LOINC Loinc.csv: long common names and short names -> LAB (used by lab extractors)."""
    label = str(options.get("label") or "LAB")
    with _find(path, "Loinc.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("STATUS", "ACTIVE") not in ("ACTIVE", ""):
                continue
            num = row["LOINC_NUM"]
            name = row.get("LONG_COMMON_NAME") or row.get("COMPONENT") or num
            terms = [t for t in (name, row.get("SHORTNAME"), row.get("DisplayName")) if t]
            yield Concept(
                "loinc:" + num,
                label,
                ((systems.LOINC, num, name),),
                tuple(dict.fromkeys(terms)),
                "loinc",
                "byo",
            )


def read_snomed_rf2(path: Path, options: Mapping[str, Any]) -> Iterator[Concept]:
    """SNOMED CT RF2 description snapshot: active descriptions; the FSN tag gives the label."""
    tag_labels = dict(options.get("tag_labels") or SNOMED_TAG_LABELS)
    lang = str(options.get("language") or "en")
    desc = _find(path, "sct2_Description_Snapshot*.txt")
    terms: dict[str, list[str]] = defaultdict(list)
    fsn: dict[str, str] = {}
    with desc.open(encoding="utf-8", newline="") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        col = {name: i for i, name in enumerate(header)}
        for line in fh:
            row = line.rstrip("\n").split("\t")
            if row[col["active"]] != "1" or row[col["languageCode"]] != lang:
                continue
            cid, term = row[col["conceptId"]], row[col["term"]]
            if row[col["typeId"]] == _FSN:
                fsn[cid] = term
            else:
                terms[cid].append(term)
    for cid, name in fsn.items():
        label = tag_labels.get(_semantic_tag(name) or "")
        if not label:
            continue
        display = strip_semantic_tag(name)
        yield Concept(
            "snomed:" + cid,
            label,
            ((systems.SNOMED, cid, display),),
            tuple(dict.fromkeys([*terms.get(cid, []), display])),
            "snomed-rf2",
            "byo",
        )


def _fhir_concepts(resource: Mapping[str, Any]) -> Iterator[tuple[str, str, str, list[str]]]:
    """(system, code, display, designations) of a CodeSystem or ValueSet resource."""
    kind = resource.get("resourceType")
    if kind == "CodeSystem":
        system = str(resource.get("url", ""))
        stack = list(resource.get("concept", []))
        while stack:
            c = stack.pop()
            stack.extend(c.get("concept", []))
            yield (
                system,
                c["code"],
                c.get("display", ""),
                [d["value"] for d in c.get("designation", []) if d.get("value")],
            )
    elif kind == "ValueSet":
        for inc in resource.get("compose", {}).get("include", []):
            for c in inc.get("concept", []):
                yield (
                    inc.get("system", ""),
                    c["code"],
                    c.get("display", ""),
                    [d["value"] for d in c.get("designation", []) if d.get("value")],
                )
        stack = list(resource.get("expansion", {}).get("contains", []))
        while stack:
            c = stack.pop()
            stack.extend(c.get("contains", []))
            if "code" in c:
                yield (
                    c.get("system", ""),
                    c["code"],
                    c.get("display", ""),
                    [d["value"] for d in c.get("designation", []) if d.get("value")],
                )
    else:
        raise TerminologySourceError(f"FHIR resource type {kind!r} is not CodeSystem/ValueSet")


def read_fhir(path: Path, options: Mapping[str, Any]) -> Iterator[Concept]:
    """FHIR CodeSystem or ValueSet JSON. The label is ``options["label"]`` if given, else the
    SNOMED CT semantic tag of the display (concepts without a mapped tag are skipped)."""
    resource = json.loads(path.read_text(encoding="utf-8"))
    fixed = options.get("label")
    tag_labels = dict(options.get("tag_labels") or SNOMED_TAG_LABELS)
    name = str(resource.get("name") or resource.get("id") or path.stem)
    src = f"fhir:{name}@{resource.get('version', 'unknown')}"
    for system, code, display, designations in _fhir_concepts(resource):
        tag = _semantic_tag(display) or ""
        label = str(fixed) if fixed else tag_labels.get(tag)
        if not label or (tag == "product" and _DEVICE_PRODUCT.search(strip_semantic_tag(display))):
            continue  # older releases file devices under "(product)": "Drug eluting stent"
        plain = strip_semantic_tag(display)
        if tag == "morphologic abnormality" and _NOT_A_FINDING.search(plain):
            continue
        yield Concept(
            f"{name}:{code}",
            label,
            ((system, code, plain),),
            tuple(dict.fromkeys([plain, *designations])),
            src,
            "byo",
        )


def read_doid(path: Path, options: Mapping[str, Any]) -> Iterator[Concept]:
    """Disease Ontology TSV (id, label[, xref]): disease names with ICD-10-CM/SNOMED/UMLS xrefs."""
    names: dict[str, str] = {}
    codes: dict[str, list[Code]] = defaultdict(list)
    for row in read_xref_tsv(path):
        names.setdefault(row[0], row[1])
        if len(row) > 2:
            code = xref_code(row[2], row[1])
            if code:
                codes[row[0]].append(code)
    for did, label in names.items():
        yield Concept(
            "doid:" + did,
            "PROBLEM",
            ((systems.DOID, did, label), *codes[did]),
            (label,),
            "doid",
            "byo",
        )


def read_xref_tsv(path: Path) -> Iterator[list[str]]:
    """Rows of a quoted TSV with a header (the Disease Ontology export format)."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        next(reader, None)
        for row in reader:
            if len(row) >= 2:
                yield [c.strip() for c in row]


def xref_code(xref: str, display: str) -> Code | None:
    """An OBO-style xref ("ICD10CM:E11", "SNOMEDCT_US_2025_09_01:44054006") as a code."""
    prefix, _, code = xref.partition(":")
    prefix = prefix.upper()
    if prefix.startswith("SNOMEDCT"):
        return (systems.SNOMED, code, display)
    if prefix == "ICD10CM":
        return (systems.ICD10CM, code, display)
    if prefix in ("UMLS_CUI", "UMLS"):
        return (systems.UMLS, code, display)
    return None


LOADERS = {
    "umls": read_umls,
    "rxnorm": read_rxnorm,
    "loinc": read_loinc,
    "snomed_rf2": read_snomed_rf2,
    "fhir": read_fhir,
    "doid": read_doid,
}


def read_byo_source(source: Mapping[str, Any]) -> Iterator[Concept]:
    """Concepts of one configured source ``{"kind": ..., "path": ..., **options}``.

    Raises:
        TerminologySourceError: unknown kind or missing path.
    """
    kind = str(source.get("kind", ""))
    if kind not in LOADERS:
        raise TerminologySourceError(
            f"unknown terminology source kind {kind!r}; known: {', '.join(sorted(LOADERS))}"
        )
    path = Path(str(source.get("path", ""))).expanduser()
    if not path.exists():
        raise TerminologySourceError(f"terminology source {kind!r}: {path} does not exist")
    return LOADERS[kind](path, source)


def source_fingerprint(source: Mapping[str, Any]) -> str:
    """Identity of a configured source for the cache key: options plus file sizes and mtimes."""
    path = Path(str(source.get("path", ""))).expanduser()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    stats = [(p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in files[:200]]
    return json.dumps({"source": dict(source), "files": stats}, sort_keys=True, default=str)

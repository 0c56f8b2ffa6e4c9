"""Compiles terminology sources into a phrase table, caches it on disk, loads it as matchers."""

from __future__ import annotations

import hashlib
import json
import logging
import operator
import os
import pickle
import re
import tempfile
import time
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from spacy.attrs import IDX, IS_SPACE, LOWER, ORTH
from spacy.language import Language
from spacy.strings import hash_string  # type: ignore[attr-defined]
from spacy.tokens import Doc

from extractors.base import doc_text
from extractors.patterns import alternation
from extractors.terminology.byo import read_byo_source, source_fingerprint
from extractors.terminology.concepts import (
    BLOCK_LABEL,
    LABELS,
    PRIORITY,
    Code,
    Concept,
    acronym_plural,
    adjective_variants,
    clean_title,
    head_variants,
    hyphen_variants,
    is_acronym,
    is_usable,
    plural_variants,
    quantity_variants,
    spelling_variants,
    typography_variants,
)
from extractors.terminology.sources import (
    OPEN_SOURCES,
    curated_files,
    load_spellings,
    load_stoplist,
    open_source_versions,
    package_version,
    read_open_source,
)
from extractors.terminology.systems import ICD10CM

log = logging.getLogger(__name__)

# Version history of the compiled format and build rules (part of the cache key):
# 1 (2026-11): first compiled dictionary (curated, HPO, ICD-10-CM, drug names, BYO sources).
# 2 (2026-12): possessive eponyms also with the typeset apostrophe ("Crohn’s disease").
# 3 (2026-12): a curated concept can close a system to other sources (``Concept.closed``);
#   terms of ``BLOCK_LABEL`` (drug names that name a receptor or an organ) claim their words.
# 4 (2026-12): the plural of a curated case-sensitive acronym ("AVMs", "PVCs"), also
#   case-sensitive.
# 5 (2026-12): the rare-disease source ("rare"): codes only where no other source names the
#   term, a family name takes its head's codes but ICD-10-CM, a spelling of another source's
#   term stays that term; Latin -ix/-ices plurals and eponym possessives (concepts.py).
# 6 (2026-12): a term with "St." or "Dr." also as the tokenizer splits it capitalised ("St. John's
#   wort"), and with the typeset apostrophe ("’s") wherever it has "'s" (concepts.py).
# 7 (2026-12): a problem named with "disease" also with "disorder(s)", and the other way round
#   ("lysosomal storage disorder", "neurodegenerative disorders"; concepts.py).
# 8 (2026-12): an eponym's possessive without its apostrophe ("Thomsens disease", "Burkitts
#   lymphoma") and after a name ending in "s" ("Wilms' tumor"; concepts.py).
# 9 (2026-12): letters with accents read without them and Greek letters by name, in the index
#   and in the notes ("Sjögren's syndrome" meets "Sjogren syndrome", "interferon β-1a" meets
#   "interferon beta-1a"; compiled.py ``_Spellings``).
# 10 (2026-12): "infarction" and "infarct(s)" name one another after a site ("lacunar infarct").
# 11 (2026-12): the heads of a finding named by a function name one another ("memory
#   impairment", "memory deficits", "walking difficulties"; concepts.py ``_FUNCTION_HEADS``).
# 12 (2026-12): names the drug vocabulary takes from MeSH that no one is given are no drugs:
#   nucleic acids ("mRNA", "ribosomal RNA"), CYP isoenzymes, ATPases, cholinesterases,
#   myeloperoxidase, nucleases, transferases, phosphatases, one-word receptors ("adrenoceptor"),
#   ion channels, body proteins ("angiotensinogen", "calcineurin", "PAI-1"; sources.py
#   ``_NOT_A_DRUG``),
#   nor bare roles and mechanism adjectives ("inhibitor", "carcinogen", "cholinergic";
#   stoplist.txt); tacrolimus with its development code FK506 (medications.tsv); immune
#   checkpoint inhibitors as a drug class (drug_classes.tsv, uncoded).
# 13 (2026-12): damage, injury and toxicity of an internal organ ("renal injury", "myocardial
#   damage", "pulmonary toxicity", "brain damage"; organ_disorders.json ``damage_heads``).
# 14 (2026-12): a three-letter noun that ends a longer name takes a plural "-s" ("lip pits",
#   "motor tics"; concepts.py ``plural_variants``); curated: intellectual disability ("mentally
#   retarded"), dysmorphism ("dysmorphic features"), birth defects, catalepsy, PONV, femoral
#   neuropathy, vanishing bile duct syndrome, Langer-Giedion syndrome (problems.tsv).
# 15 (2026-12): curated names that are no depressive disorder ("respiratory depression", "ST
#   depression") and more standard names (problems.tsv); the nervous system also as "neuronal" and
#   "axonal", the brain as "cerebral" and "hippocampal" (organ_disorders.json).
# 16 (2026-12): "attention deficit" (ADHD) makes no function-head variants ("attention
#   problems" is no ADHD; concepts.py ``_NAMED_BY_HEAD``).
# 17 (2026-12): chest radiograph findings as radiologists name them (problems.tsv): pulmonary
#   emphysema as "emphysematous lung disease / lung changes / lungs", "atelectases",
#   "consolidative opacity / airspace disease / changes", "infiltrative changes / opacities",
#   "thickened pleura", "pleural-based thickening".
# 18 (2026-12): English words a drug vocabulary lists as a drug ("luminal", "snare", "diamond",
#   "sits", "generic", "caps", "hemostatic", "yeast") and body substances ("methemoglobin") are
#   stopped; the body's own proteins, enzymes and signalling molecules that MeSH files as
#   substances ("dystrophin", "cathepsin D", "IL-6", "VEGF", "substance P"; not CGRP, which
#   names drug classes and a neuropeptide given in studies) are no drugs
#   (sources.py ``_BODY_SUBSTANCES``); "betablockers" closed up is the beta blockers class;
#   classes named in words or initials (uncoded: SABA, LABA, LAMA, muscle relaxants, mood
#   stabilizers, tranquilizers, biologic agents, probiotics; "CNS stimulants" as
#   psychostimulants, not a bare "stimulant": "stimulant laxatives"; stoplist.txt,
#   drug_classes.tsv).
# 19 (2026-12): SNOMED CT morphologic abnormalities of a FHIR source are problems ("Diverticulum",
#   "Tortuosity"), but structures a surgeon made and sites ("Coronary artery graft", "Operative
#   site"; byo.py); "compression" alone is none (stoplist.txt).
# 20 (2026-12): a body system's function stated as impaired ("decreased renal function",
#   "impaired hepatic function", "abnormalities in cardiac function"; organ_disorders.json
#   ``function_forms``).
# 21 (2026-12): drug_names.json: names notes use for drugs of the drug vocabulary that it
#   leaves out, added to that concept's terms; "iron" leaves the stoplist.
# 22 (2026-12): a drug vocabulary entry keeps its MeSH id only where the id is its own (an
#   action class under D27, or a MeSH-only entry's unshared id); a DrugBank drug's "mesh_id"
#   is one of its pharmacological actions (aspirin D058633 Antipyretics, cefepime D000900
#   Anti-Bacterial Agents) and is dropped (sources.py ``_own_mesh_id``).
# 23 (2026-12): curated alcohol and opioid withdrawal (problems.tsv).
# 24 (2026-12): SNOMED CT situations of a BYO source are no terms ("History of hypertension",
#   "Family history of asthma", "Chest pain not present"): the finding inside is the mention and
#   the assertion reads its context (byo.py ``SNOMED_TAG_LABELS``); a finding a source names
#   "decreased / reduced / diminished / impaired X" also as "low X" and "poor X" and with the
#   other three words ("reduced urine output", "poor visual acuity"; concepts.py
#   ``quantity_variants``); the adjectives "-ematous" and "-oric" of one-word findings
#   ("erythematous", "eczematous", "plethoric") and the participles of the part they affect
#   ("calcified", "thrombosed", "stenosed", "atrophied", "hemorrhagic"; not "-ation" /
#   "-ction": "aspirated", "perforated with a needle"); "cyanosed" (problems.tsv).
# 25 (2026-12): drug_names.json ``not_drugs`` ("iron chelation", "iron poisoning"); curated
#   fistula, AV fistula, neonatal withdrawal, "alcohol withdrawal delirium".
# 26 (2026-12): chest radiograph findings of CheXpert's and NegBio's lexicons (problems.tsv):
#   pulmonary vascular redistribution as pulmonary congestion (SNOMED CT 67599009), an organ's
#   'vascular congestion / engorgement / indistinctness' uncoded, eventration, flattened
#   diaphragms, bulla, lobar/basilar collapse, masslike opacity, opacification of a lung or
#   hemithorax (not bare: contrast opacifies vessels), hyperlucent lungs, atelectatic opacities,
#   hilar fullness.
# 27 (2026-12): curated hemorrhagic stroke (problems.tsv).
BUILD_VERSION = 27

DEFAULT_CACHE_DIR = Path("~/.cache/notestruct/dictionary")
_FUNCTION_WORDS = frozenset(
    """a an the and or nor was were is are be been with without in on at of to for by as i
    he she her his him it its that this these those all any re ca""".split()
)
_SEP = "\x1f"


@dataclass(frozen=True, slots=True)
class Entry:
    """What a matched surface form means: label, stable rule id, codes, where it came from."""

    label: str
    rule_id: str
    codes: tuple[Code, ...]
    source: str

    def __reduce__(self) -> tuple[type[Entry], tuple[str, str, tuple[Code, ...], str]]:
        # pickled as a constructor call: the default of a slotted dataclass looks its fields
        # up again for every entry, half of what loading the cached dictionary took
        return (Entry, (self.label, self.rule_id, self.codes, self.source))


@dataclass
class PhraseTable:
    """The compiled dictionary in plain data: entries and tokenised terms pointing at them."""

    entries: list[Entry]
    #: Lower-cased tokenised terms joined by \\x1f, and the entry index of each.
    lower_terms: list[str]
    lower_entry: list[int]
    #: Case-sensitive acronyms (single tokens) and their entry index.
    case_terms: list[str]
    case_entry: list[int]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DictionaryConfig:
    """What the dictionary is built from (all JSON-able; hashed into the cache key)."""

    cache_dir: str | None = None
    open_sources: tuple[str, ...] = OPEN_SOURCES
    sources: tuple[Mapping[str, Any], ...] = ()
    labels: tuple[str, ...] = tuple(sorted(LABELS))

    def key(self, tokenizer_id: str) -> str:
        """Cache key: source versions, curated table content, BYO files, build rules."""
        versions = open_source_versions()
        curated = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in curated_files()}
        # The build code itself: a changed clean-up rule must not reuse a stale cache.
        code_dir = Path(__file__).parent
        curated.update(
            {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in code_dir.glob("*.py")}
        )
        blob = json.dumps(
            {
                "build": BUILD_VERSION,
                "open": list(self.open_sources),
                "versions": versions,
                "curated": curated,
                "byo": [source_fingerprint(s) for s in self.sources],
                "labels": sorted(self.labels),
                "tokenizer": tokenizer_id,
                "spacy": package_version("spacy"),
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def cache_path(self, tokenizer_id: str) -> Path:
        """Directory holding the compiled dictionary for this configuration."""
        base = Path(self.cache_dir).expanduser() if self.cache_dir else DEFAULT_CACHE_DIR
        return base.expanduser() / self.key(tokenizer_id)


def tokenizer_id(nlp: Language) -> str:
    """Identity of the tokenizer terms were split with (a different one means a rebuild)."""
    tok = nlp.tokenizer
    name = type(tok).__module__ + "." + type(tok).__name__
    infix = getattr(getattr(tok, "infix_finditer", None), "__self__", None)
    pattern = getattr(infix, "pattern", "")
    digest = hashlib.sha256(str(pattern).encode()).hexdigest()[:8]
    return f"{name}:{package_version('scispacy')}:{digest}"


# ------------------------------------------------------------------ build


def _concepts(config: DictionaryConfig) -> Iterable[Concept]:
    for name in config.open_sources:
        yield from read_open_source(name)
    for source in config.sources:
        yield from read_byo_source(source)


#: Sources of last resort (the rare-disease titles). Their codes count only where no other
#: source names the term: OMIM's entry for a common disease is often a susceptibility locus
#: ("Pulmonary disease, chronic obstructive"), no code for a COPD mention. Their uncoded
#: names ("progressive renal failure", a disease family) take the codes of the disorder
#: their head names ("renal failure").
_HEAD_CODED_KINDS = frozenset({"rare"})


_Slot = dict[str, tuple[tuple[int, int], Concept]]


def _merge_kinds(by_kind: _Slot) -> tuple[Concept, list[Code], list[str]]:
    """The winning concept of one surface (by source priority), its codes plus the systems
    other sources of the same label add (never a last-resort source's), and the sources."""
    kinds = sorted(by_kind, key=lambda k: PRIORITY.get(k, 9))
    winner = by_kind[kinds[0]][1]
    codes = list(winner.codes)
    seen_systems = {c[0] for c in codes} | winner.closed
    sources = [winner.source]
    for kind in kinds[1:]:
        other = by_kind[kind][1]
        if other.label != winner.label or kind in _HEAD_CODED_KINDS:
            continue
        extra = [c for c in other.codes if c[0] not in seen_systems]
        if extra:
            codes.extend(extra)
            seen_systems.update(c[0] for c in extra)
            sources.append(other.source)
    return winner, codes, sources


def _head_codes(
    key: str,
    label: str,
    best: Mapping[str, _Slot],
) -> tuple[list[Code], list[str]]:
    """The codes of the longest coded name that ends the term ("insulin-dependent diabetes
    mellitus" -> "diabetes mellitus"): a disorder named with qualifiers before its head is
    a kind of the head's disorder. ICD-10-CM is left out; no codes when no such name is
    coded."""
    words = key.split()
    for i in range(1, len(words)):
        by_kind = best.get(" ".join(words[i:]))
        if not by_kind:
            continue
        winner, codes, sources = _merge_kinds(by_kind)
        # ICD-10-CM codes of a bare head are classification defaults, not its meaning
        # ("diabetes mellitus" -> E11.9), and would misname the qualified disorder
        codes = [c for c in codes if c[0] != ICD10CM]
        if codes and winner.label == label:
            return codes, sources
    return [], []


def build_table(nlp: Language, config: DictionaryConfig) -> PhraseTable:
    """Read every configured source and compile the phrase table (minutes at most, usually s)."""
    t0 = time.perf_counter()
    stoplist = load_stoplist()
    labels = set(config.labels) | {BLOCK_LABEL}
    # surface key -> {source kind -> (rank, concept)}; the key is the lower-cased surface,
    # or the surface itself (prefixed) for case-sensitive acronyms.
    best: dict[str, dict[str, tuple[tuple[int, int], Concept]]] = defaultdict(dict)
    counts: dict[str, int] = defaultdict(int)
    order = 0
    for concept in _concepts(config):
        if concept.label not in labels:
            continue
        counts[concept.source] += 1
        for raw in concept.terms:
            surface = raw.strip() if concept.verbatim else clean_title(raw)
            if not surface or not is_usable(surface, stoplist, curated=concept.verbatim):
                continue
            key = ("=" + surface) if is_acronym(surface) else surface.lower()
            slot = best[key]
            exact = 0 if surface.lower() == raw.strip().lower() else 1
            order += 1
            rank = (concept.rank * 2 + exact, order)
            held = slot.get(concept.kind)
            if held is None or rank < held[0]:
                slot[concept.kind] = (rank, concept)
    t_read = time.perf_counter() - t0

    entries: list[Entry] = []
    entry_index: dict[tuple[str, tuple[Code, ...]], int] = {}
    surfaces: list[str] = []
    surface_entry: list[int] = []

    # a spelling of another source's term ("pre-eclampsia" also matches "preeclampsia") is
    # that term: a low-priority source naming the closed form must not shadow its codes
    variant_of: dict[str, str] = {}
    if any(len(by_kind) == 1 and _HEAD_CODED_KINDS & by_kind.keys() for by_kind in best.values()):
        for key, by_kind in best.items():
            if not key.startswith("=") and by_kind.keys() - _HEAD_CODED_KINDS:
                for var in spelling_variants(key):
                    variant_of.setdefault(var, key)
    for key, by_kind in best.items():
        alias = variant_of.get(key) if by_kind.keys() <= _HEAD_CODED_KINDS else None
        if alias is not None:
            by_kind = {**best[alias], **by_kind}
        winner, codes, sources = _merge_kinds(by_kind)
        if not codes and winner.kind in _HEAD_CODED_KINDS:
            codes, via = _head_codes(key, winner.label, best)
            sources += via
        ekey = (winner.concept_id, tuple(codes))
        idx = entry_index.get(ekey)
        if idx is None:
            idx = len(entries)
            entry_index[ekey] = idx
            entries.append(Entry(winner.label, winner.concept_id, tuple(codes), "+".join(sources)))
        surfaces.append(key)
        surface_entry.append(idx)

    t1 = time.perf_counter()
    lower: dict[str, int] = {}
    case_terms: list[str] = []
    case_entry: list[int] = []
    texts = [s[1:] if s.startswith("=") else s for s in surfaces]
    is_variant = [False] * len(texts)
    for surface, idx in zip(list(surfaces), list(surface_entry), strict=True):
        if not surface.startswith("="):
            for var in spelling_variants(surface):
                surfaces.append(var)
                texts.append(var)
                surface_entry.append(idx)
                is_variant.append(True)
    variants: list[tuple[str, int]] = []
    case_plurals: list[tuple[str, int]] = []
    for surface, _text, idx, variant, doc in zip(
        surfaces,
        texts,
        surface_entry,
        is_variant,
        nlp.tokenizer.pipe(texts, batch_size=4096),  # type: ignore[union-attr]
        strict=True,
    ):
        tokens = [t.text for t in doc]
        if surface.startswith("="):
            case_terms.append(_SEP.join(tokens))
            case_entry.append(idx)
            plural = acronym_plural(tokens[-1])
            # only the curated tables' acronyms: an open source's may name something rare
            # that a note's plural names otherwise (HPO "LFT", lipoma of the filum terminale)
            if plural and entries[idx].source.startswith("curated"):
                case_plurals.append((_SEP.join([*tokens[:-1], plural]), idx))
            continue
        if tokens[0].lower() in _FUNCTION_WORDS and not entries[idx].source.startswith("curated"):
            # "a ...", "in situ ...", "no ..." descriptions: they make every "a" and "and"
            # of a note a match candidate and are never how a note names a problem.
            continue
        joined = _SEP.join(tokens)
        if variant:
            variants.append((joined, idx))
        elif joined not in lower:
            lower[joined] = idx
        if len(tokens) <= 6:
            for var_tokens in (
                *plural_variants(tokens),
                *hyphen_variants(tokens),
                *typography_variants(tokens),
            ):
                variants.append((_SEP.join(var_tokens), idx))
            if entries[idx].label == "PROBLEM":
                for var_tokens in (
                    *adjective_variants(tokens),
                    *head_variants(tokens),
                    *quantity_variants(tokens),
                ):
                    variants.append((_SEP.join(var_tokens), idx))
    for joined, idx in variants:  # a real term always beats a generated variant
        if joined not in lower and is_usable(joined.replace(_SEP, " "), stoplist):
            lower[joined] = idx
    # "AVMs", "TIAs": matched case-sensitively like the acronym, unless a source lists the
    # plural itself ("UTIs") or another acronym spells it
    known_case = set(case_terms)
    for joined, idx in case_plurals:
        if joined not in known_case and joined.lower() not in lower:
            known_case.add(joined)
            case_terms.append(joined)
            case_entry.append(idx)
    t_tok = time.perf_counter() - t1
    meta = {
        "build_version": BUILD_VERSION,
        "concepts_per_source": dict(counts),
        "entries": len(entries),
        "lower_terms": len(lower),
        "case_terms": len(case_terms),
        "seconds_read": round(t_read, 2),
        "seconds_tokenise": round(t_tok, 2),
        "labels": sorted(labels),
    }
    log.info("compiled dictionary: %s entries, %s terms", len(entries), len(lower))
    return PhraseTable(entries, list(lower), list(lower.values()), case_terms, case_entry, meta)


# ------------------------------------------------------------------ cache


def save_table(table: PhraseTable, path: Path) -> None:
    """Write the table atomically (a crash never leaves a half-written cache)."""
    path.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        pickle.dump(table, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path / "dictionary.pkl")
    (path / "meta.json").write_text(json.dumps(table.meta, indent=1, sort_keys=True))


def load_table(path: Path) -> PhraseTable | None:
    """The cached table in ``path``, or None if there is none (or it is unreadable)."""
    file = path / "dictionary.pkl"
    if not file.exists():
        return None
    try:
        with file.open("rb") as fh:
            table = pickle.load(fh)  # noqa: S301  our own cache file, keyed by content hash
    except Exception:  # a corrupt cache is rebuilt, not fatal
        log.warning("dictionary cache %s is unreadable; rebuilding", path)
        return None
    if not isinstance(table, PhraseTable) or table.meta.get("build_version") != BUILD_VERSION:
        return None
    return table


class EntryTable(Sequence[Entry]):
    """The compiled dictionary's entries, each decoded from its bytes when first used.

    A note matches a few dozen of the tens of thousands of entries: making them all as
    Python objects took 0.15-0.3 s of every pipeline build with a warm cache (unpickling
    some 600,000 strings and tuples, then an ``Entry`` each) and their memory for the life of
    the process. Here they are one pickled blob with offsets (unpickled in about a
    millisecond) and the label of each entry (a small array, for ``indices_of``); an entry
    is unpickled on first use (about a microsecond) and kept. ``extra`` entries, made by
    the extractor from its rules, follow the table's.
    """

    __slots__ = ("_blob", "_decoded", "_extra", "_label_codes", "_labels", "_offsets")

    def __init__(
        self,
        blob: bytes,
        offsets: NDArray[np.int64],
        labels: tuple[str, ...],
        label_codes: NDArray[np.uint8],
        extra: tuple[Entry, ...] = (),
    ) -> None:
        self._blob = blob
        self._offsets = offsets
        self._labels = labels
        self._label_codes = label_codes
        self._extra = extra
        self._decoded: dict[int, Entry] = {}

    @classmethod
    def of(cls, entries: Sequence[Entry]) -> EntryTable:
        """The table of ``entries`` (as built), encoded."""
        parts = [
            pickle.dumps((e.label, e.rule_id, e.codes, e.source), protocol=pickle.HIGHEST_PROTOCOL)
            for e in entries
        ]
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=offsets[1:])
        labels = tuple(sorted({e.label for e in entries}))
        code = {label: i for i, label in enumerate(labels)}
        label_codes = np.array([code[e.label] for e in entries], dtype=np.uint8)
        return cls(b"".join(parts), offsets, labels, label_codes)

    def __len__(self) -> int:
        return len(self._label_codes) + len(self._extra)

    def __getitem__(self, i: int) -> Entry:  # type: ignore[override]
        entry = self._decoded.get(i)
        return entry if entry is not None else self._decode(operator.index(i))

    def _decode(self, i: int) -> Entry:
        size = len(self)
        if i < 0:
            i += size
        if not 0 <= i < size:
            raise IndexError("entry index out of range")
        n = len(self._label_codes)
        if i >= n:
            return self._extra[i - n]
        start, end = int(self._offsets[i]), int(self._offsets[i + 1])
        row = pickle.loads(self._blob[start:end])  # noqa: S301  our own cache, as above
        entry = self._decoded[i] = Entry(*row)
        return entry

    def with_extra(self, extra: Iterable[Entry]) -> EntryTable:
        """The same table followed by ``extra`` entries (indices ``len(self)`` onwards)."""
        return EntryTable(
            self._blob, self._offsets, self._labels, self._label_codes, (*self._extra, *extra)
        )

    def indices_of(self, label: str) -> list[int]:
        """Indices of the entries with ``label``, in order."""
        found: list[int] = []
        if label in self._labels:
            code = self._labels.index(label)
            found = np.flatnonzero(self._label_codes == code).tolist()
        n = len(self._label_codes)
        return found + [n + k for k, e in enumerate(self._extra) if e.label == label]

    def __reduce__(self) -> tuple[Any, ...]:
        # decoded entries are not kept: they are made again on use
        args = (self._blob, self._offsets, self._labels, self._label_codes, self._extra)
        return (EntryTable, args)


@dataclass
class MatchData:
    """What matching needs of a compiled dictionary: its entries, the hashed term index and
    the table's meta. Cached beside the table (``INDEX_FILE``): hashing every term again took
    most of a pipeline build (about 3 s of 6 with a warm cache); unpickling it takes
    milliseconds (the entries are decoded on use: ``EntryTable``)."""

    entries: EntryTable
    index: TermIndex
    meta: dict[str, Any]


# Version history of the cached term index's format (its file name; the table is unchanged):
# 1 (2026-12): dicts of token hash tuples (``index.pkl``).
# 2 (2026-12): numpy arrays by term length (``index-2.pkl``); unpickles in milliseconds.
# 3 (2026-12): entries as one blob, each decoded on first use (``EntryTable``): 0.15-0.3 s
#              less per pipeline build.
# 4 (2026-12): ``TermIndex`` has a slot for the sorted words of its terms (``index-4.pkl``).
# A new name, not a new key: caches are shared by checkouts of other versions.
INDEX_FILE = "index-4.pkl"


def get_match_data(nlp: Language, config: DictionaryConfig) -> tuple[MatchData, bool]:
    """The cached ``MatchData`` for ``config``, else made from the (cached or newly built)
    phrase table and cached; returns (data, whether the table was built now)."""
    path = config.cache_path(tokenizer_id(nlp))
    file = path / INDEX_FILE
    if file.exists():
        try:
            with file.open("rb") as fh:
                data = pickle.load(fh)  # noqa: S301  our own cache file, keyed by content hash
        except Exception:  # a corrupt cache is rebuilt, not fatal
            log.warning("dictionary index cache %s is unreadable; rebuilding", path)
        else:
            if isinstance(data, MatchData) and data.meta.get("build_version") == BUILD_VERSION:
                return data, False
    table, built = get_table(nlp, config)
    data = MatchData(EntryTable.of(table.entries), TermIndex(table), table.meta)
    path.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, file)
    return data, built


def get_table(nlp: Language, config: DictionaryConfig) -> tuple[PhraseTable, bool]:
    """Load the cached table for ``config`` or build and cache it; returns (table, built)."""
    path = config.cache_path(tokenizer_id(nlp))
    table = load_table(path)
    if table is not None:
        return table, False
    t0 = time.perf_counter()
    table = build_table(nlp, config)
    table.meta["seconds_build"] = round(time.perf_counter() - t0, 2)
    save_table(table, path)
    return table, True


# ------------------------------------------------------------------ matching


class TermIndex:
    """Longest-match lookup of tokenised terms by token hashes (spaCy's LOWER / ORTH values).

    Terms are stored as 64-bit string hashes, which spaCy computes the same way in every
    vocab, so the index needs no Doc objects and no vocab entries. They are kept in numpy
    arrays, one table per term length: each term's token hashes (a row) and a fingerprint
    of that row, sorted. Matching a doc is a few array operations per term length (every
    window of that many tokens is fingerprinted and looked up at once); a found fingerprint
    counts only if the window's hashes equal the stored row, so a fingerprint collision
    cannot make a match. Unpickling the arrays takes milliseconds (the dicts of hash tuples
    this replaces took about a second, half of a pipeline build with a warm cache).
    """

    __slots__ = ("_cwords", "_words", "case", "lower")

    def __init__(self, table: PhraseTable) -> None:
        self.lower = _TermTable(table.lower_terms, table.lower_entry, lower=True)
        self.case = _TermTable(table.case_terms, table.case_entry, lower=False)
        self._words: NDArray[np.uint64] | None = None
        self._cwords: NDArray[np.uint64] | None = None
        self._known_words()  # built with the index, so it is in the cached file

    def match(self, doc: Doc) -> list[tuple[int, int, int]]:
        """(start, end, entry index) of every longest term at each token, before overlaps."""
        if len(doc) == 0:
            return []
        arr = doc.to_array([LOWER, ORTH])
        _SPELLINGS.americanize(doc, arr)
        keep = _wrap_joined(doc)
        if keep is not None:  # match over the words with hard-wrap line breaks left out
            found = [
                (int(keep[s]), int(keep[e - 1]) + 1, idx) for s, e, idx in self._match(arr[keep])
            ]
        else:
            found = self._match(arr)
        with_hyphen = tokens_with(doc, "-")
        if not with_hyphen:
            return found
        # hyphenated words, one token each ("ST-segment") or written with spaced hyphens as
        # tokenised text has them ("ataxia - telangiectasia ( A - T )"): (first, last, text)
        words = [(i, i, doc[i].text) for i in with_hyphen if _HYPHENATED.fullmatch(doc[i].text)]
        words += _spaced_hyphens(doc, with_hyphen)
        if not words:
            return found
        words.sort()  # in token order: a variant's windows are merged in that order
        # a reading is tried only where every word it makes is a word of some term
        known = self._known_words()
        joined, split, whole = [], [], []
        for lo, hi, text in words:
            lower = text.lower()
            if hi > lo and (
                _has(known, hash_string(_SPELLINGS.american(lower)))
                or _has(self._case_words(), hash_string(text))
            ):
                whole.append((lo, hi, [text]))
            if hi > lo and not _HYPHENATED.fullmatch(text):
                continue  # letters spelled one by one ("T - L - S") are read whole only
            if _has(known, hash_string(_SPELLINGS.american(lower.replace("-", "")))):
                joined.append((lo, hi, [text.replace("-", "")]))
            if all(_has(known, hash_string(_SPELLINGS.american(p))) for p in lower.split("-")):
                split.append((lo, hi, text.split("-")))
        seen = set(found)
        for items, case in ((joined, False), (split, False), (whole, True)):
            if not items:
                continue
            variant = _hyphen_variant(doc, arr, items)
            # lower-cased terms only, but for a spaced word read whole ("A - T" as "A-T"):
            # the case-sensitive terms are short abbreviations
            got = self.lower.match(np.ascontiguousarray(variant.arr[:, 0]))
            if case:
                got += self.case.match(np.ascontiguousarray(variant.arr[:, 1]))
            found += [m for m in variant.matches(got) if m not in seen]
            seen.update(found)
        return found

    def _known_words(self) -> NDArray[np.uint64]:
        """The sorted LOWER hashes of every word of the lower-cased terms (built once)."""
        if getattr(self, "_words", None) is None:
            rows = [r.ravel() for _, r, _ in self.lower.by_length.values()]
            self._words = np.unique(np.concatenate(rows)) if rows else np.zeros(0, np.uint64)
        return self._words

    def _case_words(self) -> NDArray[np.uint64]:
        """The sorted ORTH hashes of every word of the case-sensitive terms (built once)."""
        if getattr(self, "_cwords", None) is None:
            rows = [r.ravel() for _, r, _ in self.case.by_length.values()]
            self._cwords = np.unique(np.concatenate(rows)) if rows else np.zeros(0, np.uint64)
        return self._cwords

    def _match(self, arr: NDArray[np.uint64]) -> list[tuple[int, int, int]]:
        return self.lower.match(arr[:, 0]) + self.case.match(arr[:, 1])

    def has_term(self, words: Sequence[str]) -> bool:
        """Whether these lower-cased tokens form a term."""
        return self.entry_of(words) is not None

    def entry_of(self, words: Sequence[str]) -> int | None:
        """Entry index of the term these lower-cased tokens form, or None."""
        return self.lower.lookup([hash_string(_SPELLINGS.american(w)) for w in words])

    def __len__(self) -> int:
        return len(self.lower) + len(self.case)


class _Spellings:
    """Reads British spellings of medical words as the American ones the terminologies use
    ("haemorrhage", "oesophageal", "tumour"): the LOWER hash of such a token is replaced, in
    the match array only, by the hash of its American form (``rules/dictionary/
    spellings.json``). The index's lower-cased terms go through the same rules when it is
    built, so a rule that also fires inside an American word ("oedem" in "angioedema")
    changes both sides alike and loses no match. One trie-shaped regex over the lower-cased
    text finds the few candidate tokens of a doc (about 2 % of the pipeline's time)."""

    def __init__(self) -> None:
        self._rules: list[tuple[str, str]] | None = None
        self._find: re.Pattern[str] | None = None
        self._cache: dict[str, str] = {}

    def _load(self) -> tuple[list[tuple[str, str]], re.Pattern[str]]:
        if self._rules is None or self._find is None:
            self._rules = load_spellings()
            self._find = re.compile(alternation([b.rstrip("$") for b, _ in self._rules]))
        return self._rules, self._find

    def american(self, word: str) -> str:
        known = self._cache.get(word)
        if known is None:
            known = self._cache[word] = self._american(word)
            if len(self._cache) > 50_000:  # words of notes: keep the cache bounded
                self._cache.clear()
        return known

    def _american(self, word: str) -> str:
        rules, _ = self._load()
        if not word.isascii():  # "schönlein", "sjögren", "barré": read without their accents
            word = _without_accents(word)  # and Greek letters by name: "β-interferon"
        for british, american in rules:
            if british.endswith("$"):  # only at the end of the word, or before a plural "s"
                core = british[:-1]
                for end in (core, core + "s"):
                    if word.endswith(end):
                        word = word[: -len(end)] + american + end[len(core) :]
                        break
            elif british in word:
                word = word.replace(british, american)
        return word

    def americanize(self, doc: Doc, arr: NDArray[np.uint64]) -> None:
        _, find = self._load()
        text = doc_text(doc)
        lower = text.lower()
        if len(lower) != len(text):  # a character whose lower case is longer ("İ")
            lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        if not text.isascii():  # letters with accents, read as the index reads them
            for tok in doc:
                word = tok.lower_
                if not word.isascii():
                    plain = self.american(word)
                    if plain != word:
                        arr[tok.i, 0] = hash_string(plain)
        hits = [m.start() for m in find.finditer(lower)]
        if not hits:
            return
        starts = doc.to_array(IDX)
        for i in set(np.searchsorted(starts, hits, side="right").tolist()):
            lower = doc[i - 1].lower_
            american = self.american(lower)
            if american != lower:
                arr[i - 1, 0] = hash_string(american)


_SPELLINGS = _Spellings()


def _without_accents(word: str) -> str:
    """``word`` with the accents of its letters dropped ("schönlein" -> "schonlein") and
    Greek letters written by name ("β-interferon" -> "beta-interferon", "tnf-α" ->
    "tnf-alpha"); other characters (the micro sign, a typeset apostrophe) stay as they are."""
    decomposed = unicodedata.normalize("NFD", word)
    plain = unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    )
    return plain.translate(_GREEK_NAMES) if not plain.isascii() else plain


#: Greek letters of drug, gene and test names, by name (the micro sign is not Greek mu).
_GREEK_NAMES = str.maketrans(
    {"α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "κ": "kappa", "λ": "lambda",
     "ω": "omega"}
)  # fmt: skip

#: A word with hyphens between letters or digits that has a letter ("ST-segment",
#: "schizo-affective", "T-cell"), not a number range ("2-3"), a dash nor letters spelled one
#: by one ("T-L-S").
_HYPHENATED = re.compile(
    r"(?=[^-]*[A-Za-z])(?![A-Za-z0-9](?:-[A-Za-z0-9])+$)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+"
)
#: Tokens of context kept on each side of a hyphenated word in its variant arrays.
_HYPHEN_CONTEXT = 5


#: A word between spaced hyphens, as tokenised text writes hyphenated words ("A - T").
_SPACED_PIECE = re.compile(r"[A-Za-z0-9]+")


def _spaced_hyphens(doc: Doc, with_hyphen: Sequence[int]) -> list[tuple[int, int, str]]:
    """Hyphenated words written with a space on each side of their hyphens ("ataxia -
    telangiectasia", "A - T", "HPRT - APRT - deficient"), as (first token, last token, the
    word with its hyphens closed up); not a number range ("5 - 10")."""
    out: list[tuple[int, int, str]] = []
    n = len(doc)
    last = -1
    for h in with_hyphen:
        if h <= last or not 0 < h < n - 1 or doc[h].text != "-":
            continue
        if not (doc[h - 1].whitespace_ and doc[h].whitespace_):
            continue
        if not _SPACED_PIECE.fullmatch(doc[h - 1].text) or not _SPACED_PIECE.fullmatch(
            doc[h + 1].text
        ):
            continue
        lo, hi = h - 1, h + 1
        while (
            hi + 2 < n
            and doc[hi + 1].text == "-"
            and doc[hi].whitespace_
            and doc[hi + 1].whitespace_
            and _SPACED_PIECE.fullmatch(doc[hi + 2].text)
        ):
            hi += 2
        text = "-".join(doc[k].text for k in range(lo, hi + 1, 2))
        if any(c.isalpha() for c in text):
            out.append((lo, hi, text))
        last = hi
    return out


@dataclass
class _Variant:
    """Match rows of a doc in which hyphenated words are written another way, with the first
    and last token each row comes from and whether a row starts or ends its word."""

    arr: NDArray[np.uint64]
    token: list[int]
    token_end: list[int]
    starts: list[bool]
    ends: list[bool]
    changed: list[bool]

    def matches(self, found: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        """The variant's matches as doc token spans: only those that begin and end on whole
        words ("hodgkin lymphoma" inside "non-Hodgkin lymphoma" is no match) and that read a
        changed word (the rest the doc's own array found)."""
        out = []
        for s, e, idx in found:
            if self.starts[s] and self.ends[e - 1] and any(self.changed[s:e]):
                out.append((self.token[s], self.token_end[e - 1] + 1, idx))
        return out


def _has(sorted_hashes: NDArray[np.uint64], h: int) -> bool:
    i = int(np.searchsorted(sorted_hashes, np.uint64(h)))
    return i < len(sorted_hashes) and int(sorted_hashes[i]) == h


def _hyphen_variant(
    doc: Doc, arr: NDArray[np.uint64], items: list[tuple[int, int, list[str]]]
) -> _Variant:
    """One reading of the words around hyphenated words, each word (its first and last
    token) read as the pieces given: the hyphen dropped ("schizo-affective" as
    "schizoaffective"), the word split at its hyphens ("ST-segment elevation" as "ST segment
    elevation") or, for spaced hyphens, the word whole ("A - T" as "A-T"), for terms
    written the other way. Windows are joined by a row of zeros, which no term holds."""
    marked = {lo: (hi, pieces) for lo, hi, pieces in items}
    windows: list[tuple[int, int]] = []
    for lo, hi, _ in items:
        lo, hi = max(0, lo - _HYPHEN_CONTEXT), min(len(doc), hi + _HYPHEN_CONTEXT + 1)
        if windows and lo <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(hi, windows[-1][1]))
        else:
            windows.append((lo, hi))
    rows: list[tuple[int, int]] = []
    token: list[int] = []
    token_end: list[int] = []
    starts: list[bool] = []
    ends: list[bool] = []
    changed: list[bool] = []
    for lo, hi in windows:
        j = lo
        while j < hi:
            if j in marked:
                last, pieces = marked[j]
                for k, piece in enumerate(pieces):
                    lower = _SPELLINGS.american(piece.lower())
                    rows.append((hash_string(lower), hash_string(piece)))
                    token.append(j)
                    token_end.append(last)
                    starts.append(k == 0)
                    ends.append(k == len(pieces) - 1)
                    changed.append(True)
                j = last + 1
                continue
            rows.append((int(arr[j, 0]), int(arr[j, 1])))
            token.append(j)
            token_end.append(j)
            starts.append(True)
            ends.append(True)
            changed.append(False)
            j += 1
        rows.append((0, 0))
        token.append(-1)
        token_end.append(-1)
        starts.append(False)
        ends.append(False)
        changed.append(False)
    return _Variant(np.array(rows, dtype=np.uint64), token, token_end, starts, ends, changed)


def tokens_with(doc: Doc, char: str) -> list[int]:
    """Indices of the tokens whose text holds ``char``, in order, found from the doc's text
    (building a Token per token to look costs more than the whole lookup)."""
    text = doc_text(doc)
    hits = [m.start() for m in re.finditer(re.escape(char), text)]
    if not hits:
        return []
    starts = doc.to_array(IDX)
    found = sorted(set((np.searchsorted(starts, hits, side="right") - 1).tolist()))
    return [i for i in found if i >= 0 and char in doc[i].text]


def _wrap_joined(doc: Doc) -> NDArray[np.intp] | None:
    """Token positions without the line breaks of hard-wrapped prose, or None when there are
    none: "chronic\nkidney disease" is one term. A break that starts a sentence (a list item,
    a header, a new line of its own: ``ns_sentences``), a line that starts with a capital (an
    item of a criteria list) or a blank line still separates words.
    """
    text = doc_text(doc)
    if "\n" not in text:
        return None
    drop: list[int] = []
    n = len(doc)
    for i in np.flatnonzero(doc.to_array(IS_SPACE)).tolist():  # the few white-space tokens
        if i == 0 or i + 1 >= n or doc[i].text.count("\n") != 1:
            continue
        after = doc[i + 1]
        if after.is_sent_start or after.text[:1].isupper():  # a line of its own
            continue
        drop.append(i)
    if not drop:
        return None
    return np.delete(np.arange(n), drop)


class _TermTable:
    """The terms of one case mode, by length: fingerprints (sorted), token hash rows and
    entry indexes as numpy arrays (a term listed twice keeps its first entry); and, per pair
    of first two tokens, which lengths of longer terms start with it."""

    __slots__ = ("by_length", "multipliers", "pair_fps", "pair_lengths")

    def __init__(self, terms: Sequence[str], entry_ids: Sequence[int], lower: bool) -> None:
        index: dict[tuple[int, ...], int] = {}
        for joined, idx in zip(terms, entry_ids, strict=True):
            words = joined.split(_SEP)
            # lower-cased terms in American spelling, as the doc's tokens are read
            # (``_Spellings``): "angioedema" and "angio-oedema" meet, whichever a source has
            key = tuple(hash_string(_SPELLINGS.american(w.lower()) if lower else w) for w in words)
            index.setdefault(key, idx)
        grouped: dict[int, list[tuple[tuple[int, ...], int]]] = defaultdict(list)
        for key, idx in index.items():
            grouped[len(key)].append((key, idx))
        longest = max(grouped, default=1)
        # fixed multipliers, so a table builds the same everywhere; another seed only in the
        # (astronomically unlikely) case that two terms of one length share a fingerprint
        for seed in range(100):
            rng = np.random.default_rng(seed)
            self.multipliers = rng.integers(1, 2**63, size=max(2, longest), dtype=np.uint64)
            self.multipliers |= np.uint64(1)
            if self._fill(grouped):
                return
        raise RuntimeError("could not fingerprint the dictionary's terms without collisions")

    def _fill(self, grouped: Mapping[int, list[tuple[tuple[int, ...], int]]]) -> bool:
        """The arrays under the current multipliers; False on a fingerprint collision."""
        self.by_length: dict[int, tuple[NDArray[Any], NDArray[Any], NDArray[Any]]] = {}
        pairs: dict[int, int] = defaultdict(int)
        for length, items in sorted(grouped.items()):
            rows = np.array([key for key, _ in items], dtype=np.uint64).reshape(-1, length)
            fps = self._fingerprints(rows)
            order = np.argsort(fps, kind="stable")
            fps = fps[order]
            if len(fps) > 1 and bool((fps[1:] == fps[:-1]).any()):
                return False
            entries = np.array([idx for _, idx in items], dtype=np.int64)[order]
            self.by_length[length] = (fps, np.ascontiguousarray(rows[order]), entries)
            if length > 1:
                for fp in self._fingerprints(rows[:, :2]).tolist():
                    pairs[fp] |= _length_bit(length)
        self.pair_fps = np.array(sorted(pairs), dtype=np.uint64)
        self.pair_lengths = np.array([pairs[fp] for fp in sorted(pairs)], dtype=np.uint64)
        return True

    def _fingerprints(self, rows: NDArray[Any]) -> NDArray[Any]:
        """One 64-bit fingerprint per row of token hashes (wrapping arithmetic)."""
        fps: NDArray[Any] = (rows * self.multipliers[: rows.shape[1]]).sum(axis=1, dtype=np.uint64)
        return fps

    def match(self, col: NDArray[Any]) -> list[tuple[int, int, int]]:
        """(start, end, entry) of the longest term starting at each token of ``col``."""
        col = np.ascontiguousarray(col, dtype=np.uint64)
        n = len(col)
        best_len = np.zeros(n, dtype=np.int64)
        best_entry = np.zeros(n, dtype=np.int64)
        self._match_single(col, best_len, best_entry)
        if n > 1 and len(self.pair_fps):
            # the lengths of the longer terms that start with each token and the next (a pair
            # fingerprint shared by chance only adds lengths to check)
            pair = col[:-1] * self.multipliers[0] + col[1:] * self.multipliers[1]
            at = np.searchsorted(self.pair_fps, pair)
            at[at == len(self.pair_fps)] = 0
            cand = np.flatnonzero(self.pair_fps[at] == pair)
            masks = self.pair_lengths[at[cand]]
            wanted = int(np.bitwise_or.reduce(masks)) if len(cand) else 0
            for length, (fps, rows, entries) in self.by_length.items():  # ascending
                bit = _length_bit(length)
                if length == 1 or not wanted & bit:
                    continue
                starts = cand[(masks & np.uint64(bit)) != 0]
                starts = starts[starts <= n - length]
                if not len(starts):
                    continue
                found = self._find(col[starts[:, None] + np.arange(length)], fps, rows)
                if found is not None:
                    hit, at_ = found
                    best_len[starts[hit]] = length  # a longer term replaces a shorter one
                    best_entry[starts[hit]] = entries[at_]
        starts = np.flatnonzero(best_len)
        return list(
            zip(
                starts.tolist(),
                (starts + best_len[starts]).tolist(),
                best_entry[starts].tolist(),
                strict=True,
            )
        )

    def _match_single(
        self, col: NDArray[Any], best_len: NDArray[Any], best_entry: NDArray[Any]
    ) -> None:
        """One-token terms at every token of ``col``."""
        table = self.by_length.get(1)
        if table is None:
            return
        fps, _, entries = table
        wanted = col * self.multipliers[0]
        at = np.searchsorted(fps, wanted)
        at[at == len(fps)] = 0
        hit = np.flatnonzero(fps[at] == wanted)  # one token: the fingerprint is exact
        best_len[hit] = 1
        best_entry[hit] = entries[at[hit]]

    def _find(
        self, windows: NDArray[Any], fps: NDArray[Any], rows: NDArray[Any]
    ) -> tuple[NDArray[Any], NDArray[Any]] | None:
        """(window positions, table positions) of the windows that are terms, or None."""
        wanted = self._fingerprints(windows)
        at = np.searchsorted(fps, wanted)
        at[at == len(fps)] = 0
        hit = np.flatnonzero(fps[at] == wanted)
        if not len(hit):
            return None
        hit = hit[(rows[at[hit]] == windows[hit]).all(axis=1)]
        return hit, at[hit]

    def lookup(self, key: Sequence[int]) -> int | None:
        """Entry index of the term with exactly these token hashes, or None."""
        table = self.by_length.get(len(key))
        if table is None:
            return None
        fps, rows, entries = table
        found = self._find(np.array([key], dtype=np.uint64), fps, rows)
        if found is None or not len(found[0]):
            return None
        return int(entries[found[1][0]])

    def __len__(self) -> int:
        return sum(len(fps) for fps, _, _ in self.by_length.values())


def _length_bit(length: int) -> int:
    """The bit of a term length in a pair's length mask (lengths of 63 and more share one:
    they are all checked, and only true terms match)."""
    return 1 << min(length, 63)


def term_tokens(joined: str) -> list[str]:
    """Tokens of a stored term."""
    return joined.split(_SEP)

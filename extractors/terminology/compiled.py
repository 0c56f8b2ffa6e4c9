"""Compiles terminology sources into a phrase table, caches it on disk, loads it as matchers."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import re
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from spacy.attrs import IDX, IS_SPACE, LOWER, ORTH
from spacy.language import Language
from spacy.strings import hash_string  # type: ignore[attr-defined]
from spacy.tokens import Doc

from extractors.base import doc_text
from extractors.patterns import alternation
from extractors.terminology.byo import read_byo_source, source_fingerprint
from extractors.terminology.concepts import (
    LABELS,
    PRIORITY,
    Code,
    Concept,
    clean_title,
    hyphen_variants,
    is_acronym,
    is_usable,
    plural_variants,
    spelling_variants,
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

log = logging.getLogger(__name__)

# Version history of the compiled format and build rules (part of the cache key):
# 1 (2026-11): first compiled dictionary (curated, HPO, ICD-10-CM, drug names, BYO sources).
# 2 (2026-12): possessive eponyms also with the typeset apostrophe ("Crohn’s disease").
BUILD_VERSION = 2

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


def build_table(nlp: Language, config: DictionaryConfig) -> PhraseTable:
    """Read every configured source and compile the phrase table (minutes at most, usually s)."""
    t0 = time.perf_counter()
    stoplist = load_stoplist()
    labels = set(config.labels)
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
    for key, by_kind in best.items():
        kinds = sorted(by_kind, key=lambda k: PRIORITY.get(k, 9))
        winner = by_kind[kinds[0]][1]
        codes = list(winner.codes)
        seen_systems = {c[0] for c in codes}
        sources = [winner.source]
        for kind in kinds[1:]:
            other = by_kind[kind][1]
            if other.label != winner.label:
                continue
            extra = [c for c in other.codes if c[0] not in seen_systems]
            if extra:
                codes.extend(extra)
                seen_systems.update(c[0] for c in extra)
                sources.append(other.source)
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
            for var_tokens in (*plural_variants(tokens), *hyphen_variants(tokens)):
                variants.append((_SEP.join(var_tokens), idx))
    for joined, idx in variants:  # a real term always beats a generated variant
        if joined not in lower and is_usable(joined.replace(_SEP, " "), stoplist):
            lower[joined] = idx
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


@dataclass
class MatchData:
    """What matching needs of a compiled dictionary: its entries, the hashed term index and
    the table's meta. Cached beside the table (``index.pkl``): hashing every term again took
    most of a pipeline build (about 3 s of 6 with a warm cache); unpickling it takes a
    fraction of that."""

    entries: list[Entry]
    index: TermIndex
    meta: dict[str, Any]


def get_match_data(nlp: Language, config: DictionaryConfig) -> tuple[MatchData, bool]:
    """The cached ``MatchData`` for ``config``, else made from the (cached or newly built)
    phrase table and cached; returns (data, whether the table was built now)."""
    path = config.cache_path(tokenizer_id(nlp))
    file = path / "index.pkl"
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
    data = MatchData(table.entries, TermIndex(table), table.meta)
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

    Terms are stored as tuples of 64-bit string hashes, which spaCy computes the same way in
    every vocab; so the index needs no Doc objects and no vocab entries, unpickles in well
    under a second and matches with one dict probe per token (a miss for most tokens); a
    candidate's second token selects the few term lengths worth probing.
    """

    __slots__ = (
        "case_first",
        "case_keys",
        "case_terms",
        "lower_first",
        "lower_keys",
        "lower_terms",
    )

    def __init__(self, table: PhraseTable) -> None:
        self.lower_terms, self.lower_first = _hash_terms(table.lower_terms, table.lower_entry, True)
        self.case_terms, self.case_first = _hash_terms(table.case_terms, table.case_entry, False)
        # Sorted first-token hashes: numpy finds the candidate positions of a doc at C speed.
        self.lower_keys = np.array(sorted(self.lower_first), dtype=np.uint64)
        self.case_keys = np.array(sorted(self.case_first), dtype=np.uint64)

    def match(self, doc: Doc) -> list[tuple[int, int, int]]:
        """(start, end, entry index) of every longest term at each token, before overlaps."""
        if len(doc) == 0:
            return []
        arr = doc.to_array([LOWER, ORTH])
        _SPELLINGS.americanize(doc, arr)
        keep = _wrap_joined(doc)
        if keep is not None:  # match over the words with hard-wrap line breaks left out
            return [
                (int(keep[s]), int(keep[e - 1]) + 1, idx)
                for s, e, idx in self._match(arr[keep])
            ]
        return self._match(arr)

    def _match(self, arr: np.ndarray) -> list[tuple[int, int, int]]:
        out: list[tuple[int, int, int]] = []
        for col, keys, first, terms in (
            (arr[:, 0], self.lower_keys, self.lower_first, self.lower_terms),
            (arr[:, 1], self.case_keys, self.case_first, self.case_terms),
        ):
            if not len(keys):
                continue
            pos = np.searchsorted(keys, col)
            pos[pos == len(keys)] = 0
            candidates = np.flatnonzero(keys[pos] == col)
            if not len(candidates):
                continue
            seq: list[int] = col.tolist()
            n = len(seq)
            last = n - 1
            for i in candidates.tolist():
                single, by_second = first[seq[i]]
                # a term of two or more tokens that matches here starts with these two
                lengths = by_second.get(seq[i + 1]) if i < last else None
                if lengths is not None:
                    for length in lengths:  # longest first
                        if i + length > n:
                            continue
                        idx = terms.get(tuple(seq[i : i + length]))
                        if idx is not None:
                            out.append((i, i + length, idx))
                            break
                    else:
                        lengths = None
                if lengths is None and single is not None:
                    out.append((i, i + 1, single))
        return out

    def has_term(self, words: Sequence[str]) -> bool:
        """Whether these lower-cased tokens form a term."""
        return tuple(hash_string(w) for w in words) in self.lower_terms

    def entry_of(self, words: Sequence[str]) -> int | None:
        """Entry index of the term these lower-cased tokens form, or None."""
        return self.lower_terms.get(tuple(hash_string(w) for w in words))

    def __len__(self) -> int:
        return len(self.lower_terms) + len(self.case_terms)


class _Spellings:
    """Reads British spellings of medical words as the American ones the terminologies use
    ("haemorrhage", "oesophageal", "tumour"): the LOWER hash of such a token is replaced, in
    the match array only, by the hash of its American form (``rules/dictionary/
    spellings.json``). One trie-shaped regex over the lower-cased text finds the few
    candidate tokens of a doc (about 1 % of the pipeline's time)."""

    def __init__(self) -> None:
        self._rules: list[tuple[str, str]] | None = None
        self._find: re.Pattern[str] | None = None

    def _load(self) -> tuple[list[tuple[str, str]], re.Pattern[str]]:
        if self._rules is None or self._find is None:
            self._rules = load_spellings()
            self._find = re.compile(alternation([b.rstrip("$") for b, _ in self._rules]))
        return self._rules, self._find

    def american(self, word: str) -> str:
        rules, _ = self._load()
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

    def americanize(self, doc: Doc, arr: np.ndarray) -> None:
        _, find = self._load()
        text = doc_text(doc)
        lower = text.lower()
        if len(lower) != len(text):  # a character whose lower case is longer ("İ")
            lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
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


def _wrap_joined(doc: Doc) -> np.ndarray | None:
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


#: Shared "no longer terms" map of the many one-token-only first words.
_NO_LONGER: dict[int, tuple[int, ...]] = {}


def _hash_terms(
    terms: Sequence[str], entry_ids: Sequence[int], lower: bool
) -> tuple[
    dict[tuple[int, ...], int],
    dict[int, tuple[int | None, dict[int, tuple[int, ...]]]],
]:
    """Hashed terms, and per first token: the entry of the one-token term (or None) and the
    lengths (longest first) of the longer terms by their second token."""
    index: dict[tuple[int, ...], int] = {}
    longer: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    for joined, idx in zip(terms, entry_ids, strict=True):
        words = joined.split(_SEP)
        key = tuple(hash_string(w.lower() if lower else w) for w in words)
        index.setdefault(key, idx)
        by_second = longer[key[0]]
        if len(key) > 1:
            by_second[key[1]].add(len(key))
    first = {
        h: (
            index.get((h,)),
            {h2: tuple(sorted(ls, reverse=True)) for h2, ls in by_second.items()}
            if by_second
            else _NO_LONGER,
        )
        for h, by_second in longer.items()
    }
    return index, first


def term_tokens(joined: str) -> list[str]:
    """Tokens of a stored term."""
    return joined.split(_SEP)

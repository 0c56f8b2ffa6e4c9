"""Concept records and the lexical clean-up that turns source titles into matchable terms."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from spacy.lang.en.stop_words import STOP_WORDS

#: (system, code, display)
Code = tuple[str, str, str]

#: Source priority: when two sources give the same surface form, the lower number wins
#: (curated tables know clinical usage; user-given terminologies beat bundled open ones).
PRIORITY: dict[str, int] = {
    "curated": 0,
    "byo": 1,
    "hpo": 2,
    "icd10cm": 3,
    "drugs": 4,
    "rare": 5,
}

LABELS: frozenset[str] = frozenset({"PROBLEM", "MEDICATION", "PROCEDURE"})
#: The label of terms that name nothing to extract but must claim their words in the
#: longest-match pass ("interleukin-2 receptor" is not the drug "interleukin-2").
BLOCK_LABEL = "NONE"


@dataclass(frozen=True, slots=True)
class Concept:
    """One entry of a terminology: a stable id, a label, its codes and its surface terms."""

    concept_id: str
    label: str
    codes: tuple[Code, ...]
    terms: tuple[str, ...]
    source: str  # source name and version, e.g. "icd10cm@1.5.0"
    kind: str  # key of PRIORITY
    #: Terms already in their final form (curated): skip the title clean-up.
    verbatim: bool = False
    #: Tie-break inside one source (lower wins), e.g. general ICD categories over subcodes.
    rank: int = 0
    #: Systems that no other source may add codes of to this concept's terms: a curated term
    #: that names no site ("scar", "effusion") must not take a site-specific code ("Scar
    #: conditions and fibrosis of skin", "Effusion, unspecified joint") from an index.
    closed: frozenset[str] = frozenset()


# Words after a comma (or "unspecified" words) that only qualify a title; the head before
# the comma is the usable surface form: "Pneumonia, unspecified organism" -> "Pneumonia".
_QUALIFIERS = frozenset(
    """unspecified other specified left right bilateral unilateral side sides site sites
    organism organisms initial subsequent encounter sequela part parts region type
    upper lower limb limbs arm leg nos nec not elsewhere classified and or of with without
    in the a an first episode care""".split()
)
_TAG = re.compile(
    r"\s*\((?:disorder|finding|procedure|situation|morphologic abnormality|"
    r"regime/therapy|substance|product|medicinal product|clinical drug|event|"
    r"observable entity|body structure|qualifier value|physical object|"
    r"specimen|organism|environment|person|occupation)\)\s*$",
    re.I,
)
_BRACKETS = re.compile(r"\s*[\(\[][^\(\)\[\]]*[\)\]]")
_TRAILING = re.compile(
    r"(?:,?\s+(?:NOS|NEC)|,\s*not elsewhere classified|\s+without complications?|"
    r",\s*unspecified(?:\s+\w+)?)\s*$",
    re.I,
)
_SPACES = re.compile(r"\s+")


def strip_semantic_tag(text: str) -> str:
    """Drop a SNOMED CT semantic tag: "Cough (finding)" -> "Cough"."""
    return _TAG.sub("", text).strip()


def clean_title(text: str) -> str | None:
    """Turn a terminology title into a surface form a note would use, or None if unusable.

    Drops semantic tags, bracketed qualifiers and "unspecified"/"NOS"-style tails, keeps the
    head of "head, qualifiers" titles, and rejects "Other ..." residual categories.
    """
    text = strip_semantic_tag(text)
    text = _BRACKETS.sub("", text)
    text = _SPACES.sub(" ", text).strip(" ,;.")
    for _ in range(3):
        new = _TRAILING.sub("", text).strip(" ,;.")
        if new == text:
            break
        text = new
    if "," in text:
        head, _, tail = text.partition(",")
        tail_words = re.findall(r"[a-z]+", tail.lower())
        if tail_words and all(w in _QUALIFIERS for w in tail_words):
            text = head.strip()
        else:
            return None  # "A, with B" titles never appear verbatim in notes
    low = text.lower()
    if low.startswith(("other ", "others ", "unspecified and ", "other and ")):
        return None
    if low.startswith("unspecified "):
        text = text[len("unspecified ") :]
    if ";" in text or ":" in text:
        return None
    if low.startswith("family history of"):  # the problem itself + ConText's family flag
        return None
    return text.strip() or None


def is_acronym(term: str) -> bool:
    """Short all-capitals terms ("CHF", "T2DM", "N/V") are matched case-sensitively."""
    return (
        " " not in term
        and len(term) <= 6
        and any(c.isalpha() for c in term)
        and term == term.upper()
    )


def is_usable(term: str, stoplist: frozenset[str], *, curated: bool = False) -> bool:
    """Reject terms that would match ordinary English or carry no meaning on their own."""
    low = term.lower()
    letters = sum(c.isalpha() for c in term)
    if letters < 2:
        return False
    if is_acronym(term):  # matched case-sensitively: "CP" never matches "cp" or "Cp"
        # Outside the curated tables an acronym must not spell an English word: notes
        # written in capitals ("THE PATIENT DID WELL") would match it.
        return curated or (len(term) >= 3 and low not in stoplist and low not in STOP_WORDS)
    if low in stoplist or low in STOP_WORDS:
        return False
    if len(low) < 3 or (len(low) < 4 and not curated and " " not in low):
        return False
    return len(low.split()) <= 12


#: Words ending like plurals that are singular (or have no singular).
_NO_NUMBER = frozenset(
    """diabetes herpes rabies measles mumps scabies rickets caries series species feces
    faeces lues tetanus ascites pubes news physics genetics mechanics arthritis""".split()
)


def plural_variants(tokens: list[str]) -> list[list[str]]:
    """Singular/plural variants of the last token ("ulcers" <-> "ulcer", "biopsies",
    "dyskinesia" -> "dyskinesias", "stenosis" -> "stenoses", "calculus" -> "calculi",
    "diverticulum" -> "diverticula", "varix" <-> "varices")."""
    last = tokens[-1]
    if not last.isalpha() or not last.islower() or last in _NO_NUMBER:
        return []
    if len(last) < 4:
        # a three-letter noun ending a longer name takes a plain "-s" ("lip pits", "motor
        # tics", "restless legs"); alone, or ending in "s" or "y", it is left as it is
        if len(last) == 3 and len(tokens) > 1 and last[-1] not in "sy":
            return [[*tokens[:-1], last + "s"]]
        return []
    out: list[str] = []
    if last.endswith("ies") and len(last) > 4:
        out.append(last[:-3] + "y")
    elif last.endswith("ices") and len(last) >= 7:  # "varices" -> "varix", "cortices"
        out += [last[:-4] + "ix", last[:-4] + "ex"]
    elif last.endswith(("ix", "ex")) and len(last) >= 5:  # "varix" -> "varices"
        out += [last[:-2] + "ices", last + "es"]
    elif last.endswith(("ses", "xes", "ches", "shes")):
        out.append(last[:-2])
    elif last.endswith("s") and not last.endswith(("ss", "us", "is", "ous", "ys")):
        out.append(last[:-1])
    elif last.endswith("y") and last[-2] not in "aeiou":
        out.append(last[:-1] + "ies")
    elif last.endswith("osis"):  # "stenosis" -> "stenoses", "thrombosis" -> "thromboses"
        out.append(last[:-4] + "oses")
    elif last.endswith("us") and not last.endswith("ous") and len(last) >= 5:
        # Latin "-us" -> "-i" ("calculus" -> "calculi", "embolus" -> "emboli"), and "-uses"
        out += [last[:-2] + "i", last + "es"]
    elif last.endswith("um") and len(last) >= 6:  # "diverticulum" -> "diverticula"
        out.append(last[:-2] + "a")
    elif last.endswith(("s", "x", "ch", "sh")):
        out.append(last + "es")
    elif last.endswith(("oma", "ia")) or not last.endswith(
        ("a", "is", "um", "us", "ed", "ing", "al", "ic", "ous")
    ):
        out.append(last + "s")
    return [[*tokens[:-1], v] for v in out]


def acronym_plural(token: str) -> str | None:
    """The plural a note writes of an all-capitals acronym token: "AVM" -> "AVMs", "PVC" ->
    "PVCs", "MI" -> "MIs"; None for one ending in "S" ("AIDS", "ALS": no "AIDSs"), a digit
    ("DM2") or anything that is not an upper-case word."""
    if len(token) < 2 or not token.isalnum() or token != token.upper():
        return None
    if not token[-1].isalpha() or token.endswith("S"):
        return None
    return token + "s"


#: Nouns whose adjective names something else: "narcotic" (a drug, not narcosis), "sclerotic"
#: (a bone lesion's density, not sclerosis), "osteopathic" (a school of medicine),
#: "hypertonic" (a saline), "eosinophilic" (a stain: "eosinophilic cytoplasm"), "lordotic"
#: (the normal curve of the spine), "keratotic" (a lesion's surface).
_NO_ADJECTIVE = frozenset(
    {
        "narcosis",
        "sclerosis",
        "osteopathy",
        "hypnosis",
        "dementia",
        "hypertonia",
        "hypotonia",
        # the normal curve ("the lumbar lordotic curve is maintained"), a lesion's surface
        "lordosis",
        "keratosis",
        "seborrhea",  # "seborrheic keratosis", "seborrheic keratotic lesion": a kind of lesion
    }
)

#: Noun endings of findings and the adjective a clinician writes for them.
_ADJECTIVE_ENDINGS = (
    ("pathy", "pathic"),  # encephalopathy -> encephalopathic, coagulopathy -> coagulopathic
    ("osis", "otic"),  # acidosis -> acidotic, ketosis -> ketotic
    ("ema", "ematous"),  # erythema -> erythematous, eczema -> eczematous
    ("ora", "oric"),  # plethora -> plethoric
    ("ea", "eic"),  # apnea -> apneic, orthopnea -> orthopneic
    ("ia", "ic"),  # hyperkalemia -> hyperkalemic, thrombocytopenia -> thrombocytopenic
)


#: Noun endings of findings and the participle a clinician writes for the state of the part
#: affected ("a calcified node", "a thrombosed haemorrhoid", "95% stenosed", "the muscle was
#: atrophied", "hemorrhagic fluid"). Not "-ation" / "-ction": those participles name what a
#: surgeon does as often ("fluid was aspirated", "the dura was perforated with a needle",
#: "the tube was obstructed with bone wax", "infiltrated with lidocaine").
PARTICIPLE_ENDINGS = (
    ("rrhage", "rrhagic"),  # hemorrhage -> hemorrhagic
    ("trophy", "trophied"),  # atrophy -> atrophied, hypertrophy -> hypertrophied
    ("osis", "osed"),  # stenosis -> stenosed, thrombosis -> thrombosed
    ("fication", "fied"),  # calcification -> calcified, lichenification -> lichenified
)
#: Nouns whose participle names an act: "diagnosed", "sclerosed" (after sclerotherapy).
_NO_PARTICIPLE = frozenset({"diagnosis", "prognosis", "sclerosis"})


def adjective_variants(tokens: list[str]) -> list[list[str]]:
    """The adjective of a one-word finding ("the patient was thrombocytopenic, acidotic and
    encephalopathic"): "-ia" -> "-ic", "-pathy" -> "-pathic", "-osis" -> "-otic", "-ea" ->
    "-eic", and the participle of the part it affects ("calcified", "infected", "thrombosed":
    ``PARTICIPLE_ENDINGS``). Only one-word terms (a longer term is named by its noun)."""
    if len(tokens) != 1:
        return []
    word = tokens[0]
    if not word.isalpha() or not word.islower() or len(word) < 6 or word in _NO_ADJECTIVE:
        return []
    if word.endswith("philia") and word != "hemophilia":  # "eosinophilic", "basophilic" stain
        return []
    out: list[list[str]] = []
    for noun, adjective in _ADJECTIVE_ENDINGS:
        if word.endswith(noun):
            out.append([word[: -len(noun)] + adjective])
            break
    if word not in _NO_PARTICIPLE:
        for noun, participle in PARTICIPLE_ENDINGS:
            if word.endswith(noun):
                out.append([word[: -len(noun)] + participle])
                break
    return out


#: Words that say a function or quantity is below normal, first in a finding's name
#: ("Decreased urine output", "Reduced visual acuity", "Impaired hearing"), and the words
#: writers use for them as well ("reduced urine output", "poor visual acuity", "diminished
#: hearing"). Only the first four start a variant: "low" and "poor" are also parts of names
#: ("low back pain", "low-set ears", "poor prognosis"). Not "increased" / "elevated": the
#: sources name mostly lab results so ("Elevated serum creatine kinase"), which the lab
#: extractor reads with their values, and the case report and clinical case corpora do not
#: count "raised creatine kinase" or "elevated bilirubin" as problems.
_DECREASE_STARTS = frozenset({"decreased", "reduced", "diminished", "impaired"})
_DECREASE_WORDS = ("decreased", "reduced", "diminished", "impaired", "low", "poor")
#: Measures that a two-word finding names with no thing measured ("Decreased concentration",
#: the attention; "Decreased size"): written "low concentration" or "reduced size" they are
#: about a drug or a specimen as often.
_BARE_MEASURES = frozenset(
    """size concentration level levels amount number count volume rate activity intensity
    dose""".split()
)


def quantity_variants(tokens: list[str]) -> list[list[str]]:
    """ "decreased urine output" also as "reduced / diminished / impaired / low / poor urine
    output" (``_DECREASE_WORDS``); only for a term of two words or more whose second is a
    word ("decreased" alone is none)."""
    if len(tokens) < 2 or tokens[0] not in _DECREASE_STARTS or not tokens[1].isalpha():
        return []
    if len(tokens) == 2 and tokens[1] in _BARE_MEASURES:
        return []
    return [[word, *tokens[1:]] for word in _DECREASE_WORDS if word != tokens[0]]


#: General heads of a disorder's name that writers use for one another ("lysosomal storage
#: disease" / "disorder"), each with its plural.
_SWAPPED_HEADS = {
    "disease": ("disorder", "disorders"),
    "diseases": ("disorders", "disorder"),
    "disorder": ("disease", "diseases"),
    "disorders": ("diseases", "disease"),
    # "lacunar infarction" as "lacunar infarct(s)", "cerebral infarct" as "... infarction"
    "infarction": ("infarct", "infarcts"),
    "infarctions": ("infarcts",),
    "infarct": ("infarction",),
    "infarcts": ("infarctions",),
}

#: Heads of a finding named by a function ("memory impairment", "speech problem", "walking
#: disability", "sleep disturbance") that writers use for one another ("memory deficits",
#: "speech impairment", "walking difficulties"), with their plurals.
_FUNCTION_HEADS = (
    ("impairment", "impairments"),
    ("deficit", "deficits"),
    ("difficulty", "difficulties"),
    ("disturbance", "disturbances"),
    ("problem", "problems"),
    ("disability", "disabilities"),
)
for _heads in _FUNCTION_HEADS:
    for _head in _heads:
        _SWAPPED_HEADS[_head] = tuple(h for hs in _FUNCTION_HEADS for h in hs if h != _head)
del _heads, _head
#: A function word and a head that together name one disorder, not a finding about the
#: function: "attention deficit" is ADHD, "attention problems" is not.
_NAMED_BY_HEAD = frozenset({("attention", "deficit"), ("attention", "deficits")})


def head_variants(tokens: list[str]) -> list[list[str]]:
    """ "lysosomal storage disease" also matches "lysosomal storage disorder(s)", and the
    other way round, "lacunar infarction" "lacunar infarct(s)" and "memory impairment"
    "memory deficits" (``_FUNCTION_HEADS``); only for a term of two words or more (a bare
    "disease" is none)."""
    if len(tokens) < 2 or tokens[-1] not in _SWAPPED_HEADS or not tokens[-2].isalpha():
        return []
    if tuple(tokens[-2:]) in _NAMED_BY_HEAD:
        return []
    return [[*tokens[:-1], head] for head in _SWAPPED_HEADS[tokens[-1]]]


def hyphen_variants(tokens: list[str]) -> list[list[str]]:
    """ "full-time" (tokens full - time) also matches "full time"."""
    if "-" not in tokens[1:-1]:
        return []
    return [[t for t in tokens if t != "-"]]


#: Abbreviations the tokenizer keeps whole with their period when written capitalised ("St.",
#: "Dr.") but splits in a lower-cased term ("st", "."): "St. John's wort" as notes write it.
_PERIOD_ABBREVIATIONS = frozenset({"st", "dr", "mt", "ft", "mr", "mrs", "ms", "jr", "sr"})


def typography_variants(tokens: list[str]) -> list[list[str]]:
    """ "st . john 's wort" also matches "St. John's wort" (one token "st.") and the typeset
    apostrophe ("St. John’s wort")."""
    merged: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i] in _PERIOD_ABBREVIATIONS and i + 1 < len(tokens) and tokens[i + 1] == ".":
            merged.append(tokens[i] + ".")
            i += 2
        else:
            merged.append(tokens[i])
            i += 1
    out = [merged] if merged != tokens else []
    for base in (tokens, merged):
        if "'s" in base:
            out.append(["’s" if t == "'s" else t for t in base])
    return [v for i, v in enumerate(out) if v != tokens and v not in out[:i]]


def read_lines(text: str) -> Iterable[str]:
    """Non-empty, non-comment lines of a small data file."""
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield line


_HYPHEN = re.compile(r"(?<=[a-z])-(?=[a-z])", re.I)
#: A hyphen after a word-forming prefix, which writers as often close up: "pre-eclampsia" /
#: "preeclampsia", "hypo-kalaemia", "peri-operative", "co-infection", "re-stenosis".
_PREFIX_HYPHEN = re.compile(
    r"\b(pre|post|non|anti|intra|inter|hyper|hypo|peri|sub|supra|trans|re|co|micro|macro"
    r"|poly|multi|neo|pseudo|semi|para|extra|infra|retro|ultra|auto)-(?=[a-z]{3})",
    re.I,
)


#: Heads an eponym names ("Castleman disease", "Bell palsy", "Hodgkin lymphoma").
_EPONYM_HEADS = frozenset(
    """disease syndrome palsy sign phenomenon lymphoma sarcoma tumor tumour anomaly ulcer
    ulcers anemia ataxia dystrophy disorder fracture""".split()
)
#: A word that can be a surname: letters (a hyphenated pair too), not an adjective's ending
#: ("renal", "chronic", "infectious") or a plural ("Addisons" is already a variant).
_EPONYM = re.compile(
    r"^(?![a-z]*(?:al|ic|ous|ive|ary|ar|oid|ed|ing|ile|s)$)[a-z]{3,}(?:-[a-z]{3,})?$"
)


#: A surname ending in "s" ("Wilms", "Graves", "Menkes"), not a Latin or Greek ending.
_EPONYM_IN_S = re.compile(r"^[a-z]{3,}(?<![siu])s$")


def spelling_variants(surface: str) -> list[str]:
    """Hyphen/space variants: "full-time" <-> "full time" (two-word terms only for the
    reverse direction, which would otherwise multiply)."""
    out: list[str] = []
    if _HYPHEN.search(surface):
        out.append(_HYPHEN.sub(" ", surface))
        out.append(_HYPHEN.sub(" - ", surface))  # text tokenised with spaced hyphens
    closed = _PREFIX_HYPHEN.sub(r"\1", surface)
    if closed != surface:  # "pre-eclampsia" -> "preeclampsia", "non-Hodgkin" -> "nonHodgkin"
        out.append(closed)
    if "'s " in surface:  # "Addison's disease" -> "Addisons disease", "Addison disease"
        out.append(surface.replace("'s ", "s "))
        out.append(surface.replace("'s ", " "))
        out.append(surface.replace("'s ", " ' s "))
        out.append(surface.replace("'s ", "’s "))  # typeset apostrophe: "Bowen’s disease"
    words = surface.split(" ")
    if len(words) >= 2 and words[1] in _EPONYM_HEADS and _EPONYM.match(words[0]):
        # the possessive of an eponym a source names without it: "Castleman disease" ->
        # "Castleman's disease" (and the typeset apostrophe)
        rest = " ".join(words[1:])
        out += [f"{words[0]}'s {rest}", f"{words[0]}’s {rest}", f"{words[0]} ' s {rest}"]
        # the possessive without its apostrophe: "Thomsens disease", "Burkitts lymphoma"
        out.append(f"{words[0]}s {rest}")
    elif len(words) >= 2 and words[1] in _EPONYM_HEADS and _EPONYM_IN_S.match(words[0]):
        # a name ending in "s" takes the apostrophe alone: "Wilms tumor" -> "Wilms' tumor"
        rest = " ".join(words[1:])
        out += [f"{words[0]}' {rest}", f"{words[0]} ' {rest}", f"{words[0]}’ {rest}"]
    if len(words) == 2 and all(w.isalpha() and len(w) >= 3 for w in words):
        out.append("-".join(words))
        out.append(" - ".join(words))
    return out

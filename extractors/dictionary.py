"""Dictionary extractor: terminology phrases -> PROBLEM, MEDICATION and PROCEDURE spans."""

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from spacy.attrs import LOWER, ORTH
from spacy.language import Language
from spacy.strings import hash_string  # type: ignore[attr-defined]
from spacy.tokens import Doc, Span, Token

from extractors.base import MENTIONS, NOT_MENTIONS, doc_text
from extractors.extensions import SPAN_KEY_PREFIX as _KEY
from extractors.extensions import span_key
from extractors.patterns import TermStarts, make_span, matches_at
from extractors.terminology.compiled import (
    DictionaryConfig,
    Entry,
    EntryTable,
    TermIndex,
    get_match_data,
    tokenizer_id,
    tokens_with,
)
from extractors.terminology.concepts import PARTICIPLE_ENDINGS
from extractors.terminology.sources import (
    OPEN_SOURCES,
    load_modifiers,
    load_predicates,
    load_senses,
    load_stoplist,
)

log = logging.getLogger(__name__)

# Version history:
# 24 (2026-12): a hemorrhagic stroke is a cerebral hemorrhage (curated: 274100004 / I61.9),
#              not the bare stroke's cerebral infarction (I63.9) with the participle dropped.
# 23 (2026-12): review fixes: a participle right before another term or a kind noun is no
#              finding of its own ("hemorrhagic stroke", "thrombosed external hemorrhoid",
#              "hemorrhagic shock protocol"); a problem before a test word keeps its mention
#              when a result word stands before it or later in the sentence ("a positive HIV
#              test", "COVID-19 PCR test on admission was positive"); only a hard-wrapped line
#              (one break, then lower case) joins a test word on the next line.
# 22 (2026-12): chest radiograph findings of CheXpert's and NegBio's lexicons (pulmonary vascular
#              redistribution and indistinctness, eventration, flattened diaphragms, bulla,
#              lobar/basilar collapse, masslike opacity, hazy/hemithorax opacification,
#              hyperlucent lungs; pulmonary congestion coded, an organ's
#              'vascular congestion' not; build 26); "the aorta is tortuous", "the costophrenic
#              angle is blunted" as predicates.
# 21 (2026-12): review fixes: SI and HI need a psychiatric cue ("denies SI or HI", "passive
#              SI"; not "no increased T2 SI", "Bilateral SI:", "No HI, no LOC" after a fall);
#              LOC not after "with" or "negative"; AR and AI beside MR/TR or graded (not
#              "ER, PR and AR were positive", "Severe AI requiring hydrocortisone"); "TR band";
#              iron is no drug in "iron chelation", "iron poisoning", "iron studies"
#              (drug_names.json ``not_drugs``); curated "fistula" (428794004) and "AV fistula"
#              (439470001) instead of ICD's joint fistula M25.10; neonatal withdrawal (P96.1),
#              "alcohol withdrawal delirium".
# 20 (2026-12): a problem named before a test or a vaccine for it is no problem of the patient
#              ("HIV serology", "Hepatitis B and C serology", "HIV and HTLV testing",
#              "tumour markers", "influenza vaccination"; ``_TEST_WORDS``), unless the words
#              after say the test found it ("the mononucleosis screen is positive") or the
#              problem is a test's result ("abnormal glucose tolerance test"); a service or
#              test word after a hard-wrapped line counts ("DVT\nprophylaxis"); a predicate
#              rule's group "finding" is its mention: pallor stated of the patient or the skin
#              ("he looked [pale]", "[pale] conjunctivae"; not "pale yellow", "the liver appears
#              pale"); build 24 (compiled.py): SNOMED CT situations are no terms, a source's
#              "decreased X" also as "reduced / diminished / impaired / low / poor X", the
#              adjectives "erythematous", "eczematous", "plethoric" and the participles
#              "calcified", "thrombosed", "stenosed", "atrophied", "hemorrhagic", "cyanosed".
# 19 (2026-12): alcohol and opioid withdrawal are problems (curated: 191480000 / F10.939,
#              87132004 / F11.93).
# 18 (2026-12): drugs carry no MeSH code that is one of their pharmacological actions
#              ("cefepime" was MSH D000900, Anti-Bacterial Agents, displayed as "Cefepime";
#              "metformin" D007004, Hypoglycemic Agents); classes keep theirs ("antibiotics").
# 17 (2026-12): valve regurgitation abbreviations of echo reports, after a grade or beside
#              another valve's ("mild TR", "trace AR", "moderate AI", "trace PR"; senses.json
#              ``only_here``); not "PR interval", "ER/PR positive", "AR expression".
# 16 (2026-12): abbreviations that no source lists because their senses are many, read where
#              the words around them name one (senses.json ``only_here``): "denies SI or HI"
#              (suicidal, homicidal ideation), "no LOC" (loss of consciousness); not "SI
#              joint", "SI units", "decreased LOC".
# 15 (2026-12): names notes use for drugs that the drug vocabulary leaves out (thiamine,
#              senna, iron, riboflavin; brands: Solu-Cortef, Kayexalate, Sinemet; data file
#              rules/dictionary/drug_names.json); "iron" is no longer a stop word (a measured
#              iron is no drug given: analytes.json).
# 14 (2026-12): an acronym no terminology lists, named as what the patient was diagnosed with
#              ("diagnosed with PUPPP", "the diagnosis of AFLP", "consistent with PAM",
#              "the suspicion of a PC"), is an uncoded problem wherever the note writes it
#              (pattern:diagnosed-acronym); a size, rate, number or recurrence prefix on a
#              listed one-word problem makes an uncoded problem ("microcalcifications",
#              "bradyarrhythmias", "rebleeding": prefixed:<word>); the short form of a
#              listed problem followed by what it is of ("solitary fibrous tumor of the liver
#              (SFTL)", "acute fatty liver of pregnancy (AFLP)") is an uncoded problem
#              (pattern:short-form-of-problem) instead of a short form no source knows.
# 13 (2026-12): a drug class named by its use before "medication(s)", "medicine(s)", "drug(s)"
#              or "agent(s)" ("anti-dementia medications", "cardiac medications", "blood
#              pressure medicines", "cholesterol-lowering drugs": pattern:drug-class-by-use) and
#              by a receptor named in words before "agonist(s)", "antagonist(s)", "blocker(s)"
#              ("calcium antagonists", "alpha blocker", "leukotriene receptor antagonists");
#              English words and body substances a drug vocabulary lists are no drugs (build
#              17: "luminal", "snare", "IL-6", "VEGF", "dystrophin"); a drug before "-based"
#              or "-containing" in one token is that drug ("bortezomib-based induction").
# 12 (2026-12): damage, injury and toxicity of an internal organ are its disorder ("renal
#              injury", "myocardial damage", "pulmonary toxicity", "brain damage":
#              organ_disorders.json); the dominant mode of inheritance qualifies a problem
#              like the recessive ones ("autosomal dominant retinitis pigmentosa"); the short
#              form of a name that is no finding ("glucose-6-phosphate dehydrogenase (G6PD)")
#              no longer hides the longer term around it ("G6PD deficiency").
# 11 (2026-12): a drug's span takes in the rest of its chemical name: the salt or ester it is
#              given as ("desipramine HCl", "metoprolol succinate", "warfarin sodium",
#              "sodium valproate", "nitro-L-arginine methyl ester") and locants, stereo
#              descriptors and substituents hyphenated before it in tokenised text ("6 -
#              hydroxydopamine", "( R ) - alpha - methylhistamine", "[ 3H ] - naloxone");
#              drug development codes are uncoded drugs ("LY274614", "MK-801", "AZD9291");
#              a drug class named by its target is one ("CYP3A4 inhibitors", "FXa
#              inhibitors", "H2 blocker", "aromatase inhibitors"); a word no terminology lists
#              that ends in an INN/USAN drug stem is an uncoded drug ("flestolol",
#              "amoxacillin", "Vicoprofen"); MeSH substances that no one is given are no
#              drugs (build 12).
# 10 (2026-12): hyphenated words written with spaced hyphens, as tokenised text (PubMed
#              corpora, some exports) has them, read as the word ("X - linked
#              adrenoleukodystrophy", "clear - cell renal cell carcinoma", "A - T"); a short
#              form in brackets with a spaced hyphen defines itself ("ataxia - telangiectasia
#              ( A - T )"); the heads of a finding named by a function name one another
#              ("memory impairment" / "memory deficits", "walking difficulties"; build 11);
#              a short form of a name with its subtype ("atelosteogenesis type 2 (AO2)").
# 9 (2026-12): a hyphenated word also matches a term written without its hyphen, closed up
#              ("schizo-affective disorder") or as a space ("ST-segment elevation", "T-cell
#              lymphoma", "end-stage liver disease"), on whole words only (not "Hodgkin
#              lymphoma" inside "non-Hodgkin lymphoma"); SNOMED CT devices filed as products
#              ("Drug eluting stent (product)") are no medication; letters with accents read
#              without them ("Sjögren's syndrome") and Greek letters by name
#              ("interferon β-1a"; build 9); "infarct" for "infarction" after a site
#              ("lacunar infarct"; build 10); Henoch-Schönlein purpura;
#              words after a disorder that belong to its name: a general head ("breast-ovarian
#              cancer syndrome", "VHL disease"; not after a pain), the same across the short
#              form it defines ("von Hippel-Lindau (VHL) disease", "G6PD" in "glucose-6-
#              phosphate dehydrogenase (G6PD) deficiency"), a tumour's organ ("carcinoma of
#              the rectum") and gene ("APC tumours"); three bases beside a codon are no
#              abbreviation ("GCA to GTA"); PAH and RDS beside gene words are genes; "enzyme
#              deficiency" (with the enzyme's symbol before it: "HPRT enzyme deficiency");
#              "deficiency of the seventh component of complement"; an abbreviation
#              hyphenated to a gene or marker symbol is part of a gene name or a map order
#              ("DM-PK", "APOC1-DM"); a verb or noun ending like an adjective is no
#              tumour site ("reveal", "survival").
# 8 (2026-12): rare-disease titles (OMIM, Orphanet) from the HPO's disease annotations; a
#              word formed as a disorder's name that no terminology lists is an uncoded
#              problem ("analbuminemia", "pneumomycosis": morphology:<word>).
# 7 (2026-12): standard disease abbreviations (issue 15: "AVM", "PBC", "ITP"); the plural of a
#              curated acronym ("AVMs", "PVCs"); senses of the ambiguous ones (senses.json:
#              "ALS ambulance", "HCV antibody", "PSC cataract"); a defect named before
#              "occluder" is a device ("PFO occluder"), before "prophylaxis" or "protocol"
#              an activity ("VTE prophylaxis", "ACS protocol", like "depression screening").
# 6 (2026-12): terms across a hard-wrap line break ("chronic\nkidney disease"); British
#              spellings read as American ones (rules/dictionary/spellings.json: "ischaemic",
#              "haemorrhage", "tumour"); disorders named by a body system ("thyroid
#              disease", "renal impairment": organ_disorders.json); a problem named as the
#              subject of a service is none ("Infectious Disease consult"); a short form
#              defined after a qualified term ("X-linked adrenoleukodystrophy (ALD)").
# 5 (2026-12): drugs inside one hyphenated/slashed token ("piperacillin-tazobactam" as a
#              combination, "post-albuterol" as albuterol); chemotherapy, anticoagulation,
#              analgesics, macrolides and parenteral nutrition as drug classes (ATC);
#              chemotherapy is no longer a procedure.
# 4 (2026-12): senses of ambiguous abbreviations from the words around them
#              (rules/dictionary/senses.json): "CVA tenderness" is the costovertebral angle,
#              "on RA" room air, "dilated RA" the right atrium.
# 3 (2026-12): chest imaging finding vocabulary; findings stated as organ predicates;
#              morphologic head nouns (mass, lesion, thrombus, ...); drug classes (ATC);
#              phrases that name no finding ('body mass index') block their words.
# 2 (2026-11): compiled terminology dictionary (curated tables, HPO, ICD-10-CM, drug names,
#              bring-your-own UMLS/RxNorm/SNOMED CT/FHIR/DOID), abbreviations defined in the note.
# 1 (2026-11): curated phrase rules from rules/dictionary/targets.json.
VERSION = 24

LABELS: frozenset[str] = frozenset({"PROBLEM", "MEDICATION", "PROCEDURE"})
#: label of a predicate rule that names no finding and only keeps other terms off its words
BLOCK = "NONE"
_OPTION_KEYS = frozenset({"cache_dir", "sources", "open_sources", "labels", "abbreviations"})


#: Splits a token into the drugs of a combination ("piperacillin-tazobactam").
_COMPOUND_SEP = re.compile(r"[-/]")
#: Words before a hyphen that leave the drug after it the drug ("post-albuterol").
_DRUG_PREFIXES = frozenset({"post", "pre"})
#: Words after a hyphen that leave the drug before it the drug given ("bortezomib-based
#: induction", "cisplatin-containing regimen", "platinum-based chemotherapy").
_DRUG_SUFFIXES = frozenset({"based", "containing"})
#: Words after "X-based" / "X-containing" that make X a drug given ("cisplatin-based
#: chemotherapy"), not an ingredient of food or of a material ("gluten-containing foods").
_REGIMEN_AFTER_SUFFIX = frozenset(
    """regimen regimens chemotherapy chemotherapies therapy therapies treatment treatments
    induction consolidation maintenance combination combinations protocol protocols product
    products preparation preparations drug drugs agent agents medication medications
    formulation formulations salvage conditioning immunotherapy""".split()
)


class DictionaryMatcher:
    """Adds a coded span for every longest dictionary term in the doc (no overlaps).

    An abbreviation defined in the note ("retinal vein occlusion (RVO)") takes the concept of
    its long form at every occurrence of the short form; a short form defined as something
    the dictionary does not know loses its dictionary meaning in that note.
    """

    def __init__(
        self,
        nlp: Language,
        name: str,
        config: DictionaryConfig,
        abbreviations: bool = True,
    ) -> None:
        self.name = name
        self.config = config
        self.abbreviations = abbreviations
        table, built = get_match_data(nlp, config)
        self.index: TermIndex = table.index
        self.modifiers = load_modifiers()
        self._qualifiers = frozenset(self.modifiers)
        #: Modifiers by their last word, each list in ``self.modifiers`` order (longest first).
        self._modifiers_by_last: dict[str, list[tuple[str, ...]]] = {}
        for mod in self.modifiers:
            if mod:
                self._modifiers_by_last.setdefault(mod[-1], []).append(mod)
        # the rules' own entries follow the table's
        extra = [
            Entry("PROBLEM", "pattern:deficiency", (), "pattern"),
            Entry("PROBLEM", "morphology", (), "pattern"),
            Entry("MEDICATION", "pattern:drug-code", (), "pattern"),
            Entry("MEDICATION", "pattern:drug-class-by-target", (), "pattern"),
            Entry("MEDICATION", "pattern:drug-stem", (), "pattern"),
            Entry("MEDICATION", "pattern:drug-class-by-use", (), "pattern"),
            Entry("PROBLEM", "pattern:diagnosed-acronym", (), "pattern"),
            Entry("PROBLEM", "prefixed", (), "pattern"),
            Entry("PROBLEM", "pattern:short-form-of-problem", (), "pattern"),
        ]
        self.deficiency_entry = len(table.entries)
        self.morphology_entry = len(table.entries) + 1
        self.drug_code_entry = len(table.entries) + 2
        self.target_class_entry = len(table.entries) + 3
        self.drug_stem_entry = len(table.entries) + 4
        self.use_class_entry = len(table.entries) + 5
        self.diagnosed_acronym_entry = len(table.entries) + 6
        self.prefixed_entry = len(table.entries) + 7
        self.short_form_entry = len(table.entries) + 8
        self._prefixed_word_of: dict[int, bool] = {}
        #: words of seven letters or more that the stoplist does not stop (``_long_unlisted``),
        #: and the doc they were last found for
        self._long_unlisted_of: dict[int, bool] = {}
        self._long_unlisted_doc: tuple[Doc, set[int]] | None = None
        self._drug_word_of: dict[int, bool] = {}
        self._stoplist = load_stoplist()
        self._disorder_word_of: dict[int, bool] = {}
        #: findings stated as predicates ("the heart is enlarged"): (regex, entry index)
        self.predicates: list[tuple[re.Pattern[str], int, tuple[str, ...], TermStarts]] = []
        for rule in load_predicates():
            codes = tuple((str(s), str(c), str(d)) for s, c, d in rule["codes"])
            extra.append(Entry(rule["label"], rule["rule_id"], codes, "pattern"))
            pattern = re.compile(rule["pattern"], re.I)
            starts = TermStarts(r"\w", rule["starts"])
            idx = len(table.entries) + len(extra) - 1
            self.predicates.append((pattern, idx, tuple(rule["needs"]), starts))
        self.entries: EntryTable = table.entries.with_extra(extra)
        #: phrases that contain a finding word but name no finding ("body mass index"): they
        #: take part in the longest-match pass, so they claim their words, and yield nothing
        self.blocking: frozenset[int] = frozenset(self.entries.indices_of(BLOCK))
        #: ambiguous abbreviations (exact text) -> their senses chosen by context, in order
        self.senses: dict[str, list[_Sense]] = {}
        #: abbreviations no source lists because their senses are many, read only where their
        #: words around them name one sense ("only_here": "denies SI/HI", "no LOC")
        self.context_forms: dict[str, list[_Sense]] = {}
        for rule in load_senses():
            entry = None
            if rule.get("long_form"):
                entry = self.index.entry_of([t.lower_ for t in nlp.make_doc(rule["long_form"])])
            sense = _Sense(
                rule["rule_id"],
                frozenset(w.lower() for w in rule.get("cues", ())),
                frozenset(w.lower() for w in rule.get("preceded_by", ())),
                int(rule.get("window", 3)),
                entry,
                frozenset(w.lower() for w in rule.get("absorb", ())),
                frozenset(w.lower() for w in rule.get("unless_followed_by", ())),
            )
            if rule.get("only_here"):
                if entry is not None:
                    self.context_forms.setdefault(rule["form"], []).append(sense)
                continue
            self.senses.setdefault(rule["form"], []).append(sense)
        # the vocabulary's ids: a few words are spaCy symbols, not hashes ("LOC" is 385)
        self.context_form_hashes = frozenset(nlp.vocab.strings.add(f) for f in self.context_forms)
        self.meta = dict(table.meta, built_now=built, tokenizer=tokenizer_id(nlp))
        log.info("dictionary loaded: %d entries, %d terms", len(self.entries), len(self.index))

    def find(self, doc: Doc) -> list[tuple[int, int, int]]:
        """Non-overlapping (start, end, entry index) matches, abbreviations resolved."""
        matches = self.index.match(doc)
        forced: list[tuple[int, int, int]] = []
        if self.abbreviations and Doc.has_extension("abbreviations"):
            matches, forced = self._resolve_abbreviations(doc, matches)
        matches = matches + self._deficiencies(doc) + self._predicates(doc)
        matches += self._substance_deficiencies(doc, matches)
        matches += self._disorder_words(doc)
        matches += self._prefixed_words(doc)
        matches += self._drug_codes(doc)
        matches += self._classes_by_target(doc)
        matches += self._classes_by_use(doc, matches)
        matches += self._drug_stem_words(doc)
        matches += self._diagnosed_acronyms(doc, matches)
        matches += self._context_abbreviations(doc)
        matches = self._drugs_over_administrations(matches)
        chosen: list[tuple[int, int, int]] = []
        taken: set[int] = set()
        for start, end, idx in forced + sorted(matches, key=lambda m: (m[0] - m[1], m[0])):
            if any(t in taken for t in range(start, end)):
                continue
            chosen.append((start, end, idx))
            taken.update(range(start, end))
        chosen = sorted(m for m in chosen if m[2] not in self.blocking)
        chosen = self._bracketed_short_forms(doc, chosen)
        if self.senses:
            chosen = self._apply_senses(doc, chosen)
        chosen = self._drop_service_names(doc, chosen)
        chosen = _drop_participles_before_findings(doc, chosen)
        chosen = _drop_pregnancy_as_time(doc, chosen)
        chosen = self._nursing_beside_pregnancy(doc, chosen)
        chosen = _drop_shouted_words(doc, chosen)
        chosen = _drop_codons(doc, chosen)
        chosen = _drop_gene_symbol_pairs(doc, chosen, self.entries)
        return self._extend(doc, chosen)

    def _bracketed_short_forms(
        self, doc: Doc, chosen: list[tuple[int, int, int]]
    ) -> list[tuple[int, int, int]]:
        """A name written around the short form it defines is one mention: "von Hippel-Lindau
        (VHL) disease" (the term "von Hippel-Lindau disease"), "glucose-6-phosphate
        dehydrogenase (G6PD) deficiency", "growth hormone (GH) deficiency" (the long form
        before the brackets names the factor). The matches inside give way to it."""
        if "(" not in doc_text(doc):
            return chosen
        n = len(doc)
        lower = _Lowers(doc)
        longs = {}
        for short in doc._.abbreviations or () if Doc.has_extension("abbreviations") else ():
            long = short._.long_form
            if long is not None and long.end + 1 == short.start:
                longs[long.end] = long.start
        found: list[tuple[int, int, int]] = []
        for j in tokens_with(doc, "("):
            if not 1 <= j < n - 3 or not _short_form_at(doc, j):
                continue
            head = lower[j + 3]
            deficiency = head in _DEFICIENCY
            if not deficiency and head not in _GENERAL_HEADS:
                continue
            match = None
            for k in range(min(8, j), 0, -1):  # the longest term
                idx = self.index.entry_of([*lower.slice(j - k, j), head])
                if idx is not None and self.entries[idx].label == "PROBLEM":
                    match = (j - k, j + 4, idx)
                    break
            if match is None and deficiency:
                if _names_a_factor(doc[j - 1]) and doc[j - 1].lower_.endswith("ase"):
                    match = (_enzyme_name_start(doc, j - 1), j + 4, self.deficiency_entry)
                elif j in longs:
                    match = (longs[j], j + 4, self.deficiency_entry)
            if match is not None:
                found.append(match)
        if not found:
            return chosen
        out = list(chosen)
        for start, end, idx in found:
            inside = [m for m in out if m[0] < end and start < m[1]]
            if all(start <= m[0] and m[1] <= end for m in inside):
                out = [m for m in out if m not in inside] + [(start, end, idx)]
        return sorted(out)

    def _drugs_over_administrations(
        self, matches: list[tuple[int, int, int]]
    ) -> list[tuple[int, int, int]]:
        """A procedure that ends inside a drug's name gives way to the drug: "administration of
        vitamin B1" is the drug vitamin B1 (the procedure "Administration of vitamin" would
        otherwise win the longest match and leave "B1")."""
        entries = self.entries
        meds = [(s, e) for s, e, i in matches if entries[i].label == "MEDICATION"]
        if not meds:
            return matches
        return [
            m
            for m in matches
            if entries[m[2]].label != "PROCEDURE" or not any(m[0] < s < m[1] < e for s, e in meds)
        ]

    def _drop_service_names(
        self, doc: Doc, chosen: list[tuple[int, int, int]]
    ) -> list[tuple[int, int, int]]:
        """A problem named as the subject of a service, an activity, an instrument or a place
        of care is no problem of the patient: "Infectious Disease consult", "heart disease
        screening", "renal disorder medication review", "Glasgow Coma Scale", "Beck
        Depression Inventory", "multidisciplinary tumour board", "pain clinic"."""
        out = []
        n = len(doc)
        for start, end, idx in chosen:
            if self.entries[idx].label == "PROBLEM" and end < n:
                k = _after_coordinated_letters(doc, end)
                word = doc[k].lower_ if k < n else ""
                if _names_a_test_for(doc, start, k) or (
                    word in _SERVICE_WORDS
                    and (
                        word != "medication"
                        or (k + 1 < n and doc[k + 1].lower_ in ("review", "reviews"))
                    )
                ):
                    continue
            out.append((start, end, idx))
        return out

    def _nursing_beside_pregnancy(
        self, doc: Doc, chosen: list[tuple[int, int, int]]
    ) -> list[tuple[int, int, int]]:
        """ "Nursing" coordinated with pregnancy is breastfeeding: "pregnant or nursing",
        "pregnancy and/or nursing women" (alone it is a profession or a home)."""
        n = len(doc)
        added: list[tuple[int, int, int]] = []
        for start, end, _idx in chosen:
            if end - start != 1 or not doc[start].lower_.startswith(("pregnan", "gravid")):
                continue
            k = end
            while k < n and k - end < 3 and doc[k].lower_ in ("or", "and", ",", "/", "and/or"):
                k += 1
            if k == end or k >= n or doc[k].lower_ != "nursing":
                continue
            if any(s <= k < e for s, e, _ in chosen):
                continue
            entry = self.index.entry_of(("breastfeeding",))
            if entry is not None:
                added.append((k, k + 1, entry))
        return sorted(chosen + added) if added else chosen

    def _apply_senses(
        self, doc: Doc, chosen: list[tuple[int, int, int]]
    ) -> list[tuple[int, int, int]]:
        """Ambiguous abbreviations (``rules/dictionary/senses.json``) whose context names
        another sense take that sense's concept, or are dropped when it has none here. The
        words around an occurrence outweigh a definition elsewhere in the note: an H&P that
        defines "cerebrovascular accident (CVA)" still says "no CVA tenderness" on exam."""
        out: list[tuple[int, int, int]] = []
        absorbed = -1  # a following match swallowed by the sense before it ("CVA tenderness")
        for k, (start, end, idx) in enumerate(chosen):
            if start < absorbed:
                continue
            senses = None
            if end - start == 1:
                senses = self.senses.get(doc[start].text)
            sense = next((x for x in senses if x.fires(doc, start, end)), None) if senses else None
            if sense is not None:
                if sense.entry is None:
                    # a sense the dictionary has no concept for: not this mention, and later
                    # extractors (the curated drug list: "ASA score") must not take it either
                    span = doc[start:end]
                    doc.user_data.setdefault(NOT_MENTIONS, []).append(
                        (span.start_char, span.end_char)
                    )
                    continue
                idx = sense.entry
                while end < len(doc) and doc[end].lower_ in sense.absorb:
                    end += 1
                absorbed = end
                if any(s < end < e for s, e, _ in chosen[k + 1 :]):
                    end = start + 1  # never cut a following match in two
                    absorbed = end
            out.append((start, end, idx))
        return out

    def _context_abbreviations(self, doc: Doc) -> list[tuple[int, int, int]]:
        """Abbreviations that no source lists, read where the words around them name their
        sense (``senses.json`` rules with ``only_here``): "Denies SI/HI" (suicidal and
        homicidal ideation), "no LOC" (loss of consciousness); not "SI joint", "decreased
        LOC"."""
        out: list[tuple[int, int, int]] = []
        if not self.context_forms:
            return out
        orths = doc.to_array(ORTH).tolist()  # C-speed guard: most notes have none
        if self.context_form_hashes.isdisjoint(orths):
            return out
        for i, h in enumerate(orths):
            if h not in self.context_form_hashes:
                continue
            for sense in self.context_forms.get(doc[i].text, ()):
                if sense.fires(doc, i, i + 1) and sense.entry is not None:
                    out.append((i, i + 1, sense.entry))
                    break
        return out

    def _predicates(self, doc: Doc) -> list[tuple[int, int, int]]:
        """Findings stated as a predicate about an organ (``rules/dictionary/predicates.json``);
        the longest-match pass below keeps a dictionary term over a predicate it overlaps."""
        out: list[tuple[int, int, int]] = []
        text = doc_text(doc)
        lower = text.lower()
        for pattern, idx, needs, starts in self.predicates:
            if not any(word in lower for word in needs):
                continue  # a substring test is far cheaper than the scan
            part = "finding" if "finding" in pattern.groupindex else 0
            for m in matches_at(pattern, text, starts(text)):
                # a rule's group "finding" is the mention ("he looked [pale]"), else the match
                if m.start(part) < 0:
                    continue
                span = doc.char_span(m.start(part), m.end(part), alignment_mode="expand")
                if span is not None and len(span):
                    out.append((span.start, span.end, idx))
        return out

    def _deficiencies(self, doc: Doc) -> list[tuple[int, int, int]]:
        """ "G6PD deficiency", "C7 deficiency", "HPRT-deficient": an enzyme, factor or vitamin
        symbol (letters with digits, or capitals) before "deficiency" names a disorder even
        when no terminology lists that exact pair."""
        out: list[tuple[int, int, int]] = []
        lowers = doc.to_array(LOWER)  # C-speed guard: most notes never say "deficiency"
        if not any(h in _DEFICIENCY_HASHES for h in set(lowers.tolist())):
            return out
        for tok in doc:
            if tok.lower_ not in _DEFICIENCY:
                continue
            if tok.i > 0:
                prev = tok.i - 1
                if doc[prev].text == "-" and prev > 0:
                    prev -= 1
                if doc[prev].lower_ == "enzyme" and tok.lower_ != "deficient":
                    # "an enzyme deficiency", "HPRT enzyme deficiency"
                    start = prev
                    if prev > 0 and _names_a_factor(doc[prev - 1]):
                        start = _enzyme_name_start(doc, prev - 1)
                    out.append((start, tok.i + 1, self.deficiency_entry))
                    continue
                if _names_a_factor(doc[prev]):
                    out.append((_enzyme_name_start(doc, prev), tok.i + 1, self.deficiency_entry))
                    continue
            end = _deficiency_of(doc, tok.i)
            if end:
                out.append((tok.i, end, self.deficiency_entry))
        return out

    def _substance_deficiencies(
        self, doc: Doc, matches: list[tuple[int, int, int]]
    ) -> list[tuple[int, int, int]]:
        """A substance the drug vocabulary names, before "deficiency", is the disorder of its
        lack, not a drug: "alpha-1 antitrypsin deficiency", "antithrombin deficiency"."""
        n = len(doc)
        return [
            (start, end + 1, self.deficiency_entry)
            for start, end, idx in matches
            if end < n
            and doc[end].lower_ in _DEFICIENCY
            and self.entries[idx].label == "MEDICATION"
        ]

    def _disorder_words(self, doc: Doc) -> list[tuple[int, int, int]]:
        """A word that no terminology lists but that is formed as a disorder's name is one:
        "analbuminemia", "chondrodysplasias", "pneumomycosis", "proctosigmoiditis" (an
        inflammation, a blood or urine level out of range, a condition, a tumour, a growth or
        wasting disorder; ``_DISORDER_WORD``). Words of that form that name a process, a
        procedure or a device (``_NOT_DISORDER_WORDS``), a word the dictionary knows or
        stops, and a drug's adjective ("antituberculosis") are not. The mention is uncoded;
        its rule id names the word (``morphology:<word>``). The longest-match pass keeps
        any dictionary term over it."""
        out: list[tuple[int, int, int]] = []
        lowers = doc.to_array(LOWER).tolist()
        hits = self._unlisted_words(
            doc,
            lowers,
            self._disorder_word_of,
            lambda word: (
                _DISORDER_WORD.match(word) is not None
                and word not in _NOT_DISORDER_WORDS
                and not word.startswith(_NOT_DISORDER_PREFIXES)
            ),
        )
        if not hits:
            return out
        for i, h in enumerate(lowers):
            if h not in hits:
                continue
            tok = doc[i]
            if not tok.is_alpha or tok.is_upper:
                continue
            if tok.is_title and i and doc[i - 1].is_alpha and not tok.is_sent_start:
                continue  # a name inside a sentence: "moved to Oklahoma"
            out.append((i, i + 1, self.morphology_entry))
        return out

    def _prefixed_words(self, doc: Doc) -> list[tuple[int, int, int]]:
        """A word that no terminology lists, made of a prefix that says how small, slow, fast,
        many or again and a one-word problem the dictionary lists, is that kind of problem:
        "microcalcifications", "bradyarrhythmias", "rebleeding", "polyarthralgia",
        "macroadenoma" (``_FINDING_PREFIXES``). Uncoded (the bare word's codes would misname
        it); its rule id names the word (``prefixed:<word>``). Not after "non-", "anti-",
        "post-" or "pre-", which say the problem is absent or only a time."""
        lowers = doc.to_array(LOWER).tolist()
        hits = self._unlisted_words(doc, lowers, self._prefixed_word_of, self._is_prefixed)
        if not hits:
            return []
        return [
            (i, i + 1, self.prefixed_entry)
            for i, h in enumerate(lowers)
            if h in hits and doc[i].is_alpha and not doc[i].is_upper
        ]

    def _is_prefixed(self, word: str) -> bool:
        m = _FINDING_PREFIX.match(word)
        rest = word[m.end() :] if m is not None else ""
        if len(rest) < 5 or rest in _NOT_PREFIXED_HEADS or word in _NOT_PREFIXED_WORDS:
            return False
        if m is not None and m.group().startswith("re") and rest.endswith("ed"):
            return False  # an act done again: "the lesion was redilated"
        idx = self.index.entry_of([word[m.end() :]])
        return idx is not None and self.entries[idx].label == "PROBLEM"

    def _unlisted_words(
        self,
        doc: Doc,
        lowers: list[int],
        known: dict[int, bool],
        formed: Callable[[str], bool],
    ) -> set[int]:
        """The LOWER hashes of the doc's words of seven letters or more that ``formed``
        accepts and that the dictionary neither lists nor stops; ``known`` caches the verdict
        per word across notes. The long words not stopped are found once per doc for every
        caller (``_long_unlisted``)."""
        strings = doc.vocab.strings
        hits = set()
        for h in self._long_unlisted(doc, lowers):
            verdict = known.get(h)
            if verdict is None:
                if len(known) > 500_000:  # a vocabulary that keeps growing: start again
                    known.clear()
                word = strings[h]
                verdict = known[h] = formed(word) and self.index.entry_of([word]) is None
            if verdict:
                hits.add(h)
        return hits

    def _long_unlisted(self, doc: Doc, lowers: list[int]) -> set[int]:
        """The LOWER hashes of the doc's words of seven letters or more that the stoplist
        does not stop (cached per word across notes, and per doc); whether the dictionary
        lists one is asked only of the words a caller's pattern accepts (a lookup costs)."""
        if self._long_unlisted_doc is not None and self._long_unlisted_doc[0] is doc:
            return self._long_unlisted_doc[1]
        known = self._long_unlisted_of
        if len(known) > 500_000:  # a vocabulary that keeps growing: start again
            known.clear()
        strings = doc.vocab.strings
        out = set()
        for h in set(lowers):
            verdict = known.get(h)
            if verdict is None:
                word = strings[h]
                verdict = known[h] = len(word) >= 7 and word not in self._stoplist
            if verdict:
                out.add(h)
        self._long_unlisted_doc = (doc, out)
        return out

    def _diagnosed_acronyms(
        self, doc: Doc, matches: list[tuple[int, int, int]]
    ) -> list[tuple[int, int, int]]:
        """An acronym no terminology lists, named as what the patient was diagnosed with
        ("she was diagnosed with PUPPP", "the diagnosis of AFLP was confirmed", "features
        consistent with PAM", "raised the suspicion of a PC"), is a disorder's short form
        wherever the note writes it ("the tumour was diagnosed as a PC ... PC may rarely
        occur"). Uncoded; the longest-match pass keeps any dictionary term over it, and a
        short form the note defines takes its long form's meaning (forced matches)."""
        text = doc_text(doc)
        if not _DIAGNOSIS_CUE_GUARD.search(text):
            return []
        acronyms: set[str] = set()
        seen: set[str] = set()
        covered = {i for s, e, _ in matches for i in range(s, e)}
        for m in _DIAGNOSED_ACRONYM.finditer(text):
            word = m.group(1)
            if word in seen or word in _NOT_DIAGNOSED_ACRONYMS:
                continue
            seen.add(word)
            if sum(c.isalpha() for c in word) < 2:
                continue  # a vertebra or a lead ("consistent with a C6-7 radiculopathy")
            span = doc.char_span(m.start(1), m.end(1))
            if span is None or len(span) != 1:
                continue  # part of a longer token ("HLA-B27", "T2DM")
            if span.start in covered:
                continue  # a listed term (a test, a drug, a disorder) is the dictionary's
            acronyms.add(word)
        out: list[tuple[int, int, int]] = []
        n = len(doc)
        for word in sorted(acronyms):
            for i in tokens_with(doc, word):
                if doc[i].text not in (word, word + "s"):
                    continue
                if i + 1 < n and doc[i + 1].lower_ in _TEST_AFTER_ACRONYM:
                    continue  # the agent tested for: "CMV serologies", "a CMV blood PCR"
                if i + 1 < n and (doc[i + 1].like_num or doc[i + 1].text == ":"):
                    continue  # a dose or a heading, no disorder: "MS 2 mg", "HPI:"
                out.append((i, i + 1, self.diagnosed_acronym_entry))
        return out

    def _drug_codes(self, doc: Doc) -> list[tuple[int, int, int]]:
        """Development codes of drugs, a company's prefix and a compound number ("LY274614",
        "MK-801", "SR 141716A", "AZD9291", "FK 506"): uncoded MEDICATION mentions. The
        longest-match pass keeps a dictionary term (a code some source lists) over them."""
        text = doc_text(doc)
        out: list[tuple[int, int, int]] = []
        for m in _DRUG_CODE.finditer(text):
            span = doc.char_span(m.start(), m.end(), alignment_mode="expand")
            if span is not None and span.start_char == m.start() and span.end_char == m.end():
                out.append((span.start, span.end, self.drug_code_entry))
        return out

    def _drug_stem_words(self, doc: Doc) -> list[tuple[int, int, int]]:
        """A word that no terminology lists but that ends in a drug stem of the WHO INN and
        USAN naming schemes is a drug: "flestolol" (-olol, a beta blocker), a misspelled
        "amoxacillin" (-cillin), a brand built on its stem ("Vicoprofen"). Uncoded; the
        longest-match pass keeps any dictionary term over it (``_DRUG_STEM``)."""
        out: list[tuple[int, int, int]] = []
        lowers = doc.to_array(LOWER).tolist()
        hits = self._unlisted_words(
            doc,
            lowers,
            self._drug_word_of,
            lambda word: (
                _DRUG_STEM.match(word) is not None
                and not word.startswith(("anti", "non"))  # "anticocaine antibody"
            ),
        )
        if not hits:
            return out
        for i, h in enumerate(lowers):
            if h in hits and doc[i].is_alpha:
                out.append((i, i + 1, self.drug_stem_entry))
        return out

    def _classes_by_target(self, doc: Doc) -> list[tuple[int, int, int]]:
        """A drug class named by the molecule it acts on: a gene or protein symbol or an
        enzyme's "-ase" word before "inhibitor(s)", "inducer(s)", "blocker(s)", "agonist(s)" or
        "antagonist(s)" ("CYP3A4 inhibitors", "CYP 3A4 inducer", "VEGFR inhibitors", "FXa
        inhibitors", "COX - 2 inhibitor", "aromatase inhibitors", "H2 blocker"): uncoded
        MEDICATION mentions (the longest-match pass keeps a listed class, "ACE inhibitor",
        with its code). A factor named in Roman numerals is no target: "factor VIII
        inhibitor" is an antibody the patient makes."""
        out: list[tuple[int, int, int]] = []
        for j in tokens_with_any(doc, _TARGET_HEADS):
            if j == 0:
                continue
            start = _target_start(doc, j)
            if start is not None:
                out.append((start, j + 1, self.target_class_entry))
        return out

    def _classes_by_use(
        self, doc: Doc, matches: list[tuple[int, int, int]]
    ) -> list[tuple[int, int, int]]:
        """A drug class named by what it treats or does, before "medication(s)", "medicine(s)",
        "drug(s)" or "agent(s)": an "anti-" word ("anti-dementia medications", "antiarrhythmic
        agents", "anti-TNFa agent", "anti - cancer drugs"), an effect written as "-lowering",
        "-thinning", "-suppressing", ... ("cholesterol-lowering drugs", "blood thinning
        medications") or a use (``_USE_WORDS``: "cardiac medications", "sleep medication",
        "blood pressure medicines", "cytotoxic medication"): uncoded MEDICATION mentions (the
        longest-match pass keeps a listed class with its code). Not before a word that makes
        the phrase name a behaviour or a test ("psychoactive drug use", "drug screen"), nor
        after a drug term of the dictionary, which keeps its codes ("antifungal medication")."""
        out: list[tuple[int, int, int]] = []
        n = len(doc)
        heads = tokens_with_any(doc, _USE_HEADS)
        if not heads:
            return out
        #: drug terms that end right before a head keep their codes: "antifungal medication"
        drugs_before = {
            e for s, e, idx in matches if self.entries[idx].label == "MEDICATION" and e in heads
        }
        for j in heads:
            if j == 0 or (j + 1 < n and doc[j + 1].lower_ in _USE_NOT_AFTER):
                continue
            start = _use_start(doc, j)
            if start is None or j in drugs_before:
                continue  # "antifungal medication": the coded class "antifungal" stays
            if doc[j].lower_ == "medicine" and not doc[start].lower_.startswith("anti"):
                if "-" in doc[j - 1].text or doc[j].text == "Medicine":
                    continue  # "evidence-based medicine", "Sleep Medicine": a discipline
            out.append((start, j + 1, self.use_class_entry))
        return out

    def _extend(self, doc: Doc, chosen: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        """Widen problem spans over what belongs to the concept in the text: coordinated
        heads ("breast and ovarian cancer"), qualifiers ("hereditary ..."), "type II"."""
        out: list[tuple[int, int, int]] = []
        lower = _Lowers(doc)
        absorbed = 0  # matches before this token were swallowed by a widened span
        for i, (start, end, idx) in enumerate(chosen):
            if start < absorbed:
                continue
            if self.entries[idx].label == "PROBLEM":
                floor = out[-1][1] if out else 0
                ceiling = chosen[i + 1][0] if i + 1 < len(chosen) else len(doc)
                start = self._extend_left(lower, start, end, floor, doc)
                end = _extend_type(lower, end, ceiling)
                end = absorbed = self._extend_right(doc, lower, chosen, i, end)
            elif self.entries[idx].label == "MEDICATION":
                start, end, absorbed = self._extend_drug(doc, lower, chosen, i, out)
            out.append((start, end, idx))
        return out

    def _extend_drug(
        self,
        doc: Doc,
        lower: "_Lowers",
        chosen: list[tuple[int, int, int]],
        i: int,
        out: list[tuple[int, int, int]],
    ) -> tuple[int, int, int]:
        """Widen a drug over the rest of its chemical name: the salt or ester it is given as
        ("desipramine HCl", "perhexiline maleate", "warfarin sodium", "sodium valproate",
        "L-NAME" written "nitro-L-arginine methyl ester") and a locant or stereo descriptor
        hyphenated before it, as tokenised text writes it ("6 - hydroxydopamine", "( R ) -
        alpha - methylhistamine", "[ 3H ] - naloxone"). A salt word that is a match of its
        own (the anion "maleate", the cation "potassium") is swallowed; ``out`` (the spans
        kept so far) loses a cation match the drug takes in. Returns (start, end, absorbed)."""
        start, end, _ = chosen[i]
        n = len(doc)
        nxt = chosen[i + 1] if i + 1 < len(chosen) else None
        ceiling = nxt[0] if nxt else n
        drug = lower.slice(start, end)
        is_ion = len(drug) == 1 and drug[0] in _CATIONS
        # the salt after the drug: one word ("hydrochloride"), or an ester ("methyl ester")
        j = end
        if j < n and not is_ion:
            word = lower[j]
            size = 0
            if word in _SALTS or (
                word in _CATIONS and not _class_after(lower, j + 1, n) and not _dose_at(doc, j + 1)
            ):
                size = 1
            elif word in _ESTER_GROUPS and j + 1 < n and lower[j + 1] in ("ester", "esters"):
                size = 2
            if size and (j + size <= ceiling or self._is_salt_match(nxt, j, j + size)):
                end = j + size
        absorbed = end if nxt is not None and nxt[0] < end else 0
        # a cation before it ("sodium valproate", "potassium clavulanate")
        if start > 0 and not is_ion and lower[start - 1] in _CATIONS:
            prev = out[-1] if out else None
            if prev is not None and prev[1] == start:
                if prev[0] == start - 1 and self.entries[prev[2]].label == "MEDICATION":
                    out.pop()
                    start -= 1
            elif prev is None or prev[1] < start:
                start -= 1
        floor = out[-1][1] if out else 0
        return _locant_start(doc, start, floor), end, absorbed

    def _is_salt_match(self, nxt: tuple[int, int, int] | None, start: int, end: int) -> bool:
        """Whether the next match is exactly the salt words at ``start:end`` (a drug label)."""
        return (
            nxt is not None
            and nxt[0] == start
            and nxt[1] == end
            and self.entries[nxt[2]].label == "MEDICATION"
        )

    def _extend_right(
        self, doc: Doc, lower: "_Lowers", chosen: list[tuple[int, int, int]], i: int, end: int
    ) -> int:
        """Widen a problem over the words after it that belong to its name, swallowing the
        matches inside them: a general head noun ("breast-ovarian cancer syndrome", "VHL
        disease", "retinoblastoma tumours"), that head after the short form the name defines
        ("von Hippel-Lindau (VHL) disease"), or the organ of a tumour ("carcinoma of the
        rectum", "cancer of the breast and ovaries")."""
        n = len(doc)
        j = end
        if _short_form_at(doc, j) and j + 3 < n and lower[j + 3] in _GENERAL_HEADS:
            j += 3  # "( VHL )"
        last = lower[end - 1]
        if j < n and lower[j] in _GENERAL_HEADS and not _names_pain(last):
            new = j + 1
        elif last in _TUMOUR_HEADS and not last.endswith(("plasia", "plasias", "polyps")):
            new = _organ_after(lower, end, n)
        else:
            return end
        # every match inside the widened part must lie wholly inside it
        for start2, end2, idx2 in chosen[i + 1 :]:
            if start2 >= new:
                break
            if end2 > new or self.entries[idx2].label != "PROBLEM":
                return end
        return new

    def _extend_left(
        self, lower: "_Lowers", start: int, end: int, floor: int, doc: Doc | None = None
    ) -> int:
        head = lower[end - 1]
        changed = True
        while changed and start > floor:
            changed = False
            lo = max(floor, start - 4)
            window = lower.slice(lo, start)  # the few tokens before the span
            for conj in _CONJUNCTIONS:
                n = len(conj)
                if len(window) < n + 1 or tuple(window[-n:]) != conj:
                    continue
                word = window[-n - 1]
                rest = lower.slice(start + 1, end)
                if self.index.has_term((word, head)) or (
                    rest and self.index.has_term((word, *rest))
                ):
                    start, changed = start - n - 1, True
                    break
            if changed:
                continue
            if len(window) >= 2 and window[-2] == "type" and _TYPE_VALUE.match(window[-1]):
                start, changed = start - 2, True
                continue
            if (
                head in _TUMOUR_HEADS
                and len(window) >= 2
                and window[-2] == "stage"
                and _STAGE_VALUE.match(window[-1])
            ):  # "stage II colorectal cancer"
                start, changed = start - 2, True
                continue
            if (
                head in _TUMOUR_HEADS
                and window
                and (
                    (_SITE_ADJECTIVE.match(window[-1]) and window[-1] not in _NOT_SITES)
                    or window[-1] in _SITE_NOUNS
                )
            ):
                start, changed = start - 1, True
                continue
            if (
                doc is not None
                and head in _TUMOUR_NOUNS
                and window
                and _gene_or_cell_line(doc[start - 1])
                and (end >= len(doc) or doc[end].lower_ not in ("suppressor", "-"))
            ):  # a tumour named by its gene or cell line: "APC tumour", "RB tumors"
                start, changed = start - 1, True
                continue
            # only modifiers ending with the word before the span can match (same order)
            for mod in self._modifiers_by_last.get(window[-1], ()) if window else ():
                n = len(mod)
                if len(window) >= n and tuple(window[-n:]) == mod:
                    start, changed = start - n, True
                    break
        return start

    def _resolve_abbreviations(
        self, doc: Doc, matches: list[tuple[int, int, int]]
    ) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        shorts = list(doc._.abbreviations or ())
        if not shorts:
            return matches, []
        forced: list[tuple[int, int, int]] = []
        unforced: list[tuple[int, int, int]] = []
        undefined: set[tuple[int, int]] = set()
        for short in shorts:
            long = short._.long_form
            # a short form of tokenised text ("A - T") is read with its hyphen closed up
            if long is None or not _looks_abbreviated(short.text.replace(" - ", "-"), long.text):
                continue
            idx = _long_form_entry(long, matches, self._qualifiers)
            if idx is None and self._problem_with_of_tail(long, matches):
                idx = self.short_form_entry
            if idx is None:
                undefined.add((short.start, short.end))
            elif idx in self.blocking:
                # the short form of a name that is no finding ("glucose-6-phosphate
                # dehydrogenase (G6PD)") keeps the finding's words off it, but a longer term
                # around it still names one ("G6PD deficiency")
                unforced.append((short.start, short.end, idx))
            else:
                forced.append((short.start, short.end, idx))
        keep = [m for m in matches if (m[0], m[1]) not in undefined] + unforced
        # defined in the note as something no source names ("American Society of
        # Anesthesiologists (ASA)"): not its default sense for later extractors either
        blocked = doc.user_data.setdefault(NOT_MENTIONS, [])
        for start, end in sorted(undefined):
            blocked.append((doc[start].idx, doc[end - 1].idx + len(doc[end - 1])))
        return keep, forced

    def _problem_with_of_tail(self, long: Span, matches: list[tuple[int, int, int]]) -> bool:
        """Whether a short form's long form is a listed problem followed by what it is of
        ("solitary fibrous tumor of the liver (SFTL)", "acute fatty liver of pregnancy
        (AFLP)"): the short form names a problem, more exact than the listed head, so it
        takes an uncoded entry rather than the head's codes."""
        doc = long.doc
        for start, end, idx in matches:
            if start != long.start or not start < end < long.end or long.end - end > 6:
                continue
            if doc[end].lower_ == "of" and self.entries[idx].label == "PROBLEM":
                return True
        return False

    def __call__(self, doc: Doc) -> Doc:
        out = list(doc.spans[MENTIONS]) if MENTIONS in doc.spans else []
        data = doc.user_data
        name = DictionaryExtractor.name
        for start, end, idx in self.find(doc):
            entry = self.entries[idx]
            span = Span(doc, start, end, label=entry.label)
            # what ``span._.<attr> = value`` stores, written without Underscore objects
            base = (span.start_char, span.end_char, span.label, span.kb_id, span.id)
            data[(_KEY, "extractor", *base)] = name
            data[(_KEY, "extractor_version", *base)] = VERSION
            if idx == self.morphology_entry:  # the word itself names the disorder
                word = next(t.lower_ for t in reversed(span) if _DISORDER_WORD.match(t.lower_))
                data[(_KEY, "rule_id", *base)] = f"morphology:{word}"
            elif idx == self.prefixed_entry:
                data[(_KEY, "rule_id", *base)] = f"prefixed:{span.text.lower()}"
            else:
                data[(_KEY, "rule_id", *base)] = entry.rule_id
            data[(_KEY, "codes", *base)] = [
                {"system": system, "code": code, "display": display}
                for system, code, display in entry.codes
            ]
            data[(_KEY, "attributes", *base)] = {}
            out.append(span)
        out.extend(self._drug_compounds(doc, out))
        out = self._join_slashed_drugs(doc, out)
        doc.spans[MENTIONS] = out
        return doc

    def _join_slashed_drugs(self, doc: Doc, found: list[Span]) -> list[Span]:
        """Drugs written "a/b" with no space are one product: a combination of known drugs
        ("trimethoprim/sulfamethoxazole", "hydrocodone/acetaminophen 5/325 mg") is one uncoded
        MEDICATION with its ingredients, one drug named twice ("albuterol/salbutamol") is that
        drug. The tokenizer splits "word/word" so that findings ("atelectasis/scarring") are
        found one by one; drugs are joined again here."""
        meds = {s.start: s for s in found if s.label_ == "MEDICATION"}
        if len(meds) < 2:
            return found
        drop: set[int] = set()
        joined: list[Span] = []
        for first in sorted(meds.values(), key=lambda s: s.start):
            if id(first) in drop:
                continue
            chain = [first]
            while True:
                last = chain[-1]
                slash = last.end
                if (
                    slash + 1 < len(doc)
                    and doc[slash].text == "/"
                    and not doc[slash - 1].whitespace_
                    and not doc[slash].whitespace_
                    and slash + 1 in meds
                ):
                    chain.append(meds[slash + 1])
                else:
                    break
            if len(chain) < 2:
                continue
            rules = [doc.user_data.get(span_key(s, "rule_id")) for s in chain]
            bounds = doc.user_data.get(span_key(chain[0], "char_bounds"))
            start = int(bounds[0]) if bounds else chain[0].start_char
            end = chain[-1].end_char
            if len(set(rules)) == 1 and rules[0] is not None:  # one drug named twice
                codes = doc.user_data.get(span_key(chain[0], "codes")) or []
                rule_id, attributes = str(rules[0]), {}
            else:
                rule_id, codes = "pattern:drug-combination", []
                attributes = {"ingredients": [s.text.lower() for s in chain]}
            span = make_span(
                doc, start, end, "MEDICATION", extractor=DictionaryExtractor.name,
                version=VERSION, rule_id=rule_id, codes=list(codes), attributes=attributes,
            )  # fmt: skip
            if span is not None:
                drop.update(id(s) for s in chain)
                joined.append(span)
        if not joined:
            return found
        return [s for s in found if id(s) not in drop] + joined

    def _drug_compounds(self, doc: Doc, found: list[Span]) -> list[Span]:
        """Drugs inside one hyphenated or slashed token, which the tokenizer keeps whole:
        a combination of known drugs ("piperacillin-tazobactam", "trimethoprim/
        sulfamethoxazole") is one uncoded MEDICATION with its ingredients; a known drug after
        "post-" or "pre-" ("post-albuterol FEV1") or before "-based" or "-containing"
        ("bortezomib-based induction") is that drug, at its own characters."""
        # only the tokens with a hyphen or slash, found from the text (a Token per token of
        # the note cost a third of this stage)
        candidates = sorted(set(tokens_with(doc, "-")) | set(tokens_with(doc, "/")))
        if not candidates:
            return []
        covered = {i for span in found for i in range(span.start, span.end)}
        out: list[Span] = []
        for i in candidates:
            token = doc[i]
            text = token.text
            if i in covered or len(text) < 7:
                continue
            parts = [p for p in _COMPOUND_SEP.split(text)]
            if len(parts) < 2 or any(not p for p in parts):
                continue
            start = token.idx
            end = token.idx + len(text)
            if parts[0].lower() in _DRUG_PREFIXES:
                start += len(parts[0]) + 1
                parts = parts[1:]
            elif parts[-1].lower() in _DRUG_SUFFIXES:
                following = doc[i + 1].lower_ if i + 1 < len(doc) else ""
                if following not in _REGIMEN_AFTER_SUFFIX:
                    continue  # "gluten-containing foods": no drug given
                end -= len(parts[-1]) + 1
                parts = parts[:-1]
            drugs = [self._drug_entry(p) for p in parts]
            if any(d is None for d in drugs) or len(set(drugs)) not in (1, len(drugs)):
                continue
            if len(set(drugs)) == 1:  # one drug, or one named twice ("albuterol/salbutamol")
                entry = self.entries[drugs[0]]  # type: ignore[index]
                rule_id = entry.rule_id
                codes = [{"system": s, "code": c, "display": d} for s, c, d in entry.codes]
                attributes: dict[str, Any] = {}
            else:
                rule_id, codes = "pattern:drug-combination", []
                attributes = {"ingredients": [p.lower() for p in parts]}
            span = make_span(
                doc, start, end, "MEDICATION", extractor=DictionaryExtractor.name,
                version=VERSION, rule_id=rule_id, codes=codes, attributes=attributes,
            )  # fmt: skip
            if span is not None:
                out.append(span)
        return out

    def _drug_entry(self, word: str) -> int | None:
        if len(word) < 4 or not word.isalpha():
            return None
        idx = self.index.entry_of([word.lower()])
        return idx if idx is not None and self.entries[idx].label == "MEDICATION" else None


@dataclass(frozen=True)
class _Sense:
    """One context sense of an ambiguous abbreviation (a rule of ``senses.json``)."""

    rule_id: str
    cues: frozenset[str]
    preceded_by: frozenset[str]
    window: int
    entry: int | None  # the dictionary entry of its long form; None: no mention
    absorb: frozenset[str]
    #: words right after the form that name another sense ("SI joint", "SI units")
    unless_followed_by: frozenset[str] = frozenset()

    def fires(self, doc: Doc, start: int, end: int) -> bool:
        """Whether the words around ``doc[start:end]`` (same sentence and line) name it."""
        if end < len(doc) and doc[end].lower_ in self.unless_followed_by:
            return False
        if self.preceded_by and start > 0 and not doc[start].is_sent_start:
            if doc[start - 1].lower_ in self.preceded_by:
                return True
        i = start
        while i > 0 and start - i < self.window and not doc[i].is_sent_start:
            i -= 1
            tok = doc[i]
            if "\n" in tok.text or tok.text == ";":
                break
            if tok.lower_ in self.cues:
                return True
        for i in range(end, min(len(doc), end + self.window)):
            tok = doc[i]
            if tok.is_sent_start or "\n" in tok.text or tok.text == ";":
                break
            if tok.lower_ in self.cues:
                return True
        return False


#: Token sequences joining coordinated heads: "breast and ovarian cancer".
_CONJUNCTIONS: tuple[tuple[str, ...], ...] = (
    ("and", "/", "or"),
    ("and",),
    ("or",),
    ("/",),
    (",",),
    (",", "and"),
    ("-",),
)
#: Neoplasm heads that take a site or histology adjective: "colorectal tumors",
#: "cerebellar haemangioblastoma", "ductal carcinoma".
_TUMOUR_HEADS = frozenset(
    """tumor tumors tumour tumours cancer cancers carcinoma carcinomas adenoma adenomas
    neoplasm neoplasms neoplasia lymphoma lymphomas sarcoma sarcomas haemangioblastoma
    haemangioblastomas hemangioblastoma hemangioblastomas adenocarcinoma adenocarcinomas
    polyps dysplasia dysplasias hyperplasia metaplasia hypoplasia aplasia""".split()
)
#: Organs named by a noun before such a head: "bone dysplasia", "skin cancer".
_SITE_NOUNS = frozenset(
    """bone bones skin breast liver kidney lung bowel colon brain cartilage muscle marrow
    thyroid prostate bladder ovary testis cervix""".split()
)
#: Nouns that end the name of a disorder written as its distinguishing words and a general
#: head: "breast-ovarian cancer syndrome", "VHL disease", "congenital anomaly disorders",
#: "retinoblastoma tumours".
_GENERAL_HEADS = frozenset(
    """syndrome syndromes disease diseases disorder disorders tumor tumors tumour tumours""".split()
)
#: Tumour heads a gene or cell line may name: "APC tumour", "RB tumors", "MCF-7 tumours".
_TUMOUR_NOUNS = frozenset("tumor tumors tumour tumours cancer cancers".split())
#: Tissues and parts after an organ's name ("the bladder epithelium").
_ORGAN_PARTS = frozenset(
    """epithelium epithelial cell cells tissue tissues wall walls mucosa lining surface
    capsule parenchyma""".split()
)
#: Organs named after "of (the)" behind a tumour head: "carcinoma of the rectum".
_ORGANS_AFTER = _SITE_NOUNS | frozenset(
    """breasts livers kidneys lungs ovaries testes rectum stomach pancreas uterus
    endometrium esophagus oesophagus ureter ureters pelvis tongue larynx pharynx tube tubes
    cavity gallbladder duodenum intestine eye eyes retina adrenal adrenals""".split()
)
_SITE_ADJECTIVE = re.compile(r"^[a-z]{4,}(?:al|ic|ar|ary|ous|ive|oid)$")
_ORGAN_ADJECTIVE = re.compile(r"^[a-z]{3,}(?:al|ic|ar|ary|ous|ive|oid)$")  # "renal pelvis"
_NOT_SITES = frozenset(
    """several typical clinical normal potential additional general usual original actual
    initial individual various previous serious obvious positive negative relative effective
    extensive total partial particular special similar regular major minor familiar
    characteristic specific genetic historic periodic basic classic typical atypical
    critical medical surgical physical practical logical biological chemical
    reveal removal survival arrival approval interval trial signal proposal referral
    withdrawal dismissal""".split()
)
#: A disorder's name by its ending: -itis (inflammation), -osis (condition), -pathy,
#: -oma (tumour), -plasia, -trophy, -megaly, -algia, -penia, -cytosis, -ectasia, -iasis,
#: -plegia, -paresis, -malacia, -rrhea, -rrhage; -emia and -uria (a level in blood or
#: urine) only with a prefix that says it is out of range ("hypocomplementemia",
#: "analbuminemia") or after an acid ("methylmalonic acidemia"): "glycaemia",
#: "lactatemia" and "microglobulinuria" name the measurement.
_DISORDER_WORD = re.compile(
    r"^(?![a-z]*(?:stomas?|anast[oa]mos[ie]s)$)[a-z]{3,}(?:itis|itides|osis|opathy|opathies|omas?|omata|algias?|plasias?|"
    r"trophy|trophies|megaly|penias?|cytosis|ectasias?|ectasis|iasis|plegias?|paresis|"
    r"malacia|dynias?|rrh(?:o)?eas?|rrhages?|rrhagia)$"
    r"|^(?:hyper|hypo|an|dys|pan|oligo)[a-z]{3,}(?:a?emias?|urias?)$"
    r"|^[a-z]*acid(?:a?emias?|urias?)$"
)
#: Prefixes that make a listed one-word problem a kind of it: size ("microcalcifications",
#: "macroadenoma"), rate ("bradyarrhythmias"), number or extent ("polyarthralgia",
#: "mononeuropathy", "oligoarthritis", "pansinusitis") and recurrence ("rebleeding",
#: "reinfarction"); ``_prefixed_words``.
_FINDING_PREFIX = re.compile(r"^(?:micro|macro|brady|tachy|poly|mono|oligo|pan|re)-?")
#: Listed problems that, after such a prefix, are a unit or a word of their own
#: ("micromoles", "micromolar": a skin mole is no part of them).
_NOT_PREFIXED_HEADS = frozenset({"moles", "mole", "molar", "molars"})
#: Such words that name a procedure or a device's flaw: "microfracture" (the cartilage
#: technique, "microfracture of the medial femoral condyle"; a lead "prone to microfractures").
_NOT_PREFIXED_WORDS = frozenset({"microfracture", "microfractures"})
#: Where a note names what a patient was diagnosed with: the acronym after it (two to seven
#: capitals and digits, case-sensitive) is a disorder's short form (``_diagnosed_acronyms``).
_DIAGNOSED_ACRONYM = re.compile(
    r"\b(?i:diagnos(?:is|ed|e)\s+(?:of|with|as)|consistent\s+with|suggestive\s+of|"
    r"suspicion\s+(?:of|for)|suspected\s+diagnosis\s+of)\s+(?:(?i:an?|the)\s+)?"
    r"([A-Z][A-Z0-9]{1,6}s?)(?![\w+*/])"
    # the acronym closes the phrase: "consistent with RLL pneumonia", "IV drug use" name none
    r"(?=[ \t]*(?:[.,;)\]]|\n|$)|[ \t]+(?:and|or|was|is|were|are|had|has|in|on|at|during|"
    r"since|after|before|which|that|who|confirmed|based|by)[ \t])"
)
_DIAGNOSIS_CUE_GUARD = re.compile(r"(?i)diagnos|consistent with|suggestive of|suspicion")
#: Words after such an acronym that make it the agent a test looks for, not the disorder.
_TEST_AFTER_ACRONYM = frozenset(
    """serology serologies pcr antibody antibodies titer titers titre titres igg igm antigen
    test tests testing culture cultures screen screening blood viral dna rna load""".split()
)
#: Capitals after such a cue that name a classification, a body, a test or a heart chamber or
#: artery ("consistent with RV volume overload"), no disorder.
_NOT_DIAGNOSED_ACRONYMS = frozenset(
    """DSM ICD WHO AJCC TNM FIGO NYHA ACR EULAR CDC NIH FDA IRB MD DO RN ER ED ICU CT MRI MR PET
    US EEG ECG EKG EMG CSF PCR IHC FISH RV LV RA LA RVOT LVOT LAD RCA LCX
    RLL RUL RML LLL LUL NSR IV IM PO SC SQ PR HPI ROS ABD HEENT PA AP NOS OK ALL ETOH MS CXR
    KUB UA CBC BMP CMP LFT LFTS ABG VBG OR PACU NICU PICU SICU MICU CCU OB GYN ENT GI GU CV CNS
    HR BP RR BMI SOB""".split()
)
#: Words of a disorder's form that name a process, a procedure, a device, a structure, a
#: solution or a profession.
_NOT_DISORDER_WORDS = frozenset(
    """diagnosis diagnoses misdiagnosis prognosis prognoses osmosis mitosis mitoses meiosis
    meioses apoptosis phagocytosis endocytosis exocytosis pinocytosis transcytosis efferocytosis
    symbiosis hypnosis apotheosis metamorphosis heterozygosis homozygosis orthosis orthoses
    arthrodesis homeopathy osteopathy naturopathy empathy
    sympathy telepathy allopathy diploma diplomas stroma stomata aroma aromas rhizoma
    academia nostalgia utopia cornucopia encyclopedia cardioplegia aponeurosis
    aponeuroses synchondrosis syndesmosis stereognosis capitis""".split()
)
#: A drug's adjective ("antituberculosis"), a time before the disorder ("preischemia").
_NOT_DISORDER_PREFIXES = ("anti", "pre", "post", "non")
_DEFICIENCY = frozenset({"deficiency", "deficiencies", "deficient"})
_PREGNANCY = frozenset({"pregnancy", "pregnancies"})
#: Words before "pregnancy" that make it a time or one pregnancy among others, not the state:
#: "during pregnancy", "weeks of pregnancy", "an uneventful pregnancy", "her first pregnancy".
_PREGNANCY_TIME = frozenset(
    """during in throughout after before since following until of uneventful uncomplicated
    unremarkable normal previous prior subsequent earlier next later her his the a an this
    that their its both two three four first second third fourth last 's ’s index""".split()
)
#: Words after a problem that make the phrase name a service, an activity or an instrument
#: about it ("Infectious Disease consult", "Glasgow Coma Scale", "Beck Depression Inventory").
_SERVICE_WORDS = frozenset(
    {
        "screening", "consult", "consultation", "service", "department", "medication",
        "scale", "scales", "questionnaire", "inventory",
        # where care is given and who gives it: "tumour board", "pain clinic", "stroke unit"
        "board", "boards", "clinic", "clinics", "unit", "units", "team", "teams", "ward",
        "specialist", "specialists", "educator", "registry", "association", "society",
        "foundation", "program", "programme",
        # a device named after the defect it closes: "PFO occluder", "ASD occluder device"
        "occluder", "occluders",
        # prevention is an activity about the problem, like screening: "DVT prophylaxis";
        # a care protocol is an instrument: "heparin per ACS protocol", "DKA protocol"
        "prophylaxis", "protocol", "protocols",
    }
)  # fmt: skip
#: Words after a problem (an infection mostly) that make the phrase name a test for it or a
#: vaccine against it, not a problem the patient has: "HIV serology", "Hepatitis B and C
#: serology were negative", "COVID-19 PCR", "pregnancy test", "tumour markers", "hepatitis B
#: vaccination". A test that found it says so otherwise ("tested positive for COVID-19", "HIV
#: positive"), and that is read as the problem. Not "status": "his HIV status", "supermorbid
#: obesity status" are the problem as often as whether one has it.
_TEST_WORDS = frozenset(
    {
        "test", "tests", "testing", "screen", "screens", "serology", "serologies",
        "serologic", "serological", "pcr", "rt-pcr", "antibody", "antibodies",
        "antigen", "antigens", "igg", "igm", "titer", "titers", "titre", "titres", "markers",
        "marker", "swab", "swabs", "immunoassay", "vaccine", "vaccines", "vaccination",
        "vaccinations", "immunization", "immunizations", "immunisation", "immunisations",
    }
)  # fmt: skip


#: Words that say what a test of a problem found: "the mononucleosis screen is [positive]".
_TEST_FOUND = frozenset({"positive", "reactive", "detected", "+"})
#: The first word of a problem that is itself a test's result ("abnormal glucose tolerance
#: test", "positive fecal occult blood test"): the test word after it belongs to the finding.
_RESULT_WORDS = frozenset(
    """abnormal positive negative elevated increased raised high decreased reduced low
    impaired""".split()
)


def _short_form(tok: Token) -> bool:
    return tok.is_alpha and tok.is_upper and len(tok) <= 4


def _after_coordinated_letters(doc: Doc, end: int) -> int:
    """The token after a problem's name and the letters or short forms coordinated with its
    last one ("Hepatitis B [and C] serology", "hepatitis A[, B, C, D, and E] serology", "HIV
    [and HTLV] testing"): ``end`` itself when none follow."""
    n = len(doc)
    k = end
    # a hard-wrapped line ("HIV\ntesting"), not the next item of a list ("1. Hypertension\n
    # Tests ordered: ...", "Pneumonia\n\nTesting pending"): one line break, then lower case
    if (
        k + 1 < n
        and doc[k].is_space
        and doc[k].text.count("\n") <= 1
        and doc[k + 1].text[:1].islower()
    ):
        k += 1
    if not _short_form(doc[end - 1]):
        return k
    while k + 1 < n and doc[k].lower_ in (",", "and", "or", "/", "and/or"):
        j = k + 1
        if doc[j].lower_ in ("and", "or") and j + 1 < n:
            j += 1
        if not _short_form(doc[j]):
            break
        k = j + 1
    return k


def _names_a_test_for(doc: Doc, start: int, k: int) -> bool:
    """Whether the problem at ``start`` names what the test or vaccine at ``k`` is for ("HIV
    serology", "pregnancy test", "hepatitis B vaccination"), unless the words after say the
    test found it ("the mononucleosis screen is positive"), the problem is a test's result
    itself ("abnormal glucose tolerance test")."""
    n = len(doc)
    if k >= n or doc[k].lower_ not in _TEST_WORDS or doc[start].lower_ in _RESULT_WORDS:
        return False
    # a result word before the problem ("a positive HIV test", "Positive COVID-19 PCR") or
    # after the test in its sentence ("COVID-19 PCR test on admission was positive")
    for t in reversed(doc[max(0, start - 2) : start]):
        if t.is_punct or t.is_space:
            break
        if t.lower_ in _TEST_FOUND:
            return False
    after = doc[k + 1 : min(n, k + 9)]
    for t in after:
        if t.is_sent_start or t.text in (".", ";") or "\n" in t.text:
            break
        if t.lower_ in _TEST_FOUND:
            return False
    return True


#: Nutrients and cofactors named in words before "deficiency" ("zinc deficiency").
_NUTRIENTS = frozenset(
    """zinc iron copper selenium magnesium calcium potassium iodine carnitine thiamine thiamin
    riboflavin niacin pyridoxine biotin folate folic cobalamin vitamin protein biotinidase
    lactase""".split()
)
_DEFICIENCY_HASHES = frozenset(hash_string(w) for w in _DEFICIENCY)
#: Words that end in "-ase" and name no enzyme.
_NOT_ENZYMES = frozenset(
    "phase purchase chase database showcase suitcase staircase briefcase vase base case".split()
)


def _names_a_factor(tok: Token) -> bool:
    """A gene, enzyme, factor or vitamin symbol ("G6PD", "C7", "B12"), a nutrient ("zinc"), or
    an enzyme named by its "-ase" word ("aspartoacylase", "hydroxylase"; "disease",
    "increase" and "phase" are no enzymes)."""
    low = tok.lower_
    return bool(
        _SYMBOL.match(tok.text)
        or low in _NUTRIENTS
        or (
            len(low) > 5
            and low.endswith("ase")
            and not low.endswith("ease")
            and low not in _NOT_ENZYMES
            and low.isalpha()
        )
    )


#: Words of an enzyme's name before its "-ase" word: substrates and groups ("glucose",
#: "phosphate", "adenosine", "acyl", "phosphoribosyl") and locants ("6").
_ENZYME_NAME_WORD = re.compile(r"^(?:[a-z]{2,}(?:ine|ate|ose|yl|ol|ide|one)|coa|\d{1,2}|[a-z])$")


def _enzyme_name_start(doc: Doc, i: int) -> int:
    """First token of the enzyme name that ends at ``doc[i]``, an "-ase" word: "glucose - 6 -
    phosphate dehydrogenase", "adenosine deaminase", "hypoxanthine - guanine
    phosphoribosyl - transferase" (up to eight tokens; a symbol or nutrient stands alone)."""
    low = doc[i].lower_
    if not low.endswith("ase"):
        return i
    start = i
    while start > 0 and i - start < 8:
        prev = doc[start - 1]
        if prev.text == "-" and start > 1 and _ENZYME_NAME_WORD.match(doc[start - 2].lower_):
            start -= 2
        elif (
            prev.lower_ != low
            and all(_ENZYME_NAME_WORD.match(part) for part in prev.lower_.split("-"))
            and (prev.is_lower or prev.is_sent_start or prev.is_digit)
        ):  # "glucose-6-phosphate" may be one token; "glucose 6 phosphate"
            start -= 1
        else:
            break
    return start


#: English words that are also capitalised abbreviations ("AS" aortic stenosis, "ALL").
_WORD_ABBREVIATIONS = frozenset("as all is it or on at be am an us no".split())


#: Participles of a finding's noun (concepts.py ``PARTICIPLE_ENDINGS``): "hemorrhagic",
#: "thrombosed", "calcified", "hypertrophied".
_PARTICIPLE_END = re.compile("(?:" + "|".join(p for _, p in PARTICIPLE_ENDINGS) + ")$")


def _drop_participles_before_findings(
    doc: Doc, chosen: list[tuple[int, int, int]]
) -> list[tuple[int, int, int]]:
    """A participle read as its finding ("calcified", "thrombosed", "hemorrhagic") right
    before another term names the kind of that one, not a finding of its own: "hemorrhagic
    stroke", "thrombosed external hemorrhoid", "calcified atherosclerotic plaque",
    "hemorrhagic shock protocol"."""
    out = []
    starts = {s for s, _, _ in chosen}
    n = len(doc)
    for start, end, idx in chosen:
        if end - start == 1 and _PARTICIPLE_END.search(doc[start].lower_):
            k = end
            while k < n and doc[k].is_space:
                k += 1
            if k in starts or (k < n and doc[k].lower_ in _FINDING_AFTER_PARTICIPLE):
                continue
        out.append((start, end, idx))
    return out


#: Nouns after a participle that make it the kind of a thing, not a finding ("hemorrhagic
#: shock", "calcified plaque"; those a term of their own would mark are found by position).
_FINDING_AFTER_PARTICIPLE = frozenset(
    "shock stroke plaque plaques fever fevers transformation protocol lesion lesions".split()
)


def _drop_pregnancy_as_time(
    doc: Doc, chosen: list[tuple[int, int, int]]
) -> list[tuple[int, int, int]]:
    """ "Pregnancy" alone is being pregnant ("pregnancy or breastfeeding", "Exclusion:
    pregnancy", "known pregnancy"), except where it names a time or one pregnancy among
    others: "during pregnancy", "weeks of pregnancy", "her (first) pregnancy", "the
    pregnancy was uneventful", "his mother's pregnancy", "the 36th pregnancy week"."""
    out = []
    for start, end, idx in chosen:
        if end - start == 1 and doc[start].lower_ in _PREGNANCY:
            before = doc[start - 1].lower_ if start > 0 else ""
            after = doc[end].lower_ if end < len(doc) else ""
            if (
                before in _PREGNANCY_TIME
                or after in ("week", "weeks")
                or (start > 0 and doc[start - 1].like_num)  # "seven pregnancies"
            ):
                continue
        out.append((start, end, idx))
    return out


def _drop_shouted_words(doc: Doc, chosen: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """An abbreviation that spells an English word ("AS") is that word in a line written in
    capitals: "THE RESULTS ARE AS FOLLOWS" names no aortic stenosis."""
    out = []
    n = len(doc)
    for start, end, idx in chosen:
        tok = doc[start]
        if end - start == 1 and tok.lower_ in _WORD_ABBREVIATIONS and tok.text.isupper():
            near = [doc[j] for j in (start - 1, start + 1) if 0 <= j < n]
            if any(t.is_alpha and t.is_upper and len(t) > 1 for t in near):
                continue
        out.append((start, end, idx))
    return out


#: A codon written in bases ("GCA", "TAA"), which spells some disease abbreviations.
_CODON = re.compile(r"^[ACGTU]{3}$")
_CODON_CUES = frozenset("codon codons triplet triplets missense nonsense substitution".split())


def _drop_codons(doc: Doc, chosen: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Three bases are a codon, no abbreviation, beside another codon or a codon word within
    three tokens in the sentence: "a missense mutation, GCA to GTA" names no giant cell
    arteritis, "a glutamine (GAA) to a stop (TAA) codon" no thoracic aortic aneurysm."""
    out = []
    for start, end, idx in chosen:
        if end - start == 1 and _CODON.match(doc[start].text):
            sent = doc[start].sent if doc.has_annotation("SENT_START") else doc[:]
            lo, hi = max(sent.start, start - 3), min(sent.end, end + 3)
            near = [doc[k] for k in range(lo, hi) if k != start]
            if any(t.lower_ in _CODON_CUES or _CODON.match(t.text) for t in near):
                continue
        out.append((start, end, idx))
    return out


_ORDINALS = frozenset("first second third fourth fifth sixth seventh eighth ninth".split())


def _complement_component(doc: Doc, j: int) -> int:
    """End (exclusive) of "[the] seventh component of [human] complement" (or "... ninth
    complement component") at ``doc[j]``, with a short form in brackets after it; 0 if none."""
    n = len(doc)
    if j >= n or doc[j].lower_ not in _ORDINALS:
        return 0
    k = j + 1
    if k + 2 < n and doc[k].lower_ == "component" and doc[k + 1].lower_ == "of":
        k += 2
        if k < n and doc[k].lower_ == "human":
            k += 1
        if k < n and doc[k].lower_ == "complement":
            return k + 1
        return 0
    if k + 1 < n and doc[k].lower_ == "complement" and doc[k + 1].lower_ == "component":
        return k + 2
    return 0


def _drop_gene_symbol_pairs(
    doc: Doc, chosen: list[tuple[int, int, int]], entries: EntryTable
) -> list[tuple[int, int, int]]:
    """An abbreviation hyphenated to a gene or marker symbol that names nothing here is part
    of a gene's name or a map order, not a disorder: "DM-PK" (the DMPK kinase), "APOC1-DM",
    "cen-DMD-754" (but "HTN-DM", two problems, stays)."""
    if not chosen:
        return chosen
    n = len(doc)
    starts = {s for s, _, _ in chosen}
    ends = {e for _, e, _ in chosen}
    out = []
    for start, end, idx in chosen:
        if end - start == 1 and doc[start].text.isupper() and entries[idx].label == "PROBLEM":
            pair = False
            if end + 1 < n and doc[end].text == "-" and end + 1 not in starts:
                pair = _marker_symbol(doc[end + 1])
            if not pair and start >= 2 and doc[start - 1].text == "-" and start - 1 not in ends:
                pair = _marker_symbol(doc[start - 2])
            if pair:
                continue
        out.append((start, end, idx))
    return out


def _marker_symbol(tok: Token) -> bool:
    """A gene or marker symbol ("PK", "APOC1", "D9S5", "754"), not a word or a subtype digit."""
    text = tok.text
    if text.isdigit():
        return len(text) >= 3  # a marker number ("754"), not a type ("DM-1")
    return bool(_SYMBOL.match(text)) and len(text) >= 2 and not _ROMAN.match(text)


def _deficiency_of(doc: Doc, i: int) -> int:
    """End (exclusive) of "deficiency of [the] X" when X, within four plain words, names an
    enzyme, factor, vitamin or nutrient ("deficiency of aspartoacylase", "complete deficiency
    of C9", "deficiency of hepatic phenylalanine hydroxylase", "deficiency of vitamin B12");
    0 when it does not ("deficiency of the left ventricle's wall" is no such disorder)."""
    j = i + 1
    if j >= len(doc) or doc[j].lower_ != "of":
        return 0
    j += 1
    if j < len(doc) and doc[j].lower_ in ("the", "a", "an"):
        j += 1
    complement = _complement_component(doc, j)
    if complement:
        return complement
    end = 0
    for k in range(j, min(j + 4, len(doc))):
        t = doc[k]
        if _names_a_factor(t):
            end = k + 1
        elif end or not (t.is_alpha and t.is_lower):
            break
    return end


#: Gene, enzyme, factor or vitamin symbols: "G6PD", "C7", "APRT", "B12", "VIII".
_SYMBOL = re.compile(r"^(?=.*[A-Z])(?:[A-Z][A-Za-z]*\d+[A-Za-z\d]*|[A-Z]{2,8}\d*|[A-Z]\d+)$")
_ROMAN = re.compile(r"^[IVX]+[A-C]?$")
_STAGE_VALUE = re.compile(r"^(?:[0-4][a-c]?|i{1,3}[a-c]?|iv[a-c]?)$")
_TYPE_VALUE = re.compile(r"^(?:[0-9]{1,2}[a-z]?|[ivx]{1,4}[a-d]?|[a-d])$")


class _Lowers:
    """``doc[i].lower_`` by token index, looked up from the LOWER array (no Token objects)."""

    __slots__ = ("_cache", "_hashes", "_strings")

    def __init__(self, doc: Doc) -> None:
        self._hashes: list[int] = doc.to_array(LOWER).tolist()
        self._strings = doc.vocab.strings
        self._cache: dict[int, str] = {}

    def __getitem__(self, i: int) -> str:
        text = self._cache.get(i)
        if text is None:
            text = self._cache[i] = self._strings[self._hashes[i]]
        return text

    def slice(self, start: int, end: int) -> list[str]:
        """``[t.lower_ for t in doc[start:end]]``."""
        return [self[i] for i in range(start, end)]


def _gene_or_cell_line(tok: Token) -> bool:
    """A gene or cell line symbol ("APC", "RB", "MCF-7"), not a word in capitals ("RESULTS")."""
    text = tok.text
    return (
        bool(_SYMBOL.match(text))
        and text.lower() not in _WORD_ABBREVIATIONS
        and (len(text) <= 5 or any(c.isdigit() for c in text))
        and not _ROMAN.match(text)  # "stage IIIB or IV lung cancer"
    )


def _names_pain(word: str) -> bool:
    """A pain word: its syndrome is named by the pain ("flank pain syndrome", "myalgia
    syndrome" are pain and a syndrome, not a new disorder's name)."""
    return word in ("pain", "pains", "ache", "aches") or word.endswith(("algia", "algias"))


def _short_form_at(doc: Doc, j: int) -> bool:
    """ "( VHL )" at ``doc[j]``: a short form in brackets."""
    return (
        j + 2 < len(doc)
        and doc[j].text == "("
        and doc[j + 2].text == ")"
        and _looks_abbreviated(doc[j + 1].text, "x" * 2 * len(doc[j + 1].text))
    )


def _organ_after(lower: _Lowers, end: int, n: int) -> int:
    """End of "of [the] [adjective] organ [(and|or|,) [the] organ ...]" after a tumour head
    ("carcinoma of the rectum", "cancer of the renal pelvis and bladder"); ``end`` if none."""
    j = end
    if j >= n or lower[j] != "of":
        return end
    j += 1
    best = end
    while j < n:
        if lower[j] == "the":
            j += 1
        if j < n and _ORGAN_ADJECTIVE.match(lower[j]) and lower[j] not in _NOT_SITES:
            j += 1
        if j >= n or lower[j] not in _ORGANS_AFTER:
            break
        j += 1
        if j < n and lower[j] in _ORGAN_PARTS:  # "of the bladder epithelium": a tissue
            return end
        best = j
        k = j
        while k < n and lower[k] in (",", "and", "or") and k - j < 2:
            k += 1
        if k == j:
            break
        j = k
    return best


def _extend_type(lower: _Lowers, end: int, ceiling: int) -> int:
    """Include a trailing subtype: "atelosteogenesis type 2", "... type IIA"."""
    if end + 1 < ceiling and lower[end] == "type" and _TYPE_VALUE.match(lower[end + 1]):
        return end + 2
    return end


#: Development codes of drugs: the prefix of the company or institute that made the compound
#: (Lilly "LY", Merck "MK", Sanofi "SR"/"SSR", Roche "Ro", AstraZeneca "AZD", Pfizer "CP"/"PF",
#: Glaxo "GR"/"GW"/"SB", Hoechst "HOE", Fujisawa "FK", Walter Reed "WR", the NCI "NSC", ...)
#: and a compound number: of three or more digits after a hyphen ("MK-801", "MK - 801"); of
#: four or more closed up ("LY274614"; a device's model is often three: pacemaker "SSR203")
#: or after a space ("SR 141716", not "Wellbutrin SR 150"), and then no year (a citation:
#: "Allen RP 2014").
_CODE_PREFIXES = (
    "AZD ABT AMG BAY BIBF BIBN BIBR BMS BRL CGP CGS CNTO CP DuP FK GR GS GSK GW HOE ICI JNJ "
    "JTE KW LY MDL MEDI MK NNC NSC ONO OPC PD PF RG Ro RO RP RWJ SB SCH SKF SR SSR TAK WAY WIN "
    "WR YM ZD ZK ZM"
).split()
_DRUG_CODE = re.compile(
    # the capital first: most positions of a note fail there, before the look-behind
    rf"(?=[A-Z])(?<![\w-])(?:{'|'.join(sorted(_CODE_PREFIXES, key=len, reverse=True))})"
    r"(?:\d{4,7}|-\d{3,7}|\s-\s\d{3,7}|\s(?!(?:19|20)\d\d\b)\d{4,7})[A-Z]?(?![\w-])"
)

#: Drug stems of the WHO INN and USAN naming schemes that end a drug's name and no English
#: word: beta blockers (-olol), ACE inhibitors (-pril), sartans, statins, monoclonal
#: antibodies (-mab), kinase inhibitors (-tinib, -ciclib, -parib, -lisib), antivirals
#: (-navir, -previr, -buvir, -tegravir, -ciclovir, -vudine), azole antifungals, penicillins
#: (-cillin), aminoglycosides and macrolides (-mycin, -micin), quinolones (-oxacin),
#: tetracyclines (-cycline), local anaesthetics (-caine), heparins (-parin), direct oral
#: anticoagulants (-xaban, -gatran), dihydropyridines (-dipine), PPIs (-prazole), H2
#: blockers (-tidine), setrons, triptans, gliptins, gliflozins, glitazones, leukotriene
#: antagonists (-lukast), beta agonists (-terol, not the sterols: "cholesterol"), profens,
#: PDE5 inhibitors (-dalafil, -nafil), benzodiazepines (-azepam, -azolam), barbiturates,
#: neuromuscular blockers (-curonium, -curium), bisphosphonates (-dronate), fibrates,
#: antidepressants (-oxetine, -triptyline, -pramine), antipsychotics (-peridol, -apine),
#: camptothecins (-tecan), platins, anthracyclines (-rubicin), taxanes (-taxel),
#: gonadorelins (-relin), vasopressins (-pressin), steroids (-olone), loop diuretics
#: (-semide), thiazides, nitrogen mustards (-mustine), alpha blockers (-zosin),
#: nucleosides (-citabine), thrombolytics (-teplase).
_DRUG_STEM = re.compile(
    r"^[a-z]{3,}(?:olol|pril|prilat|sartan|vastatin|mab|tinib|ciclib|parib|lisib|navir|previr|"
    r"buvir|tegravir|ciclovir|cyclovir|vudine|conazole|azole|cillin|mycin|micin|oxacin|"
    r"cycline|caine|parin|xaban|gatran|dipine|prazole|tidine|setron|triptan|gliptin|"
    r"gliflozin|glitazone|lukast|(?<!s)terol|profen|dalafil|nafil|azepam|azolam|barbital|"
    r"curonium|curium|dronate|fibrate|oxetine|triptyline|pramine|peridol|apine|tecan|platin|"
    r"rubicin|taxel|relin|pressin|olone|semide|thiazide|mustine|zosin|citabine|teplase)$"
)

#: Heads of a drug class named by its target ("CYP3A4 inhibitors").
_TARGET_HEADS = frozenset(
    """inhibitor inhibitors inducer inducers blocker blockers agonist agonists antagonist
    antagonists""".split()
)
#: A target's symbol: letters and digits with a capital ("CYP3A4", "VEGFR", "FXa", "mTOR",
#: "COX-2", "5-HT3", "IL-6", "H2"), not all digits.
_TARGET_SYMBOL = re.compile(r"^(?=.*[A-Z])(?=.*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$")
#: A piece of a symbol written with spaced hyphens: "COX", "2", "HT3", "IL", "PD".
_SYMBOL_PIECE = re.compile(r"^(?:[A-Z][A-Za-z]{0,3}\d*|\d{1,2}[A-Za-z]?)$")
#: A protein named by a letter and a word: "P-glycoprotein", "P-gp".
_LETTER_PROTEIN = re.compile(r"^[A-Z]-(?:glycoprotein|gp)$")
_TARGET_NOT = frozenset("THE AND OR FOR WITH NOT NO OF IN ON TO AN A".split())


#: Heads of a drug class named by its use ("cardiac medications", "anti-dementia drugs").
_USE_HEADS = frozenset("medication medications medicine medicines drug drugs agent agents".split())
#: Words after such a head that make the phrase name a behaviour, a test or a reaction.
_USE_NOT_AFTER = frozenset(
    """abuse abuser abusers use user users dependence dependency addiction addict screen
    screening test testing tests allergy allergies reaction reactions interaction interactions
    eluting level levels history clinic clinics consult consults consultation service services
    department team fellow fellowship follow-up followup program residency""".split()
)
#: A use or an effect that names a drug class before those heads, one word; not a disorder's
#: name, which stays a problem ("his asthma medication", "hypertension medications").
_USE_WORDS = frozenset(
    """cardiac heart psychiatric sleep thyroid cholesterol ocular ophthalmic eye fertility
    psychotropic immunosuppressive immunosuppressant immunomodulatory immunomodulating
    cytotoxic chemotherapeutic sedative hypnotic stimulant steroid opioid narcotic hormonal
    biologic biological vasoactive inotropic thrombolytic fibrinolytic neuroleptic analgesic
    anesthetic anaesthetic diuretic laxative alkylating oxytocic""".split()
)
#: An effect written after its object ("cholesterol-lowering", "blood thinning").
_USE_EFFECTS = (
    "lowering", "thinning", "suppressing", "modifying", "sparing", "prolonging", "stimulating",
    "blocking", "containing", "reducing", "enhancing",
)
#: "anti-" words that name no use ("anticipated drugs", "antique").
_ANTI_NOT = ("anticip", "antiq", "antibod", "antigen")


def _use_start(doc: Doc, j: int) -> int | None:
    """First token of the use named before the class head at ``doc[j]`` ("cardiac" in
    "cardiac medications", "blood" in "blood thinning medications"), or None."""
    k = j - 1
    word = doc[k].lower_
    if word.startswith("anti") and not word.startswith(_ANTI_NOT):
        rest = word[5:] if word.startswith("anti-") else word[4:]
        if len(rest) >= 3 and (word[4] == "-" or rest.isalpha()):
            return k  # "anti-dementia", "antiarrhythmic", "anti-TNFa"
    if k >= 2 and doc[k - 1].text == "-" and doc[k - 2].lower_ == "anti" and doc[k].is_alpha:
        return k - 2  # "anti - cancer drugs" (tokenised text)
    if word in _USE_WORDS:
        return k
    if word == "pressure" and k >= 1 and doc[k - 1].lower_ == "blood":
        return k - 1  # "blood pressure medications"
    head, _, effect = word.rpartition("-")
    if head and effect in _USE_EFFECTS and head.isalpha():
        return k  # "cholesterol-lowering drugs"
    if word in _USE_EFFECTS and k >= 1 and doc[k - 1].is_alpha and doc[k - 1].is_lower:
        if doc[k - 1].lower_ not in _USE_NOT_BEFORE_EFFECT:
            return k - 1  # "blood thinning medications", "immune suppressing medications"
    return None


#: Words before an effect that make it no use: "the containing drugs", "is based".
_USE_NOT_BEFORE_EFFECT = frozenset("the a an is are was were be been of and or not".split())


def tokens_with_any(doc: Doc, words: frozenset[str]) -> list[int]:
    """Indices of the tokens whose lower-cased text is one of ``words`` (a C-speed scan)."""
    hashes = {hash_string(w) for w in words}
    lowers = doc.to_array(LOWER).tolist()
    return [i for i, h in enumerate(lowers) if h in hashes]


def _target_start(doc: Doc, j: int) -> int | None:
    """First token of the target named before the class head at ``doc[j]``: one symbol,
    closed up or written with spaced hyphens ("COX - 2"), after "CYP" written apart ("CYP
    3A4"); or an enzyme's "-ase" word ("aromatase"). None when there is no such target."""
    k = j - 1
    tok = doc[k]
    if tok.is_lower and _names_a_factor(tok) and tok.lower_.endswith("ase"):
        return k  # "aromatase inhibitors", "integrase inhibitor"
    mechanism = _mechanism_start(doc, k)
    if mechanism is not None:
        return mechanism
    # a symbol of one token or pieces joined by spaced hyphens ("COX - 2", "5 - HT3")
    start = k
    piece = _SYMBOL_PIECE.match
    while piece(doc[k].text) and start >= 2 and doc[start - 1].text == "-":
        if not piece(doc[start - 2].text):
            break
        start -= 2
    text = "".join(t.text for t in doc[start : k + 1])
    # two targets of one class in one token: "CYP3A4/P-glycoprotein inhibitors"
    if not all(_is_target(part) for part in text.split("/")):
        return None
    if start > 0 and doc[start - 1].text == "CYP" and text[:1].isdigit():
        start -= 1  # "CYP 3A4 inhibitor"
    return start


#: Receptors and carriers named by a word, before "agonist(s)", "antagonist(s)",
#: "blocker(s)" or "inhibitor(s)" ("calcium antagonists", "dopamine agonist", "alpha
#: blocker", "leukotriene receptor antagonists", "alpha-2 adrenergic agonists").
_MECHANISM_WORDS = frozenset(
    """alpha beta calcium sodium potassium dopamine dopaminergic opioid opiate serotonin
    histamine leukotriene adrenergic aldosterone mineralocorticoid estrogen oestrogen androgen
    vasopressin endothelin angiotensin bradykinin adenosine glutamate thrombin
    integrin""".split()
)
#: A Greek letter with its subtype: "alpha-1", "beta-2", "α1", "a-2" (tokenised whole).
_GREEK_SUBTYPE = re.compile(r"^(?:alpha|beta|α|β|a|b)-?[12]$", re.IGNORECASE)
#: Words that may stand between the receptor and the head: "leukotriene receptor antagonists",
#: "alpha-2 adrenergic agonists", "calcium channel blockers".
_MECHANISM_LINKS = frozenset("receptor receptors channel channels adrenergic".split())


def _mechanism_start(doc: Doc, k: int) -> int | None:
    """First token of a receptor or carrier named by words before a class head at
    ``doc[k + 1]`` (``_MECHANISM_WORDS``), up to three words back; or None."""
    start = None
    for i in range(k, max(-1, k - 3), -1):
        word = doc[i].lower_
        if word in _MECHANISM_WORDS or _GREEK_SUBTYPE.match(word):
            start = i
        elif word not in _MECHANISM_LINKS:
            break
    return start


def _is_target(text: str) -> bool:
    """Whether ``text`` is a target's symbol ("CYP3A4", "COX-2", "P-gp"), not a word in
    capitals, a number or a factor named in Roman numerals ("factor VIII inhibitor" is an
    antibody the patient makes)."""
    return (
        len(text) >= 2
        and _TARGET_SYMBOL.match(text) is not None
        and text.upper() not in _TARGET_NOT
        and not _ROMAN.match(text)
        and not text.isdigit()
        # a capitalised word ("Potent inhibitors") is no symbol
        and (
            sum(c.isupper() or c.isdigit() for c in text) >= 2 or bool(_LETTER_PROTEIN.match(text))
        )
    )


#: Salts, esters and hydrates a drug is given as, named after it (USAN / INN salt names:
#: "metoprolol succinate", "desipramine HCl", "ipratropium bromide", "doxycycline hyclate").
#: Lactate and nitrite are left out: after a drug they are more often a separate analyte.
_SALTS = frozenset(
    """hydrochloride hydrochlorides dihydrochloride hcl hydrobromide hbr hydroiodide sulfate
    sulphate bisulfate hydrogensulfate maleate tartrate bitartrate succinate acetate diacetate
    triacetate citrate mesylate mesilate dimesylate besylate besilate fumarate hemifumarate
    phosphate diphosphate bromide chloride iodide nitrate gluconate digluconate propionate
    dipropionate valerate butyrate pamoate embonate decanoate enanthate cypionate undecanoate
    palmitate stearate hyclate tosylate napsylate edisylate estolate ethylsuccinate benzoate
    oxalate malate mandelate meglumine tromethamine trometamol hydrate monohydrate dihydrate
    trihydrate sesquihydrate hemihydrate""".split()
)
#: Cations of salts, named after the drug ("warfarin sodium", "losartan potassium") or, in
#: British and older usage, before it ("sodium valproate", "potassium clavulanate").
_CATIONS = frozenset("sodium disodium potassium dipotassium calcium magnesium".split())
#: Alkyl groups of an ester named after the acid ("nitro-L-arginine methyl ester").
_ESTER_GROUPS = frozenset("methyl ethyl propyl butyl isopropyl".split())
#: Words after a cation that make it the ion of physiology, not a salt: "dihydropyridine
#: calcium antagonists", "amiloride sodium channel", "sodium excretion".
_ION_NOUNS = frozenset(
    """channel channels antagonist antagonists blocker blockers level levels concentration
    concentrations excretion intake balance homeostasis current currents influx efflux pump
    pumps transport ion ions - / sensitive dependent wasting loss""".split()
)


def _dose_at(doc: Doc, j: int) -> bool:
    """Whether a number follows at ``j``: a cation with its own dose is a drug of a list
    ("lisinopril potassium 20 mEq"), not the salt of the drug before it."""
    return j < len(doc) and doc[j].like_num


def _class_after(lower: "_Lowers", j: int, n: int) -> bool:
    """Whether the word at ``j`` makes a cation before it the ion of physiology."""
    return j < n and lower[j] in _ION_NOUNS


#: Locants and stereo descriptors hyphenated before a chemical name: "6", "N", "( R )",
#: "[ 3H ]", "alpha", "1 , 2" ("1 , 2 - dimethylhydrazine"), "( + )", "dl".
_LOCANT = re.compile(
    r"^(?:\d{1,2}[a-z]?'*|[NOSRDLCPE]|dl|cis|trans|alpha|beta|gamma|delta|omega|[α-ω]|"
    r"\d{1,2}h|\d{1,2}c|[mop]|"
    # substituents that name a derivative ("nitro - L - arginine", "6 - hydroxy - dopamine")
    r"(?:di|tri)?(?:nitro|amino|hydroxy|methyl|ethyl|chloro|fluoro|bromo|iodo|methoxy|acetyl|"
    r"benzyl|phenyl|oxo|deoxy|desmethyl|demethyl|nor|dehydro|hydro|carboxy|formyl|thio))$",
    re.I,
)
#: Inside brackets a locant may also be a sign of optical rotation: "( + ) - ", "( +/- ) - ".
_BRACKET_LOCANT = re.compile(r"^(?:[+±-]|\+/-|[A-Z])$")


def _locant_start(doc: Doc, start: int, floor: int) -> int:
    """First token of the locants and stereo descriptors hyphenated before a chemical name
    that starts at ``doc[start]`` ("6 - hydroxydopamine", "3 , 4 - methylenedioxy...",
    "( R ) - alpha - methylhistamine", "[ 3H ] - naloxone"), no further back than
    ``floor``; ``start`` if there are none. A digit before a capitalised name at the start
    of a line is a numbered list ("1 - Aspirin 81 mg"), no locant."""
    new = start
    while new - 2 >= floor and doc[new - 1].text == "-":
        k = new - 2  # the token before the hyphen
        tok = doc[k]
        if tok.text in (")", "]") and k - 2 >= floor and doc[k - 2].text in ("(", "["):
            inner = doc[k - 1].text
            if not (_LOCANT.match(inner) or _BRACKET_LOCANT.match(inner)):
                break
            k -= 2
            # "N ( 6 ) - cyclopentyl adenosine": the atom before the bracketed locant
            if k - 1 >= floor and doc[k - 1].text in ("N", "O", "S") and not doc[k - 1].whitespace_:
                k -= 1
        elif _LOCANT.match(tok.text):
            # "1 , 2 - ...", "3 , 4 - ..."
            while k - 2 >= floor and doc[k - 1].text == "," and doc[k - 2].text.isdigit():
                k -= 2
        else:
            break
        first = doc[k]
        if first.text.isdigit() and (k == 0 or "\n" in doc[k - 1].text or first.is_sent_start):
            break  # a numbered list item ("1 - Aspirin 81 mg")
        new = k
    return new


def _looks_abbreviated(short: str, long: str) -> bool:
    """scispaCy also pairs "stage 1 (disorder)"; a real short form has a capital letter or
    digit, no space, and is much shorter than its long form."""
    return (
        " " not in short
        and len(short) <= 10
        and len(short) * 2 <= len(long)
        and any(c.isupper() or c.isdigit() for c in short)
    )


def _long_form_entry(
    long: Span,
    matches: list[tuple[int, int, int]],
    qualifiers: frozenset[tuple[str, ...]] = frozenset(),
) -> int | None:
    """Entry of the match that is the long form (with a trailing subtype: "type 2"), its
    longest tail (without "the"), or a term that is the long form after a qualifier
    ("X-linked adrenoleukodystrophy (ALD)": scispaCy's long form is "adrenoleukodystrophy";
    not "elevated C-reactive protein (CRP)", where the word before names a finding about the
    thing the short form names)."""
    best: tuple[int, int] | None = None
    doc = long.doc
    lower = _Lowers(doc)
    for start, end, idx in matches:
        # the name with its subtype, as ``_extend`` will make the mention ("atelosteogenesis
        # type 2 (AO2)")
        if end != long.end and _extend_type(lower, end, long.end) != long.end:
            continue
        if start < long.start:
            before = tuple(t.lower_ for t in doc[start : long.start])
            if before not in qualifiers:
                continue
        if start <= long.start or (end - start) * 2 >= len(long):
            if best is None or end - start > best[0]:
                best = (end - start, idx)
    return best[1] if best else None


@Language.factory(
    "ns_dictionary",
    default_config={
        "cache_dir": None,
        "sources": [],
        "open_sources": list(OPEN_SOURCES),
        "labels": sorted(LABELS),
        "abbreviations": True,
    },
)
def make_dictionary_matcher(
    nlp: Language,
    name: str,
    cache_dir: str | None,
    sources: list[dict[str, Any]],
    open_sources: list[str],
    labels: list[str],
    abbreviations: bool,
) -> DictionaryMatcher:
    """spaCy factory for :class:`DictionaryMatcher` (JSON-able options only)."""
    unknown = set(labels) - LABELS
    if unknown:
        raise ValueError(f"dictionary labels must be among {sorted(LABELS)}: {sorted(unknown)}")
    config = DictionaryConfig(
        cache_dir=cache_dir,
        open_sources=tuple(open_sources),
        sources=tuple(dict(s) for s in sources),
        labels=tuple(labels),
    )
    return DictionaryMatcher(nlp, name, config, abbreviations)


class DictionaryExtractor:
    """Problems, medications and procedures from the terminology dictionary.

    Options (all optional): ``cache_dir`` (where the compiled dictionary is cached, default
    ``~/.cache/notestruct/dictionary``), ``sources`` (bring-your-own terminologies, e.g.
    ``[{"kind": "umls", "path": "/data/umls/META"}]``), ``open_sources`` (subset of
    curated/hpo/icd10cm/drugs/rare), ``labels``, ``abbreviations``.
    """

    name: ClassVar[str] = "dictionary"
    version: ClassVar[int] = VERSION
    labels: ClassVar[frozenset[str]] = LABELS

    def add_pipes(self, nlp: Language, options: Mapping[str, object]) -> None:
        """Add ``ns_dictionary`` configured from ``options``."""
        unknown = set(options) - _OPTION_KEYS
        if unknown:
            raise ValueError(f"unknown dictionary option(s): {', '.join(sorted(unknown))}")
        nlp.add_pipe("ns_dictionary", config=dict(options))

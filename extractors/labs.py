"""Lab extractor: laboratory results (test, value, unit, flag, reference range) with LOINC codes."""

import bisect
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

from spacy.language import Language
from spacy.tokens import Doc, Span

from extractors.base import MENTIONS, doc_text
from extractors.patterns import (
    COMMA_AFTER_NAME,
    COMPARATOR,
    HSPACE,
    NAME_GLOSS,
    NUMBER,
    TermStarts,
    add_spans,
    alternation,
    char_bounds,
    comparator_after,
    comparator_sign,
    existing_spans,
    load_rules,
    make_span,
    matches_at,
    parse_number,
    term_key,
)
from extractors.sections import section_at
from extractors.units import UnitNormalizer

# Version history:
# 1 (2026-11): curated LOINC table (rules/labs/labs.json); value, unit (UCUM), flag, range.
# 2 (2026-12): an analyte said as a lab result is not a MEDICATION: earlier extractors'
#              MEDICATION spans that name a test ("alkaline phosphatase 184", "magnesium low",
#              "low ferritin", a test in a labs section) are removed (the analytes list);
#              comparators in words and signs (criteria: "HbA1c > 7%", "more than 1.5");
#              counts written "45,000/µL" or "24000/mm3"; eGFR, creatinine clearance.
# 3 (2026-12): one list of measured substances (rules/analytes/analytes.json) with the
#              medications extractor instead of a list of its own.
# 4 (2026-12): tumour markers (CEA, AFP, CA 125, CA 19-9); a PROBLEM or PROCEDURE span that is
#              exactly the test name of a result is removed ("CEA 5.2 ng/mL", "PT 14.2 s").
# 5 (2026-12): results as case reports write them: a bracketed gloss after the name ("C-reactive
#              protein (CRP) level of 119"), a comma or bracket before the value ("potassium
#              level, 3.8 mEq/L", "bilirubin (2.2 mg/dL)"), verbs of change ("had further
#              increased to"), thin and hair spaces before the unit, Greek mu, "× 109/L" for
#              ×10^9/L; PTH, ACTH, prolactin, LH, FSH, free T3, CD4 count, QTc; clinical
#              scores with their value ("GCS 10/15", "ECOG 0-1", "MELD score was 11": the
#              scores table of labs.json; FHIR survey Observations).
# 6 (2026-12): a unit per volume, weight or time built from known pieces gets its UCUM code
#              ("IU/mL" -> [iU]/mL, "mcg/kg/min"), so the value's unit is read with it; a
#              range with its unit is a value range ("EF 55-60%", "HbA1c 7-10%", "between 20
#              and 34", not after "normal ranges for"); a multiple of the upper limit of
#              normal ("ALT > 3 x ULN": UCUM {ULN}); left ventricular ejection fraction (LOINC
#              10230-1); NYHA class, ASA physical status, GOLD grade (also in Roman numerals),
#              Epworth Sleepiness Scale and Beck Depression Inventory as scores; "international
#              normalized ratio" and "leukocytes" as names; "× 103/mm3" as 10*3/mm3; units
#              written out ("11.6 grams per deciliter"); a share written before the cells
#              it counts ("97.4% neutrophils"); a dipstick grade ("leukocytes 1+") is no value;
#              Greek letters printed in a name ("α-fetoprotein").
# 7 (2026-12): comparators as criteria type and word them (">_", "<or=", "equal or greater
#              than", "greater or equal to", "no less than", "not exceeding"); one limit for a
#              list of tests ("AST/ALT > 2.5 x ULN", "SGOT, SGPT or bilirubin < 3 x ULN"):
#              each listed test gets the value when it is a multiple of the ULN, in the unit
#              of both tests, or has a comparator; a multiple of normal without its sign
#              ("> 1.5 upper limit of normal", "3 times normal"); an ordinal is no value
#              ("PTH, 2nd generation assay"); a per-cent value after a test measured per
#              volume is a preparation ("urea 40% cream"); urea, fasting glucose, hCG and
#              beta-hCG; hyphenated LDL-/HDL-cholesterol, TBil/DBil, CCr; the second name of
#              a slashed pair is read ("PT/INR 1.02"); no unit after a result in words; a
#              bracket before a word of the connector ("declined (to 250 ng/mL)"), a dash;
#              an ejection fraction written as a fraction of one ("LVEF of 0.20": UCUM "1",
#              the rule's plausible_fraction); "respectively" lists with a verb of change
#              ("decreased to"), words before the values ("markedly elevated up to"), an
#              aside after a value ("2% (176/µL)"), a gloss after a name, comparators;
#              a comparator after the value ("HbA1c 7% or greater", "NIHSS 4 or more");
#              HIV-1 RNA (20447-9), testosterone (2986-8), transferrin saturation (2502-3),
#              urine albumin/creatinine (9318-7) and protein/creatinine (2890-2) ratios (a
#              urine test keeps its code beside the word urine: the rule's specimen), FiO2
#              (3150-0, also as a fraction of one); neutrophils counted per volume are the
#              absolute count (count_rule); "brain-type natriuretic peptide", "creatinine
#              kinase" (for creatine kinase), "UNL"; "copies/mL", "cells/mm3"; a listed
#              name may have a gloss ("Aspartate aminotransferase (AST)/Alanine ..."); a
#              score before the scale's name ("scored 15 on the Glasgow coma scale", "a score
#              of > 10 on the Epworth sleepiness scale", "< 120 points on the MMSE"); names
#              typeset with an en dash ("Child–Pugh score"); "fluctuated", "ranged" before
#              the value; the partial pressures of oxygen and carbon dioxide by name.
# 8 (2026-12): results of tests the table does not list, uncoded: by a head word and a unit
#              of concentration or activity ("free carnitine level was <3 μmol/L", "factor
#              IX activity was 3%") and, as criteria write them, by a comparator sign after
#              the name ("endometrial thickness < 7 mm", "HBV DNA < 200 IU/ml"), not for an
#              age, a time, a dose, a grade or a person ("Age > 18 years", "for women = 470");
#              the name's short form in a bracket before the value ("low hemoglobin (Hb 4.7
#              g/dl)"); a range with the unit after each end ("between 52 × 109/L and 69 ×
#              109/L", "ejection fraction between 40% and 45%"); "was also normal at";
#              pressures measured by an instrument or a catheter ("intraocular pressure 15
#              mm Hg", "left ventricular end-diastolic pressure was 18 mmHg": kind
#              measurement, no laboratory category in FHIR) and a test's time in seconds
#              ("closure time was 195 seconds"); not a device's setting.
# 9 (2026-12): more scales (Clinical Dementia Rating, Harvey-Bradshaw index, Kellgren-Lawrence,
#              Hoehn and Yahr, Rutherford, Killip and CCS classes, SCORTEN, SPPB, mMRC, IQ,
#              BASDAI, Westley, Global Deterioration Scale, HAM-A, PANSS, Braden, Alvarado,
#              TIMI, Charlson, visual analogue scale; "performance status", "CTP score", the
#              ASA's name written out); a run of classes ("ASA 1 & 2", "0, 1 or 2", "between
#              3 and 11"; "ASA" with numbers only for a range or before "patients"); "test",
#              "classification", "must be" before a scale's value; a score before the scale's
#              name with a comparator after it ("a score of 10 or more on the PHQ-9", "=16 on
#              the 17-item Hamilton Depression Scale"); scores, indices and ratios the tables
#              do not list, by their head word ("Rotterdam score was 0.15", "Ki-67 labeling
#              index was 2 %", "CSF/plasma albumin ratio of 7.4", not "odds ratio", "pain
#              score", "insulin-to-carbohydrate ratio"); a name after a bracket; "from" and a
#              bracket before an unlisted value, "Torr", "cm H2O" for venous and opening
#              pressures; "% predicted"; a multiple of normal as "2.5 folds the ULN" or "5N",
#              after a group of tests ("liver enzymes > 3 x ULN"); velocities, areas,
#              stiffness and micrometres as measurements by their name's last word; counts of
#              mitoses per high-power fields (UCUM /(10.[HPF])); comparators "below or equal
#              to", "inferior to", "exceeded", "not more than"; "test"/"measurement" between a
#              name and its value; spellings ("creatinin", "hematochrit", "albumine",
#              "lactate deshydrogenase", "HgA1c", "A1-C"), "iron", "forced expiratory volume";
#              "respectively" lists whose names the table does not all list, with a unit of
#              concentration for each value ("levels of lactate and pyruvate were 1.6 and
#              0.096 mmol/l, respectively"); "at the screening visit", "must be" and "between"
#              (before a dash range) between a name and its value; a gloss after a scale's
#              "score"; the short form of a scale before a sign ("CDR=0"); "15 or greater"
#              after an unlisted value; an unlisted score's name may hold its subject ("RLS
#              severity score"); a name's short form in brackets before a criterion's sign;
#              results of tests the table does not list right after their name in a unit of
#              concentration or count ("IgG 1,520 mg/dL", "CSF protein 45mg/dL"; not a drug's
#              strength, a verb, a place or a time before it); "on presentation", "at the time
#              of admission", "in serum", "initially" between a name and its value; units
#              "× 10⁹/L", "g/24 h", "kIU/L", "µU/mL", "/HPF", "ng/mL/h", "cmH20".
# 10 (2026-12): results printed by a laboratory system as "Name-value" on a line of them
#              ("BLOOD WBC-8.2 RBC-3.45* Hgb-10.1* Plt Ct-245", a discharge summary's
#              "Pertinent Results"; "*" flags abnormal), with the system's short names
#              ("UreaN", "Creat", "AnGap", "INR(PT)"): ``find_result_lines``.
# 11 (2026-12): review fixes: a run of classes before a full stop ("ECOG 0, 1 or 2."); a
#              bare result's name without the words before it that name no test ("Labs
#              showed IgG", "anemia IgG": the anemia stays) and none for preparations,
#              persons, times of sampling and the environment ("Dextrose 50 g/L", "Dr. Smith
#              3 mg/dL", "Peak 45 ug/L", "household radon"); "decreased from" gives no
#              flag (its value is the one before the change); statistics are no ratios
#              ("standardized mortality ratio"); a unitless value followed by a time, a count
#              of times or a dose is no result ("TSH test 3 months ago", "Iron 2 tablets
#              daily"); no VAS (a pain score), bare "HAMA", "HBI"; a multiple of normal only
#              of a test or a group of tests; "mean and median were ..., respectively" names
#              no tests.
VERSION = 11

LABEL = "LAB"
RULES = "labs"

#: Words between a test name and its value ("creatinine was elevated at 1.8").
_CONNECTOR = COMMA_AFTER_NAME + (
    rf"(?:{HSPACE}*(?:(?:level|levels|count|value|values|result|measurement|test|"
    r"must\s+be|should\s+be|was|were|is|are|of|at|to|now|today|"
    # when criteria measure it ("hemoglobin at the screening visit between 9.5-13.5 g/dl")
    r"at\s+(?:the\s+)?(?:screening|baseline|enrol?lment|randomi[sz]ation|inclusion|entry)"
    r"(?:\s+visit)?|between(?=\s+\d[\d.]*\s?(?:-|–)\s?\d)|"
    # when a case report measured it ("creatinine on presentation was 2.3 mg/dL", "sodium at
    # the time of admission was 120", "potassium in serum of 2.9 mmol/L")
    r"(?:on|at|upon)\s+(?:the\s+)?(?:time\s+of\s+)?(?:presentation|admission|arrival|"
    r"diagnosis|discharge|follow-up|referral)|in\s+(?:the\s+)?(?:serum|blood|plasma)|"
    r"initially|"
    r"on\s+admission|this\s+morning|came\s+back|returned|remained|has\s+been|had\s+been|"
    r"had|has|have|further|again|still|then|subsequently|gradually|"
    r"measured|found|noted|recorded|reported|stabilized|reached|normalized|improved|"
    r"around|about|approximately|concentration|concentrations|activity|prolonged|"
    r"increased|decreased|rose|rising|fell|dropped|down|up|trended|peaked|climbed|declined|"
    r"fluctuated|fluctuating|ranged|ranging|varied|varying|"
    r"slightly|mildly|moderately|markedly|significantly|very|"
    r"elevated|high|low|raised|decreased|normal|abnormal|critical|also)(?![a-z])|"
    # a bracket with the name's short form before the value ("low hemoglobin (Hb 4.7 g/dl)")
    r"\([ \t]*(?!(?:to|at|of|was|is|were|up|down|from|about|around|approximately|only|"
    r"now|still|then)(?![a-z]))(?P<abbr>[A-Za-z][A-Za-z0-9]{0,5})[ \t]*[:=]?[ \t]*"
    r"(?=(?:[<>≤≥]=?[ \t]*)?\d)|"
    # signs; a bracket also before a word ("PRL level declined (to 250 ng/mL)")
    r"[:=–—(]|-(?![a-z])))*"
)
_FLAG_WORDS = {
    "elevated": "H", "high": "H", "raised": "H", "increased": "H", "rose": "H",
    "low": "L", "decreased": "L", "dropped": "L", "critical": "AA", "abnormal": "A",
    "h": "H", "l": "L", "hh": "HH", "ll": "LL", "a": "A", "c": "AA", "*": "A",
}  # fmt: skip


def _connector_flag(conn: str) -> str | None:
    """The interpretation a word between a test's name and its value gives ("creatinine was
    elevated at 1.8": H), or None."""
    conn = conn.lower()
    if re.search(r"\bfrom\b", conn):
        return None  # "decreased from 19 mmHg (to 8)": the value before a change, no flag
    for word, code in _FLAG_WORDS.items():
        if len(word) > 2 and re.search(rf"\b{word}\b", conn):
            return code
    return None


#: A count right before a test name ("26 neutrophils, 1 band, 7 lymphocytes").
_COUNT_BEFORE = re.compile(r"\d[\d,.]*%?[ \t\n]*$")
#: Words after a value that are no unit of a lab result ("CD4 count of 350 in 03/2008").
_NOT_UNITS = frozenset({"in", "on", "at", "to", "of", "and", "or", "for", "x", "per", "from"})
#: Units of an amount, not of a concentration: after a "test name" they mean a drug strength.
_AMOUNT_UNITS = frozenset({"mg", "ug", "g", "kg", "meq", "mmol", "U", "[IU]", "mL", "L"})
#: The units of a count of cells per volume ("/mm3", "10*9/L").
_COUNT_UNIT = re.compile(r"(?:10\*\d{1,2})?/(?:uL|mm3|nL|L)")
#: The units of a concentration in a volume ("mg/dL", "mmol/L", "10*3/uL"): a test reported
#: in them has no result in per cent.
_PER_VOLUME = re.compile(r"/[dmun]?L$")
#: Units of a dose per body weight or an infusion rate: after a "test name" they mean a drug
#: given ("15% glucose (7.8 mg/kg/min)", "insulin 0.1 U/kg/h", "heparin 18 U/kg"); "mL/min"
#: (a clearance), "mm/h" (a sedimentation rate) and "mosm/kg" (an osmolality) are results.
_DOSE_UNIT = re.compile(
    r"[kmun]?(?:g|U|\[IU\]|meq|mol|L)/kg(?:/.*)?|[kmun]?(?:g|U|\[IU\]|meq|mol)/(?:h|min|d)|mL/h"
)
#: The suffix of an ordinal: "intact PTH, 2nd generation assay" holds no value of 2.
_ORDINAL = r"(?:st|nd|rd|th)(?![a-z])"
_QUALITATIVE = (
    r"negative|positive|undetectable|not\s+detected|detected|normal|within\s+normal\s+limits|"
    r"wnl|unremarkable"
)
#: Sections whose drug-named analytes are lab tests ("LABS: ferritin, folate pending").
LAB_SECTIONS = frozenset({"labs_and_studies"})
#: After an analyte name: a result word, through connectors ("magnesium was mildly low",
#: "vitamin B12 normal", "iron studies", "ferritin level").
_RESULT_AFTER = re.compile(
    r"[ \t]*(?:(?:level|levels|value|values|was|were|is|are|remains|remained|now|also|again|"
    r"slightly|mildly|moderately|markedly|very|significantly|persistently|:)[ \t]*)*"
    r"(?:elevated|high|low|normal|abnormal|decreased|increased|raised|borderline|wnl|"
    r"within\s+normal\s+limits|unremarkable|pending|studies|panel|levels?)(?![\w-])",
    re.IGNORECASE,
)
#: Before an analyte name, on its line: a result word ("low ferritin", "elevated alk phos").
_RESULT_BEFORE = re.compile(
    r"(?<![\w-])(?:elevated|high|low|raised|increased|decreased|abnormal|normal|rising|"
    r"falling|undetectable)[ \t]+$",
    re.IGNORECASE,
)
#: A multiple of the upper limit of normal, as criteria write a result ("ALT > 3 x ULN",
#: "bilirubin <= 1.5 times the upper limit of normal"): UCUM ``{ULN}`` (a count of ULNs).
_ULN_NAME = (
    r"(?:ULN|upper\s+limits?\s+of\s+(?:the\s+)?normal(?:\s+(?:range|value|limit))?|"
    r"upper\s+normal\s+limits?|upper\s+limits?\s+normal|UNL)(?![a-z])"
)
_ULN = (
    rf"(?:[x×]|times|folds?)\s?(?:the\s+)?{_ULN_NAME}|"
    # "ASAT or ALAT > 5N", "bilirubin > 2N": N right after the number, in capitals
    r"(?<=\d)(?-i:N)(?![A-Za-z])|"
    # without the sign, as criteria also write it: "bilirubin > 1.5 upper limit of normal"
    rf"{_ULN_NAME}|"
    # "ALT > 3 times normal", "3 times higher than normal", "2 times the normal value"
    r"times\s(?:(?:higher|greater)\s+than\s+|above\s+)?(?:the\s+)?normal"
    r"(?:\s+(?:value|level|limit))?(?![a-z])"
)
_ULN_RE = re.compile(_ULN, re.IGNORECASE)
_UNIT = (
    rf"(?:{_ULN}|"
    # a share of the predicted value ("FEV1 < 30% predicted", "30-79%predicted"), a pressure in
    # centimetres of water ("12 cm H2O"), "kilo Pascal"
    r"%[ \t]?(?:of[ \t]+(?:the[ \t]+)?)?pred(?:icted)?(?:[ \t]+normal)?(?:[ \t]+values?)?(?![a-z])|"
    r"cm[ \t]?(?:of[ \t]+)?(?:h2o|water)(?![a-z])|kilo[ \t]pascals?(?![a-z])|"
    r"ml/min(?:ute)?/1\.73\s?m(?:2|²|\^2)|[x×]\s?10\s?\^?\d+\s?/\s?[a-zµμ]+3?|"
    # a power of ten in superscript ("× 10⁹/L"), an amount per day ("1.2 g/24 h")
    r"[x×]\s?10[⁰¹²³⁴⁵⁶⁷⁸⁹]{1,2}\s?/\s?[a-zµμ]+[3³]?|[a-zµμ]{1,4}\s?/\s?24\s?h(?:ours|rs?)?(?![a-z])|"
    r"(?:10\^\d+|10\*\d+)/[a-zµμ]+|"
    # written out: "grams per deciliter", "international units per liter"
    r"(?:international\s+)?[a-z]+s?\s+per\s+(?:cubic\s+)?[a-z]+(?<!s)|"
    r"millimet(?:er|re)s?\s+of\s+mercury|square\s+centimet(?:er|re)s?|"
    r"centimet(?:er|re)s?\s+squared|"
    r"(?:[µμ] )?[a-zµμ%°#][a-z0-9µμ%/^.*\[\]{}²³]*(?:\s?/\s?[a-z0-9.^]+)*)"
)


#: "A and B were x and y, respectively": the sentence's list of test names, the verb, the list of
#: values. Names and values are read from the two lists by ``_paired_results``.
_RESPECTIVELY = re.compile(r",?[ \t]*respectively\b", re.IGNORECASE)

_PAIR_VERB = re.compile(
    r"[ \t]+(?:(?:were|was|are|measured|at|of)|(?:(?:had|have|has)[ \t]+)?(?:further[ \t]+)?"
    r"(?:increased|decreased|risen|rose|fallen|fell|dropped|declined|improved|normalized)"
    r"[ \t]+to)[ \t]+(?:at[ \t]+)?",
    re.I,
)
#: Words between the verb and the first value ("were markedly elevated up to 2726 U/L and
#: 7438 U/L, respectively"), and between two values ("8,800/µL and only 2%").
_PAIR_LEAD = re.compile(
    r"[ \t]*(?:(?:only|markedly|mildly|moderately|significantly|slightly|elevated|increased|"
    r"decreased|raised|reduced|low|high|up[ \t]+to|about|approximately|around|found|noted|"
    r"measured|at|of)[ \t]+)*",
    re.I,
)
_PAIR_GAP = re.compile(r"[ \t,]*(?:and|or)?[ \t]*(?:(?:only|about|approximately)[ \t]+)?", re.I)
#: Before the names of a list read pairwise with its values: "Blood levels of", "raised
#: concentrations of"; after them: "levels", "concentrations".
_PAIR_NAMES_AFTER = re.compile(
    r"\b(?:levels?|concentrations?|values?|activit(?:y|ies))[ \t]+of[ \t]+", re.IGNORECASE
)
_PAIR_NAMES_TAIL = re.compile(
    r"[ \t]+(?:levels?|concentrations?|values?|activit(?:y|ies))[ \t]*$", re.IGNORECASE
)
#: Words before the first name of such a list ("her total carnitine and free carnitine").
_PAIR_ARTICLES = frozenset("a an the her his their its both and".split())
#: One name of such a list: the words between commas and "and".
_PAIR_ITEM = re.compile(r"(?:(?![ \t]+and[ \t])[^,])+")
#: A bracketed aside in a list of values.
_ASIDE = re.compile(r"[ \t]*\([^()\n]{1,40}\)")
#: A bracketed gloss in a list of names.
_GLOSS = re.compile(r"[ \t]*[(\[][^()\[\]\n]{1,60}[)\]]")


#: Between two test names of a list before one value: "AST/ALT", "AST, ALT", "AST or ALT",
#: "AST and/or ALT".
_LIST_JOINT = re.compile(
    r"(?:[ \t]*(?:/|,|&)[ \t]*(?:(?:and|or)[ \t]+)?|[ \t]+(?:and/or|and|or)[ \t]+)$", re.IGNORECASE
)
#: A slash between two words ("AST/ALT"), where a second test name may start.
_SLASH = re.compile(r"(?<=[A-Za-z0-9)\]])[ \t]?/[ \t]?(?=[A-Za-z])")
#: A bracketed gloss right before a joint of a list ("Aspartate aminotransferase (AST)/...").
_GLOSS_BEFORE = re.compile(r"[ \t]*[(\[][A-Za-z][^()\[\]\n]{0,48}[)\]]$")
#: After a value: another value of a list ("45 and 60", "45, 60").
_LIST_AFTER = re.compile(r"[ \t]*(?:,|and|or|/)[ \t]*(?:[<>≤≥]=?[ \t]?)?\d", re.IGNORECASE)

#: A score before the scale's name ("scored 15 on the", "a score of > 10 on", "< 120 points
#: on the", "score 24/30 in the revised"): "score"/"scored" before the value or "points" after.
_SCORE_BEFORE = re.compile(
    rf"(?:\bscor(?:e[sd]?|ing)(?:[ \t]+of)?[ \t]*(?:(?P<cmp>{COMPARATOR})[ \t]?|=[ \t]?|[ \t])"
    r"(?P<num>\d{1,3}(?:\.\d)?)(?:[ \t]?/[ \t]?(?P<max>\d{1,3}))?(?:[ \t]+points?)?|"
    rf"(?<![\w.,/-])(?:(?P<pcmp>{COMPARATOR})[ \t]?)?(?P<pnum>\d{{1,3}}(?:\.\d)?)[ \t]+points?)"
    # a comparator after the value ("a score of 10 or more on the PHQ-9")
    r"(?P<after>[ \t]+or[ \t]+(?:(?P<up>greater|higher|more|above)|less|lower|below)(?![a-z]))?"
    r"[ \t]+(?:on|in)[ \t]+(?:the[ \t]+)?(?:(?:revised|modified|total|\d{1,2}-item)[ \t]+)?$",
    re.IGNORECASE,
)

_ON_BEFORE = re.compile(
    r"[ \t](?:on|in)[ \t]+(?:the[ \t]+)?(?:(?:revised|modified|total|\d{1,2}-item)[ \t]+)?$",
    re.IGNORECASE,
)

#: A value of a "respectively" list: a number or a blood pressure, a comparator before it, a
#: unit after it ("<20 mg/dL", "94/30 mmHg", "132 beats per minute").
PAIRED_VALUE = (
    rf"(?:(?P<cmp>{COMPARATOR}){HSPACE}?)?"
    rf"(?P<num>\d{{2,3}}/\d{{2,3}}(?![\d/])|{NUMBER}(?!\d|/\d))"
    rf"(?:{HSPACE}?(?!(?:and|or)\b)(?P<unit>/?{_UNIT}))?"
)

#: Words before a test that make a range after it the normal one, not a result.
_RANGE_CONTEXT = re.compile(r"\b(?:normal|reference|ranges?|limits?)\b", re.IGNORECASE)

#: A class written in Roman numerals, I to VI.
_ROMAN = r"(?:VI|IV|V|I{1,3})"
_ROMAN_VALUE = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6}

#: Words between a score's name and its value ("ECOG performance status of 1", "GCS was 10/15",
#: "Gleason score: 7", "NIHSS on admission 12").
_SCORE_CONNECTOR = COMMA_AFTER_NAME + (
    rf"(?:{HSPACE}*(?:score|scores|scale|total|sum|grade|class|status|index|classification|"
    r"category|must\s+be|should\s+be|between|test|"
    r"was|were|is|are|of|at|on\s+admission|initially|remained|improved\s+to|increased\s+to|"
    r"decreased\s+to|dropped\s+to|fell\s+to|rose\s+to|:|=|-|–|\()(?![a-z]))*"
)


#: After the value of an unlisted test: no more of a compound value (a titre "1:160", a
#: clock time "08:15", a dimension "2 x 3 cm", an ordinal "5th percentile", a range "5-10").
_VALUE_ENDS = (
    rf"(?![\d/:]|[.,]\d|{HSPACE}?[x×]{HSPACE}?\d|{_ORDINAL}|{HSPACE}?(?:-|–|to){HSPACE}?\d)"
)
#: A result of a test that the table does not list, known by its head word and a unit that
#: head takes (``_head_kind``): "her free carnitine level was <3 μmol/L", "factor IX activity
#: was 3%", "intraocular pressure 15 mm Hg", "closure time was 195 seconds". The name is the
#: words before the head (``_unlisted_name``); the mention is uncoded.
#: Words between an unlisted test's head word and its value ("was decreased from", "of about",
#: a bracket: "alveolar-arterial gradient (44 Torr)"); after a bracketed short form of the name
#: ("clotting time (CT) (228s").
_UNLISTED_CONN = (
    rf"{NAME_GLOSS}(?P<conn>(?:{HSPACE}*(?:was|were|is|are|of|at|had|has|increased|decreased|"
    r"dropped|fell|rose|risen|fallen|to|from|measured|only|about|approximately|around|elevated|"
    rf"low|high|markedly|mildly|slightly|further|gone\s+down|gone\s+up|must\s+be|:|=|\()"
    r"(?![a-z]))*)"
    rf"{HSPACE}*"
)
_UNLISTED = re.compile(
    rf"(?<=[A-Za-z0-9)]){HSPACE}(?P<head>levels?|concentrations?|activity|pressures?|gradient|"
    rf"time){_UNLISTED_CONN}"
    rf"(?:(?P<cmp>{COMPARATOR}){HSPACE}?)?(?P<num>{NUMBER}){_VALUE_ENDS}"
    rf"{HSPACE}?(?P<unit>mm{HSPACE}?hg\b|{_UNIT})",
    re.IGNORECASE,
)
#: A score, index or ratio the tables do not list, with its number: "Rotterdam score was
#: 0.15", "HBI score > 4", "Ki-67 labeling index was approximately 2 %", "lactate to
#: pyruvate ratio of 26". A per cent or no unit after the value; not a sum ("3+4").
_UNLISTED_SCORE = re.compile(
    rf"(?<=[A-Za-z0-9)]){HSPACE}(?P<head>score|index|ratio)(?![\w-]){_UNLISTED_CONN}"
    rf"(?:(?P<cmp>{COMPARATOR}){HSPACE}?)?(?P<num>{NUMBER}){_VALUE_ENDS}(?![ \t]?\+)"
    rf"(?:{HSPACE}?(?P<unit>%))?",
    re.IGNORECASE,
)
#: Words right before a score's, index's or ratio's head that make it a statistic or a
#: setting, not a test's result ("odds ratio", "hazard ratio", "I:E ratio", "Z score").
_NOT_SCORE_NAMES = frozenset(
    "odds hazard risk likelihood relative attributable sex gender female male signal noise "
    "mixing aspect propensity z quality credit impact citation dose p h i e m f pain mass "
    "inspiratory expiratory insulin carbohydrate carbohydrates carb carbs mortality "
    "incidence prevalence fatality cost cost-effectiveness effectiveness rate nurse patient "
    "patients student saline glycemic glycaemic standardized standardised".split()
)
#: A measurement as criteria write it, of a test the table does not list: its name, a
#: comparator sign, a value and a unit that names the kind of result (``_criterion_kind``):
#: "HBV DNA < 200 IU/ml", "endometrial thickness < 7 mm", "QRS width > 120 ms". Signs only:
#: "greater than 3 months" is no result.
_UNLISTED_CMP = re.compile(
    rf"(?<=[A-Za-z0-9)\]]){HSPACE}?(?P<cmp>[<>≤≥≦≧⩽⩾]=?|=[<>]?)(?![<>=])(?P<conn>){HSPACE}?"
    rf"(?P<num>{NUMBER}){_VALUE_ENDS}{HSPACE}?(?P<unit>mm{HSPACE}?hg\b|{_UNIT})",
    re.IGNORECASE,
)
#: A result of a test the table does not list, right after its name, in a unit of
#: concentration or count ("IgG 1,520 mg/dL", "homocysteine: 45 µmol/L", "renin was 0.2
#: ng/mL/h"): found at the numbers (``_bare_matches``), the name read back from there.
_UNLISTED_BARE = re.compile(
    rf"(?<=[A-Za-z0-9)\]])(?P<conn>{HSPACE}*(?:[:=]{HSPACE}*)?"
    rf"(?:(?:of|was|were|is)(?![a-z]){HSPACE}*)?)(?P<cmp>)"
    rf"(?P<num>{NUMBER}){_VALUE_ENDS}{HSPACE}?(?P<unit>{_UNIT})",
    re.IGNORECASE,
)
#: Before a number: the connector of ``_UNLISTED_BARE`` after a name's last character.
_BARE_CONN = re.compile(
    rf"(?<=[A-Za-z0-9)\]]){HSPACE}*(?:[:=]{HSPACE}*)?(?:(?:of|was|were|is){HSPACE}+)?$",
    re.IGNORECASE,
)
#: Words before a bare value that name no test: verbs, amounts, times ("given 500 mg/dL").
_BARE_NOT_NAMES = frozenset(
    "given taken gave received got total approximately about around only over under up "
    "dose doses bolus infusion solution concentration rate range ranges day days least most "
    "than equal above below exceeding normal pre post before after hospital clinic center "
    "centre department ward unit lab laboratory".split()
)
#: Words of a "respectively" list that name a statistic or a place, no test ("The mean and
#: median were 3.2 and 2.5 mg/dL", "Right and left were 3 and 4 mg/dL").
_PAIR_NOT_NAMES = frozenset(
    "mean median average minimum maximum min max first second third fourth initial final "
    "right left sample samples day week".split()
)
#: Words that make a bare value no test's result wherever they stand in its name: a verb or
#: an account of the finding ("Labs showed IgG"), a person ("Her mother 3 mg/dL", "Dr."),
#: a time of sampling alone ("Peak 45 ug/L"), a preparation given ("Dextrose 50 g/L",
#: "lipid emulsion 20 g/dL") or the environment ("household radon", "drinking water arsenic").
_BARE_NOT_WORDS = frozenset(
    "showed shows revealed reveals demonstrated underwent labs lab testing tests repeat "
    "patient mother father dr peak trough postprandial dextrose saline emulsion colloid "
    "tpn amino infusion solution water radon arsenic household drinking contains containing "
    "lipid lipids hypertonic isotonic d5w d5 d10".split()
)
_NUMBER_START = re.compile(r"(?<![\w.,/+-])\d")
#: A test's symbol: "IgG", "CA19-9", "HbA1c", "NT-proBNP" (a capital after its first letter,
#: or a digit).
_SYMBOL_NAME = re.compile(r"^[A-Za-z][\w-]*(?:[A-Z]|\d)[\w-]*$")


#: Words right after a number without a unit that make it no result: a time or a count of
#: times ("TSH test 3 months ago", "MMSE test 3 days ago", "Hemoglobin test 2 times weekly"),
#: a dose of a supplement ("Iron 2 tablets daily", "iron 1 tab PO daily").
_NO_RESULT_AFTER = re.compile(
    r"[ \t]*(?:months?|mos?|weeks?|wks?|days?|years?|yrs?|hours?|hrs?|minutes?|mins?|"
    r"times|ago|later|earlier|tab(?:let)?s?|cap(?:sule)?s?|pills?|puffs?|drops?|"
    r"p\.?o\.?|daily|bid|tid|qid|qd|qhs|prn)(?![\w])",
    re.IGNORECASE,
)


def _no_result_after(text: str, found: dict[str, Any]) -> bool:
    """Whether the words after a unitless value make it a time, a count or a dose."""
    attrs = found["attributes"]
    value = attrs.get("parts", {}).get("value")
    if value is None or attrs.get("unit") is not None or "value" not in attrs:
        return False
    return _NO_RESULT_AFTER.match(text, value[1]) is not None


def _bare_name(text: str, start: int, end: int, words: list[str]) -> tuple[int, list[str]]:
    """The name of a bare result (``_UNLISTED_BARE``) without the words before it that name
    no test ("Labs showed IgG", "Patient underwent homocysteine") and, before a test's symbol,
    without the words before the symbol ("anemia IgG 1520 mg/dL": the anemia stays a
    problem). No words when the name is such a word itself ("Her mother 3 mg/dL")."""
    if re.search(r"\b(?:Dr|Mr|Mrs|Ms)\.?\s*$", text[max(0, start - 6) : start]):
        return start, []  # "Dr. Smith 3 mg/dL": a person
    cut = 0
    for i, w in enumerate(words):
        low = w.lower().rstrip(".,:")
        if low in ("dr", "mr", "mrs", "ms"):
            return start, []  # "Dr. Smith 3 mg/dL": a person
        if low in _BARE_NOT_WORDS:
            cut = i + 1
    if len(words) - cut > 1 and _SYMBOL_NAME.match(words[-1]) and words[-2].islower():
        cut = len(words) - 1  # not after a specimen or another symbol ("CSF IgG", "RNA PCR")
    if cut == 0:
        return start, words
    kept = words[cut:]
    if not kept:
        return start, []
    tokens = list(_WORD.finditer(text, start, end))
    return tokens[len(tokens) - len(kept)].start(), kept
#: Concentrations that are a drug's strength, not a result ("lidocaine 10 mg/mL").
_STRENGTH_UCUM = frozenset({"mg/mL", "g/mL", "ug/mL", "U/mL", "[IU]/mL", "mg/(5.mL)", "meq/mL"})
#: A multiple of the upper limit of normal after an unlisted name and a comparator in words,
#: as criteria write it for a group of tests ("liver enzymes equal or more than 1.5 times the
#: upper limit of normal", "serum transaminases greater than 3x ULN").
_UNLISTED_ULN = re.compile(
    rf"(?<=[A-Za-z0-9)\]]){HSPACE}(?:(?P<cmp>{COMPARATOR}){HSPACE}?)?(?P<conn>)"
    rf"(?P<num>{NUMBER}){HSPACE}?(?P<unit>{_ULN})",
    re.IGNORECASE,
)
#: Last words of the name of a test or group of tests taken as a multiple of normal.
_ULN_NAMES = frozenset(
    "transaminase aminotransferase enzyme lft test level value bilirubin creatinine lipase "
    "amylase alt ast ggt alp sgot sgpt ck cpk tsh troponin acid aminotransaminase "
    "phosphatase transpeptidase function marker count".split()
)
#: Where a multiple of normal may be written: its words, found by a plain search, and "5N".
_ULN_WORDS = ("uln", "unl", "upper", "times", "fold")
_DIGIT_N = re.compile(r"\dN(?![A-Za-z])")


def _uln_matches(text: str) -> Iterator[re.Match[str]]:
    """``_UNLISTED_ULN`` matches, tried only in a window around the words of a multiple of
    normal (a scan of every position costs 0.5 s over MTSamples)."""
    lower = text.lower()
    if len(lower) != len(text):
        yield from _UNLISTED_ULN.finditer(text)
        return
    anchors: set[int] = {m.start() + 1 for m in _DIGIT_N.finditer(text)}
    for word in _ULN_WORDS:
        i = lower.find(word)
        while i >= 0:
            after = lower[i : i + 40]
            if word in ("uln", "unl") or "normal" in after or "uln" in after:
                anchors.add(i)  # "3 times a day", "upper lobe": no multiple of normal
            i = lower.find(word, i + 1)
    seen: set[int] = set()
    for p in sorted(anchors):
        for m in _UNLISTED_ULN.finditer(text, max(0, p - 48), min(len(text), p + 64)):
            if m.start("unit") <= p < m.end("unit") and m.start() not in seen:
                seen.add(m.start())
                yield m
#: A count of mitoses per high-power fields, as pathology reports write it: "mitotic rate of up
#: to 9 per 10 high-power fields", "Mitoses were not found (0 per 10 HPF)", "mitotic count
#: 5/10 HPF". The unit is specific enough for a few words between the name and the count.
_MITOSES = re.compile(
    r"(?<![\w-])(?P<name>mito(?:ses|sis|tic[ \t]+(?:rate|count|index|figures|activity)))"
    r"(?P<conn>[^.;\n\d]{0,40}?)"
    rf"(?:(?P<cmp>{COMPARATOR}){HSPACE}?)?(?P<num>\d{{1,3}})(?:{HSPACE}?mitos(?:es|is))?"
    rf"{HSPACE}?(?P<unit>(?:per|/){HSPACE}?(?P<fields>\d{{1,3}}){HSPACE}?"
    r"(?:high[- ]power[ \t]+fields?|hpfs?)(?![a-z]))",
    re.IGNORECASE,
)
#: The last word of a criterion's name that makes it no test: a count of events, a time, a
#: grade or stage of a disease, a person, a statistic, a band of a score table.
_CMP_NOT_NAMES = frozenset(
    "grade grades stage stages type phase cycle cycles line lines dose doses times episodes "
    "attacks day days week weeks month months year years hour hours age aged old children "
    "patients subjects participants number lesions man men woman women male males female "
    "females boys girls prevalence incidence risk probability chance likelihood efficacy "
    "sensitivity specificity accuracy value ratio odds kappa auc size sample power "
    "increase rise drop change decrease reduction loss gain "
    "superior inferior average impaired deficient mild moderate severe".split()
)
#: Words that end an unlisted test's name, read backwards from its head or sign: articles,
#: pronouns, verbs, result and time words ("the", "her", "elevated", "yesterday").
_UNLISTED_STOP = frozenset(
    "a an the his her their its our your my this that these those and or but with without "
    "in on at of for to from by as was were is are be been had has have low high elevated "
    "raised increased decreased reduced abnormal markedly mildly slightly very "
    "initial repeat repeated trough average maximum minimum daily admission yesterday today "
    "tonight rechecked recheck follow-up followup recent latest last current prior previous "
    "baseline random morning evening therapy treatment screening patients subjects "
    "approximately about around roughly nearly almost only up down reduce reduced rise rose "
    "fell dropped peaked normalized remained still".split()
)
#: Words right before a name that make its value no result: a target, a normal limit.
_NOT_A_RESULT_BEFORE = frozenset(
    "goal target targeted desired therapeutic normal reference limit limits range upper lower "
    "expected predicted recommended".split()
)
#: The word right before the head (or the whole name) that names no test: a dose, a device's
#: setting, a symptom's or a disease's activity, a target.
_UNLISTED_NOT_NAMES = frozenset(
    "dose drug energy noise sound activity physical functional pain stress anxiety "
    "consciousness education income water fluid sea light spinal vertebral lumbar thoracic "
    "cervical sacral same similar higher lower interval reference normal target threshold "
    "cutoff cut-off goal confidence significance battery seizure disease oxygen o2 "
    "steady insufflation inflation tourniquet cuff balloon charge cycle pump distension "
    "distention pneumoperitoneum co2 irrigation fluoroscopy exposure freeze application "
    "ablation reaction refill".split()
)
#: Tests measured as a time in seconds: "closure time", "clotting time", "bleeding time".
_TIMED_TESTS = frozenset(
    "clotting closure bleeding thrombin prothrombin lysis coagulation clot recalcification "
    "reptilase".split()
)
#: Last words of a criterion that measures a length or a time ("endometrial thickness", "QRS
#: width", "PR interval"): a measurement, read with such a unit only.
_LENGTH_NOUNS = frozenset(
    "thickness diameter diameters width length depth circumference space".split()
)
_TIME_NOUNS = frozenset("interval width duration".split())
#: Last words of a criterion whose per cent is a test's result ("LVEF level", "saturation").
_SHARE_NOUNS = frozenset(
    "level levels saturation fraction index activity count percentage".split()
)
_LENGTH_UCUM = frozenset({"mm", "cm", "um"})
#: Units of a measurement, and the last words of the names measured in them: a velocity, an
#: area, a stiffness ("jet velocity > 2.9 m/s", "mitral valve area < 1.5 cm2", "liver
#: stiffness of 9.5 kPa").
_MEASURED_BY_UNIT = {
    "m/s": frozenset({"velocity", "speed", "jet"}),
    "cm/s": frozenset({"velocity", "speed"}),
    "cm2": frozenset({"area"}),
    "mm2": frozenset({"area"}),
    "kPa": frozenset({"stiffness", "elastography"}),
}
#: Chambers and vessels before "systolic pressure": not the blood pressure (vitals leave it).
_CHAMBERS = frozenset(
    "pulmonary ventricular ventricle atrial atrium aortic wedge pa rv lv "
    "spap pasp rvsp".split()
)
#: Pressures measured in centimetres of water.
_WATER_PRESSURES = frozenset(
    "venous jugular opening intracranial csf abdominal intra-abdominal intraabdominal "
    "bladder".split()
)
_PRESSURE_UCUM = frozenset({"mm[Hg]"})
#: The rule of an unlisted test's result: no code, no expected unit, no plausible range.
_UNLISTED_RULE: dict[str, Any] = {"rule_id": "lab-unlisted", "name": None, "ucum": None}
_SPECIMEN_WORDS = frozenset("serum plasma blood urine urinary csf total free".split())
#: A name's short form in brackets ("(PRA)", "[FRC]").
_SHORT_FORM = re.compile(r"[(\[][A-Za-z][\w-]{0,9}[)\]]")
_SHORT_FORM_AT_END = re.compile(r"[ \t]*[(\[][A-Za-z][\w-]{0,9}[)\]]$")
_NAME_WORD = re.compile(r"(?=[0-9/-]*[A-Za-z])[A-Za-z0-9][A-Za-z0-9'/-]*")
_WORD = re.compile(r"\S+")


def _lab_unit(ucum: str) -> bool:
    """A unit of a laboratory result: a concentration or a count per volume."""
    return bool(_PER_VOLUME.search(ucum) or _COUNT_UNIT.fullmatch(ucum)) and not (
        _DOSE_UNIT.fullmatch(ucum)
    )


def _head_kind(head: str, ucum: str | None, words: list[str]) -> str | None:
    """The kind of an unlisted result found by its head word: ``lab`` (a laboratory test),
    ``measurement`` (a pressure), or None when the unit is not one the head takes."""
    if ucum is None:
        return None
    head = head.lower()
    if head.startswith(("level", "concentration")):
        return "lab" if _lab_unit(ucum) else None  # "dextrose concentration of 10%": none
    if head == "activity":
        return "lab" if _lab_unit(ucum) or ucum == "%" else None  # "factor IX activity"
    if head.startswith("pressure") or head == "gradient":
        # measured in centimetres of water: a venous or opening pressure ("jugular venous
        # pressure of about 12 cm"), not a ventilator's setting ("CPAP pressure of 10 cm H2O")
        water = ucum in ("cm[H2O]", "cm") and any(w.lower() in _WATER_PRESSURES for w in words)
        return "measurement" if ucum in _PRESSURE_UCUM or water else None
    # a test's time in seconds ("closure time was 195 seconds"), not a procedure's
    timed = any(w.lower() in _TIMED_TESTS for w in words)
    return "lab" if head == "time" and ucum in ("s", "ms") and timed else None


def _criterion_kind(ucum: str | None, words: list[str]) -> str | None:
    """The kind of an unlisted result found by its comparator sign, or None: a concentration
    or count is a lab test, a pressure, length or time a measurement named for it, a per
    cent a result of a test named for it or by an acronym with a digit ("FEV1/SVC")."""
    if ucum is None:
        return None
    last = words[-1].lower()
    if ucum == "{ULN}":
        # a multiple of the upper limit of normal of a test or a group of them ("liver
        # enzymes > 3 x ULN", "serum transaminases greater than 3x ULN"); not of an amount
        # ("the dog ate 2 times the normal amount", "stool frequency 4 times higher")
        return "lab" if last.rstrip("s") in _ULN_NAMES or _SYMBOL_NAME.match(words[-1]) else None
    if _lab_unit(ucum) or ucum == "{copies}":
        return "lab"
    if ucum in _PRESSURE_UCUM:
        return "measurement"
    if _MEASURED_BY_UNIT.get(ucum, frozenset()) & {last, last.rstrip("s")} and len(words) > 1:
        return "measurement"  # "maximal velocity > 3 m/s", "aortic valve area < 1.5 cm2"
    if ucum in _LENGTH_UCUM and last in _LENGTH_NOUNS and len(words) > 1:
        return "measurement"
    if ucum in ("s", "ms") and last in _TIME_NOUNS and len(words) > 1:
        return "measurement"
    if ucum == "%" and (last in _SHARE_NOUNS or re.search(r"[A-Z]\d", words[-1])):
        return "lab"
    return None


def _unlisted_name(text: str, end: int, by_head: bool) -> tuple[int, list[str]] | None:
    """The start and words of an unlisted test's name ending at ``end`` (up to three words
    before the head word or the sign, on its line), or None when no word there can name a
    test or the words before it make the value a target or a normal limit."""
    window_start = max(end - 60, 0)
    line_start = text.rfind("\n", window_start, end) + 1 or window_start
    words = list(_WORD.finditer(text, line_start, end))
    if words and line_start == window_start > 0 and not text[line_start - 1].isspace():
        words = words[1:]  # the window cut a word
    if not by_head and words and _SHORT_FORM.fullmatch(words[-1].group(0)):
        words = words[:-1]  # "Panel Reactive Antibody (PRA) < 30%": the name before its short form
    kept: list[re.Match[str]] = []
    opened = None
    for word in reversed(words):
        w = word.group(0)
        if w[0] in "([" and len(kept) < 3 and _NAME_WORD.fullmatch(w[1:]):
            opened = word  # "(cardiothoracic ratio: 62.8%": the name starts after the bracket
            break
        if (
            len(kept) == 3
            or not _NAME_WORD.fullmatch(w)
            or w.lower() in _UNLISTED_STOP
            or w.lower().endswith("'s")
        ):
            break
        kept.append(word)
    before = []
    for b in reversed(words[: len(words) - len(kept) - (opened is not None)][-2:]):
        if b.group(0)[-1] in ",;)":
            break  # another clause: "upper limit of normal (ULN), serum transaminases > 3 x ULN"
        before.append(b)
    if opened is not None:
        kept.append(opened)
    if not kept:
        return None
    if any(b.group(0).lower().strip(",:;(") in _NOT_A_RESULT_BEFORE for b in before) or any(
        k.group(0).lower().lstrip("([") in _NOT_A_RESULT_BEFORE - {"upper", "lower"}
        for k in kept
    ):
        return None  # "goal tacrolimus level of 8 ng/mL", "normal copper level is 70"
    kept.reverse()
    names = [w.group(0).lstrip("([") for w in kept]
    bare = [w.lower() for w in names]
    if not by_head and (
        any(w in _CMP_NOT_NAMES for w in re.split(r"[/-]", bare[-1])) or len(bare[-1]) < 2
    ):
        return None
    if bare[-1] in _UNLISTED_NOT_NAMES or all(
        w in _SPECIMEN_WORDS or w in _UNLISTED_NOT_NAMES for w in bare
    ):
        return None
    return kept[0].start() + (kept[0] is opened), names


#: The head words of ``_UNLISTED``, found by a plain search (a case-insensitive alternation
#: scans every position of the note in Python's regex engine: 0.3 s over MTSamples).
_HEAD_WORDS = ("level", "concentration", "activity", "pressure", "gradient", "time")
_SCORE_HEADS = ("score", "index", "ratio")
_SIGN = re.compile(r"[<>=≤≥≦≧⩽⩾]")
_SPACE_BEFORE = re.compile(HSPACE)


def _head_matches(
    text: str, pattern: re.Pattern[str] = _UNLISTED, heads: tuple[str, ...] = _HEAD_WORDS
) -> Iterator[re.Match[str]]:
    """``pattern`` matches, tried only right before the ``heads`` words' occurrences."""
    lower = text.lower()
    if len(lower) != len(text):  # a letter whose lower case is longer: offsets would move
        yield from pattern.finditer(text)
        return
    starts: set[int] = set()
    for word in heads:
        i = lower.find(word, 1)
        while i >= 0:
            starts.add(i - 1)
            i = lower.find(word, i + 1)
    for start in sorted(starts):
        m = pattern.match(text, start)
        if m is not None:
            yield m


def _sign_matches(text: str) -> Iterator[re.Match[str]]:
    """``_UNLISTED_CMP`` matches, tried only at the comparator signs (and a space before)."""
    end = -1
    for sign in _SIGN.finditer(text):
        at = sign.start()
        if at < end:
            continue  # inside the previous match ("<=")
        if at > 0 and _SPACE_BEFORE.match(text, at - 1):
            at -= 1
        m = _UNLISTED_CMP.match(text, at)
        if m is not None:
            end = m.end()
            yield m


def _bare_matches(text: str) -> Iterator[re.Match[str]]:
    """``_UNLISTED_BARE`` matches, tried only at numbers that follow a word and a connector."""
    for num in _NUMBER_START.finditer(text):
        at = num.start()
        conn = _BARE_CONN.search(text, max(0, at - 24), at)
        if conn is None or conn.start() == at - 24:
            continue
        m = _UNLISTED_BARE.match(text, conn.start())
        if m is not None and m.start("num") == at:
            yield m


class _Taken:
    """Character spans already read, for overlap tests in logarithmic time (spans are
    short: ``_SPAN_REACH`` bounds how far back one can start)."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        self.spans = sorted(spans)
        self.starts = [a for a, _ in self.spans]

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self.starts, end)  # spans starting before ``end``
        j = bisect.bisect_left(self.starts, start - _SPAN_REACH)
        return any(b > start for _, b in self.spans[j:i])

    def add(self, start: int, end: int) -> None:
        i = bisect.bisect_left(self.starts, start)
        self.starts.insert(i, start)
        self.spans.insert(i, (start, end))


#: The longest result span (characters) that ``_Taken`` looks back for.
_SPAN_REACH = 600


class LabTagger:
    """Adds a LAB span per test name followed by a value (and unit, flag, range)."""

    def __init__(self, nlp: Language, name: str) -> None:
        self.name = name
        self.units = UnitNormalizer()
        table = load_rules(RULES, "labs.json")
        self.rules, ci, cs = _term_index(table["labs"])
        self.ci, self.cs = ci, cs
        # the measured substances that drug lists also name (shared with the medications
        # extractor, which keeps them as drugs only when given)
        analytes = load_rules("analytes", "analytes.json")["analytes"]
        #: names that make a MEDICATION mention an analyte in result context
        self.analyte_names = frozenset(term_key(t) for t in [*ci, *analytes]) | frozenset(cs)
        specimens = table["specimens"]
        self.specimen_of = {
            term_key(w): name for name, words in specimens.items() if name != "_comment"
            for w in words
        }  # fmt: skip
        self.specimen_re = re.compile(
            rf"(?<![\w-])(?:{alternation(self.specimen_of)})(?![\w-])", re.IGNORECASE
        )
        value = (
            rf"(?:(?P<cmp>{COMPARATOR})\s?)?"
            # a range as criteria and echo reports write it ("EF 55-60%", "BMI between 20
            # and 34 kg/m2"); read only with a unit after it
            # the unit may follow each end ("between 52 × 109/L and 69 × 109/L")
            rf"(?:(?:between\s+(?P<blo>{NUMBER})"
            r"(?:\s?(?P<lunit>[x×]\s?10[\w^*/]{0,8}|[a-zµμ%/][\w/µμ%.^*]{0,10}))?"
            rf"\s+and\s+(?P<bhi>{NUMBER})|"
            rf"(?P<rlo>{NUMBER})(?:\s?%(?=\s?(?:-|–|to)\s?{NUMBER}\s?%))?"
            rf"\s?(?:-|–|to)\s?(?P<rhi>{NUMBER}))(?!\d|[.,]\d|/)|"
            rf"(?P<num>{NUMBER})(?!\d)(?!/\d)(?!\.\d)(?!-\d)(?!\+)(?!{_ORDINAL})|"
            rf"(?P<qual>{_QUALITATIVE})(?![a-z]))"
        )
        tail = (
            rf"(?:{HSPACE}?(?P<unit>/?{_UNIT}))?"
            r"(?:[ \t]*(?:\((?P<pflag>HH|LL|H|L|A|C|high|low|critical|abnormal)\)"
            r"|(?P<flag>HH|LL|H|L)(?![A-Za-z])|(?P<wflag>high|low|critical|abnormal)(?![a-z])"
            r"|(?P<star>\*)))?"
            r"(?:[ \t]*[(\[](?:ref(?:erence)?\.?:?\s*|normal:?\s*|nl:?\s*|range:?\s*)?"
            rf"(?P<lo>{NUMBER})\s?(?:-|–|to)\s?(?P<hi>{NUMBER})(?:\s?{_UNIT})?[)\]])?"
        )
        self.scores, score_ci, score_cs = _term_index(table["scores"])
        self.score_ci, self.score_cs = score_ci, score_cs
        score_names = rf"(?:(?i:{alternation(score_ci)})|{alternation(score_cs)})"
        self.score_starts = TermStarts(r"\w/-", {*score_ci, *score_cs})
        self.score_name = re.compile(rf"(?P<name>{score_names})(?![\w])(?!-\d)")
        # a value, out of the scale's maximum ("10/15"), or a range ("0-2", "0 to 1"); not a
        # sum of parts ("Gleason 3+4") nor a decimal or a longer number
        self.score_pattern = re.compile(
            rf"(?<![\w/-])(?P<name>{score_names})(?![\w])(?!-\d){NAME_GLOSS}"
            # the short form without brackets before a sign ("Clinical Dementia Rating CDR=0")
            r"(?:[ \t]+[A-Z][A-Z0-9-]{1,6}(?=[ \t]*[<>=≤≥]))?"
            rf"(?P<conn>(?i:{_SCORE_CONNECTOR})){HSPACE}*"
            # a gloss after "score" ("ASA classification score (ASA classification) 1-3")
            rf"(?:(?<=[a-z]){NAME_GLOSS}{HSPACE}*)?"
            rf"(?:(?P<cmp>(?i:{COMPARATOR})){HSPACE}?)?"
            r"(?:(?P<num>\d{1,3}(?:\.\d)?)"
            r"(?:[ \t]?/[ \t]?(?P<max>\d{1,3})(?!\d)|[ \t]?(?:-|–|to)[ \t]?(?P<hi>\d{1,3})(?!\d)|"
            # a list of classes as criteria write it ("ASA 1 & 2", "0, 1, or 2", "2 or 3")
            r"(?P<list>(?:[ \t]*,[ \t]*\d{1,2}(?!\d))*[ \t]*,?[ \t]*(?:or|and|&)[ \t]+\d{1,2}"
            r"(?!\d|\.\d)))?"
            r"(?![\d]|[ \t]?\+|\.\d|/\d|[ \t]?[-–][ \t]?\d)"
            # a class in Roman numerals ("NYHA class III", "ASA I or II", "NYHA III/IV")
            rf"|(?P<rnum>{_ROMAN})(?:[ \t]?(?:/|-|–|to|or)[ \t]?(?P<rhi>{_ROMAN}))?(?![\w/+-]))"
        )
        names = rf"(?:(?i:{alternation(ci)})|{alternation(cs)})"
        # where a result can start: a test name (any case) not after a word character, "/", "-"
        self.starts = TermStarts(r"\w/-", {*ci, *cs})
        # case-insensitive everywhere except the short case-sensitive test names (K, Na, PT)
        self.name_re = re.compile(rf"(?<![\w/-])(?:{names})(?![\w])")
        self.paired_value = re.compile(PAIRED_VALUE, re.IGNORECASE)
        # the names of a "respectively" list: tests and vital signs ("pH, PaCO2 and oxygen
        # saturation were 7.50, 34 mmHg and 95%"); each extractor reads its own
        vitals = load_rules("vitals", "vitals.json")["vitals"]
        v_ci = {t.lower() for v in vitals for t in v["terms"]}
        v_cs = {t for v in vitals for t in v["case_sensitive_terms"]}
        #: the names of vital signs: an unlisted measurement with one is the vitals' to read
        self.vital_names = frozenset(v_ci) | frozenset(v_cs)
        self.pair_name_re = re.compile(
            rf"(?<![\w/-])(?:(?i:{alternation([*ci, *v_ci])})|{alternation([*cs, *v_cs])})"
            r"(?![\w])"
        )
        body = (
            rf"(?P<name>{names})(?![\w])(?!-\d){NAME_GLOSS}(?P<conn>(?i:{_CONNECTOR}))"
            rf"{HSPACE}*"
            rf"(?i:{value}{tail})"
        )
        self.pattern = re.compile(rf"(?<![\w/-]){body}")
        # the second name of a slashed list ("AST/ALT > 2 x ULN"), matched right after the slash
        self.pattern_after_slash = re.compile(body)
        # a share written before the cells it counts ("97.4% neutrophils", "18% lymphocytes"):
        # only the tests reported in per cent
        shares = {t for t, rid in ci.items() if self.rules[rid]["ucum"] == "%"}
        self.share_before = re.compile(
            rf"(?<![\w.,/-])(?P<num>{NUMBER}){HSPACE}?(?P<unit>%){HSPACE}+(?:of{HSPACE}+)?"
            rf"(?P<name>(?i:{alternation(shares)}))(?![\w-])"
        )

    def _specimen(self, text: str, start: int) -> str | None:
        """A non-blood specimen named shortly before a result, in the same sentence."""
        window_start = max(0, start - 80)
        window = text[window_start:start]
        cut = max(window.rfind(". "), window.rfind("\n\n"), window.rfind(";"))
        if cut >= 0:
            window = window[cut + 1 :]
        hits = list(self.specimen_re.finditer(window))
        return self.specimen_of[term_key(hits[-1].group(0))] if hits else None

    def _rule_for(self, name: str) -> dict[str, Any] | None:
        return _lookup(name, self.rules, self.ci, self.cs)

    def _unit(self, m: re.Match[str], rule: dict[str, Any]) -> tuple[str | None, str | None, int]:
        """(unit text, UCUM, end) for the unit group, or no unit when it is not a real unit."""
        raw = m.group("unit")
        if not raw:
            return None, None, -1
        text = raw.rstrip(".,;:")
        if text == "L" and rule["ucum"] == "L":
            return "L", "L", m.start("unit") + 1  # litres of a lung volume, not a Low flag
        if (
            text in ("H", "L", "HH", "LL")
            or text.lower() in _FLAG_WORDS
            or text.lower() in _NOT_UNITS
        ):
            return None, None, -1
        if _ULN_RE.fullmatch(text) or (text == "N" and m.string[m.start("unit") - 1].isdigit()):
            return text, "{ULN}", m.start("unit") + len(text)  # "ALT > 3 x ULN", "ALAT > 5N"
        ucum = self.units.to_ucum(text)
        if ucum is None:
            return None, None, -1
        return text, ucum, m.start("unit") + len(text)

    def find_scores(self, text: str, starts: list[int] | None = None) -> list[dict[str, Any]]:
        """Clinical scores with their value ("GCS 10/15", "ECOG 0-1", "MMSE of 24");
        ``starts``: ``self.score_starts(text)`` when the caller has them."""
        out: list[dict[str, Any]] = []
        starts = self.score_starts(text) if starts is None else starts
        for m in matches_at(self.score_pattern, text, starts):
            name = m.group("name")
            rule = _lookup(name, self.scores, self.score_ci, self.score_cs)
            if rule is None:
                continue
            read = (
                _roman_score(m, rule, text) if m.group("rnum") else _number_score(m, rule, text)
            )
            if read is None:
                continue
            attrs, end = read
            if "value" in attrs and "comparator" not in attrs:
                after = comparator_after(text, end)
                if after is not None:  # "a score of 15 or greater"
                    attrs["comparator"], end = after
            out.append(
                {
                    "start": m.start("name"),
                    "end": end,
                    "rule": rule,
                    "codes": rule["codes"],
                    "attributes": attrs,
                }
            )
        return out

    def find_scores_before(
        self, text: str, taken: list[tuple[int, int]], starts: list[int]
    ) -> list[dict[str, Any]]:
        """A score written before the scale's name: "scored 15 on the Glasgow coma scale",
        "a score of > 10 on the Epworth sleepiness scale", "< 120 points on the MMSE"."""
        out: list[dict[str, Any]] = []
        for p in starts:
            # cheap tests first: "on"/"in" right before, a score's name at p
            if not _ON_BEFORE.search(text, max(0, p - 24), p):
                continue
            m = self.score_name.match(text, p)
            if m is None or any(a <= p < b for a, b in taken):
                continue
            before = _SCORE_BEFORE.search(text, max(0, p - 60), p)
            if before is None:
                continue
            rule = _lookup(m.group("name"), self.scores, self.score_ci, self.score_cs)
            if rule is None or m.group("name") in rule.get("roman_only_terms", ()):
                continue
            num = before.group("num") or before.group("pnum")
            value = parse_number(num)
            low, high = rule["range"]
            if value is None or not low <= value <= high:
                continue
            top = before.group("max")
            if top and int(top) not in (high, 100):
                continue
            num_start = before.start("num") if before.group("num") else before.start("pnum")
            attrs: dict[str, Any] = {"test": rule["name"], "kind": "score", "ucum": "{score}",
                                     "value": value}  # fmt: skip
            cmp = before.group("cmp") or before.group("pcmp")
            if cmp:
                attrs["comparator"] = comparator_sign(cmp)
            elif before.group("after"):
                attrs["comparator"] = ">=" if before.group("up") else "<="
            start = before.start("cmp") if before.group("cmp") else before.start("pcmp") if (
                before.group("pcmp")) else num_start  # fmt: skip
            attrs["parts"] = {"name": [m.start("name"), m.end("name")],
                              "value": [num_start, num_start + len(num)]}  # fmt: skip
            out.append({"start": start, "end": m.end("name"), "rule": rule,
                        "codes": rule["codes"], "attributes": attrs})  # fmt: skip
        return out

    def find_paired(self, text: str) -> list[dict[str, Any]]:
        """Results written as two lists: "lactate and pyruvate were 1.6 and 0.096 mmol/l,
        respectively". One LAB per pair, spanning the test's name, with the value's offsets in
        ``parts``; a unit written once after the last value is every value's. Nothing is read
        unless both lists have the same length (two or more) and every item is a test name
        (or a vital sign's, read by the vitals extractor: "pH, PaCO2 and oxygen saturation
        were 7.50, 34 mmHg and 95%") or a value."""
        out: list[dict[str, Any]] = []
        for pairs, last_unit in paired_lists(text, self.pair_name_re, self.paired_value):
            for (n0, n1, name), val, v0 in pairs:
                rule = self._rule_for(name)
                number = parse_number(val.group("num")) if "/" not in val.group("num") else None
                if rule is None or number is None:
                    continue  # a vital sign's name, or a blood pressure
                unit_text = val.group("unit") or last_unit
                ucum = self.units.to_ucum(unit_text.rstrip(".,;:")) if unit_text else None
                if ucum in _AMOUNT_UNITS or not _plausible(number, ucum, rule):
                    continue
                parts = {"name": [n0, n1], "value": [v0, v0 + len(val.group("num"))]}
                paired: dict[str, Any] = {}
                written = " ".join((val.group("cmp") or "").lower().split())
                if written and written != "up to":  # "elevated up to 2726 U/L": the peak
                    paired["comparator"] = comparator_sign(written)
                out.append(
                    {
                        "start": n0,
                        "end": n1,
                        "rule": rule,
                        "codes": rule["codes"],
                        "attributes": {
                            "test": rule["name"],
                            "value": number,
                            "unit": unit_text if ucum else None,
                            "ucum": ucum,
                            **paired,
                            "parts": parts,
                        },
                    }
                )
        return out

    def find(self, text: str) -> list[dict[str, Any]]:
        """All lab results and scores in ``text`` as dicts with offsets and attributes."""
        score_starts = self.score_starts(text)
        out: list[dict[str, Any]] = self.find_scores(text, score_starts)
        taken = [(f["start"], f["end"]) for f in out]
        out += self.find_scores_before(text, taken, score_starts)
        if "espectively" in text:
            out += self.find_paired(text)
        taken = [(f["start"], f["end"]) for f in out]
        matches = list(matches_at(self.pattern, text, self.starts(text)))
        if "/" in text:
            matches = self._after_slash(text, matches)
        for m in matches:
            rule = self._rule_for(m.group("name"))
            if rule is None:
                continue
            if m.group("abbr") and self._rule_for(m.group("abbr")) is not rule:
                continue  # "Hemoglobin (day 3 9.1)": the bracket's word is no name of the test
            if "," in m.group("conn") and _COUNT_BEFORE.search(
                text, max(0, m.start() - 16), m.start()
            ):
                continue  # "26 neutrophils, 1 band", "7 platelets, 23 plasma": a list of counts
            attrs: dict[str, Any] = {"test": rule["name"]}
            parts: dict[str, list[int]] = {"name": [m.start("name"), m.end("name")]}
            lo_group = "blo" if m.group("blo") else "rlo" if m.group("rlo") else None
            end = (
                m.end("num") if m.group("num") else m.end("qual") if m.group("qual")
                else m.end("bhi" if lo_group == "blo" else "rhi")
            )  # fmt: skip
            if lo_group is not None:
                before = text[max(0, m.start() - 80) : m.start()]
                if _RANGE_CONTEXT.search(re.split(r"[.;]|\n\s*\n", before)[-1]):
                    continue  # "normal ranges for TSH and free T4 are 0.5-4.7 uIU/mL and ..."
                hi_group = "bhi" if lo_group == "blo" else "rhi"
                value = None
                low, high = parse_number(m.group(lo_group)), parse_number(m.group(hi_group))
                if low is None or high is None or not low < high:
                    continue
                attrs["value_range"] = {"low": low, "high": high}
                parts["value"] = [m.start(lo_group), m.end(hi_group)]
            elif m.group("num"):
                value = parse_number(m.group("num"))
                attrs["value"] = value
                parts["value"] = [m.start("num"), m.end("num")]
                if m.group("cmp"):
                    attrs["comparator"] = comparator_sign(m.group("cmp"))
            else:
                if m.group("name").lower() in rule.get("numeric_only_terms", ()):
                    continue  # "leukocytes, positive" is a urine dipstick, not the blood count
                value = None
                attrs["value_string"] = re.sub(r"\s+", " ", m.group("qual").lower())
                parts["value"] = [m.start("qual"), m.end("qual")]
            # a word after a result in words is no unit ("INR was normal as well")
            unit, ucum, unit_end = (
                (None, None, -1) if m.group("qual") else self._unit(m, rule)
            )
            if m.group("lunit") and (
                self.units.to_ucum(m.group("lunit")) != ucum
                or m.group("lunit").lower().rstrip(".") in ("am", "pm", "a.m", "p.m")
            ):
                continue  # "between 8 am and 9 am": no unit of the result, or another one
            if (ucum in _AMOUNT_UNITS and ucum != rule["ucum"]) or (
                ucum is not None and _DOSE_UNIT.fullmatch(ucum)
            ):
                continue  # "docusate sodium 100 mg", "vitamin B12 1000 mcg": a drug strength
            if ucum == "%" and _PER_VOLUME.search(rule["ucum"]):
                continue  # "urea 40% cream", "glucose 5%", "albumin 25%": a preparation
            attrs["unit"], attrs["ucum"] = unit, ucum
            if unit is not None:
                parts["unit"] = [m.start("unit"), unit_end]
                end = unit_end
            if rule.get("count_rule") and ucum is not None and _COUNT_UNIT.fullmatch(ucum):
                # "neutrophils < 1,500/mm3": the absolute count, not the share
                rule = self.rules[rule["count_rule"]]
                attrs["test"] = rule["name"]
            fraction = rule.get("plausible_fraction")
            if (
                fraction and unit is None and value is not None and "." in m.group("num")
                and fraction[0] <= value <= fraction[1]
            ):  # fmt: skip
                attrs["ucum"] = ucum = "1"  # "LVEF of 0.20": a fraction of one, UCUM unity
            if value is not None and not _plausible(value, ucum, rule):
                continue
            if "value_range" in attrs and (
                unit is None
                or not all(_plausible(v, ucum, rule) for v in attrs["value_range"].values())
            ):
                continue  # "WBC 5-10" alone may be a reference range; a range needs its unit
            if "value" in attrs and "comparator" not in attrs:
                after = comparator_after(text, end)
                if after is not None:  # "HbA1c 7% or greater"
                    attrs["comparator"], end = after
                    parts["comparator"] = [parts["value"][1], end]
            flag = None
            for group in ("pflag", "flag", "wflag", "star"):
                if m.group(group):
                    flag = _FLAG_WORDS.get(m.group(group).lower())
                    parts["flag"] = [m.start(group), m.end(group)]
                    end = max(end, m.end(group) + (1 if group == "pflag" else 0))
                    break
            if flag is None and unit is None and m.group("unit"):
                bare = m.group("unit").rstrip(".,;:")
                if bare in ("H", "L", "HH", "LL"):
                    flag = bare
                    parts["flag"] = [m.start("unit"), m.start("unit") + len(bare)]
                    end = parts["flag"][1]
            if flag is None:
                flag = _connector_flag(m.group("conn"))
            if m.group("lo") and (unit is not None or not m.group("unit")):
                low, high = parse_number(m.group("lo")), parse_number(m.group("hi"))
                attrs["reference_range"] = {"low": low, "high": high}
                range_end = m.end("hi") + 1
                while range_end <= len(text) and text[range_end - 1] not in ")]":
                    range_end += 1
                parts["reference_range"] = [m.start("lo"), m.end("hi")]
                end = max(end, range_end)
                if flag is None and isinstance(value, int | float) and low is not None:
                    flag = "L" if value < low else "H" if high is not None and value > high else "N"
            if flag is not None:
                attrs["interpretation"] = flag
            attrs["parts"] = parts
            specimen = self._specimen(text, m.start("name"))
            codes = rule["codes"]
            if specimen is not None and specimen != rule.get("specimen"):
                # "urine Na 35", "CSF ... glucose 35": not a serum LOINC
                attrs["specimen"] = specimen
                codes = []
            if any(a < end and m.start("name") < b for a, b in taken):
                continue  # a score's words
            out.append(
                {
                    "start": m.start("name"),
                    "end": end,
                    "rule": rule,
                    "codes": codes,
                    "attributes": attrs,
                }
            )
        if "%" in text:
            out += self.find_shares(text, [(f["start"], f["end"]) for f in out])
        if "-" in text:
            out += self.find_result_lines(text, [(f["start"], f["end"]) for f in out])
        out += self.find_listed(text, out)
        out += self.find_unlisted(text, [(f["start"], f["end"]) for f in out])
        return [f for f in out if not _no_result_after(text, f)]

    def find_result_lines(
        self, text: str, taken: list[tuple[int, int]]
    ) -> list[dict[str, Any]]:
        """Results printed by a laboratory system as "Name-value" on one line, a star for an
        abnormal one: "BLOOD WBC-8.2 RBC-3.45* Hgb-10.1* Hct-31.2* Plt Ct-245" (the
        "Pertinent Results" of a discharge summary). A line counts only with three such pairs
        or more making up half of its words, so "CA-125", "IL-6" and "COVID-19" in prose
        are never read."""
        out: list[dict[str, Any]] = []
        by_line: dict[int, list[re.Match[str]]] = {}
        for m in _RESULT_PAIR.finditer(text):  # one pass; pairs are grouped by their line
            by_line.setdefault(text.rfind("\n", 0, m.start()) + 1, []).append(m)
        for line_start, pairs in by_line.items():
            if len(pairs) < 3:
                continue
            line_end = text.find("\n", pairs[-1].end())
            words = len(text[line_start : line_end if line_end >= 0 else len(text)].split())
            if 2 * len(pairs) < words:
                continue  # prose that names "CA-125" and "IL-6" is no printed result line
            for m in pairs:
                name = m.group("name")
                rule = self._rule_for(_RESULT_ALIASES.get(name, name))
                value = parse_number(m.group("num"))
                if rule is None or value is None or not _plausible(value, None, rule):
                    continue
                if any(a < m.end() and m.start() < b for a, b in taken):
                    continue
                attrs: dict[str, Any] = {
                    "test": rule["name"],
                    "value": value,
                    "unit": None,
                    "ucum": None,
                    "parts": {
                        "name": [m.start("name"), m.end("name")],
                        "value": [m.start("num"), m.end("num")],
                    },
                }
                if m.group("star"):
                    attrs["interpretation"] = "A"
                    attrs["parts"]["flag"] = [m.start("star"), m.end("star")]
                out.append(
                    {
                        "start": m.start("name"),
                        "end": m.end(),
                        "rule": rule,
                        "codes": rule["codes"],
                        "attributes": attrs,
                    }
                )
        return out

    def find_unlisted(self, text: str, taken: list[tuple[int, int]]) -> list[dict[str, Any]]:
        """Results of tests the table does not list: by a head word and a unit it takes ("free
        carnitine level was <3 μmol/L", "intraocular pressure 15 mm Hg") or, as criteria write
        them, by a comparator sign and a unit that names the kind of result ("HBV DNA < 200
        IU/ml", "endometrial thickness < 7 mm"). Uncoded LABs; ``form`` is ``head`` or
        ``sign``; kind ``measurement`` for a pressure, length or time. Not where ``taken``
        (the results already read) or a listed test or a vital sign is."""
        found = [(m, True) for m in _head_matches(text)]
        found += [(m, True) for m in _head_matches(text, _UNLISTED_SCORE, _SCORE_HEADS)]
        found += [(m, False) for m in _bare_matches(text)]
        if any(c in text for c in "<>≤≥≦≧⩽⩾="):
            found += [(m, False) for m in _sign_matches(text)]
        found += [(m, False) for m in _uln_matches(text)]
        found.sort(key=lambda f: f[0].start())
        index = _Taken(taken)
        out: list[dict[str, Any]] = []
        if "mito" in text.lower():
            out += self._mitoses(text, index)
        if "espectively" in text:
            out += self.find_paired_unlisted(text, index)
        for m, by_head in found:
            if index.overlaps(m.start(), m.end()):
                continue
            named = _unlisted_name(text, m.start(), by_head)
            if named is None:
                continue
            start, words = named
            if index.overlaps(start, m.end()) or self._named_elsewhere(text, start, m, by_head):
                continue
            unit, ucum, unit_end = self._unit(m, _UNLISTED_RULE)
            value = parse_number(m.group("num"))
            scored = by_head and m.re is _UNLISTED_SCORE
            if scored:
                kind = self._score_kind(text, m, words)
                if kind is None or value is None:
                    continue
                if unit is None:  # "Rotterdam score was 0.15": a count of points or a ratio
                    ucum = "{ratio}" if m.group("head").lower() == "ratio" else "{score}"
                    unit_end = m.end("num")
            elif m.re is _UNLISTED_BARE:  # a concentration or count, not a drug's strength
                start, words = _bare_name(text, start, m.start(), words)
                if not words:
                    continue
                last = words[-1].lower()
                lab = (
                    ucum is not None and _lab_unit(ucum) and ucum not in _STRENGTH_UCUM
                    and not last.endswith(("ed", "ing")) and last not in _BARE_NOT_NAMES

                    # a head word's reader has refused it ("Potassium level was 45 mmol/L")
                    and not last.startswith((*_HEAD_WORDS, *_SCORE_HEADS))
                )  # fmt: skip
                kind = "lab" if lab and value is not None else None
                if kind is None:
                    continue
            else:
                kind = (
                    _head_kind(m.group("head"), ucum, words) if by_head
                    else _criterion_kind(ucum, words)
                )  # fmt: skip
                if kind is None and not by_head and ucum == "%" and "pred" in unit.lower():
                    kind = "lab"  # "functional residual capacity (FRC) >120% predicted"
                if kind is None or value is None or unit is None:
                    continue
            name_end = m.end("head") if by_head else start + len(text[start : m.start()].rstrip())
            test = _SHORT_FORM_AT_END.sub("", " ".join(text[start:name_end].split()))
            attrs: dict[str, Any] = {"test": test,
                                     "value": value, "unit": unit, "ucum": ucum}  # fmt: skip
            if kind in ("measurement", "score"):
                attrs["kind"] = kind  # no laboratory test (FHIR: no category, or a survey)
            if m.group("cmp") and m.group("cmp") != "=":  # "= 7.77 cm": a value, no bound
                attrs["comparator"] = comparator_sign(m.group("cmp"))
            end = unit_end
            if "comparator" not in attrs and (after := comparator_after(text, end)) is not None:
                attrs["comparator"], end = after  # "a severity score of 15 or greater"
            flag = _connector_flag(m.group("conn"))
            if flag is not None:
                attrs["interpretation"] = flag
            attrs["parts"] = {"name": [start, name_end], "value": [m.start("num"), m.end("num")]}
            if unit is not None:
                attrs["parts"]["unit"] = [m.start("unit"), unit_end]
            specimen = self._specimen(text, start)
            if specimen is not None:
                attrs["specimen"] = specimen
            index.add(start, end)
            out.append({"start": start, "end": end, "rule": _UNLISTED_RULE, "codes": [],
                        "attributes": attrs, "form": "head" if by_head else "sign"})  # fmt: skip
        return out

    @staticmethod
    def _mitoses(text: str, index: _Taken) -> list[dict[str, Any]]:
        """Counts of mitoses per high-power fields (``_MITOSES``): uncoded LABs, UCUM
        ``/(10.[HPF])`` for "per 10 high-power fields"."""
        out: list[dict[str, Any]] = []
        for m in _MITOSES.finditer(text):
            if index.overlaps(m.start(), m.end()):
                continue
            attrs: dict[str, Any] = {
                "test": "Mitotic count", "value": int(m.group("num")), "unit": m.group("unit"),
                "ucum": f"/({int(m.group('fields'))}.[HPF])",
            }  # fmt: skip
            if m.group("cmp"):
                written = " ".join(m.group("cmp").lower().split())
                attrs["comparator"] = "<=" if written == "up to" else comparator_sign(written)
            attrs["parts"] = {
                "name": [m.start("name"), m.end("name")],
                "value": [m.start("num"), m.end("num")],
                "unit": [m.start("unit"), m.end("unit")],
            }
            index.add(m.start(), m.end())
            out.append({"start": m.start(), "end": m.end(), "rule": _UNLISTED_RULE, "codes": [],
                        "attributes": attrs, "form": "head"})  # fmt: skip
        return out

    def _score_kind(self, text: str, m: re.Match[str], words: list[str]) -> str | None:
        """The kind of an unlisted score, index or ratio (``_UNLISTED_SCORE``): ``score`` for a
        score or an index in points, ``lab`` for a ratio or a per cent; None when the words
        before the head make it a statistic or a setting ("odds ratio", "pain score"), or a
        unit other than per cent follows the value ("index of 2 cm")."""
        head = m.group("head").lower()
        last = words[-1].lower()
        if any(w in _NOT_SCORE_NAMES for w in re.split(r"[/-]", last)) or (
            last in _UNLISTED_NOT_NAMES
        ):
            return None
        if m.group("unit") is None:
            after = re.match(r"\s?([^\s,;.)\]]+)", text[m.end() : m.end() + 24])
            if after and after.group(1).lower() not in _NOT_UNITS and (
                after.group(1).lower() not in ("points", "point")
                and self.units.to_ucum(after.group(1)) is not None
            ):
                return None  # "index of 2 cm", "score of 3 mm"
            return "score" if head in ("score", "index") else "lab"
        return "lab"

    def find_paired_unlisted(self, text: str, index: _Taken) -> list[dict[str, Any]]:
        """Results written as two lists whose names the table does not all list, with a unit
        of concentration or count for every value: "Blood levels of lactate and pyruvate were
        1.6 and 0.096 mmol/l, respectively", "raised concentrations of alanine and glutamine
        (1567 and 1369 μmol/l, respectively)". One LAB per pair, spanning the name (coded when
        the table lists it), as ``find_paired``. Nothing is read unless both lists have the
        same length and every name is one to three words."""
        out: list[dict[str, Any]] = []
        for resp in _RESPECTIVELY.finditer(text):
            at = resp.start()
            start = max(
                text.rfind(". ", 0, at) + 1, text.rfind("\n", 0, at) + 1,
                text.rfind(";", 0, at) + 1, at - _PAIR_REACH,
            )  # fmt: skip
            sentence = text[start:at]
            verbs = [(v.start(), v.end()) for v in _PAIR_VERB.finditer(sentence)]
            bracket = sentence.rfind("(")
            if bracket >= 0:
                verbs.append((bracket, bracket + 1))
            for vs, ve in sorted(verbs, reverse=True)[:_PAIR_VERBS]:
                read = self._paired_unlisted_at(text, start, sentence, vs, ve, index)
                if read:
                    out += read
                    break
        return out

    def _paired_unlisted_at(
        self, text: str, start: int, sentence: str, vs: int, ve: int, index: _Taken
    ) -> list[dict[str, Any]]:
        """The pairs of ``find_paired_unlisted`` with the verb (or bracket) at ``vs``-``ve`` of
        ``sentence`` (which starts at ``start`` in ``text``), or none."""
        values_text = _ASIDE.sub(lambda a: " " * len(a.group(0)), sentence[ve:])
        values = list(self.paired_value.finditer(values_text))
        if len(values) < 2 or not _PAIR_LEAD.fullmatch(values_text[: values[0].start()]):
            return []
        gaps = [values_text[a.end() : b.start()] for a, b in itertools.pairwise(values)]
        if not all(_PAIR_GAP.fullmatch(g) for g in gaps):
            return []
        if values_text[values[-1].end() :].strip(" \t,"):
            return []
        own = any(v.group("unit") for v in values[:-1])
        units = [v.group("unit") if own else values[-1].group("unit") for v in values]
        ucums = [self.units.to_ucum(u.rstrip(".,;:")) if u else None for u in units]
        if not all(u is not None and _lab_unit(u) for u in ucums):
            return []  # "3 cm and 2 cm, respectively": no concentration
        names_text = sentence[:vs]
        offset = 0
        lead = list(_PAIR_NAMES_AFTER.finditer(names_text))
        if lead:
            offset = lead[-1].end()
        tail = _PAIR_NAMES_TAIL.search(names_text, offset)
        names_end = tail.start() if tail else len(names_text)
        items = [
            (offset + n.start(), offset + n.end())
            for n in _PAIR_ITEM.finditer(names_text[offset:names_end])
        ]
        if len(items) < len(values):
            return []
        names = []
        for a, b in items[-len(values) :]:
            words = list(_WORD.finditer(names_text, a, b))
            while words and words[0].group(0).lower() in _PAIR_ARTICLES:
                words = words[1:]
            bare = [w.group(0).lower() for w in words]
            if (
                not 1 <= len(words) <= 3
                or not all(_NAME_WORD.fullmatch(w) for w in bare)
                or any(w in _UNLISTED_STOP for w in bare)
                or bare[-1] in _UNLISTED_NOT_NAMES
                or any(w in _PAIR_NOT_NAMES for w in bare)
            ):
                return []  # "the doses of A and B": no list of test names
            names.append((start + words[0].start(), start + words[-1].end()))
        base = start + ve
        out: list[dict[str, Any]] = []
        for (n0, n1), val, unit, ucum in zip(names, values, units, ucums, strict=True):
            number = parse_number(val.group("num")) if "/" not in val.group("num") else None
            if number is None or index.overlaps(n0, n1):
                return []
            name = " ".join(text[n0:n1].split())
            rule = self._rule_for(name) or _UNLISTED_RULE
            if rule is not _UNLISTED_RULE and not _plausible(number, ucum, rule):
                return []
            v0 = base + val.start("num")
            attrs: dict[str, Any] = {"test": rule["name"] or name, "value": number,
                                     "unit": unit, "ucum": ucum}  # fmt: skip
            written = " ".join((val.group("cmp") or "").lower().split())
            if written and written != "up to":
                attrs["comparator"] = comparator_sign(written)
            attrs["parts"] = {"name": [n0, n1], "value": [v0, v0 + len(val.group("num"))]}
            codes = rule.get("codes", [])
            specimen = self._specimen(text, n0)
            if specimen is not None:
                attrs["specimen"] = specimen
                codes = [] if specimen != rule.get("specimen") else codes
            found = {"start": n0, "end": n1, "rule": rule, "codes": codes, "attributes": attrs}
            if rule is _UNLISTED_RULE:
                found["form"] = "head"
            out.append(found)
        for f in out:
            index.add(f["start"], f["end"])
        return out

    def _named_elsewhere(self, text: str, start: int, m: re.Match[str], by_head: bool) -> bool:
        """Whether an unlisted result's name is a listed test's (whose reader refused the
        value: "Potassium level was 45 mmol/L", "glucose level 5% dextrose") or a vital sign's
        ("mean arterial pressure was 65 mmHg", "oxygen saturation level of 85%"), also read
        with the words before it that end a name ("mean", "systolic")."""
        end = m.start()
        head = f" {m.group('head')}" if by_head else ""
        line_start = text.rfind("\n", max(0, start - 24), start) + 1
        words = _WORD.findall(text, max(start - 24, line_start), end)
        if any(w.lower() in ("systolic", "diastolic") for w in words) and not any(
            w.lower().strip("()") in _CHAMBERS for w in words
        ):
            return True  # the vitals' blood pressure, not a chamber's or a vessel's
        for i in range(len(words)):
            tail = " ".join(words[i:])
            # a score's, index's or ratio's name holds a test's ("albumin ratio")
            for name in (tail + head,) if m.re is _UNLISTED_SCORE else (tail, tail + head):
                if (
                    self._rule_for(name) is not None
                    or name.lower() in self.vital_names
                    or name in self.vital_names
                    or _lookup(name, self.scores, self.score_ci, self.score_cs) is not None
                ):
                    return True
        return False

    def _after_slash(self, text: str, matches: list[re.Match[str]]) -> list[re.Match[str]]:
        """``matches`` and the results whose test name follows another test name and a slash
        ("AST/ALT > 2 x ULN": ALT's; ``find_listed`` gives AST the value), in text order.
        Not inside a match already ("FEV1/FVC 0.65" is one test)."""
        spans = [(m.start(), m.end()) for m in matches]
        extra = []
        for slash in _SLASH.finditer(text):
            m = self.pattern_after_slash.match(text, slash.end())
            if m is None or any(a <= slash.start() < b for a, b in spans):
                continue
            if self._name_ends_at(text, slash.start()) is not None:
                extra.append(m)
        if not extra:
            return matches
        return sorted([*matches, *extra], key=lambda m: m.start())

    def _name_ends_at(self, text: str, end: int) -> re.Match[str] | None:
        """The test name that ends at ``end``, or before a bracketed gloss that does
        ("AST", "Aspartate aminotransferase (AST)")."""
        gloss = _GLOSS_BEFORE.search(text, max(0, end - 64), end)
        ends = (end, gloss.start()) if gloss else (end,)
        found = None
        for cand in self.name_re.finditer(text, max(0, ends[-1] - 60), end):
            if cand.end() in ends:
                found = cand
        return found

    def find_listed(self, text: str, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Test names listed before one shared value, as criteria write a limit for several
        tests: "AST/ALT > 2.5 x ULN", "AST, ALT < 3 times ULN", "ALT or AST > 100 U/L".

        The value is every listed test's only when it is a multiple of the upper limit of
        normal, or its unit is the one both tests are reported in ("AST and ALT > 100 U/L"),
        or it has a comparator and no unit ("AST/ALT > 100"), and it is plausible for each
        test. Not when the values are a list too ("AST and ALT 45 and 60": the name after
        the joint has the first value only) or read pairwise ("... respectively"). One LAB
        per listed name, spanning the name, with the shared value's offsets in ``parts``.
        """
        out: list[dict[str, Any]] = []
        taken = [(f["start"], f["end"]) for f in found]
        for f in found:
            attrs = f["attributes"]
            rule = f["rule"]
            numeric = "value" in attrs or "value_range" in attrs
            if attrs.get("kind") == "score" or not numeric:
                continue
            ucum, comparator = attrs.get("ucum"), attrs.get("comparator")
            if not (
                ucum == "{ULN}"
                or (ucum is not None and ucum == rule["ucum"])
                or (ucum is None and comparator is not None)
            ):
                continue
            after = text[f["end"] : f["end"] + 60]
            if _LIST_AFTER.match(after) or _RESPECTIVELY.search(re.split(r"[.;\n]", after)[0]):
                continue  # "AST and ALT 45 and 60", "A and B were x and y, respectively"
            name_start = attrs["parts"]["name"][0]
            for _ in range(6):  # names leftwards through joints
                joint = _LIST_JOINT.search(text, max(0, name_start - 12), name_start)
                if joint is None:
                    break
                name = self._name_ends_at(text, joint.start())
                if name is None or any(a <= name.start() < b for a, b in taken):
                    break
                other = self._rule_for(name.group(0))
                if other is None or other is rule:
                    break
                if ucum not in (None, "{ULN}") and ucum != other["ucum"]:
                    break
                values = [attrs["value"]] if "value" in attrs else [*attrs["value_range"].values()]
                if not all(_plausible(v, ucum, other) for v in values):
                    break
                listed = {k: v for k, v in attrs.items() if k not in ("interpretation", "specimen")}
                listed["test"] = other["name"]
                listed["parts"] = {k: v for k, v in attrs["parts"].items() if k != "name"}
                listed["parts"]["name"] = [name.start(), name.end()]
                codes = other["codes"]
                specimen = self._specimen(text, name.start())
                if specimen is not None:
                    listed["specimen"] = specimen
                    codes = []
                out.append({"start": name.start(), "end": name.end(), "rule": other,
                            "codes": codes, "attributes": listed})  # fmt: skip
                taken.append((name.start(), name.end()))
                name_start = name.start()
        return out

    def find_shares(self, text: str, taken: list[tuple[int, int]]) -> list[dict[str, Any]]:
        """Shares written before the cells they count: "leukocytosis with 97.4% neutrophils"."""
        out: list[dict[str, Any]] = []
        for m in self.share_before.finditer(text):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            rule = _lookup(m.group("name"), self.rules, self.ci, {})
            value = parse_number(m.group("num"))
            if rule is None or value is None or not _plausible(value, "%", rule):
                continue
            attrs: dict[str, Any] = {"test": rule["name"], "value": value, "unit": "%",
                                     "ucum": "%"}  # fmt: skip
            attrs["parts"] = {
                "name": [m.start("name"), m.end("name")],
                "value": [m.start("num"), m.end("num")],
                "unit": [m.start("unit"), m.end("unit")],
            }
            codes = rule["codes"]
            specimen = self._specimen(text, m.start())
            if specimen is not None:  # "CSF ... 18% lymphocytes": not the blood LOINC
                attrs["specimen"] = specimen
                codes = []
            out.append({"start": m.start(), "end": m.end(), "rule": rule, "codes": codes,
                        "attributes": attrs})  # fmt: skip
        return out

    def analyte_medications(self, doc: Doc, names: set[tuple[int, int]]) -> list[Span]:
        """Earlier MEDICATION spans that are an analyte said as a lab result.

        The span's text names a test (``labs.json``) and it is the test name of a result
        (``names``: the results' test-name bounds), or a result word follows or precedes it,
        or it lies in a labs section.
        "Potassium chloride 20 mEq" names no test; "digoxin level 2.1" keeps "digoxin".
        """
        meds = existing_spans(doc, "MEDICATION")
        if not meds:
            return []
        text = doc_text(doc)
        out: list[Span] = []
        for span in meds:
            start, end = char_bounds(span)
            name = text[start:end]
            if name not in self.analyte_names and term_key(name) not in self.analyte_names:
                continue
            line_start = text.rfind("\n", 0, start) + 1
            section = section_at(doc, span.start)
            if (
                (start, end) in names
                or _RESULT_AFTER.match(text, end)
                or _RESULT_BEFORE.search(text, max(line_start, start - 40), start)
                or (section is not None and section.category in LAB_SECTIONS)
            ):
                out.append(span)
        return out

    def test_names_read_otherwise(self, doc: Doc, names: set[tuple[int, int]]) -> list[Span]:
        """Earlier PROBLEM or PROCEDURE spans that are the test name of a result or inside it:
        "CEA 5.2 ng/mL" is no carotid endarterectomy, "PT 14.2 s" no physical therapy."""
        if not names or MENTIONS not in doc.spans:
            return []
        # inside the name too: "Model for End-Stage Liver Disease (MELD) score" is no disease
        out = []
        for s in doc.spans[MENTIONS]:
            if s.label_ in ("PROBLEM", "PROCEDURE"):
                start, end = char_bounds(s)
                if any(a <= start and end <= b for a, b in names):
                    out.append(s)
        return out

    @staticmethod
    def _beside_concepts(doc: Doc, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``found`` without the unlisted results whose name holds a problem or a procedure
        the dictionary found ("carotid stenosis > 70%", "aneurysm > 5.5 cm": the problem is
        what the criterion names) or, for a criterion, a drug ("methotrexate > 25 mg/week")."""
        if not any("form" in f for f in found) or MENTIONS not in doc.spans:
            return found
        concepts = [
            (s.start_char, s.end_char, s.label_)
            for s in doc.spans[MENTIONS]
            if s.label_ in ("PROBLEM", "PROCEDURE", "MEDICATION")
        ]
        kept = []
        for f in found:
            # a score's name may hold its subject ("Total RLS severity score of 15")
            if "form" in f and f["attributes"].get("kind") != "score":
                a, b = f["attributes"]["parts"]["name"]
                if any(
                    s < b and a < e and (label != "MEDICATION" or f["form"] == "sign")
                    for s, e, label in concepts
                ):
                    continue
            kept.append(f)
        return kept

    def __call__(self, doc: Doc) -> Doc:
        new: list[Span] = []
        found_all = self._beside_concepts(doc, self.find(doc_text(doc)))
        # the test names of the listed tests' results, (start, end) in characters (an unlisted
        # test's name may hold a problem: it is read only where none is, _beside_concepts)
        names = {
            tuple(f["attributes"]["parts"]["name"]) for f in found_all if "form" not in f
        }
        analytes = self.analyte_medications(doc, names)
        analytes += self.test_names_read_otherwise(doc, names)
        if analytes:  # by label and id too: a span of another kind may share the offsets
            gone = {(s.start_char, s.end_char, s.label, s.id) for s in analytes}
            doc.spans[MENTIONS] = [
                s
                for s in doc.spans[MENTIONS]
                if (s.start_char, s.end_char, s.label, s.id) not in gone
            ]
        for found in found_all:
            span = make_span(
                doc,
                found["start"],
                found["end"],
                LABEL,
                extractor=LabExtractor.name,
                version=VERSION,
                rule_id=found["rule"]["rule_id"],
                codes=found["codes"],
                attributes=found["attributes"],
            )
            if span is not None:
                new.append(span)
        add_spans(doc, new)
        return doc


def _roman_score(
    m: re.Match[str], rule: dict[str, Any], text: str
) -> tuple[dict[str, Any], int] | None:
    """(attributes, end) of a score written as a class in Roman numerals ("NYHA class III",
    "ASA I or II"), or None; only the scales written as classes take them."""
    if not rule.get("roman"):
        return None
    low, high = rule["range"]
    value = _ROMAN_VALUE[m.group("rnum")]
    hi = _ROMAN_VALUE[m.group("rhi")] if m.group("rhi") else None
    start, end = m.start("rnum"), m.end("rhi") if hi else m.end("rnum")
    if not low <= value <= high or (hi is not None and not value < hi <= high):
        return None
    attrs: dict[str, Any] = {"test": rule["name"], "kind": "score", "ucum": "{score}"}
    if hi is None:
        attrs["value"] = value
    else:
        attrs["value_range"] = {"low": value, "high": hi}
        attrs["value_string"] = text[start:end]
    attrs["parts"] = {"name": [m.start("name"), m.end("name")], "value": [start, end]}
    return attrs, end


#: After a class of a scale also read as a drug's name ("ASA 1-3"): a word that keeps it a
#: class, not a dose ("ASA 1-2 tablets").
_CLASS_AFTER = re.compile(r"[ \t]*(?:[A-Za-z]+)?")
_CLASS_WORDS = frozenset({"", "patients", "patient", "and", "or"})


def _score_list(m: re.Match[str], rule: dict[str, Any]) -> tuple[int, int] | None:
    """(low, high) of a list of classes ("ASA 1 & 2", "0, 1, or 2", "between 3 and 11"):
    consecutive classes of the scale, joined by "and" only for a scale of classes; or None."""
    nums = [int(n) for n in re.findall(r"\d+", m.group("list"))]
    first = parse_number(m.group("num"))
    if first is None or first != int(first):
        return None
    values = [int(first), *nums]
    if m.group("conn").lower().rstrip().endswith("between"):
        return (values[0], values[1]) if len(values) == 2 and values[0] < values[1] else None
    joined_by_and = re.search(r"\band\b", m.group("list"), re.IGNORECASE)
    if (joined_by_and and not rule.get("roman")) or values != list(
        range(values[0], values[0] + len(values))
    ):
        return None  # "Apgar 8 and 9": two scores; "1, 3 or 5": no class range
    return values[0], values[-1]


def _number_score(
    m: re.Match[str], rule: dict[str, Any], text: str
) -> tuple[dict[str, Any], int] | None:
    """(attributes, end) of a score with a number, out of a maximum or a range, or None."""
    top = m.group("max") or m.group("hi")
    # a list that is no run of classes leaves the first value ("Apgar scores of 8 and 9")
    listed = _score_list(m, rule) if m.group("list") else None
    end = (
        m.end("max") if m.group("max") else m.end("hi") if top
        else m.end("list") if listed else m.end("num")
    )  # fmt: skip
    if m.group("name") in rule.get("roman_only_terms", ()):
        # "ASA 1 tablet" is aspirin; "ASA I" the physical status, and so are "ASA 1-3", "ASA 1
        # & 2" and "ASA 3 patients" when no dose word follows
        after = _CLASS_AFTER.match(text, end)
        word = after.group(0).strip().lower() if after else ""
        single = not (top or listed)
        if word not in _CLASS_WORDS or (single and word not in ("patients", "patient")):
            return None
    low, high = rule["range"]
    value = parse_number(m.group("num"))
    if value is None or not low <= value <= high:
        return None
    if m.group("conn").lower().rstrip().endswith("between") and not (listed or m.group("hi")):
        return None  # "between 3" without its other end
    if m.group("max") and int(m.group("max")) not in (high, 100):
        return None  # "MMSE 24/30" is out of the scale; "GCS 3/4" is not a GCS total
    if m.group("hi") and not value < int(m.group("hi")) <= high:
        return None
    if listed and not low <= listed[0] < listed[1] <= high:
        return None
    attrs: dict[str, Any] = {"test": rule["name"], "kind": "score", "ucum": "{score}"}
    if m.group("hi"):  # a range in criteria ("ECOG 0-1"): no single value
        attrs["value_range"] = {"low": value, "high": int(m.group("hi"))}
        attrs["value_string"] = f"{m.group('num')}-{m.group('hi')}"
    elif listed:
        attrs["value_range"] = {"low": listed[0], "high": listed[1]}
        attrs["value_string"] = text[m.start("num") : end]
    else:
        attrs["value"] = value
        if m.group("cmp"):
            attrs["comparator"] = comparator_sign(m.group("cmp"))
    attrs["parts"] = {"name": [m.start("name"), m.end("name")], "value": [m.start("num"), end]}
    return attrs, end


def _term_index(
    rules: list[dict[str, Any]],
) -> tuple[dict[str, dict[str, Any]], dict[str, str], dict[str, str]]:
    """Rules by id, and rule ids by lower-cased term and by case-sensitive term."""
    by_id: dict[str, dict[str, Any]] = {}
    ci: dict[str, str] = {}
    cs: dict[str, str] = {}
    for rule in rules:
        by_id[rule["rule_id"]] = rule
        for term in rule["terms"]:
            ci[term.lower()] = rule["rule_id"]
            for greek in _greek_variants(term.lower()):  # "α-fetoprotein", "β-hCG"
                ci.setdefault(greek, rule["rule_id"])
            if "-" in term:  # typeset with an en dash: "Child–Pugh score", "CA 19–9"
                ci.setdefault(term.lower().replace("-", "–"), rule["rule_id"])
        cs.update({t: rule["rule_id"] for t in rule["case_sensitive_terms"]})
    return by_id, ci, cs


#: Greek letters as case reports print them in a name ("α-fetoprotein", "β2-microglobulin").
_GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "kappa": "κ"}
_GREEK_WORD = re.compile(r"\b(alpha|beta|gamma|delta|kappa)(?![a-z])(?=[- ]?\w)")


def _greek_variants(term: str) -> list[str]:
    """``term`` with its Greek letter names printed as letters, joined to the next word by a
    hyphen or not: "alpha-fetoprotein" -> "α-fetoprotein", "αfetoprotein" is not made."""
    if not _GREEK_WORD.search(term):
        return []
    return [_GREEK_WORD.sub(lambda m: _GREEK[m.group(1)], term)]


def _lookup(
    name: str, by_id: dict[str, dict[str, Any]], ci: dict[str, str], cs: dict[str, str]
) -> dict[str, Any] | None:
    """The rule a matched name is a term of (exact case first, then any case)."""
    rid = cs.get(name) or ci.get(re.sub(r"\s+", " ", name.lower()))
    return by_id.get(rid) if rid else None


#: Longest "A and B were x and y" sentence read before "respectively" (characters), and the
#: verbs tried in it (the last ones): a run-on text without full stops stays linear.
_PAIR_REACH = 400
_PAIR_VERBS = 3


def paired_lists(
    text: str, names_re: re.Pattern[str], value_re: re.Pattern[str]
) -> list[tuple[list[tuple[tuple[int, int, str], re.Match[str], int]], str | None]]:
    """The name and value lists of each "A and B were x and y, respectively" sentence:
    per sentence, ((name start, name end, name), value match, value start) pairs in text
    offsets and the unit written once after the last value (for every value). Only when
    both lists have the same length (two or more), the names are a list (``_is_filler``
    joints) and the values too."""
    out: list[tuple[list[tuple[tuple[int, int, str], re.Match[str], int]], str | None]] = []
    previous = 0
    for resp in _RESPECTIVELY.finditer(text):
        # the sentence: after the last full stop, line break, semicolon or "respectively",
        # and at most _PAIR_REACH characters (text without full stops stays linear)
        at = resp.start()
        start = max(
            text.rfind(". ", 0, at) + 1,
            text.rfind("\n", 0, at) + 1,
            text.rfind(";", 0, at) + 1,
            previous,
            at - _PAIR_REACH,
        )
        previous = resp.end()
        sentence = text[start:at]
        offset = start
        # a name's bracketed gloss names it again: "ALT (alanine transaminase)"
        names_text = _GLOSS.sub(lambda a: " " * len(a.group(0)), sentence)
        all_names = list(names_re.finditer(names_text))
        verbs = list(_PAIR_VERB.finditer(sentence))[-_PAIR_VERBS:]
        for verb in reversed(verbs):
            # a bracketed aside after a value is not one of the list ("2% (176/µL)")
            values_text = _ASIDE.sub(lambda a: " " * len(a.group(0)), sentence[verb.end() :])
            values = list(value_re.finditer(values_text))
            before = [n for n in all_names if n.end() <= verb.start()]
            if len(values) < 2 or len(before) < len(values):
                continue
            names = before[-len(values) :]
            # the names are a list: a few words at most between them and up to the verb
            # ("brain natriuretic peptide and high-sensitivity troponin T levels were")
            joints = [names_text[a.end() : b.start()] for a, b in itertools.pairwise(names)]
            joints.append(names_text[names[-1].end() : verb.start()])
            if not all(_is_filler(j) for j in joints):
                continue
            gaps = [values_text[a.end() : b.start()] for a, b in itertools.pairwise(values)]
            if not _PAIR_LEAD.fullmatch(values_text[: values[0].start()]) or not all(
                _PAIR_GAP.fullmatch(g) for g in gaps
            ):
                continue
            if values_text[values[-1].end() :].strip(" \t,"):
                continue
            base = offset + verb.end()
            pairs = [
                ((offset + n.start(), offset + n.end(), n.group(0)), v, base + v.start("num"))
                for n, v in zip(names, values, strict=True)
            ]
            # a unit written once after the last value is every value's ("1.6 and 0.096
            # mmol/L"), not when the values have their own ("7.50, 34 mmHg, ... and 95%")
            own = any(v.group("unit") for v in values[:-1])
            shared = None if own else values[-1].group("unit")
            out.append((pairs, shared))
            break
    return out


def _is_filler(joint: str) -> bool:
    """Whether the text between two names of a paired list is a joint: commas, "and", a
    bracketed gloss and at most three other words, no number ("and serum", "and high-
    sensitivity troponin T concentration")."""
    bare = re.sub(r"\([^()]{0,40}\)", " ", joint)
    if re.search(r"\d", bare):
        return False
    words = [w for w in re.findall(r"[\w-]+", bare) if w.lower() not in ("and", "or")]
    return len(words) <= 3


#: "WBC-8.2", "RBC-3.45*", "Plt Ct-245", "INR(PT)-1.1", "UreaN-28*".
_RESULT_PAIR = re.compile(
    r"(?<![\w/().-])(?P<name>[A-Za-z][A-Za-z0-9]*(?:\([A-Za-z]+\))?(?: Ct)?)"
    r"-(?P<num>\d+(?:\.\d+)?)(?P<star>\*)?(?=[ \t,;]|$)",
    re.MULTILINE,
)
#: Short names a laboratory system prints that the test table does not list.
_RESULT_ALIASES = {
    "UreaN": "BUN", "Plt Ct": "Plt", "AnGap": "anion gap", "TotBili": "total bilirubin",
    "DirBili": "direct bilirubin", "INR(PT)": "INR", "CK(CPK)": "CK", "cTropnT": "troponin T",
    "Neuts": "neutrophils", "Lymphs": "lymphocytes", "Monos": "monocytes", "Eos": "eosinophils",
    "Basos": "basophils", "NTproBNP": "proBNP", "Ferritn": "ferritin", "Fibrino": "fibrinogen",
    "calTIBC": "TIBC", "Creat": "creatinine",
}  # fmt: skip


def _plausible(value: float, ucum: str | None, rule: dict[str, Any]) -> bool:
    """Reject values outside the physiological range when the unit is the expected one."""
    if ucum is not None and ucum != rule["ucum"] and ucum not in ("/uL", "/mm3"):
        return True  # another unit (mmol/L glucose, g/L hemoglobin): no range to check against
    low, high = rule["plausible"]
    if low <= value <= high:
        return True
    raw = rule.get("plausible_count_per_ul")  # "platelets 250,000" (cells/uL, unit unwritten)
    return bool(ucum in (None, "/uL", "/mm3") and raw and raw[0] <= value <= raw[1])


@Language.factory("ns_labs")
def make_lab_tagger(nlp: Language, name: str) -> LabTagger:
    """spaCy factory for :class:`LabTagger`."""
    return LabTagger(nlp, name)


class LabExtractor:
    """Laboratory results with LOINC codes, values, UCUM units and abnormal flags."""

    name: ClassVar[str] = "labs"
    version: ClassVar[int] = VERSION
    labels: ClassVar[frozenset[str]] = frozenset({LABEL})

    def add_pipes(self, nlp: Language, options: Mapping[str, object]) -> None:
        """Add ``ns_labs``."""
        nlp.add_pipe("ns_labs")

"""Precision and recall of schemas.redaction on synthetic notes with planted PHI.

Usage:  python bench/eval_redaction.py [--notes 400] [--seed 7] [--show-misses 5]

Every note is built from clinical sentence templates and PHI slots filled with fake values
(names, dates, phones, emails, addresses, MRNs, SSNs), some in forms the rules are meant
to catch and some in forms they are not (a first name with no title, a date with no year,
a street with no number): the gold spans are recorded as the text is built. Clinical
distractors (blood pressures, doses, lab ranges, "MS") test precision.

"Cued" spans are in a form some rule targets; the others (a first name alone, 3/14, a
street without number, nine digits after "ID on file") are planted to measure the gap.
Span recall: a gold span counts as found when every non-space character in it is masked.
Span precision: a predicted span counts as right when it overlaps a gold span of any kind.
Character figures count non-space characters. The templates and the rules share an author,
so these figures are an upper bound for real notes; they show what each rule does and
does not cover, not a de-identification guarantee.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.redaction import PHI_KINDS, PhiSpan, find_phi

FIRST = [
    "Jane",
    "Omar",
    "Li",
    "Maria",
    "Kwame",
    "Anna",
    "Pedro",
    "Sofia",
    "Ivan",
    "Grace",
    "Yusuf",
    "Elena",
    "Tomas",
    "Aiko",
    "Noah",
    "Fatima",
    "Lucas",
    "Zara",
    "Ben",
    "Chloe",
]
LAST = [
    "Placeholder",
    "Haddad",
    "Nguyen",
    "Lopez-Garcia",
    "Mensah",
    "Kowalski",
    "Silva",
    "Rossi",
    "Petrov",
    "O'Neill",
    "Okafor",
    "Schmidt",
    "Novak",
    "Tanaka",
    "Brown",
    "Rahman",
    "Dubois",
    "Khan",
    "Miller",
    "Moreau",
]
STREETS = ["Oak Hill", "Maple", "Main", "Elm", "River Bend", "Cedar", "Lincoln", "Park"]
SUFFIX = ["Street", "St", "Avenue", "Ave", "Road", "Rd", "Lane", "Drive", "Blvd", "Court"]
CITIES = [
    ("Springfield", "IL"),
    ("Riverton", "WY"),
    ("Fairview", "OR"),
    ("Salem", "MA"),
    ("Greenville", "SC"),
    ("Madison", "WI"),
]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
DOMAINS = ["example.org", "mail.example.com", "clinic.example.net"]

CLINICAL = [
    "BP 132/84, HR 88, RR 18, T 37.2 C, SpO2 96% on RA.",
    "Metformin 500 mg PO BID and lisinopril 10 mg daily.",
    "History of MS and CHF; denies chest pain.",
    "Troponin 0.04 ng/mL; glucose 110-140 mg/dL overnight.",
    "12-lead ECG: sinus rhythm, PR 160 ms, QRS 90 ms.",
    "Take 1-2 tablets every 4-6 hours as needed for pain.",
    "Hospital day 3. Tolerating diet. Ambulating with PT.",
    "Diagnosed with type 2 diabetes in 2019, on insulin since 2021.",
    "Creatinine 1.8 (baseline 1.1). Potassium 5.2.",
    "CT abdomen: no free air. Appendix normal.",
    "Plan: continue IV ceftriaxone 1 g q24h, repeat CXR in 48 h.",
    "Wound clean, dry and intact. Follow up in 2 weeks.",
    "INR 2.5 on warfarin; Hgb 10.2 g/dL (ref range 13.5-17.5).",
    "Stage IIIA (T2N1M0), ECOG 1. Room 412, bed 2.",
    "Code status: Full Code. Allergies: NKDA. Call 911 if worse.",
    "Referring: Emergency Department. Attending service: General Surgery.",
    "Parkinson disease, Crohn disease and Bell palsy in the past.",
    "Dose 0.5-1 mg at 14:30 and 22:00; weight 72.5 kg on 2 scales.",
    "Seen by Cardiology Team. PCP: not established.",
]


class Builder:
    """Accumulates text and gold spans."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.gold: list[PhiSpan] = []
        #: gold spans in a form no rule targets (no cue word, no year, no house number)
        self.uncued: set[PhiSpan] = set()

    def add(self, text: str, kind: str | None = None, *, cued: bool = True) -> None:
        if kind:
            span = PhiSpan(self.length, self.length + len(text), kind)
            self.gold.append(span)
            if not cued:
                self.uncued.add(span)
        self.parts.append(text)
        self.length += len(text)

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _name(rng: random.Random) -> str:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    style = rng.random()
    if style < 0.2:
        return f"{first} {rng.choice('ABCDEFGHJKLMNPRSTW')}. {last}"
    if style < 0.35:
        return last
    return f"{first} {last}"


def _date(rng: random.Random) -> str:
    y, m, d = rng.randint(1940, 2026), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice(
        [
            f"{m:02d}/{d:02d}/{y}",
            f"{m}/{d}/{y % 100:02d}",
            f"{y}-{m:02d}-{d:02d}",
            f"{MONTHS[m - 1]} {d}, {y}",
            f"{d} {MONTHS[m - 1]} {y}",
            f"{MONTHS[m - 1][:3]} {d}",
            f"{MONTHS[m - 1]} {y}",
        ]
    )


def _phone(rng: random.Random) -> str:
    a, b, c = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
    return rng.choice(
        [f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}", f"+1 {a} {b} {c:04d}"]
    )


def _address(rng: random.Random) -> str:
    city, state = rng.choice(CITIES)
    street = f"{rng.randint(1, 9999)} {rng.choice(STREETS)} {rng.choice(SUFFIX)}"
    return rng.choice(
        [
            street,
            f"{street}, {city}, {state} {rng.randint(10000, 99999)}",
            f"{street}, Apt {rng.randint(1, 40)}",
        ]
    )


Slot = Callable[[Builder, random.Random], None]


def _slots() -> list[Slot]:
    def title_name(b: Builder, r: random.Random) -> None:
        b.add(r.choice(["Seen today with ", "Discussed with ", "Case reviewed by "]))
        b.add(r.choice(["Dr. ", "Dr ", "Mr. ", "Mrs. ", "Ms. "]))
        b.add(_name(r), "NAME")
        b.add(".\n")

    def signature(b: Builder, r: random.Random) -> None:
        b.add(r.choice(["Electronically signed by ", "Signed by: ", "Dictated by "]))
        if r.random() < 0.5:
            b.add("Dr. ")
        b.add(f"{r.choice(FIRST)} {r.choice(LAST)}", "NAME")
        b.add(r.choice([", MD", ", NP", ""]) + "\n")

    def header_name(b: Builder, r: random.Random) -> None:
        b.add("Patient: ")
        b.add(f"{r.choice(FIRST)} {r.choice(LAST)}", "NAME")
        b.add("\n")

    def bare_name(b: Builder, r: random.Random) -> None:  # no cue word: the rules miss it
        b.add("Her daughter ")
        b.add(r.choice(FIRST), "NAME", cued=False)
        b.add(" will drive her home.\n")

    def date(b: Builder, r: random.Random) -> None:
        b.add(r.choice(["Admitted ", "Last seen ", "Surgery on ", "DOB: "]))
        b.add(_date(r), "DATE")
        b.add(".\n")

    def short_date(b: Builder, r: random.Random) -> None:  # no year: the rules miss it
        b.add("Symptoms began on ")
        b.add(f"{r.randint(1, 12)}/{r.randint(1, 28)}", "DATE", cued=False)
        b.add(".\n")

    def phone(b: Builder, r: random.Random) -> None:
        b.add(r.choice(["Call ", "Phone: ", "Fax ", "Pager: ", "Contact at "]))
        b.add(_phone(r), "PHONE")
        b.add("\n")

    def local_phone(b: Builder, r: random.Random) -> None:
        b.add(r.choice(["pager ", "Callback number: ", "ext. "]))
        b.add(f"555-{r.randint(0, 9999):04d}", "PHONE")
        b.add("\n")

    def email(b: Builder, r: random.Random) -> None:
        b.add("Email: ")
        b.add(
            f"{r.choice(FIRST).lower()}.{r.choice(LAST).lower().replace(chr(39), '')}"
            f"@{r.choice(DOMAINS)}",
            "EMAIL",
        )
        b.add("\n")

    def address(b: Builder, r: random.Random) -> None:
        b.add("Lives at ")
        b.add(_address(r), "ADDRESS")
        b.add(" with her husband.\n")

    def bare_street(b: Builder, r: random.Random) -> None:  # no house number: missed
        b.add("Found on ")
        b.add(f"{r.choice(STREETS)} {r.choice(SUFFIX)}", "ADDRESS", cued=False)
        b.add(" by EMS.\n")

    def mrn(b: Builder, r: random.Random) -> None:
        b.add(r.choice(["MRN ", "MRN: ", "Medical record number: ", "MR# "]))
        b.add(r.choice(["", "AB"]) + f"{r.randint(0, 999999999):09d}", "MRN")
        b.add("\n")

    def ssn(b: Builder, r: random.Random) -> None:
        cue = r.choice(["SSN ", "SSN: ", "Social security number ", "ID on file "])
        b.add(cue)
        n = f"{r.randint(100, 899)}-{r.randint(10, 99)}-{r.randint(1000, 9999)}"
        bare = r.random() >= 0.7
        # nine bare digits after a word that is no SSN cue: no rule targets it
        b.add(n.replace("-", "") if bare else n, "SSN", cued=not (bare and cue.startswith("ID")))
        b.add("\n")

    return [
        title_name,
        signature,
        header_name,
        bare_name,
        date,
        short_date,
        phone,
        local_phone,
        email,
        address,
        bare_street,
        mrn,
        ssn,
    ]


def make_note(rng: random.Random, slots: list[Slot]) -> Builder:
    """One synthetic note: clinical sentences interleaved with 4-8 PHI slots."""
    b = Builder()
    b.add(rng.choice(["PROGRESS NOTE\n\n", "DISCHARGE SUMMARY\n\n", "CLINIC LETTER\n\n"]))
    for _ in range(rng.randint(4, 8)):
        b.add(rng.choice(CLINICAL) + "\n")
        rng.choice(slots)(b, rng)
    b.add(rng.choice(CLINICAL) + "\n")
    return b


def _chars(text: str, spans: list[PhiSpan]) -> set[int]:
    return {i for s in spans for i in range(s.start, s.end) if not text[i].isspace()}


def evaluate(n_notes: int, seed: int, show_misses: int = 0) -> dict[str, dict[str, float]]:
    """Figures per PHI kind and overall."""
    rng = random.Random(seed)
    slots = _slots()
    gold_n: dict[str, int] = defaultdict(int)
    found_n: dict[str, int] = defaultdict(int)
    cued_n: dict[str, int] = defaultdict(int)
    cued_found: dict[str, int] = defaultdict(int)
    pred_n: dict[str, int] = defaultdict(int)
    pred_ok: dict[str, int] = defaultdict(int)
    gchars = pchars = both = 0
    misses: list[str] = []
    false_pos: list[str] = []
    for _ in range(n_notes):
        b = make_note(rng, slots)
        text = b.text
        pred = find_phi(text)
        masked = _chars(text, pred)
        gold_chars = _chars(text, b.gold)
        gchars += len(gold_chars)
        pchars += len(masked)
        both += len(masked & gold_chars)
        for g in b.gold:
            gold_n[g.kind] += 1
            need = {i for i in range(g.start, g.end) if not text[i].isspace()}
            cued = g not in b.uncued
            cued_n[g.kind] += cued
            if need <= masked:
                found_n[g.kind] += 1
                cued_found[g.kind] += cued
            elif len(misses) < show_misses:
                misses.append(f"{g.kind}: {text[g.start : g.end]!r}")
        for p in pred:
            pred_n[p.kind] += 1
            if any(p.start < g.end and g.start < p.end for g in b.gold):
                pred_ok[p.kind] += 1
            elif len(false_pos) < show_misses:
                false_pos.append(f"{p.kind}: {text[p.start : p.end]!r}")
    figures: dict[str, dict[str, float]] = {}
    for kind in PHI_KINDS:
        figures[kind] = {
            "gold": gold_n[kind],
            "recall": found_n[kind] / gold_n[kind] if gold_n[kind] else float("nan"),
            "cued": cued_n[kind],
            "cued_recall": cued_found[kind] / cued_n[kind] if cued_n[kind] else float("nan"),
            "predicted": pred_n[kind],
            "precision": pred_ok[kind] / pred_n[kind] if pred_n[kind] else float("nan"),
        }
    figures["ALL"] = {
        "gold": sum(gold_n.values()),
        "recall": sum(found_n.values()) / max(1, sum(gold_n.values())),
        "cued": sum(cued_n.values()),
        "cued_recall": sum(cued_found.values()) / max(1, sum(cued_n.values())),
        "predicted": sum(pred_n.values()),
        "precision": sum(pred_ok.values()) / max(1, sum(pred_n.values())),
        "char_recall": both / max(1, gchars),
        "char_precision": both / max(1, pchars),
    }
    if show_misses:
        print("missed (sample):", *misses, sep="\n  ")
        print("false positives (sample):", *false_pos, sep="\n  ")
    return figures


#: Hand-annotated fake PHI of samples/notes (written by another author than the rules): every
#: occurrence of each string is a gold span. Cities are PHI under HIPAA Safe Harbor, and so
#: is a month tied to the patient ("since April"); times of day are not annotated.
SAMPLE_GOLD: dict[str, tuple[str, ...]] = {
    "NAME": (
        "Test Patient One",
        "Test Patient Four",
        "Test Patient Five",
        "Test Patient Seven",
        "Test Patient Eight",
        "Jane Placeholder",
        "John Doe-Example",
        "Alex Sample",
        "Dr. Sample",
        "Mr. Four",
    ),
    "DATE": (
        "03/14/2025",
        "03/16/2025",
        "2025-01-08",
        "2025-01-12",
        "2025-05-21",
        "22 April 2025",
        "01/01/1966",
        "2025-09-02",
        "2025-08-12",
        "2025-05-10",
        "2025-05-14",
        "since April",
    ),
    "PHONE": ("555-0100", "555-0199"),
    "ADDRESS": ("100 Example Street, Springfield, ZZ 00000", "Springfield Health Centre"),
    "MRN": ("000123456", "000456789", "000567890", "000789012", "000890123"),
}
# the cue words inside these gold strings are not PHI themselves
_CUES = ("Dr. ", "Mr. ", "since ", " Health Centre")


def evaluate_samples(folder: Path) -> dict[str, dict[str, float]]:
    """Span recall and precision per kind on the hand-annotated sample notes."""
    gold_n: dict[str, int] = defaultdict(int)
    found_n: dict[str, int] = defaultdict(int)
    pred_n: dict[str, int] = defaultdict(int)
    pred_ok: dict[str, int] = defaultdict(int)
    for path in sorted(folder.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        gold: list[PhiSpan] = []
        for kind, strings in SAMPLE_GOLD.items():
            for phrase in strings:
                core = phrase
                for cue in _CUES:
                    core = core.replace(cue, "")
                start = text.find(phrase)
                while start != -1:
                    offset = phrase.index(core)
                    gold.append(PhiSpan(start + offset, start + offset + len(core), kind))
                    start = text.find(phrase, start + 1)
        gold = [
            g
            for g in set(gold)
            if not any(o != g and o.start <= g.start and g.end <= o.end for o in gold)
        ]
        pred = find_phi(text)
        masked = _chars(text, pred)
        for g in gold:
            gold_n[g.kind] += 1
            if {i for i in range(g.start, g.end) if not text[i].isspace()} <= masked:
                found_n[g.kind] += 1
        for p in pred:
            pred_n[p.kind] += 1
            pred_ok[p.kind] += any(p.start < g.end and g.start < p.end for g in gold)
    out: dict[str, dict[str, float]] = {}
    for kind in [*PHI_KINDS, "ALL"]:
        g = sum(gold_n.values()) if kind == "ALL" else gold_n[kind]
        f = sum(found_n.values()) if kind == "ALL" else found_n[kind]
        pn = sum(pred_n.values()) if kind == "ALL" else pred_n[kind]
        pk = sum(pred_ok.values()) if kind == "ALL" else pred_ok[kind]
        if g or pn:
            out[kind] = {
                "gold": g,
                "recall": f / g if g else float("nan"),
                "predicted": pn,
                "precision": pk / pn if pn else float("nan"),
            }
    return out


def scan_corpus(path: Path, review: int, seed: int) -> None:
    """Unannotated real notes (MTSamples): spans per kind, share masked, speed, review sample.

    MTSamples is already de-identified (names were replaced by "Dr. X", "ABC"), so most
    predictions there are placeholders or false positives: the review sample, judged by
    hand, estimates precision on real clinical prose.
    """
    import json
    import time

    texts = [json.loads(line)["text"] for line in path.open(encoding="utf-8") if line.strip()]
    per_kind: dict[str, int] = defaultdict(int)
    picks: list[tuple[str, str]] = []
    masked = chars = 0
    started = time.perf_counter()
    found = [find_phi(t) for t in texts]
    elapsed = time.perf_counter() - started
    for text, spans in zip(texts, found, strict=True):
        chars += len(text)
        masked += len(_chars(text, spans))
        for sp in spans:
            per_kind[sp.kind] += 1
            left = text[max(0, sp.start - 35) : sp.start].replace("\n", " ")
            right = text[sp.end : sp.end + 25].replace("\n", " ")
            picks.append((sp.kind, f"{left}[[{text[sp.start : sp.end]}]]{right}"))
    print(
        f"\n{path}: {len(texts)} notes, {chars:,} chars, {elapsed:.2f} s "
        f"({chars / elapsed / 1e6:.1f} M chars/s); {masked / chars:.3%} of characters masked"
    )
    print("spans per kind:", dict(sorted(per_kind.items())))
    rng = random.Random(seed)
    for kind, context in sorted(rng.sample(picks, min(review, len(picks)))):
        print(f"  {kind:8} {context}")


def main() -> None:
    """Print the figures as a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show-misses", type=int, default=0)
    parser.add_argument(
        "--review",
        type=int,
        default=0,
        help="also scan ../shared/eval/mtsamples/notes.jsonl and print this many random "
        "predicted spans in context for review by hand",
    )
    args = parser.parse_args()
    if args.review:
        # ../shared/eval from the repository root (or from a parent, for worktrees)
        roots = Path(__file__).resolve().parents[1:]
        corpus = next(
            (
                r / "shared" / "eval" / "mtsamples" / "notes.jsonl"
                for r in roots
                if (r / "shared" / "eval" / "mtsamples" / "notes.jsonl").is_file()
            ),
            Path("../shared/eval/mtsamples/notes.jsonl"),
        )
        if corpus.is_file():
            scan_corpus(corpus, args.review, args.seed)
        else:
            print(f"{corpus} not found: MTSamples scan skipped")
    figures = evaluate(args.notes, args.seed, args.show_misses)
    print(f"{args.notes} synthetic notes, seed {args.seed}\n")
    print(
        "| PHI kind | gold spans | span recall | cued spans | recall on cued | "
        "predicted spans | span precision |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind, f in figures.items():
        print(
            f"| {kind} | {f['gold']} | {f['recall']:.3f} | {f['cued']} | "
            f"{f['cued_recall']:.3f} | {f['predicted']} | {f['precision']:.3f} |"
        )
    overall = figures["ALL"]
    print(
        f"\ncharacter recall {overall['char_recall']:.3f}, "
        f"character precision {overall['char_precision']:.3f}"
    )
    samples = Path(__file__).resolve().parents[1] / "samples" / "notes"
    if not samples.is_dir():
        print("\nsamples/notes not found: hand-annotated check skipped")
        return
    print("\nsamples/notes (25 notes by another author, fake PHI annotated by hand)\n")
    print("| PHI kind | gold spans | span recall | predicted spans | span precision |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for kind, f in evaluate_samples(samples).items():
        print(
            f"| {kind} | {f['gold']} | {f['recall']:.3f} | {f['predicted']} | "
            f"{f['precision']:.3f} |"
        )


if __name__ == "__main__":
    main()

"""Silver check of the medications and allergies extractors on the Synthea notes.

Usage: python bench/structured_synthea.py [--limit N]
For each MedicationRequest of a note's encounter, checks whether a MEDICATION mention covers
the first word of its display in the note's prescribed-medication list, and whether its
strength equals the display's first "<number> MG" strength. Counts "No Known Allergies".
Reads ../shared/eval/synthea_notes/notes.jsonl when present; skips with a message otherwise.
"""

import argparse
import json
import re
import sys
from pathlib import Path

from extractors.nlp import NlpSettings, build_nlp, extract
from schemas.model import Note

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = [r / "shared" / "eval" / "synthea_notes" / "notes.jsonl" for r in ROOT.parents[:2]]
DATA = next((c for c in CANDIDATES if c.exists()), CANDIDATES[0])


#: Words of an RxNorm display that are not the drug name ("1 ML ...", "24 HR ...").
_NOT_NAMES = frozenset(
    {
        "actuat",
        "extended",
        "release",
        "oral",
        "tablet",
        "capsule",
        "injection",
        "prefilled",
        "syringe",
        "solution",
        "inhaler",
        "powder",
        "pack",
    }
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} not found")
        return 0
    records = [json.loads(line) for line in DATA.open(encoding="utf-8")]
    if args.limit:
        records = records[: args.limit]
    nlp = build_nlp(NlpSettings(extractors=("medications", "allergies"), abbreviations=False))
    notes = [(Note(note_id=r["id"], text=r["text"]), ()) for r in records]
    requests = found = strength_ok = strength_total = nka_text = nka_found = 0
    for rec, (_, mentions) in zip(records, extract(nlp, notes), strict=True):
        if isinstance(mentions, Exception):
            continue
        text = rec["text"]
        meds = [m for m in mentions if m.label == "MEDICATION"]
        if "No Known Allergies" in text:
            nka_text += 1
            nka_found += any(m.attributes.get("no_known_allergy") for m in mentions)
        plan = text.find("prescribed the following medications")
        for req in rec["silver"]["encounter_medication_requests"]:
            display = req["display"]
            requests += 1
            words = [w.lower() for w in re.findall(r"[A-Za-z]{4,}", display)]
            word = next((w for w in words if w not in _NOT_NAMES), words[0] if words else "")
            pos = text.lower().find(word, plan if plan >= 0 else 0)
            hit = next((m for m in meds if pos >= 0 and m.start_char <= pos < m.end_char), None)
            found += hit is not None
            want = re.search(r"(\d+(?:\.\d+)?) MG(?!/)", display)
            if hit is not None and want:
                strength_total += 1
                got = (hit.attributes.get("strength") or {}).get("value")
                strength_ok += got is not None and float(got) == float(want.group(1))
    print(
        json.dumps(
            {
                "notes": len(records),
                "medication_requests": requests,
                "drug_found": found,
                "strength_checked": strength_total,
                "strength_equal": strength_ok,
                "notes_with_no_known_allergies_text": nka_text,
                "no_known_allergy_mentions": nka_found,
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

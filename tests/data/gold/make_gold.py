"""Writes gold.jsonl and the brat directory in this folder (synthetic notes; re-run to rebuild)."""

import json
from pathlib import Path

HERE = Path(__file__).parent

NOTES = {
    "g1": (
        "HISTORY OF PRESENT ILLNESS:\nPatient denies chest pain. She has hypertension and "
        "possible pneumonia.\n\nMEDICATIONS:\nMetformin 500 mg PO BID.\n"
    ),
    "g2": (
        "FAMILY HISTORY:\nMother with breast cancer.\n\nASSESSMENT:\nAsthma, stable. "
        "No fever. Heart failure was ruled out.\n"
    ),
}


def span(note: str, phrase: str, label: str, **extra):
    text = NOTES[note]
    start = text.index(phrase)
    return {"start": start, "end": start + len(phrase), "label": label, "text": phrase, **extra}


GOLD = {
    "g1": [
        span("g1", "chest pain", "PROBLEM", negated=True),
        span("g1", "hypertension", "PROBLEM", negated=False),
        span("g1", "pneumonia", "PROBLEM", uncertain=True),
        span("g1", "Metformin", "MEDICATION", attributes={"route": "PO", "frequency": "BID"}),
    ],
    "g2": [
        span("g2", "breast cancer", "PROBLEM", family=True),
        span("g2", "Asthma", "PROBLEM"),
        span("g2", "fever", "PROBLEM", negated=True),
        # a gold mention the pipeline should miss (a made-up label is rejected below)
        span("g2", "stable", "PROBLEM"),
    ],
}

lines = [json.dumps({"id": k, "text": NOTES[k], "mentions": GOLD[k]}) for k in NOTES]
bad = [
    '{"id": "bad1", "text": "abc", "mentions": [',  # malformed line
    json.dumps({"id": "g3", "text": "No cough today.", "mentions": [
        {"start": 3, "end": 99, "label": "PROBLEM"},  # offsets outside the text
        {"start": 3, "end": 8, "label": "PROBLEM", "text": "fever"},  # text does not match
        {"start": 3, "end": 8, "label": "SYMPTOM"},  # unknown label
        {"start": 3, "end": 8, "label": "PROBLEM", "negated": True},  # fine
    ]}),
]
(HERE / "gold.jsonl").write_text("\n".join(lines[:1] + bad[:1] + lines[1:] + bad[1:]) + "\n")

brat = HERE / "brat"
brat.mkdir(exist_ok=True)
for k, text in NOTES.items():
    (brat / f"{k}.txt").write_text(text)
    ann, a = [], 0
    for i, m in enumerate(GOLD[k], start=1):
        ann.append(f"T{i}\t{m['label']} {m['start']} {m['end']}\t{m['text']}")
        for flag in ("negated", "uncertain", "family"):
            if m.get(flag):
                a += 1
                ann.append(f"A{a}\t{flag.capitalize()} T{i}")
    if k == "g2":
        ann.append("T9\tPROBLEM 5 2000\tnothing")  # offsets outside the text
        ann.append("garbage line")
    (brat / f"{k}.ann").write_text("\n".join(ann) + "\n")

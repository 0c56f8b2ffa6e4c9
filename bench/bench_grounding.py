"""Grounding accuracy on real text: MACCROBAT dev gold strings, perturbed in case and
whitespace as a model might return them, must ground back to their gold offsets.

Reads ../shared/eval/maccrobat/dev.jsonl when present (nothing of it is stored); prints the
share grounded to the exact gold offsets, the share grounded elsewhere, and the share left
ungrounded, for a baseline (exact string search, first occurrence) and for
``extractors.llm.grounding.ground``, with the answers' ``context`` quotes and without.

    python bench/bench_grounding.py [--path ../shared/eval/maccrobat/dev.jsonl] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from extractors.llm.chunking import chunk_text
from extractors.llm.grounding import ground

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "eval" / "maccrobat" / "dev.jsonl"


def perturb(text: str, rng: random.Random) -> str:
    """Change case and whitespace the way models do (never the letters)."""
    choice = rng.randrange(5)
    if choice == 0:
        out = text.lower()
    elif choice == 1:
        out = text.upper()
    elif choice == 2:
        out = text.title()
    else:
        out = "".join(c.swapcase() if rng.random() < 0.2 else c for c in text)
    # whitespace: collapse runs, double some single spaces, drop some around punctuation
    out = re.sub(r"\s+", " ", out)
    out = re.sub(r" ", lambda _: rng.choice([" ", "  ", " "]), out)
    out = re.sub(r"\s*([(),/-])\s*", lambda m: rng.choice([m.group(1), f" {m.group(1)} "]), out)
    return f" {out}" if rng.random() < 0.1 else out


def context_of(text: str, start: int, end: int, rng: random.Random) -> str:
    """A verbatim quote around the mention (up to 5 words each side), whitespace perturbed."""
    left = text[:start].split()[-5:]
    right = text[end:].split()[:5]
    quote = " ".join([*left, text[start:end], *right])
    return re.sub(r" ", lambda _: rng.choice([" ", "  "]), quote)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=DEFAULT)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--chunk", type=int, default=6000, help="max chunk chars (as the extractor)"
    )
    args = parser.parse_args()
    if not args.path.is_file():
        print(f"skipped: {args.path} not found (the eval data is optional)")
        return 0
    rng = random.Random(args.seed)
    rows = [json.loads(line) for line in args.path.open(encoding="utf-8")]
    rows = [r for r in rows if r.get("split", "dev") == "dev"]
    counts = {k: {"gold": 0, "elsewhere": 0, "ungrounded": 0} for k in ("baseline", "ctx", "noctx")}
    statuses: dict[str, int] = {}
    seconds = {"baseline": 0.0, "ctx": 0.0, "noctx": 0.0}
    total = 0
    for row in rows:
        text = row["text"]
        chunks = chunk_text(text, args.chunk, 400)
        for ent in row["entities"]:
            start, end = ent["start"], ent["end"]
            gold = text[start:end]
            if not gold.strip():
                continue
            total += 1
            # the chunk the answer would come from: the first that holds the whole mention
            chunk = next(c for c in chunks if c.start <= start and end <= c.end)
            answer = perturb(gold, rng)
            context = context_of(text, start, end, rng)
            t0 = time.perf_counter()
            hit = text.find(answer, chunk.start, chunk.end)
            seconds["baseline"] += time.perf_counter() - t0
            base = None if hit < 0 else (hit, hit + len(answer))
            _tally(counts["baseline"], base, start, end, gold)
            for key, ctx in (("ctx", context), ("noctx", None)):
                t0 = time.perf_counter()
                g = ground(answer, text, chunk.start, chunk.end, context=ctx)
                seconds[key] += time.perf_counter() - t0
                _tally(counts[key], None if g is None else (g.start, g.end), start, end, gold)
                if key == "ctx" and g is not None:
                    statuses[g.status] = statuses.get(g.status, 0) + 1
    print(f"MACCROBAT dev: {len(rows)} documents, {total} gold entity strings, seed {args.seed}")
    for key, label in (
        ("baseline", "exact str.find (baseline)"),
        ("noctx", "ground(), no context"),
        ("ctx", "ground() with context quote"),
    ):
        c = counts[key]
        print(
            f"  {label:32s} at gold offsets {c['gold'] / total:7.2%}   elsewhere "
            f"{c['elsewhere'] / total:6.2%}   ungrounded {c['ungrounded'] / total:6.2%}   "
            f"{seconds[key] / seconds['baseline']:8.1f}x baseline time"
        )
    print(f"  statuses (with context): {statuses}")
    return 0


def _tally(c: dict[str, int], got: tuple[int, int] | None, start: int, end: int, gold: str) -> None:
    if got is None:
        c["ungrounded"] += 1
    elif got == (start, end):
        c["gold"] += 1
    else:
        c["elsewhere"] += 1


if __name__ == "__main__":
    raise SystemExit(main())

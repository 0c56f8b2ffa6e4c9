"""Splitters compared: ns_sentences, medspaCy PyRuSH, spaCy sentencizer (quality and speed).

Usage: python bench/bench_sentences.py [--notes PATH] [--sample N]

Quality: boundary precision/recall/F1 on the hand-checked synthetic gold set
(tests/data/sentences/gold.jsonl), and boundary agreement between splitters on a sample of
MTSamples notes (no gold there: agreement, not accuracy). Speed: ms per note over the sample,
tokenizer excluded (every splitter runs on the same pre-tokenised docs).
"""

import argparse
import json
import re
import sys
import time
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NOTES = ROOT.parent.parent / "shared" / "eval" / "mtsamples" / "notes.jsonl"
GOLD = ROOT / "tests" / "data" / "sentences" / "gold.jsonl"
_HEADER_BEFORE = re.compile(r"[A-Z][A-Z0-9 /&,()'+-]{2,60}:[ \t]+$")


def load_gold() -> list[tuple[str, set[int]]]:
    """(text, boundary offsets) for each gold case: offsets of sentence starts after the first."""
    cases = []
    for line in GOLD.read_text(encoding="utf-8").splitlines():
        segments = json.loads(line)["segments"]
        text = "".join(segments)
        starts: set[int] = set()
        offset = 0
        for seg in segments:
            if seg.strip():
                starts.add(offset + len(seg) - len(seg.lstrip()))
            offset += len(seg)
        starts.discard(len(text) - len(text.lstrip()))
        cases.append((text, starts))
    return cases


def boundaries(doc: Doc) -> set[int]:
    """Offsets of the first non-space character of each sentence after the first one."""
    out: set[int] = set()
    for sent in doc.sents:
        for tok in sent:
            if not tok.is_space:
                out.add(tok.idx)
                break
    first = next((t.idx for t in doc if not t.is_space), None)
    out.discard(first)  # type: ignore[arg-type]
    return out


def prf(gold: set[int], pred: set[int]) -> tuple[int, int, int]:
    """True positives, false positives, false negatives."""
    tp = len(gold & pred)
    return tp, len(pred - gold), len(gold - pred)


def f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall, F1."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def splitters() -> dict[str, Language]:
    """One pipeline per splitter, all with scispaCy's tokenizer as in production."""
    import medspacy  # noqa: F401  registers medspacy_pyrush
    from scispacy.custom_tokenizer import combined_rule_tokenizer

    import extractors.sentences  # noqa: F401  registers ns_sentences

    try:  # PyRuSH logs every token at DEBUG through loguru: silence it (and its cost)
        from loguru import logger

        logger.remove()
    except ImportError:
        pass

    out = {}
    for name, pipe in (
        ("ns_sentences", "ns_sentences"),
        ("pyrush", "medspacy_pyrush"),
        ("sentencizer", "sentencizer"),
    ):
        nlp = spacy.blank("en")
        nlp.tokenizer = combined_rule_tokenizer(nlp)
        nlp.add_pipe(pipe)
        out[name] = nlp
    return out


def main() -> int:
    """Print the gold-set scores, the agreement matrix and the timings."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notes", type=Path, default=DEFAULT_NOTES)
    parser.add_argument("--sample", type=int, default=300, help="notes to compare (every k-th)")
    args = parser.parse_args()
    nlps = splitters()

    print("## Synthetic gold set (hand-checked), boundary P/R/F1")
    gold = load_gold()
    print(
        f"{'splitter':14} {'P':>6} {'R':>6} {'F1':>6}  ({sum(len(g) for _, g in gold)} boundaries)"
    )
    for name, nlp in nlps.items():
        tp = fp = fn = 0
        for text, want in gold:
            a, b, c = prf(want, boundaries(nlp(text)))
            tp, fp, fn = tp + a, fp + b, fn + c
        p, r, f = f1(tp, fp, fn)
        print(f"{name:14} {p:6.3f} {r:6.3f} {f:6.3f}")

    if not args.notes.exists():
        print(f"\n{args.notes} not found: skipping the MTSamples comparison")
        return 0
    notes = [json.loads(line)["text"] for line in args.notes.open(encoding="utf-8")]
    step = max(1, len(notes) // args.sample)
    texts = notes[::step][: args.sample]
    tokenizer = next(iter(nlps.values())).tokenizer
    t0 = time.perf_counter()
    docs = [tokenizer(t) for t in texts]
    tok_ms = (time.perf_counter() - t0) * 1e3 / len(texts)
    found: dict[str, list[set[int]]] = {}
    print(f"\n## Speed on {len(texts)} MTSamples notes (ms/note; scispaCy tokenizer: {tok_ms:.2f})")
    for name, nlp in nlps.items():
        pipe = nlp.pipeline[0][1]
        copies = [
            Doc(d.vocab, words=[t.text for t in d], spaces=[bool(t.whitespace_) for t in d])
            for d in docs
        ]
        t0 = time.perf_counter()
        done = [pipe(d) for d in copies]
        ms = (time.perf_counter() - t0) * 1e3 / len(texts)
        found[name] = [boundaries(d) for d in done]
        n_sents = sum(len(b) + 1 for b in found[name]) / len(texts)
        print(
            f"{name:14} {ms:8.3f} ms/note  {ms / tok_ms:6.2f}x tokenizer  {n_sents:6.1f} sents/note"
        )

    names = list(found)
    after_header = [
        {b for b in bs if _HEADER_BEFORE.search(t[max(0, b - 64) : b])}
        for t, bs in zip(texts, found["ns_sentences"], strict=True)
    ]
    for title, drop in (
        ("all boundaries", None),
        ("without ns_sentences' split after an inline 'HEADER:' (a design choice)", after_header),
    ):
        print(f"\n## Boundary agreement on MTSamples, {title} (row = reference; F1)")
        print(f"{'':14} " + " ".join(f"{n:>14}" for n in names))
        for ref in names:
            row = []
            for pred in names:
                tp = fp = fn = 0
                for k, (g, p_) in enumerate(zip(found[ref], found[pred], strict=True)):
                    if drop is not None:
                        g, p_ = g - drop[k], p_ - drop[k]
                    a, b, c = prf(g, p_)
                    tp, fp, fn = tp + a, fp + b, fn + c
                row.append(f1(tp, fp, fn)[2])
            print(f"{ref:14} " + " ".join(f"{v:14.3f}" for v in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())

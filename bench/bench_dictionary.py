"""Benchmark of the terminology dictionary: build, cache load, matching cost, peak memory.

Usage: ``python bench/bench_dictionary.py [--notes ../shared/eval/mtsamples/notes.jsonl]
[--byo-dir ../shared/terminology]``. Each phase runs in its own process so its peak RSS is its
own. Matching runs over MTSamples when present (else over synthetic sentences).
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _shared() -> Path:
    for c in (ROOT.parent / "shared", ROOT.parent.parent / "shared"):
        if c.exists():
            return c
    return ROOT.parent / "shared"


def _nlp():
    import spacy
    from scispacy.custom_tokenizer import combined_rule_tokenizer

    from extractors.extensions import register_extensions

    register_extensions()
    nlp = spacy.blank("en")
    nlp.tokenizer = combined_rule_tokenizer(nlp)
    return nlp


def _config(cache: str, byo_dir: str | None):
    from extractors.terminology.compiled import DictionaryConfig

    sources = []
    if byo_dir:
        d = Path(byo_dir)
        if (d / "ValueSet-snomed-intl-gps.json").exists():
            sources.append({"kind": "fhir", "path": str(d / "ValueSet-snomed-intl-gps.json")})
        if (d / "doid-allXREFinDO.tsv").exists():
            sources.append({"kind": "doid", "path": str(d / "doid-allXREFinDO.tsv")})
    return DictionaryConfig(cache_dir=cache, sources=tuple(sources))


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def phase_build(cache: str, byo_dir: str | None) -> dict:
    from extractors.terminology.compiled import get_table

    nlp = _nlp()
    base = _peak_mb()
    t0 = time.perf_counter()
    table, built = get_table(nlp, _config(cache, byo_dir))
    seconds = time.perf_counter() - t0
    per_source = Counter(e.source.split("+")[0].split("@")[0] for e in table.entries)
    return {
        "built": built,
        "build_s": round(seconds, 2),
        "read_s": table.meta["seconds_read"],
        "tokenise_s": table.meta["seconds_tokenise"],
        "concepts_per_source": table.meta["concepts_per_source"],
        "entries_per_winning_source": dict(per_source),
        "entries": table.meta["entries"],
        "lower_terms": table.meta["lower_terms"],
        "case_terms": table.meta["case_terms"],
        "cache_file_mb": round(
            (_config(cache, byo_dir).cache_path(_tok(nlp)) / "dictionary.pkl").stat().st_size
            / 2**20,
            1,
        ),
        "peak_rss_mb": _peak_mb(),
        "baseline_rss_mb": base,
    }


def _tok(nlp) -> str:
    from extractors.terminology.compiled import tokenizer_id

    return tokenizer_id(nlp)


def phase_load(cache: str, byo_dir: str | None, notes: str | None) -> dict:
    from extractors.dictionary import DictionaryMatcher

    nlp = _nlp()
    base = _peak_mb()
    t0 = time.perf_counter()
    matcher = DictionaryMatcher(nlp, "ns_dictionary", _config(cache, byo_dir))
    load_s = time.perf_counter() - t0
    assert not matcher.meta["built_now"], "run the build phase first"
    load_rss = _peak_mb()
    if notes and Path(notes).exists():
        texts = [json.loads(line)["text"] for line in Path(notes).open(encoding="utf-8")]
    else:
        texts = ["Pt with HTN, T2DM and CAD presents with chest pain; on metformin."] * 2000
    t0 = time.perf_counter()
    docs = list(nlp.tokenizer.pipe(texts, batch_size=256))
    tok_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    raw = sum(len(matcher.index.match(d)) for d in docs)
    match_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    spans = 0
    for d in docs:
        d.spans.clear()
        spans += len(matcher(d).spans["mentions"])
    component_s = time.perf_counter() - t0
    return {
        "load_s": round(load_s, 2),
        "rss_after_load_mb": load_rss,
        "baseline_rss_mb": base,
        "notes": len(texts),
        "chars": sum(map(len, texts)),
        "tokens": sum(map(len, docs)),
        "tokenise_s": round(tok_s, 2),
        "index_match_s": round(match_s, 3),
        "component_s": round(component_s, 3),
        "raw_matches": raw,
        "spans": spans,
        "peak_rss_mb": _peak_mb(),
    }


def main() -> int:
    """Run the phases in child processes and print one JSON report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--phase", choices=["build", "load"])
    parser.add_argument("--cache")
    parser.add_argument("--byo-dir", default=str(_shared() / "terminology"))
    parser.add_argument("--no-byo", action="store_true")
    parser.add_argument("--notes", default=str(_shared() / "eval" / "mtsamples" / "notes.jsonl"))
    args = parser.parse_args()
    byo = None if args.no_byo or not Path(args.byo_dir).exists() else args.byo_dir
    if args.phase == "build":
        print(json.dumps(phase_build(args.cache, byo)))
        return 0
    if args.phase == "load":
        print(json.dumps(phase_load(args.cache, byo, args.notes)))
        return 0
    report = {}
    with tempfile.TemporaryDirectory() as cache:
        for phase in ("build", "load"):
            cmd = [
                sys.executable,
                __file__,
                "--phase",
                phase,
                "--cache",
                cache,
                "--notes",
                args.notes,
                "--byo-dir",
                args.byo_dir,
            ]
            if byo is None:
                cmd.append("--no-byo")
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
            report[phase] = json.loads(out.stdout.strip().splitlines()[-1])
    report["byo_sources"] = byo or "none"
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Cost of drawing notes (``notestruct view``) and scoring gold beside the NLP that feeds them.

Usage: ``python bench/bench_view.py [--notes samples/notes.jsonl]``. Runs the pipeline over
the notes once (the baseline), then renders the viewer page, the Label Studio tasks and scores
the pipeline's own output as gold, and reports each as a ratio of the NLP time of the same run.
Prints no note text.
"""

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--notes", type=Path, default=ROOT / "samples" / "notes.jsonl")
    args = ap.parse_args()
    from extractors.nlp import build_nlp
    from pipelines.gold import GoldMention, GoldNote
    from pipelines.gold_eval import score
    from pipelines.review import labelstudio_tasks
    from pipelines.view_html import flags_of, render_view
    from pipelines.viewer import Skipped, analyse, read_notes

    nlp = build_nlp()
    notes = [
        n for n in read_notes(args.notes, "urn:bench", 1_000_000) if not isinstance(n, Skipped)
    ]
    list(analyse(nlp, notes[:1]))  # warm up
    t0 = time.perf_counter()
    views = [v for v in analyse(nlp, notes) if not isinstance(v, Skipped)]
    nlp_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    page = render_view(views)
    render_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    labelstudio_tasks(views, "bench")
    ls_s = time.perf_counter() - t0
    gold = [
        GoldNote(v.note_id, v.text, tuple(
            GoldMention(m["start"], m["end"], m["label"], frozenset(flags_of(m)),
                        frozenset(("negated", "uncertain")))
            for m in v.mentions))
        for v in views
    ]  # fmt: skip
    t0 = time.perf_counter()
    s = score(gold, {v.note_id: list(v.mentions) for v in views})
    score_s = time.perf_counter() - t0
    mentions = sum(len(v.mentions) for v in views)
    print(f"notes {len(views)}, mentions {mentions}, page {len(page) / 1024:.0f} KiB, "
          f"self-score F1 {s.total('exact').f1:.3f}")  # fmt: skip
    print(f"NLP (baseline)      {nlp_s:7.3f} s  1.000")
    for name, sec in (("render view page", render_s), ("Label Studio tasks", ls_s),
                      ("score as gold", score_s)):  # fmt: skip
        print(f"{name:<19} {sec:7.3f} s  {sec / nlp_s:.3f} of the NLP time")


if __name__ == "__main__":
    main()

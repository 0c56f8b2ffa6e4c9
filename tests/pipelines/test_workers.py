"""The local NLP worker pool: one pipeline per process, recovery from a dead worker."""

from __future__ import annotations

import os
import uuid
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime

import pytest

from extractors.nlp import NlpSettings
from pipelines.batch import BatchContext
from pipelines.workers import NlpPool, WorkerError, make_task_runner, shared_pool
from schemas.model import Note

# vitals only: a worker builds this pipeline in a moment (no dictionary)
SETTINGS = NlpSettings(extractors=("vitals",))


def _ctx() -> BatchContext:
    return BatchContext(
        run_id=str(uuid.uuid4()), now=datetime.now(UTC), rules_version="r", pipeline_version="p"
    )


def _notes() -> list[Note]:
    return [
        Note(note_id="a", text="Vitals: BP 120/80, HR 72.", patient_ref="p"),
        Note(note_id="b", text="Temp 38.2 C. SpO2 95% on room air.", patient_ref="p"),
        Note(note_id="c", text="old", patient_ref="p", status="entered-in-error"),
    ]


@pytest.mark.parametrize("map_in_workers", [False, True])
def test_pool_results_match_either_way_and_keep_the_flows_notes(map_in_workers: bool) -> None:
    pool = NlpPool(1, SETTINGS, map_in_workers=map_in_workers)
    try:
        results, errors = pool.analyse(_notes(), _ctx()).collect()
    finally:
        pool.close()
    assert errors == []
    assert [r.note.note_id for r in results] == ["c", "a", "b"]  # retractions first
    by_id = {r.note.note_id: r for r in results}
    assert by_id["c"].mentions == () and by_id["c"].resources == ()
    assert {m.label for m in by_id["a"].mentions} == {"VITAL"}
    assert len(by_id["a"].resources) == 1 + len(by_id["a"].mentions)  # + DocumentReference
    assert len(by_id["b"].note_nlp) == len(by_id["b"].mentions) >= 2
    assert by_id["a"].note.text == "Vitals: BP 120/80, HR 72."


def test_a_dead_worker_costs_its_batch_and_the_pool_goes_on() -> None:
    pool = NlpPool(1, SETTINGS)
    try:
        with pytest.raises(BrokenProcessPool):
            pool._call(os._exit, 3)  # the worker dies twice (the call is tried once more)
        assert pool.restarts == 2
        results, errors = pool.analyse(_notes(), _ctx()).collect()  # on fresh workers
        assert errors == [] and len(results) == 3
    finally:
        pool.close()


def test_a_pipeline_that_cannot_be_built_fails_with_its_own_error() -> None:
    from extractors.registry import RegistryError

    pool = NlpPool(1, NlpSettings(extractors=("no-such-extractor",)))
    try:
        with pytest.raises(RegistryError):
            pool.versions()
        assert pool.restarts == 0  # the worker lives on, reporting its error
    finally:
        pool.close()


def test_shared_pool_is_reused_for_the_same_settings_only() -> None:
    first = shared_pool(1, SETTINGS)
    try:
        assert shared_pool(1, SETTINGS) is first
        other = shared_pool(1, NlpSettings(extractors=("vitals", "allergies")))
        assert other is not first
    finally:
        from pipelines.workers import close_shared_pool

        close_shared_pool()


def test_worker_counts() -> None:
    with pytest.raises(WorkerError):
        make_task_runner(-1, None)
    with pytest.raises(WorkerError):
        make_task_runner(2, "tcp://127.0.0.1:8786")


def test_importing_the_pipeline_modules_registers_no_exit_hook() -> None:
    """The pool keeper registers its exit hook when a pool first starts, not at import: a
    process that never starts workers (extract, query, a library user) gets none."""
    import subprocess
    import sys

    code = (
        "import atexit\n"
        "seen = []\n"
        "real = atexit.register\n"
        "def spy(fn, *a, **k):\n"
        "    seen.append(getattr(fn, '__module__', '') or '')\n"
        "    return real(fn, *a, **k)\n"
        "atexit.register = spy\n"
        "import pipelines.workers, pipelines.flows, pipelines.cli\n"
        "print(','.join(m for m in seen if m.startswith('pipelines')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""


def test_the_flow_process_does_not_import_the_nlp_stack() -> None:
    """The flow process reads, maps and loads; its workers build pipelines. Importing spaCy
    and medspaCy there would cost ~140 MiB and seconds for nothing."""
    import subprocess
    import sys

    code = (
        "import sys, pipelines.flows, pipelines.cli, pipelines.workers, pipelines.batch\n"
        "from extractors.settings import NlpSettings\n"
        "pool = pipelines.workers.shared_pool(1, NlpSettings(extractors=('vitals',)))\n"
        "pool.versions()\n"
        "heavy = sorted(m for m in ('spacy', 'medspacy', 'scispacy') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""


def test_a_pipeline_whose_vocabulary_grew_past_the_limit_is_built_anew_with_the_same_output() -> (
    None
):
    from pipelines.resources import get_nlp, renew_if_grown

    text = "Vitals: BP 118/76, HR 64, temp 37.1 C, SpO2 97% on room air. Weight 81 kg."
    before = get_nlp(SETTINGS)
    spans = [(e.start_char, e.end_char, e.label_) for e in before(text).ents]
    before(" ".join(f"word{i}" for i in range(500)))  # 500 new word forms
    grown = len(before.vocab)
    assert not renew_if_grown(SETTINGS, limit=grown)  # at the limit: kept
    assert get_nlp(SETTINGS) is before
    assert renew_if_grown(SETTINGS, limit=grown - 1)
    after = get_nlp(SETTINGS)
    assert after is not before and len(after.vocab) < grown - 400
    assert [(e.start_char, e.end_char, e.label_) for e in after(text).ents] == spans
    assert not renew_if_grown(SETTINGS, limit=0)  # 0: never


def test_worker_pipelines_are_renewed_between_batches_past_the_vocabulary_limit(
    monkeypatch,
) -> None:
    monkeypatch.setenv("NOTESTRUCT_VOCAB_LIMIT", "1")  # every batch finds it grown
    pool, ctx = NlpPool(1, SETTINGS), _ctx()
    try:
        first, _ = pool.analyse(_notes(), ctx).collect()
        again, errors = pool.analyse(_notes(), ctx).collect()
        assert pool.renewals >= 1 and errors == []
        assert [r.mentions for r in again] == [r.mentions for r in first]
    finally:
        pool.close()

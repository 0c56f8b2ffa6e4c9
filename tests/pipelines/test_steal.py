"""The flow process analyses parts of batches itself when it would wait for its NLP workers
(``pipelines.run.Run._steal``): the newest part no worker has started, the same rows."""

import json
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import SecretStr

from pipelines import run, steps
from tests.pipelines.test_flow import _facts, _rows

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _job(*parts):
    job = run._Pending(run.Counts(), [], [], [n for p in parts for n in p.notes])
    job.parts = list(parts)
    return job


def test_the_flow_takes_the_newest_part_no_worker_started_and_only_those(monkeypatch):
    taken = []

    def analyse_here(settings, notes, ctx, *rest):
        taken.append(list(notes))
        return f"analysed here: {notes}"

    monkeypatch.setattr(steps, "ANALYSE_BATCH", steps.Step("analyse-batch", analyse_here))
    gate = threading.Event()
    with ThreadPoolExecutor(1) as workers:  # one worker, busy until the gate opens
        running = workers.submit(gate.wait)
        queued = [workers.submit(lambda i=i: f"worker {i}") for i in range(3)]
        first = _job(run._Part(["a"], running), run._Part(["b"], queued[0]))
        second = _job(run._Part(["c"], queued[1]), run._Part(["d"], queued[2]))
        this = run.Run.__new__(run.Run)
        this.settings, this.ctx, this.stolen, this.stolen_s = None, None, 0, 0.0
        this._pending = deque([first, second])
        assert this._steal() and taken == [["d"]]  # the newest first
        assert second.parts[1].future.result() == "analysed here: ['d']"
        assert this._steal() and this._steal() and taken == [["d"], ["c"], ["b"]]
        assert not this._steal()  # what is left runs on the worker already
        assert this.stolen == 3 and not first.parts[0].future.done()
        gate.set()
        assert first.parts[0].future.result() is True


def _ingest(source, db, **kw):
    return run.nightly_ingest(source=str(source), warehouse_url=SecretStr(f"sqlite:///{db}"), **kw)


def test_a_run_whose_flow_analyses_parts_too_gives_the_rows_of_one_without(tmp_path, monkeypatch):
    source = SAMPLES / "notes.jsonl"
    in_flow = tmp_path / "in-flow.db"
    assert _ingest(source, in_flow, batch_size=8, workers=0)["processed"] == 25
    monkeypatch.setattr(run, "PART", 2)  # 4 parts a batch: some run here, some in the worker
    both = tmp_path / "both.db"
    assert _ingest(source, both, batch_size=8, workers=1)["processed"] == 25
    assert _facts(both) == _facts(in_flow)
    (metrics,) = _rows(both, "select metrics from pipeline_run")
    metrics = json.loads(metrics[0])
    assert metrics["parts_analysed_in_flow"] is not None
    assert {"analyse_wait", "analyse_here"} <= set(metrics["seconds"])
    config = tmp_path / "pipeline.toml"
    config.write_text("[run]\nflow_nlp_when_idle = false\n")
    alone = tmp_path / "alone.db"
    out = _ingest(source, alone, batch_size=8, workers=1, config_path=str(config))
    assert out["processed"] == 25 and _facts(alone) == _facts(in_flow)
    (metrics,) = _rows(alone, "select metrics from pipeline_run")
    metrics = json.loads(metrics[0])
    assert metrics["parts_analysed_in_flow"] is None and "analyse_here" not in metrics["seconds"]

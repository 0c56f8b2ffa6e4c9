"""A run with no Prefect API (the CLI on a laptop, cron) runs the flow's function directly:
the same rows as a Prefect flow run, the tasks' retries kept, no Prefect server started."""

from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from tests.pipelines.test_flow import _facts, _ingest

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_a_run_without_a_prefect_api_gives_the_rows_of_a_prefect_run(harness, tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from pipelines import flows

    source = SAMPLES / "notes.jsonl"
    with_api = tmp_path / "prefect.db"
    out = _ingest(source, with_api, batch_size=8, workers=0)
    assert out["processed"] == 25 and flows._orchestrated()
    without = tmp_path / "local.db"
    with temporary_settings(restore_defaults=[PREFECT_API_URL]):
        assert not flows._orchestrated()
        out = _ingest(source, without, batch_size=8, workers=0)
    assert out["processed"] == 25
    assert _facts(without) == _facts(with_api)


def test_without_prefect_a_task_keeps_its_retries_on_transient_errors_only(monkeypatch):
    from pipelines import tasks

    monkeypatch.setattr(tasks.time, "sleep", lambda s: None)
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("select 1", {}, Exception("connection dropped"))
        return "loaded"

    retried = tasks.load_batch.with_options(name="load-batch-test")
    monkeypatch.setattr(retried, "fn", flaky)
    assert tasks.run_plain(retried) == "loaded" and len(calls) == 3

    def broken(*args, **kwargs):
        calls.append(1)
        raise ValueError("a bug is not retried")

    monkeypatch.setattr(retried, "fn", broken)
    calls.clear()
    with pytest.raises(ValueError):
        tasks.run_plain(retried)
    assert len(calls) == 1

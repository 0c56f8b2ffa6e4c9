"""A run with no Prefect API (the CLI on a laptop, cron) runs the flow's function directly:
the same rows as a Prefect flow run, the steps' retries kept, no Prefect server started, and
from the CLI, Prefect not even imported."""

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from tests.pipelines.test_flow import _facts, _ingest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"


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


def test_without_prefect_a_step_keeps_its_retries_on_transient_errors_only(monkeypatch):
    from pipelines import steps

    monkeypatch.setattr(steps.time, "sleep", lambda s: None)
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("select 1", {}, Exception("connection dropped"))
        return "loaded"

    retried = steps.Step("load-batch-test", flaky, retries=3, delays=steps.BACKOFF)
    assert steps.run_step(retried) == "loaded" and len(calls) == 3

    def broken(*args, **kwargs):
        calls.append(1)
        raise ValueError("a bug is not retried")

    calls.clear()
    with pytest.raises(ValueError):
        steps.run_step(steps.Step("broken", broken, retries=3))
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(OperationalError):  # NLP (no retries): fails at once, even if transient
        steps.run_step(steps.Step("analyse-test", flaky))
    assert len(calls) == 1


def test_the_prefect_tasks_are_the_steps_with_their_retries_and_no_persistence():
    from prefect.cache_policies import NO_CACHE

    from pipelines import steps, tasks

    for step in steps.STEPS:
        task = tasks.TASKS[step.name]
        assert task.fn is step.fn and task.retries == step.retries
        assert task.persist_result is False and task.cache_policy is NO_CACHE
        if step.retries:
            assert list(task.retry_delay_seconds) == list(step.delays)


def test_the_flows_have_the_run_functions_signatures_and_docstrings():
    from pipelines import flows, run

    for flow, fn in (
        (flows.nightly_ingest, run.nightly_ingest),
        (flows.reprocess_notes, run.reprocess_notes),
    ):
        assert inspect.signature(flow.fn) == inspect.signature(fn)
        assert flow.fn.__doc__ == fn.__doc__ and "Args:" in fn.__doc__
        assert flow.fn.__module__ == "pipelines.flows"  # the served entrypoint is the flow


def _clean_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NOTESTRUCT_"))}
    env["NOTESTRUCT_HOME"] = str(tmp_path / "home")
    env["HOME"] = str(tmp_path / "home")
    return env


def test_a_cli_ingest_without_a_prefect_api_never_imports_prefect(tmp_path):
    note = json.loads((SAMPLES / "notes.jsonl").read_text(encoding="utf-8").splitlines()[0])
    source = tmp_path / "one.jsonl"
    source.write_text(json.dumps(note) + "\n", encoding="utf-8")
    code = (
        "import sys\n"
        "from pipelines.cli import main\n"
        f"sys.argv = ['notestruct', 'ingest', {str(source)!r}, '--warehouse', "
        f"'sqlite:///{tmp_path / 'w.db'}']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('PREFECT' if 'prefect' in sys.modules else 'NO PREFECT')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_clean_env(tmp_path),
        timeout=300,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "NO PREFECT"
    assert "notes processed" in out.stdout


def test_the_cli_asks_prefect_when_a_settings_file_may_configure_an_api(tmp_path):
    code = (
        "import sys\n"
        "from pipelines.config import prefect_api_configured, prepare_prefect\n"
        "prepare_prefect()\n"
        "print(prefect_api_configured(), 'prefect' in sys.modules)\n"
    )

    def ask(cwd, **env):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=cwd,
            env={**_clean_env(tmp_path), **env},
            timeout=120,
            check=True,
        )
        return out.stdout.split()

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (plain / ".env").write_text("OTHER=1\n")
    assert ask(plain) == ["False", "False"]  # decided without importing Prefect
    assert ask(plain, PREFECT_API_URL="http://127.0.0.1:9/api") == ["True", "False"]
    configured = tmp_path / "configured"
    configured.mkdir()
    (configured / "prefect.toml").write_text('[api]\nurl = "http://127.0.0.1:9/api"\n')
    assert ask(configured) == ["True", "True"]  # Prefect read its own file
    unset = tmp_path / "unset"
    unset.mkdir()
    (unset / "prefect.toml").write_text('[logging]\nlevel = "INFO"\n')
    assert ask(unset) == ["False", "True"]  # asked, and no API there

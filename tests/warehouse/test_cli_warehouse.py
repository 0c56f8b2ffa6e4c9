"""The warehouse commands as a user runs them: query, export parquet, report."""

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from tests.warehouse.builders import build_story_warehouse

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args, tmp_path):
    env = {**os.environ, "NOTESTRUCT_HOME": str(tmp_path), "HOME": str(tmp_path),
           "COLUMNS": "200"}
    env.pop("NOTESTRUCT_WAREHOUSE_URL", None)
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_query_export_report(sqlite_url, tmp_path):
    build_story_warehouse(sqlite_url).dispose()
    res = _cli("query", "SELECT patient_ref, concept_display FROM problem_list ORDER BY 1, 2",
               "--warehouse", sqlite_url, tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "diabetes" in res.stdout and "3 rows" in res.stderr
    res = _cli("query", "DELETE FROM note", "--warehouse", sqlite_url, tmp_path=tmp_path)
    assert res.returncode == 4 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = _cli("export", "parquet", "--out", str(tmp_path / "pq"), "--warehouse", sqlite_url,
               tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    assert pq.read_table(tmp_path / "pq" / "problem_list.parquet").num_rows == 3
    res = _cli("export", "parquet", "--out", str(tmp_path / "pq"), "--view", "nope",
               "--warehouse", sqlite_url, tmp_path=tmp_path)
    assert res.returncode == 1 and "unknown view" in res.stderr
    res = _cli("report", "--out", str(tmp_path / "r.html"), "--warehouse", sqlite_url,
               tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "r.html").read_text().count("<svg") >= 3


def test_read_only_commands_never_create_a_warehouse(tmp_path):
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    for args in (("query", "SELECT 1"), ("report", "--out", str(tmp_path / "r.html")),
                 ("export", "parquet", "--out", str(tmp_path / "pq"))):
        res = _cli(*args, "--warehouse", url, tmp_path=tmp_path)
        assert res.returncode == 4 and "no warehouse at" in res.stderr, res.stderr
    assert not (tmp_path / "typo.db").exists()

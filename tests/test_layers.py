"""Architecture contracts (import-linter) hold: schemas, extractors and warehouse stay layered."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
        "lint-imports"
    )
    assert exe, "import-linter is a dev dependency and must be installed"
    res = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]


def _tool(name: str) -> str:
    exe = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert exe, f"{name} is a dev dependency and must be installed"
    return exe


def test_ruff_lint_is_clean():
    res = subprocess.run(
        [
            _tool("ruff"),
            "check",
            "schemas",
            "extractors",
            "warehouse",
            "pipelines",
            "tests",
            "bench",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]


def test_mypy_strict_on_schemas_and_warehouse():
    res = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "schemas", "warehouse"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]

"""Planted-marker proof: note text and raw ids leak nowhere outside what the config stores."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

from pipelines.privacy import Pseudonymiser

REPO = Path(__file__).resolve().parents[2]
KEY = "test-key-" + "k" * 24

pytestmark = pytest.mark.slow


def _variants(needle: str) -> list[bytes]:
    """The needle as bytes, plus what any base64 encoding of a text holding it must contain."""
    raw = needle.encode()
    out = [raw]
    for k in range(3):
        part = raw[k : k + 3 * ((len(raw) - k) // 3)]
        out.append(base64.b64encode(part).rstrip(b"="))
    return out


def _files_with(root: Path, needle: str) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(v in data for v in _variants(needle)):
                hits.append(str(path.relative_to(root)))
    return hits


def _tables_with(db: Path, needle: str) -> list[str]:
    """Tables of a SQLite database with a value containing ``needle`` (every column as text)."""
    hits = []
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                text = " ".join(
                    v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row
                )
                if needle in text:
                    hits.append(table)
                    break
    return hits


def _write_notes(path: Path, marker: str, patient: str, encounter: str) -> list[dict]:
    notes = [
        {
            "id": "leak-1",
            "patient_id": patient,
            "encounter_id": encounter,
            "date": "2025-03-14T08:00:00Z",
            "note_type": "progress",
            "text": (
                f"PROGRESS NOTE\nPatient: Test Patient {marker}  MRN 000123456\n"
                f"History of hypertension and diabetes. Chest pain since yesterday {marker}.\n"
                "Denies fever. Taking metformin and lisinopril.\n"
                f"Electronically signed by Dr. Jane Placeholder, MD {marker}\n"
            ),
        },
        {
            "id": "leak-2",
            "patient_id": patient,
            "encounter_id": encounter,
            "date": "2025-03-15",
            "text": f"Pneumonia ruled out. {marker} No cough. Asthma as a child.",
        },
        # a bad record: its date fails validation, its text holds the marker
        {"id": "leak-3", "patient_id": patient, "date": "not a date", "text": f"{marker} copd"},
        # an empty note
        {"id": "leak-4", "patient_id": patient, "text": "   "},
    ]
    notes += [
        {
            "id": f"leak-{i}",
            "patient_id": patient,
            "encounter_id": encounter,
            "text": f"Seen on 03/1{i}/2025 ({marker}). Heart failure, on furosemide. No edema.",
        }
        for i in range(5, 10)
    ]
    path.write_text("".join(json.dumps(n) + "\n" for n in notes), encoding="utf-8")
    return notes


def _run(tmp: Path, source: Path, warehouse: Path, config: Path | None) -> tuple[str, str]:
    home, work, tmpdir = tmp / "home", tmp / "work", tmp / "tmp"
    for d in (home, work, tmpdir):
        d.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NOTESTRUCT_"))}
    env.update(
        HOME=str(home),
        NOTESTRUCT_HOME=str(home / ".notestruct"),
        TMPDIR=str(tmpdir),
        NOTESTRUCT_PSEUDONYM_KEY=KEY,
        PYTHONPATH=str(REPO),
        # a loaded CI machine can take longer than the default 20 s to start Prefect's server
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
    )
    cmd = [sys.executable, "-m", "pipelines.cli", "--verbose", "ingest", str(source)]
    # the corpus holds bad records on purpose (a third of it): they must not fail the run
    cmd += ["--warehouse", f"sqlite:///{warehouse}", "--max-error-rate", "0.9"]
    if config is not None:
        cmd += ["--config", str(config)]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, proc.stderr


def _assert_no_leaks(tmp: Path, logs: str, marker: str, raw_ids: list[str]) -> None:
    assert marker not in logs
    for raw in raw_ids:
        assert raw not in logs
    for scanned in ("home", "work", "tmp"):
        assert _files_with(tmp / scanned, marker) == [], f"marker found under {scanned}"
        for raw in raw_ids:
            assert _files_with(tmp / scanned, raw) == [], f"raw id found under {scanned}"


def _assert_warehouse_pseudonymous(db: Path, patient: str, encounter: str) -> None:
    for raw in (patient, encounter):
        assert all(not _files_with(db.parent, v) for v in [raw]), "raw id in the warehouse files"
        assert _tables_with(db, raw) == []
    alias = Pseudonymiser(SecretStr(KEY))
    # positive control: the pseudonyms are there, in the note table and in FHIR references
    assert "note" in _tables_with(db, alias.pseudonym("patient", patient))
    assert "fhir_resource" in _tables_with(db, f"Patient/{alias.pseudonym('patient', patient)}")
    assert "note" in _tables_with(db, alias.pseudonym("encounter", encounter))


def _ids() -> tuple[str, str, str]:
    tag = uuid.uuid4().hex[:12]
    return f"QZXMARK{tag}", f"PRAWPAT{tag}", f"PRAWENC{tag}"


def test_base64_variants_find_encoded_text() -> None:
    marker = "QZXMARK0123456789ab"
    for prefix in ("", "a", "ab", "abc"):
        encoded = base64.b64encode(f"{prefix} {marker} tail".encode())
        assert any(v in encoded for v in _variants(marker))


def test_marker_never_leaks_with_text_stored(tmp_path: Path) -> None:
    """store_text on (redacted): the marker is in the warehouse (by choice) and nowhere else."""
    marker, patient, encounter = _ids()
    inputs = tmp_path / "input"
    inputs.mkdir()
    source = inputs / "notes.jsonl"
    _write_notes(source, marker, patient, encounter)
    config = inputs / "pipeline.toml"
    config.write_text(
        "[warehouse]\nstore_text = true\n[privacy]\nredact_text = true\n", encoding="utf-8"
    )
    wh_dir = tmp_path / "warehouse"
    wh_dir.mkdir()
    db = wh_dir / "w.db"
    stdout, stderr = _run(tmp_path, source, db, config)
    assert "nightly-ingest" in stderr or "run " in stderr  # --verbose did log
    _assert_no_leaks(tmp_path, stdout + stderr, marker, [patient, encounter])
    _assert_warehouse_pseudonymous(db, patient, encounter)
    # positive control: the scan does find text where the config said to store it
    assert "note" in _tables_with(db, marker)
    # ... and redaction masked the planted PHI in the stored text
    for phi in ("Placeholder", "000123456", "03/17/2025"):
        assert _tables_with(db, phi) == [], phi
    # With no Prefect API configured (as here) the run calls the flow directly and Prefect
    # stores nothing (no temporary server, no prefect.db); everything under home was scanned
    # above. Where a Prefect database exists it holds task runs and logs, and was scanned too.
    prefect_db = tmp_path / "home" / ".notestruct" / "prefect" / "prefect.db"
    if prefect_db.is_file():
        with sqlite3.connect(prefect_db) as conn:
            assert conn.execute("SELECT count(*) FROM task_run").fetchone()[0] >= 3
            assert conn.execute("SELECT count(*) FROM log").fetchone()[0] > 0
    # the bad record's dead letter is there, with no text
    with sqlite3.connect(db) as conn:
        messages = [r[0] for r in conn.execute("SELECT message FROM note_error")]
    assert messages and not any(marker in m for m in messages)


def test_marker_never_leaks_by_default(tmp_path: Path) -> None:
    """Default config (no text stored): the marker is nowhere, the warehouse included."""
    marker, patient, encounter = _ids()
    inputs = tmp_path / "input"
    inputs.mkdir()
    source = inputs / "notes.jsonl"
    notes = _write_notes(source, marker, patient, encounter)
    db = tmp_path / "work" / "w.db"  # inside the scanned working directory
    (tmp_path / "work").mkdir()
    stdout, stderr = _run(tmp_path, source, db, None)
    assert db.is_file()
    _assert_no_leaks(tmp_path, stdout + stderr, marker, [patient, encounter])
    _assert_warehouse_pseudonymous(db, patient, encounter)
    assert _tables_with(db, marker) == []
    # with a key the text hash is keyed too: no plain SHA-256 of a text to test guesses against
    for note in notes:
        assert _tables_with(db, hashlib.sha256(note["text"].encode()).hexdigest()) == []
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM mention").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM note WHERE text IS NOT NULL").fetchone()[0] == 0

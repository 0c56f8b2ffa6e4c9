"""Issue 18 end to end: a directory mixing HL7 v2, CDA and a FHIR Bundle through `notestruct
ingest`, offsets exact into the derived text, a second run reads nothing, and
`export fhir --bundle transaction` writes one valid R4 transaction Bundle per note."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipelines.sources import SourceOptions, open_source
from schemas.model import Note
from tests.pipelines.test_formats import CDA, _bundle, _hl7_file
from tests.schemas.r4_schema import schema_errors

pytestmark = pytest.mark.slow


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NOTESTRUCT_HOME": str(home)}  # HOME kept: the dictionary cache
    env.pop("NOTESTRUCT_WAREHOUSE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("sources")
    src = home / "in"
    src.mkdir()
    (src / "feed.hl7").write_bytes(_hl7_file())
    (src / "ccda.xml").write_bytes(CDA.read_bytes())
    (src / "bundle.json").write_text(json.dumps(_bundle()), encoding="utf-8")
    config = home / "pipeline.toml"
    config.write_text("[warehouse]\nstore_text = true\n", encoding="utf-8")
    url = f"sqlite:///{home / 'w.db'}"
    common = ("--warehouse", url, "--config", str(config))
    first = _cli("ingest", str(src), *common, "--max-error-rate", "0.5", home=home)
    second = _cli("ingest", str(src), *common, "--max-error-rate", "0.5", home=home)
    export = _cli("export", "fhir", "--bundle", "transaction", "--out", "out", *common, home=home)
    return {"home": home, "src": src, "runs": (first, second), "export": export}


def test_mixed_directory_loads_with_one_dead_letter_per_bad_input(ingested: dict[str, Any]) -> None:
    first, second = ingested["runs"]
    assert first.returncode == 0, first.stderr[-2000:]
    with sqlite3.connect(ingested["home"] / "w.db") as db:
        errors = sorted(r[0] for r in db.execute("SELECT error_type FROM note_error"))
        status = dict(db.execute("SELECT note_id, source_status FROM note"))
    assert errors == [
        "EncryptedPdf",
        "InvalidEncoding",
        "MalformedSegment",
        "NoTextLayer",
        "UnknownSegment",
    ]
    assert status["DOC-1"] == "superseded" and status["DOC-9"] == "entered-in-error"
    assert status["2.16.840.1.113883.19^111199021"] == "current"
    assert second.returncode == 0, second.stderr[-2000:]
    assert "records not re-read" in second.stdout


def test_offsets_are_exact_into_the_rederived_text(ingested: dict[str, Any]) -> None:
    """Re-reading the source derives the same text: every stored span matches it."""
    src = open_source(ingested["src"])
    notes = {
        r.note_id: r for r in src.records(SourceOptions(source_uri="urn:notestruct:source:local"))
    }
    with sqlite3.connect(ingested["home"] / "w.db") as db:
        rows = list(db.execute("SELECT note_id, start_char, end_char, text FROM mention"))
        hashes = dict(db.execute("SELECT note_id, text_sha256 FROM note"))
    assert len(rows) > 5
    for note_id, start, end, text in rows:
        note = notes[note_id]
        assert isinstance(note, Note)
        assert note.text[start:end] == text
        assert hashes[note_id] == note.text_sha256


def test_transaction_bundles_validate_against_r4(ingested: dict[str, Any]) -> None:
    export = ingested["export"]
    assert export.returncode == 0, export.stderr[-2000:]
    lines = (ingested["home"] / "out" / "Bundle.ndjson").read_text().splitlines()
    bundles = [json.loads(line) for line in lines]
    assert len(bundles) == 9  # one per loaded, non-retracted note
    for bundle in bundles:
        assert bundle["type"] == "transaction"
        first = bundle["entry"][0]
        assert first["resource"]["resourceType"] == "DocumentReference"
        assert all(e["request"]["method"] == "PUT" for e in bundle["entry"])
    derived = [
        e["resource"]
        for b in bundles
        for e in b["entry"]
        if e["resource"]["resourceType"] == "DocumentReference" and e["resource"].get("relatesTo")
    ]
    assert {d["content"][0]["format"]["code"].split("@")[0] for d in derived} >= {
        "cda",
        "hl7v2",
        "html",
        "pdf",
    }
    assert schema_errors(bundles) == []

"""Issue 4 done-when: ingest the sample notes, `notestruct export fhir`, validate the NDJSON."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.schemas.r4_schema import schema_errors

ROOT = Path(__file__).resolve().parents[2]


def _run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NOTESTRUCT_HOME": str(home), "HOME": str(home)}
    env.pop("NOTESTRUCT_WAREHOUSE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "--debug", *args],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _installed() -> dict[str, frozenset[str]]:
    from extractors.registry import available_extractors

    # the llm extractor needs a model server (tests/extractors/test_llm.py runs one)
    return {
        name: frozenset(cls.labels)
        for name, cls in available_extractors().items()
        if name != "llm"
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every installed extractor over the samples (plus one broken record), then the export."""
    home = tmp_path_factory.mktemp("export")
    installed = _installed()
    config = home / "pipeline.toml"
    names = ", ".join(json.dumps(n) for n in sorted(installed))
    config.write_text(f"[nlp]\nextractors = [{names}]\n", encoding="utf-8")
    source = home / "notes.jsonl"
    samples = (ROOT / "samples" / "notes.jsonl").read_text(encoding="utf-8")
    source.write_text(samples + '{"id": "broken", "text": 42}\n', encoding="utf-8")
    db = home / "w.db"
    url = f"sqlite:///{db}"
    res = _run_cli("ingest", str(source), "--warehouse", url, "--config", str(config), home=home)
    assert res.returncode == 0, res.stderr[-2000:]
    out = home / "bulk"
    res = _run_cli(
        "export", "fhir", "--out", str(out), "--warehouse", url, "--config", str(config), home=home
    )
    assert res.returncode == 0, res.stderr[-2000:]
    resources = {
        p.stem: [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()]
        for p in out.glob("*.ndjson")
    }
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return {
        "db": db,
        "out": out,
        "resources": resources,
        "manifest": manifest,
        "labels": frozenset().union(*installed.values()),
    }


def test_export_has_the_core_resource_types(exported: dict[str, Any]) -> None:
    types = set(exported["resources"])
    assert {"Condition", "MedicationStatement", "DocumentReference"} <= types
    if exported["labels"] & {"LAB", "VITAL"}:  # structured extractors installed
        assert "Observation" in types
    if "ALLERGY" in exported["labels"]:
        assert "AllergyIntolerance" in types


def test_exported_resources_validate_against_the_r4_schema(exported: dict[str, Any]) -> None:
    everything = [r for rs in exported["resources"].values() for r in rs]
    assert len(everything) > 100
    errors = schema_errors(everything)
    assert errors == [], "\n".join(errors[:20])


def test_manifest_counts_match_the_files(exported: dict[str, Any]) -> None:
    manifest = exported["manifest"]
    assert datetime.fromisoformat(manifest["transactionTime"]).tzinfo is not None
    assert manifest["requiresAccessToken"] is False
    for item in manifest["output"]:
        assert item["url"].startswith("file://") and item["url"].endswith(f"/{item['type']}.ndjson")
        assert item["count"] == len(exported["resources"][item["type"]])
    assert {i["type"] for i in manifest["output"]} == set(exported["resources"]) - {
        "OperationOutcome"
    }
    assert manifest["error"][0]["count"] == len(exported["resources"]["OperationOutcome"]) == 1
    outcome = exported["resources"]["OperationOutcome"][0]
    assert outcome["issue"][0]["severity"] == "error"


def test_negated_problems_are_refuted(exported: dict[str, Any]) -> None:
    con = sqlite3.connect(exported["db"])
    try:
        negated = {
            row[0]
            for row in con.execute(
                "select mention_id from mention where label = 'PROBLEM' and is_negated "
                "and not is_family and not is_hypothetical"
            )
        }
        # "hyponatremia, resolved": no longer present, kept as a resolved Condition
        resolved = {
            row[0]
            for row in con.execute(
                "select mention_id from mention_attribute where key = 'resolved' "
                "and value_text = 'true'"
            )
        }
    finally:
        con.close()
    assert negated
    conditions = {
        next(t["code"] for t in r["meta"]["tag"] if t["system"] == "urn:notestruct:mention"): r
        for r in exported["resources"]["Condition"]
    }
    assert negated - resolved
    for mention_id in negated:
        condition = conditions[mention_id]
        if mention_id in resolved:
            assert condition["clinicalStatus"]["coding"][0]["code"] == "resolved"
            assert condition["verificationStatus"]["coding"][0]["code"] == "confirmed"
        else:
            assert condition["verificationStatus"]["coding"][0]["code"] == "refuted"


def test_span_provenance_on_at_least_90_percent(exported: dict[str, Any]) -> None:
    docs = {f"DocumentReference/{r['id']}" for r in exported["resources"]["DocumentReference"]}
    clinical = [
        r
        for t, rs in exported["resources"].items()
        if t not in {"DocumentReference", "OperationOutcome", "Provenance"}
        for r in rs
    ]
    spans = 0
    for r in clinical:
        for e in r.get("extension", ()):
            if e["url"] == "http://hl7.org/fhir/StructureDefinition/derivation-reference":
                ref = next(x for x in e["extension"] if x["url"] == "reference")
                if ref["valueReference"]["reference"] in docs:
                    spans += 1
    assert clinical and spans / len(clinical) >= 0.9


def test_note_nlp_row_for_every_mention(exported: dict[str, Any]) -> None:
    con = sqlite3.connect(exported["db"])
    try:
        mentions = {r[0] for r in con.execute("select mention_id from mention")}
        nlp = {r[0] for r in con.execute("select mention_id from note_nlp")}
        lexical = {r[0] for r in con.execute("select lexical_variant from note_nlp")}
    finally:
        con.close()
    assert mentions and mentions == nlp
    assert lexical == {""}  # text is not stored by default


def test_export_is_deterministic_and_rewrites_cleanly(
    exported: dict[str, Any], tmp_path: Path
) -> None:
    from warehouse.engine import make_engine
    from warehouse.export import export_fhir_ndjson

    engine = make_engine(f"sqlite:///{exported['db']}")
    try:
        now = datetime(2025, 3, 15, 2, 0, tzinfo=UTC)
        first = export_fhir_ndjson(engine, tmp_path / "a", now=now)
        second = export_fhir_ndjson(engine, tmp_path / "b", now=now)
    finally:
        engine.dispose()
    assert [(i["type"], i["count"]) for i in first["output"]] == [
        (i["type"], i["count"]) for i in second["output"]
    ]
    for item in first["output"]:
        name = f"{item['type']}.ndjson"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    counts = Counter({i["type"]: i["count"] for i in first["output"]})
    assert counts == Counter(
        {t: len(r) for t, r in exported["resources"].items() if t != "OperationOutcome"}
    )


def test_one_provenance_per_run_targets_every_resource(exported: dict[str, Any]) -> None:
    provenances = exported["resources"]["Provenance"]
    assert len(provenances) == 1  # the fixture loads the notes in one run
    targets = {t["reference"] for t in provenances[0]["target"]}
    derived = {
        f"{r['resourceType']}/{r['id']}"
        for kind, rs in exported["resources"].items()
        if kind not in {"Provenance", "OperationOutcome"}
        for r in rs
    }
    assert targets == derived
    agent = provenances[0]["agent"][0]
    assert "notestruct" in json.dumps(agent)

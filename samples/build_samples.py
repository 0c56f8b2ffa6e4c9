"""Regenerate notes.jsonl, notes.csv and documentreferences.ndjson from notes/*.txt."""

import argparse
import base64
import csv
import io
import json
import sys
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIELDS = ("id", "text", "patient_id", "encounter_id", "date", "note_type")

#: LOINC document type codes for the note kinds (clinic letters carry text only).
LOINC_TYPES: dict[str, str] = {
    "history_and_physical": "34117-2",
    "discharge_summary": "18842-5",
    "progress_note": "11506-3",
    "consult_note": "11488-4",
    "emergency_department_note": "34111-5",
    "operative_note": "11504-8",
    "radiology_report": "18748-4",
    "nursing_note": "34746-8",
}


def read_metadata(path: Path) -> list[dict[str, str]]:
    """Read metadata.csv rows, checking columns, unique ids and aware ISO 8601 dates."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    seen: set[str] = set()
    for row in rows:
        missing = {"id", "file", "patient_id", "encounter_id", "date", "note_type"} - row.keys()
        if missing:
            raise ValueError(f"metadata.csv is missing columns {sorted(missing)}")
        if row["id"] in seen:
            raise ValueError(f"duplicate id {row['id']} in metadata.csv")
        seen.add(row["id"])
        if datetime.fromisoformat(row["date"]).tzinfo is None:
            raise ValueError(f"date of {row['id']} has no timezone")
    return rows


def load_records(notes_dir: Path, metadata: Path) -> list[dict[str, str]]:
    """Join metadata rows with note texts (read as bytes, decoded strict UTF-8, unaltered)."""
    rows = read_metadata(metadata)
    listed = {row["file"] for row in rows}
    on_disk = {p.name for p in notes_dir.glob("*.txt")}
    if listed != on_disk:
        raise ValueError(
            f"metadata/notes mismatch: not in metadata {sorted(on_disk - listed)}, "
            f"missing files {sorted(listed - on_disk)}"
        )
    records = []
    for row in sorted(rows, key=lambda r: r["id"]):
        text = (notes_dir / row["file"]).read_bytes().decode("utf-8")
        records.append({k: (text if k == "text" else row[k]) for k in FIELDS})
    return records


def document_reference(rec: dict[str, str]) -> dict[str, object]:
    """A FHIR R4 DocumentReference carrying the note text as a base64 attachment."""
    doc_type: dict[str, object] = {"text": rec["note_type"].replace("_", " ")}
    code = LOINC_TYPES.get(rec["note_type"])
    if code:
        doc_type["coding"] = [{"system": "http://loinc.org", "code": code}]
    return {
        "resourceType": "DocumentReference",
        "id": rec["id"],
        "status": "current",
        "type": doc_type,
        "subject": {"reference": f"Patient/{rec['patient_id']}"},
        "date": rec["date"],
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(rec["text"].encode("utf-8")).decode("ascii"),
                }
            }
        ],
        "context": {"encounter": [{"reference": f"Encounter/{rec['encounter_id']}"}]},
    }


def render(records: list[dict[str, str]]) -> dict[str, str]:
    """The three output files' contents, keyed by file name."""
    jsonl = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    ndjson = "".join(json.dumps(document_reference(r), ensure_ascii=False) + "\n" for r in records)
    return {"notes.jsonl": jsonl, "notes.csv": buf.getvalue(), "documentreferences.ndjson": ndjson}


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, verify) the derived sample files."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if outputs are stale")
    args = parser.parse_args(argv)
    outputs = render(load_records(HERE / "notes", HERE / "metadata.csv"))
    stale = []
    for name, content in outputs.items():
        path = HERE / name
        data = content.encode("utf-8")
        if args.check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(name)
        else:
            path.write_bytes(data)
    if stale:
        sys.stderr.write(f"stale: {', '.join(stale)}; run samples/build_samples.py\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

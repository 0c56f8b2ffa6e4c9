"""Write the bad-input corpus in this directory, byte for byte and deterministically."""

import argparse
import base64
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

GOOD_1 = (
    "PROGRESS NOTE\n\nSUBJECTIVE: Feels better. Denies chest pain or shortness of breath.\n"
    "MEDICATIONS:\n1. Lisinopril 10 mg PO daily\n2. Metformin 500 mg PO BID\n"
    "ASSESSMENT: Hypertension, controlled. Possible early diabetic neuropathy.\n"
)
GOOD_2 = (
    "ED NOTE\nCC: cough\nHPI: 3 days of cough, likely viral. Negative for fever.\n"
    "Mother with asthma.\nPLAN: Return if fever develops.\n"
)
GOOD_3 = (
    "CLINIC NOTE\nHistory of appendectomy. NKDA.\n"
    "Albuterol 2 puffs inhaled q4h PRN wheezing.\nNo evidence of pneumonia.\n"
)
GOOD_4 = "DISCHARGE NOTE\nDischarged home. Aspirin 81 mg PO daily. Follow up in 2 weeks.\n"
DATE = "2025-03-14T09:30:00-05:00"


def _rec(note_id: object, text: object, **extra: object) -> dict[str, object]:
    rec: dict[str, object] = {"id": note_id, "text": text, "patient_id": "pat-bad-01"}
    rec.update({"encounter_id": "enc-bad-01", "date": DATE, "note_type": "progress_note"})
    rec.update(extra)
    return rec


def _line(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n"


def bad_jsonl() -> bytes:
    """bad.jsonl: one problem per line, good notes in between (see README.md)."""
    no_id = _rec("x", "Denies fever.")
    del no_id["id"]
    no_patient = _rec("bad-no-patient", "No evidence of pneumothorax.")
    del no_patient["patient_id"]
    lines = [
        _line(_rec("bad-good-001", GOOD_1)),  # 1
        _line(_rec("bad-empty-text", "")),  # 2
        _line(_rec("bad-whitespace-text", "  \n\t \r\n   ")),  # 3
        _line(_rec("bad-null-text", None)),  # 4
        _line(no_id),  # 5
        b'{"id": "bad-invalid-json", "text": "Denies chest pain, "patient_id": pat-1\n',  # 6
        _line(["bad-array", "This line is a JSON array, not an object."]),  # 7
        b"42\n",  # 8
        _line(_rec("bad-good-002", GOOD_2, extra_field="unknown fields are ignored")),  # 9
        _line(_rec("bad-dup", "Version A: possible pneumonia.")),  # 10
        _line(_rec("bad-dup", "Version B: no pneumonia.")),  # 11
        _line(no_patient),  # 12
        _line(_rec(12345, "The id of this note is a JSON integer.")),  # 13
        b"\n",  # 14 blank line
        _line(_rec("bad-text-not-string", 3.5)),  # 15
        _line(_rec("bad-naive-date", "Date without a timezone.", date="2025-03-14T09:30:00")),  # 16
        _line(_rec("bad-unparseable-date", "Date is not a date.", date="yesterday")),  # 17
        _line(_rec("bad-good-003", GOOD_3)),  # 18
    ]
    # 19: last good note without a trailing newline.
    lines.append(_line(_rec("bad-good-004", GOOD_4)).rstrip(b"\n"))
    return b"".join(lines)


def _csv_field(value: str) -> str:
    if any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _csv(rows: list[list[str]], end: str = "\n") -> bytes:
    return "".join(",".join(_csv_field(v) for v in row) + end for row in rows).encode("utf-8")


CSV_HEADER = ["id", "text", "patient_id", "encounter_id", "date", "note_type"]


def bad_csv() -> bytes:
    """bad.csv: good rows around an empty id, empty text and a short row."""
    multi = 'ASSESSMENT: "Questionable" pneumonia, likely viral.\nPLAN: fluids, rest, return PRN.\n'
    return _csv(
        [
            CSV_HEADER,
            ["csv-good-001", GOOD_1, "pat-bad-01", "enc-bad-01", DATE, "progress_note"],
            ["", "This row has an empty id.", "pat-bad-01", "enc-bad-01", DATE, "progress_note"],
            ["csv-empty-text", "", "pat-bad-01", "enc-bad-01", DATE, "progress_note"],
            ["csv-short-row", "This row has only two fields."],
            ["csv-good-002", multi, "pat-bad-02", "enc-bad-02", DATE, "ed_note"],
        ]
    )


def bad_missing_column_csv() -> bytes:
    """bad_missing_column.csv: well-formed CSV with no `text` column at all."""
    header = [c for c in CSV_HEADER if c != "text"]
    return _csv([header, ["csv-nocol-001", "pat-bad-01", "enc-bad-01", DATE, "progress_note"]])


def good_bom_csv() -> bytes:
    """good_bom.csv: a valid CSV saved with a UTF-8 byte order mark (as Excel writes it)."""
    rows = [CSV_HEADER, ["csv-bom-001", GOOD_2, "pat-bad-01", "enc-bad-01", DATE, "ed_note"]]
    return b"\xef\xbb\xbf" + _csv(rows, end="\r\n")  # CRLF row ends, LF inside cells


def _docref(
    rid: str, data: str, content_type: str = "text/plain; charset=utf-8", status: str = "current"
) -> dict[str, object]:
    return {
        "resourceType": "DocumentReference",
        "id": rid,
        "status": status,
        "type": {"text": "progress note"},
        "subject": {"reference": "Patient/pat-bad-01"},
        "date": DATE,
        "content": [{"attachment": {"contentType": content_type, "data": data}}],
        "context": {"encounter": [{"reference": "Encounter/enc-bad-01"}]},
    }


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


INVALID_B64 = "SGVsbG8*gd29ybGQ"  # fails strict and lenient decoding (bad char, bad padding)


def bad_docrefs_ndjson() -> bytes:
    """bad_docrefs.ndjson: one problem per line, good DocumentReferences around them."""
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n"
    url_only = _docref("docref-url-only", "")
    del url_only["content"][0]["attachment"]["data"]  # type: ignore[index]
    url_only["content"][0]["attachment"]["url"] = "https://example.invalid/notes/1.txt"  # type: ignore[index]
    lines = [
        _line(_docref("docref-good-001", _b64(GOOD_1.encode("utf-8")))),
        _line(_docref("docref-pdf", _b64(pdf), content_type="application/pdf")),
        _line(_docref("docref-invalid-base64", INVALID_B64)),
        _line(
            _docref(
                "docref-entered-in-error", _b64(GOOD_3.encode("utf-8")), status="entered-in-error"
            )
        ),
        _line({"resourceType": "Patient", "id": "pat-bad-01", "gender": "unknown"}),
        b'{"resourceType": "DocumentReference", "id": "docref-malformed", "status": \n',
        _line(url_only),
        _line(
            _docref(
                "docref-latin1-charset",
                _b64("Café au lait spots. Denies fever.\n".encode("cp1252")),
                content_type="text/plain; charset=windows-1252",
            )
        ),
        _line(_docref("docref-good-002", _b64(GOOD_2.encode("utf-8")))),
    ]
    return b"".join(lines)


def notes_dir_files() -> dict[str, bytes]:
    """notes_dir/*.txt: one good note and four bad ones."""
    rng = random.Random(20250314)
    binary = bytes(rng.randrange(256) for _ in range(4096))
    binary = b"\x00\x01\x02PK\x03\x04" + binary + b"\x00" * 16  # NULs and a zip-like header
    latin1 = (
        "CONSULT NOTE\nPatient seen in caf\u00e9 area after syncope \u2013 "
        "\u201cno chest pain\u201d per patient.\nNa\u00efve to anticoagulants. "
        "Temp 37.2 \u00b0C.\n"
    ).encode("cp1252")
    return {
        "good.txt": GOOD_1.encode("utf-8"),
        "empty.txt": b"",
        "whitespace.txt": b"   \n\t\n  \r\n \n",
        "binary.txt": binary,
        "latin1.txt": latin1,
        "utf8_bom.txt": b"\xef\xbb\xbf" + GOOD_3.encode("utf-8"),
    }


def outputs() -> dict[str, bytes]:
    """Every generated file, keyed by path relative to this directory."""
    files = {
        "bad.jsonl": bad_jsonl(),
        "bad.csv": bad_csv(),
        "bad_missing_column.csv": bad_missing_column_csv(),
        "good_bom.csv": good_bom_csv(),
        "bad_docrefs.ndjson": bad_docrefs_ndjson(),
    }
    files.update({f"notes_dir/{k}": v for k, v in notes_dir_files().items()})
    return files


def _self_check(files: dict[str, bytes]) -> None:
    """Assert that each bad file really has the defect it is meant to have."""
    for raw in (INVALID_B64, INVALID_B64.replace("*", "")):
        try:
            base64.b64decode(raw)
        except ValueError:
            continue
        raise AssertionError("INVALID_B64 decodes")
    try:
        files["notes_dir/latin1.txt"].decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        raise AssertionError("latin1.txt is valid UTF-8")
    assert b"\x00" in files["notes_dir/binary.txt"]
    assert not files["bad.jsonl"].endswith(b"\n")


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, verify) the corpus files."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if files differ")
    args = parser.parse_args(argv)
    files = outputs()
    _self_check(files)
    stale = []
    for rel, data in files.items():
        path = HERE / rel
        if args.check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if stale:
        sys.stderr.write(f"stale: {', '.join(stale)}; run tests/data/bad/build_bad.py\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Write a very large synthetic note (default 10 MiB) for size and memory robustness tests."""

import json
from pathlib import Path

DEFAULT_SIZE = 10 * 1024 * 1024

_PARAGRAPH = (
    "HOSPITAL DAY {n}: Patient denies chest pain, shortness of breath or palpitations. "
    "Possible pneumonia, likely viral. Father had an MI at 52. History of appendectomy. "
    "Metformin 1000 mg PO BID. Heparin 5000 units SC q8h. Return if fever develops.\n"
    "BP 1{a:02d}/8{b}, HR {hr}, RR 18, T 37.{b} C, SpO2 9{b}% on RA. Na 138, K 4.{b}, "
    "Cr 1.{b}, Hgb 1{b}.1 g/dL, WBC {hr}.2\n\n"
)


def huge_note_text(size: int = DEFAULT_SIZE) -> str:
    """Return an ASCII note of exactly ``size`` characters (= bytes), ending with a newline."""
    if size < 1:
        raise ValueError("size must be >= 1")
    parts: list[str] = []
    total = 0
    n = 0
    while total < size:
        n += 1
        chunk = _PARAGRAPH.format(n=n, a=n % 60, b=n % 10, hr=60 + n % 40)
        parts.append(chunk)
        total += len(chunk)
    return "".join(parts)[: size - 1] + "\n"


def write_huge_note(path: str | Path, size: int = DEFAULT_SIZE) -> Path:
    """Write a ``size``-byte plain-text note to ``path`` (e.g. tmp_path / "huge.txt")."""
    out = Path(path)
    out.write_bytes(huge_note_text(size).encode("ascii"))
    return out


def write_huge_jsonl(path: str | Path, size: int = DEFAULT_SIZE, note_id: str = "huge-001") -> Path:
    """Write one JSON line whose ``text`` is a ``size``-character note, plus one small note."""
    out = Path(path)
    with out.open("w", encoding="utf-8", newline="\n") as fh:
        base = {
            "patient_id": "pat-huge-01",
            "encounter_id": "enc-huge-01",
            "date": "2025-03-14T09:30:00-05:00",
            "note_type": "progress_note",
        }
        fh.write(json.dumps({"id": note_id, "text": huge_note_text(size), **base}) + "\n")
        fh.write(json.dumps({"id": "huge-small-002", "text": "Denies fever.\n", **base}) + "\n")
    return out


if __name__ == "__main__":
    import sys

    write_huge_note(sys.argv[1] if len(sys.argv) > 1 else "huge_note.txt")
